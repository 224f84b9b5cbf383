from __future__ import annotations

import pytest

from cloudlet.gateway.auth import parse_credential
from cloudlet.gateway.router import Router
from cloudlet.protocol.catalog import Catalog
from cloudlet.protocol.http import HttpRequest
from cloudlet.protocol.model import ModelRegistry


@pytest.fixture(scope="module")
def router(tmp_path_factory):
    return Router(Catalog(ModelRegistry(), cache_dir=str(tmp_path_factory.mktemp("cache"))))


def auth(service: str) -> dict:
    return {"Authorization": f"AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/{service}/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=abcd"}


def route(router, method="POST", path="/", query="", headers=None, body=b""):
    req = HttpRequest(method, path, query, headers or {}, body)
    return router.route(req, parse_credential(req))


def test_credential_scope():
    req = HttpRequest("GET", "/", "", auth("sqs"))
    cred = parse_credential(req)
    assert (cred.access_key, cred.region, cred.service, cred.date) == ("AKID", "eu-west-1", "sqs", "20260101")
    assert cred.signed_headers == ["host", "x-amz-date"]


def test_presigned_credential():
    req = HttpRequest("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Signature=ff")
    cred = parse_credential(req)
    assert (cred.kind, cred.region, cred.service) == ("sigv4-query", "us-west-2", "s3")


def test_sigv2_header():
    cred = parse_credential(HttpRequest("GET", "/", "", {"Authorization": "AWS AKID:c2lnbmF0dXJl"}))
    assert (cred.kind, cred.access_key) == ("sigv2", "AKID")


def test_target_header_routes_json(router):
    r = route(router, headers={**auth("sqs"), "X-Amz-Target": "AmazonSQS.SendMessage"})
    assert (r.entry.name, r.protocol) == ("sqs", "json")


def test_query_compatible_service_takes_forms(router):
    r = route(router, headers={**auth("sqs"), "Content-Type": "application/x-www-form-urlencoded"},
              body=b"Action=ListQueues")
    assert (r.entry.name, r.protocol) == ("sqs", "query")


def test_cbor_path(router):
    r = route(router, path="/service/GraniteServiceVersion20100801/operation/ListMetrics",
              headers={**auth("monitoring"), "Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
    assert (r.entry.name, r.protocol) == ("cloudwatch", "smithy-rpc-v2-cbor")


def test_signing_name(router):
    assert route(router, headers=auth("monitoring"), body=b"Action=ListMetrics").entry.name == "cloudwatch"
    assert route(router, headers=auth("sts")).protocol == "query"
    assert route(router, method="GET", path="/2015-03-31/functions/", headers=auth("lambda")).protocol == "rest-json"


def test_shared_signing_name_picks_by_request_shape(router):
    form = {**auth("ses"), "Content-Type": "application/x-www-form-urlencoded"}
    assert route(router, headers=form, body=b"Action=SendEmail").entry.name == "ses"
    assert route(router, path="/v2/email/outbound-emails", headers={**auth("ses"), "Content-Type": "application/json"}).entry.name == "sesv2"


def test_unsigned_request_by_host(router):
    r = route(router, headers={"Host": "sqs.us-east-1.localhost.localstack.cloud:4566",
                               "Content-Type": "application/x-www-form-urlencoded"}, body=b"Action=ListQueues")
    assert r.entry.name == "sqs"


def test_s3_virtual_host(router):
    r = route(router, method="GET", path="/key/with%2Fslash", headers={**auth("s3"), "Host": "my-bucket.s3.localhost.localstack.cloud:4566"})
    assert (r.entry.name, r.bucket_from_host, r.raw_path) == ("s3", "my-bucket", "/my-bucket/key/with%2Fslash")
    r = route(router, method="GET", path="/", headers={**auth("s3"), "Host": "bucket.localhost:4566"})
    assert r.raw_path == "/bucket/"
    r = route(router, method="GET", path="/bucket/key", headers={**auth("s3"), "Host": "localhost:4566"})
    assert r.raw_path is None


def test_unsigned_rest_request_goes_to_s3(router):
    r = route(router, method="GET", path="/bucket/key", headers={"Host": "localhost:4566"})
    assert r.entry.name == "s3"
