"""The AWS CLI against EventBridge, SES (v1 and v2) and CloudWatch Logs
Insights: the commands users type, with their JSON output."""

from __future__ import annotations

import json

from tests.services.test_events import queue_for_rules
from tests.services.test_s3_cli import cli


def test_events_cli(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    rule = json.loads(cli(cloudlet, "events", "put-rule", "--name", "orders",
                          "--event-pattern", '{"source": ["app.orders"]}'))
    sqs = cloudlet.client("sqs")
    url, queue_arn = queue_for_rules(sqs, "cli-orders", [rule["RuleArn"]])
    cli(cloudlet, "events", "put-targets", "--rule", "orders", "--targets", f"Id=q,Arn={queue_arn}")
    out = json.loads(cli(cloudlet, "events", "put-events", "--entries",
                         json.dumps([{"Source": "app.orders", "DetailType": "Order Placed",
                                      "Detail": json.dumps({"id": 7})}])))
    assert out["FailedEntryCount"] == 0
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"])["id"] == out["Entries"][0]["EventId"]
    rules = json.loads(cli(cloudlet, "events", "list-rules"))["Rules"]
    assert [r["Name"] for r in rules] == ["orders"]
    assert json.loads(cli(cloudlet, "events", "test-event-pattern", "--event-pattern", '{"source": ["a"]}',
                          "--event", json.dumps({"id": "1", "account": "000000000000", "source": "a", "time": "x",
                                                 "region": "us-east-1", "detail-type": "d"})))["Result"] is True


def test_ses_cli(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    cloudlet.admin("DELETE", "/_cloudlet/ses/messages")
    cli(cloudlet, "ses", "verify-email-identity", "--email-address", "me@example.com")
    cloudlet.admin("POST", "/_cloudlet/ses/verify", {"identity": "me@example.com"})
    sent = json.loads(cli(cloudlet, "ses", "send-email", "--from", "me@example.com",
                          "--destination", "ToAddresses=success@simulator.amazonses.com",
                          "--message", "Subject={Data=From the CLI},Body={Text={Data=hello}}"))
    [mail] = [m for m in cloudlet.admin("GET", "/_cloudlet/ses/messages")["messages"] if m["id"] == sent["MessageId"]]
    assert (mail["subject"], mail["text"].strip()) == ("From the CLI", "hello")
    quota = json.loads(cli(cloudlet, "ses", "get-send-quota"))
    assert quota == {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": 0.0}
    identity = json.loads(cli(cloudlet, "sesv2", "get-email-identity", "--email-identity", "me@example.com"))
    assert (identity["VerificationStatus"], identity["VerifiedForSendingStatus"]) == ("SUCCESS", True)


def test_logs_insights_cli(cloudlet):
    cloudlet.clock.set("2030-06-01T12:05:00Z")
    logs = cloudlet.client("logs")
    logs.create_log_group(logGroupName="/cli/app")
    logs.create_log_stream(logGroupName="/cli/app", logStreamName="s")
    logs.put_log_events(logGroupName="/cli/app", logStreamName="s", logEvents=[
        {"timestamp": 1_906_545_600_000 + i * 1000, "message": json.dumps({"status": 200 + 300 * (i % 2)})}
        for i in range(6)])
    started = json.loads(cli(cloudlet, "logs", "start-query", "--log-group-name", "/cli/app",
                             "--start-time", "1906545600", "--end-time", "1906545900",
                             "--query-string", "stats count(*) as n by status | sort status asc"))
    results = json.loads(cli(cloudlet, "logs", "get-query-results", "--query-id", started["queryId"]))
    assert results["status"] == "Complete"
    assert results["results"] == [[{"field": "status", "value": "200"}, {"field": "n", "value": "3"}],
                                  [{"field": "status", "value": "500"}, {"field": "n", "value": "3"}]]


def test_lambda_cli(cloudlet, tmp_path):
    import io
    import zipfile

    cloudlet.clock.set("2030-06-01T12:00:00Z")
    cli(cloudlet, "iam", "create-role", "--role-name", "fn", "--assume-role-policy-document", json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                               "Action": "sts:AssumeRole"}]}))
    archive = tmp_path / "fn.zip"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", "def handler(event, context):\n    return {'hello': event}\n")
    archive.write_bytes(buf.getvalue())
    created = json.loads(cli(cloudlet, "lambda", "create-function", "--function-name", "hello", "--runtime",
                             "python3.12", "--handler", "app.handler", "--role",
                             "arn:aws:iam::000000000000:role/fn", "--zip-file", f"fileb://{archive}"))
    assert created["State"] == "Active"
    out = tmp_path / "out.json"
    # (AWS CLI v1, as installed for the tests, sends --payload as given; v2 wants
    # --cli-binary-format raw-in-base64-out for that, as the README shows)
    meta = json.loads(cli(cloudlet, "lambda", "invoke", "--function-name", "hello", "--payload", '{"n":1}',
                          str(out)))
    assert meta["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"hello": {"n": 1}}
