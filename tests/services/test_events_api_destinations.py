"""EventBridge API destinations against a real local HTTP server: the
request EventBridge makes (URL with path and query parameters, headers,
body, Basic / API key / OAuth client-credentials authorization), retries
of 5xx on the virtual clock, no retry of 4xx, dead-letter queues,
connections whose secrets Describe never shows."""

from __future__ import annotations

import base64
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import receive_all
from tests.services.test_events import ACCOUNT, REGION, queue_for_rules


class Webhook:
    """A local HTTP server: records every request, answers the statuses
    queued in `statuses` (then 200); /token is an OAuth token endpoint."""

    def __init__(self):
        self.requests: queue.Queue = queue.Queue()
        self.statuses: list[int] = []
        self.tokens = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                if self.path.startswith("/token"):
                    outer.tokens += 1
                    outer.token_requests.put({"headers": {k.lower(): v for k, v in self.headers.items()},
                                              "body": body, "path": self.path})
                    payload = json.dumps({"access_token": f"tok-{outer.tokens}", "token_type": "Bearer",
                                          "expires_in": 3600}).encode()
                    status = 200
                else:
                    outer.requests.put({"method": self.command, "path": self.path, "body": body,
                                        "headers": {k.lower(): v for k, v in self.headers.items()}})
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    payload = b"{}"
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = do_DELETE = do_PATCH = _handle

            def log_message(self, *args):
                pass

        self.token_requests: queue.Queue = queue.Queue()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next(self, timeout: float = 10.0) -> dict:
        return self.requests.get(timeout=timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    server = Webhook()
    yield server
    server.close()


@pytest.fixture
def events(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    return cloudlet.client("events")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def rule_to(events, destination_arn: str, **target) -> str:
    arn = events.put_rule(Name="to-webhook", EventPattern=json.dumps({"source": ["app.orders"]}))["RuleArn"]
    events.put_targets(Rule="to-webhook", Targets=[dict({"Id": "hook", "Arn": destination_arn}, **target)])
    return arn


def put(events, detail: dict) -> str:
    return events.put_events(Entries=[{"Source": "app.orders", "DetailType": "Order Placed",
                                       "Detail": json.dumps(detail)}])["Entries"][0]["EventId"]


def test_basic_auth_request_with_parameters(events, hook):
    connection = events.create_connection(
        Name="orders-api", AuthorizationType="BASIC",
        AuthParameters={"BasicAuthParameters": {"Username": "svc", "Password": "s3cret"},
                        "InvocationHttpParameters": {
                            "HeaderParameters": [{"Key": "X-Env", "Value": "test", "IsValueSecret": False},
                                                 {"Key": "X-Signature", "Value": "hidden", "IsValueSecret": True}],
                            "QueryStringParameters": [{"Key": "source", "Value": "eventbridge"}],
                            "BodyParameters": [{"Key": "tenant", "Value": "acme", "IsValueSecret": True}]}})
    assert connection["ConnectionState"] == "AUTHORIZED"
    assert connection["ConnectionArn"].startswith(f"arn:aws:events:{REGION}:{ACCOUNT}:connection/orders-api/")
    described = events.describe_connection(Name="orders-api")
    assert described["AuthParameters"] == {
        "BasicAuthParameters": {"Username": "svc"},
        "InvocationHttpParameters": {
            "HeaderParameters": [{"Key": "X-Env", "Value": "test", "IsValueSecret": False},
                                 {"Key": "X-Signature", "IsValueSecret": True}],
            "QueryStringParameters": [{"Key": "source", "Value": "eventbridge"}],
            "BodyParameters": [{"Key": "tenant", "IsValueSecret": True}]}}
    assert described["SecretArn"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:events!connection/orders-api/")
    destination = events.create_api_destination(Name="orders-webhook", ConnectionArn=connection["ConnectionArn"],
                                                 InvocationEndpoint=hook.url + "/orders/*/events",
                                                 HttpMethod="PUT", InvocationRateLimitPerSecond=10)
    assert destination["ApiDestinationState"] == "ACTIVE"
    rule_to(events, destination["ApiDestinationArn"],
            HttpParameters={"PathParameterValues": ["o-1"], "HeaderParameters": {"X-Order": "o-1"},
                            "QueryStringParameters": {"v": "2"}})
    event_id = put(events, {"total": 5})
    got = hook.next()
    assert got["method"] == "PUT"
    assert got["path"] == "/orders/o-1/events?source=eventbridge&v=2"
    headers = got["headers"]
    assert headers["authorization"] == "Basic " + base64.b64encode(b"svc:s3cret").decode()
    assert (headers["x-env"], headers["x-signature"], headers["x-order"]) == ("test", "hidden", "o-1")
    assert headers["content-type"] == "application/json; charset=utf-8"
    assert headers["user-agent"] == "Amazon/EventBridge/ApiDestinations"
    body = json.loads(got["body"])
    assert body["id"] == event_id and body["detail"] == {"total": 5} and body["tenant"] == "acme"
    listed = events.list_api_destinations()["ApiDestinations"]
    assert [(d["Name"], d["HttpMethod"], d["InvocationRateLimitPerSecond"]) for d in listed] == [
        ("orders-webhook", "PUT", 10)]
    with pytest.raises(ClientError) as exc:
        events.create_connection(Name="orders-api", AuthorizationType="BASIC",
                                 AuthParameters={"BasicAuthParameters": {"Username": "u", "Password": "p"}})
    assert error(exc) == ("ResourceAlreadyExistsException", "Connection orders-api already exists.")


def test_api_key_and_an_input_transformer(events, hook):
    connection = events.create_connection(Name="k", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": "k-123"}})
    destination = events.create_api_destination(Name="slack", ConnectionArn=connection["ConnectionArn"],
                                                 InvocationEndpoint=hook.url + "/hooks", HttpMethod="POST")
    rule_to(events, destination["ApiDestinationArn"], InputTransformer={
        "InputPathsMap": {"total": "$.detail.total"}, "InputTemplate": '{"text": "New order: <total>"}'})
    put(events, {"total": 42})
    got = hook.next()
    assert got["headers"]["x-api-key"] == "k-123"
    assert json.loads(got["body"]) == {"text": "New order: 42"}
    assert events.describe_connection(Name="k")["AuthParameters"] == {"ApiKeyAuthParameters": {"ApiKeyName":
                                                                                                "x-api-key"}}


def test_oauth_client_credentials_token_fetched_and_reused(events, hook):
    connection = events.create_connection(Name="oauth", AuthorizationType="OAUTH_CLIENT_CREDENTIALS", AuthParameters={
        "OAuthParameters": {"ClientParameters": {"ClientID": "client-1", "ClientSecret": "shh"},
                            "AuthorizationEndpoint": hook.url + "/token", "HttpMethod": "POST",
                            "OAuthHttpParameters": {"BodyParameters": [{"Key": "scope", "Value": "orders"}]}}})
    assert connection["ConnectionState"] == "AUTHORIZING"
    destination = events.create_api_destination(Name="crm", ConnectionArn=connection["ConnectionArn"],
                                                 InvocationEndpoint=hook.url + "/crm", HttpMethod="POST")
    rule_to(events, destination["ApiDestinationArn"])
    put(events, {"n": 1})
    assert hook.next()["headers"]["authorization"] == "Bearer tok-1"
    token_request = hook.token_requests.get(timeout=10)
    assert token_request["headers"]["authorization"] == "Basic " + base64.b64encode(b"client-1:shh").decode()
    assert sorted(token_request["body"].split("&")) == ["grant_type=client_credentials", "scope=orders"]
    put(events, {"n": 2})
    assert hook.next()["headers"]["authorization"] == "Bearer tok-1"  # the same token, still valid
    assert hook.tokens == 1
    described = events.describe_connection(Name="oauth")
    assert described["ConnectionState"] == "AUTHORIZED"
    assert described["AuthParameters"]["OAuthParameters"]["ClientParameters"] == {"ClientID": "client-1"}


def test_5xx_is_retried_on_the_clock_4xx_goes_to_the_dead_letter_queue(cloudlet, events, hook):
    sqs = cloudlet.client("sqs")
    connection = events.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters={
        "ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}})
    destination = events.create_api_destination(Name="flaky", ConnectionArn=connection["ConnectionArn"],
                                                 InvocationEndpoint=hook.url + "/flaky", HttpMethod="POST")
    rule_arn = events.put_rule(Name="to-webhook", EventPattern=json.dumps({"source": ["app.orders"]}))["RuleArn"]
    dlq_url, dlq_arn = queue_for_rules(sqs, "hook-dlq", [rule_arn])
    events.put_targets(Rule="to-webhook", Targets=[{"Id": "hook", "Arn": destination["ApiDestinationArn"],
                                                    "DeadLetterConfig": {"Arn": dlq_arn},
                                                    "RetryPolicy": {"MaximumRetryAttempts": 2}}])
    hook.statuses = [503, 500, 200]
    event_id = put(events, {"n": 1})
    assert hook.next()["path"] == "/flaky"  # first attempt: 503
    cloudlet.clock.advance(1)
    assert json.loads(hook.next()["body"])["id"] == event_id  # second: 500
    cloudlet.clock.advance(2)
    assert json.loads(hook.next()["body"])["id"] == event_id  # third: 200
    assert hook.requests.empty() and receive_all(sqs, dlq_url) == []

    hook.statuses = [400]
    event_id = put(events, {"n": 2})
    hook.next()
    cloudlet.clock.advance(600)
    assert hook.requests.empty()  # a 4xx is not retried
    [dead] = receive_all(sqs, dlq_url, MessageAttributeNames=["All"])
    assert json.loads(dead["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert (attributes["ERROR_CODE"], attributes["ERROR_MESSAGE"], attributes["RETRY_ATTEMPTS"]) == (
        "SDK_CLIENT_ERROR", "HTTP 400", "0")

    hook.statuses = [502, 502, 502]
    event_id = put(events, {"n": 3})
    hook.next()
    cloudlet.clock.advance(1)
    hook.next()
    cloudlet.clock.advance(2)
    hook.next()
    [dead] = receive_all(sqs, dlq_url, MessageAttributeNames=["All"])
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert (attributes["ERROR_CODE"], attributes["EXHAUSTED_RETRY_CONDITION"], attributes["RETRY_ATTEMPTS"]) == (
        "RETRIES_EXHAUSTED", "MaximumRetryAttempts", "2")


def test_connection_and_destination_lifecycle(events, hook):
    connection = events.create_connection(Name="c1", AuthorizationType="BASIC", Description="first",
                                          AuthParameters={"BasicAuthParameters": {"Username": "u", "Password": "p"}})
    assert [c["Name"] for c in events.list_connections()["Connections"]] == ["c1"]
    events.update_connection(Name="c1", Description="second")
    assert events.describe_connection(Name="c1")["Description"] == "second"
    assert events.deauthorize_connection(Name="c1")["ConnectionState"] == "DEAUTHORIZED"
    with pytest.raises(ClientError) as exc:
        events.create_api_destination(Name="d", ConnectionArn=connection["ConnectionArn"] + "x",
                                      InvocationEndpoint=hook.url, HttpMethod="POST")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    events.create_api_destination(Name="d", ConnectionArn=connection["ConnectionArn"], InvocationEndpoint=hook.url,
                                  HttpMethod="POST")
    events.update_api_destination(Name="d", HttpMethod="PATCH")
    assert events.describe_api_destination(Name="d")["HttpMethod"] == "PATCH"
    events.delete_api_destination(Name="d")
    with pytest.raises(ClientError) as exc:
        events.describe_api_destination(Name="d")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert events.delete_connection(Name="c1")["ConnectionState"] == "DELETING"
    assert events.list_connections()["Connections"] == []


def test_a_pending_invocation_survives_a_restart(tmp_path, hook):
    """An invocation waiting for its retry is in storage: a new process
    makes it when it falls due."""
    from cloudlet.testing.server import CloudletServer

    with CloudletServer(str(tmp_path)) as first:
        first.clock.set("2030-06-01T12:00:00Z")
        events = first.client("events")
        connection = events.create_connection(Name="c", AuthorizationType="API_KEY", AuthParameters={
            "ApiKeyAuthParameters": {"ApiKeyName": "k", "ApiKeyValue": "v"}})
        destination = events.create_api_destination(Name="d", ConnectionArn=connection["ConnectionArn"],
                                                     InvocationEndpoint=hook.url + "/later", HttpMethod="POST")
        rule_to(events, destination["ApiDestinationArn"])
        hook.statuses = [503]
        event_id = put(events, {"n": 1})
        assert hook.next()["path"] == "/later"
    with CloudletServer(str(tmp_path)) as second:
        second.clock.set("2030-06-01T12:00:01Z")
        got = hook.next()
        assert json.loads(got["body"])["id"] == event_id and got["headers"]["k"] == "v"
