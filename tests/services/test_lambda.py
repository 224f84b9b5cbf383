"""Lambda through boto3: Python functions that really run, as their
execution role (boto3 inside the function calls cloudlet with the role's
permissions), logs in CloudWatch Logs, asynchronous invocations with
retries on the virtual clock and dead-letter queues, and the services that
invoke functions (EventBridge, SNS, S3) authorized by the function policy."""

from __future__ import annotations

import base64
import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import doc

ACCOUNT = "000000000000"
REGION = "us-east-1"

ECHO = '''
import os

def handler(event, context):
    print("got", event)
    return {"event": event, "greeting": os.environ.get("GREETING"), "request": context.aws_request_id,
            "function": context.function_name, "memory": context.memory_limit_in_mb}
'''

SEND = '''
import json, boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=event["queue"])["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event["body"]))
    return "sent"
'''

FAIL = '''
def handler(event, context):
    raise ValueError("no good: " + json_dumps(event))

def json_dumps(value):
    import json
    return json.dumps(value)
'''


def zipped(source: str, name: str = "app.py") -> bytes:
    """A zip of one file, the same bytes for the same source (a fixed
    timestamp, not the time of the call)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zipfile.ZipInfo(name, date_time=(2030, 1, 1, 0, 0, 0)), source)
    return buf.getvalue()


@pytest.fixture
def setup(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    iam = cloudlet.client("iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}))
    iam.put_role_policy(RoleName="fn-role", PolicyName="basics", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                                       "sqs:GetQueueUrl", "sqs:SendMessage"], "Resource": "*"}))
    return cloudlet.client("lambda"), role["Role"]["Arn"]


def create(lam, role: str, name: str, source: str, **kw) -> dict:
    return lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                               Code={"ZipFile": zipped(source)}, **kw)


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_create_and_invoke_with_logs(cloudlet, setup):
    lam, role = setup
    created = create(lam, role, "echo", ECHO, Environment={"Variables": {"GREETING": "hi"}}, MemorySize=256)
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:echo"
    assert (created["FunctionArn"], created["State"], created["LastUpdateStatus"], created["Version"],
            created["Timeout"], created["MemorySize"], created["Handler"], created["PackageType"]) == (
        arn, "Active", "Successful", "$LATEST", 3, 256, "app.handler", "Zip")
    assert created["LastModified"] == "2030-06-01T12:00:00.000+0000"
    assert created["CodeSize"] == len(zipped(ECHO))
    out = lam.invoke(FunctionName="echo", Payload=json.dumps({"n": 1}), LogType="Tail")
    assert out["StatusCode"] == 200 and out["ExecutedVersion"] == "$LATEST" and "FunctionError" not in out
    result = json.loads(out["Payload"].read())
    assert result["event"] == {"n": 1} and result["greeting"] == "hi"
    assert (result["function"], result["memory"]) == ("echo", "256")  # a string, as in Lambda
    tail = base64.b64decode(out["LogResult"]).decode().splitlines()
    assert tail[0] == f"START RequestId: {result['request']} Version: $LATEST"
    assert "got {'n': 1}" in tail
    assert tail[-2] == f"END RequestId: {result['request']}"
    assert tail[-1].startswith(f"REPORT RequestId: {result['request']}\tDuration: ")
    logs = cloudlet.client("logs")
    [stream] = logs.describe_log_streams(logGroupName="/aws/lambda/echo")["logStreams"]
    assert stream["logStreamName"].startswith("2030/06/01/[$LATEST]")
    messages = [e["message"] for e in logs.get_log_events(logGroupName="/aws/lambda/echo",
                                                          logStreamName=stream["logStreamName"])["events"]]
    assert messages[0].startswith("START RequestId:") and "got {'n': 1}" in messages
    # By ARN too, and listed.
    assert lam.invoke(FunctionName=arn, Payload=b"7")["StatusCode"] == 200
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["echo"]
    got = lam.get_function(FunctionName="echo")
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    import urllib.request
    with urllib.request.urlopen(got["Code"]["Location"]) as resp:
        assert resp.read() == zipped(ECHO)


def test_the_function_acts_as_its_role(cloudlet, setup):
    lam, role = setup
    sqs = cloudlet.client("sqs")
    url = sqs.create_queue(QueueName="from-lambda")["QueueUrl"]
    create(lam, role, "sender", SEND, Timeout=30)
    out = lam.invoke(FunctionName="sender", Payload=json.dumps({"queue": "from-lambda", "body": {"ok": True}}))
    assert json.loads(out["Payload"].read()) == "sent"
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert json.loads(message["Body"]) == {"ok": True}
    # The role may not create queues: the function's call is refused.
    create(lam, role, "creator", "import boto3\ndef handler(e, c):\n    boto3.client('sqs').create_queue(QueueName='x')\n",
           Timeout=30)
    out = lam.invoke(FunctionName="creator")
    assert out["FunctionError"] == "Unhandled"
    err = json.loads(out["Payload"].read())
    assert err["errorType"] == "ClientError" and "AccessDenied" in err["errorMessage"]


def test_errors(setup):
    lam, role = setup
    cases = [
        (dict(Role=f"arn:aws:iam::{ACCOUNT}:role/missing"),
         ("InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda.")),
        (dict(Environment={"Variables": {"AWS_REGION": "x"}}),
         ("InvalidParameterValueException", "Lambda was unable to configure your environment variables because the "
                                            "environment variables you have provided contains reserved keys that are "
                                            "currently not supported for modification. Reserved keys used in this "
                                            "request: AWS_REGION")),
        (dict(Code={"ZipFile": b"not a zip"}),
         ("InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to "
                                            "upload again.")),
    ]
    for override, expected in cases:
        kwargs = dict(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
                      Code={"ZipFile": zipped(ECHO)})
        kwargs.update(override)
        with pytest.raises(ClientError) as exc:
            lam.create_function(**kwargs)
        assert error(exc) == expected
    create(lam, role, "f", ECHO)
    with pytest.raises(ClientError) as exc:
        create(lam, role, "f", ECHO)
    assert error(exc) == ("ResourceConflictException", "Function already exist: f")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="nope")
    assert error(exc) == ("ResourceNotFoundException",
                          f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope")
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName="f")
    assert error(exc) == ("ResourceNotFoundException", "The resource you requested does not exist.")


def test_async_invocations_retry_on_the_clock_then_dead_letter(cloudlet, setup):
    lam, role = setup
    sqs = cloudlet.client("sqs")
    dlq_url = sqs.create_queue(QueueName="fn-dlq")["QueueUrl"]
    create(lam, role, "failing", FAIL, DeadLetterConfig={"TargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:fn-dlq"})
    assert lam.invoke(FunctionName="failing", InvocationType="Event", Payload=b'{"a": 1}')["StatusCode"] == 202
    cloudlet.clock.advance(0)  # (runs what is due now and waits for it)
    logs = cloudlet.client("logs")
    assert len(logs.describe_log_streams(logGroupName="/aws/lambda/failing")["logStreams"]) == 1
    cloudlet.clock.advance(60)
    cloudlet.clock.advance(120)
    assert len(logs.describe_log_streams(logGroupName="/aws/lambda/failing")["logStreams"]) == 3  # 1 + 2 retries
    [dead] = sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead["Body"]) == {"a": 1}
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == 'no good: {"a": 1}'
    stats = cloudlet.client("cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Errors", Dimensions=[{"Name": "FunctionName", "Value": "failing"}],
        StartTime="2030-06-01T11:00:00Z", EndTime="2030-06-01T13:00:00Z", Period=3600, Statistics=["Sum"])
    assert [p["Sum"] for p in stats["Datapoints"]] == [3.0]


def test_services_invoke_functions_as_the_policy_allows(cloudlet, setup):
    lam, role = setup
    sqs = cloudlet.client("sqs")
    out_url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    relay = ('import json, boto3\n'
             'def handler(event, context):\n'
             '    sqs = boto3.client("sqs")\n'
             '    url = sqs.get_queue_url(QueueName="seen")["QueueUrl"]\n'
             '    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))\n')
    fn = create(lam, role, "relay", relay, Timeout=30)["FunctionArn"]
    events = cloudlet.client("events")
    rule = events.put_rule(Name="to-fn", EventPattern=json.dumps({"source": ["app"]}))["RuleArn"]
    events.put_targets(Rule="to-fn", Targets=[{"Id": "fn", "Arn": fn}])
    events.put_events(Entries=[{"Source": "app", "DetailType": "t", "Detail": "{}"}])
    cloudlet.clock.advance(0)
    assert sqs.receive_message(QueueUrl=out_url).get("Messages") is None  # no permission yet: not invoked
    statement = lam.add_permission(FunctionName="relay", StatementId="events", Action="lambda:InvokeFunction",
                                   Principal="events.amazonaws.com", SourceArn=rule)["Statement"]
    assert json.loads(statement) == {"Sid": "events", "Effect": "Allow",
                                     "Principal": {"Service": "events.amazonaws.com"},
                                     "Action": "lambda:InvokeFunction", "Resource": fn,
                                     "Condition": {"ArnLike": {"AWS:SourceArn": rule}}}
    event_id = events.put_events(Entries=[{"Source": "app", "DetailType": "t", "Detail": "{}"}])["Entries"][0][
        "EventId"]
    cloudlet.clock.advance(0)
    [got] = sqs.receive_message(QueueUrl=out_url, WaitTimeSeconds=5)["Messages"]
    assert json.loads(got["Body"])["id"] == event_id
    sqs.delete_message(QueueUrl=out_url, ReceiptHandle=got["ReceiptHandle"])

    sns = cloudlet.client("sns")
    topic = sns.create_topic(Name="to-fn")["TopicArn"]
    lam.add_permission(FunctionName="relay", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)
    sns.publish(TopicArn=topic, Message="hello function")
    cloudlet.clock.advance(0)
    [got] = sqs.receive_message(QueueUrl=out_url, WaitTimeSeconds=5)["Messages"]
    record = json.loads(got["Body"])["Records"][0]
    assert record["EventSource"] == "aws:sns" and record["Sns"]["Message"] == "hello function"

    s3 = cloudlet.client("s3")
    s3.create_bucket(Bucket="uploads")
    lam.add_permission(FunctionName="relay", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::uploads", SourceAccount=ACCOUNT)
    s3.put_bucket_notification_configuration(Bucket="uploads", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": fn, "Events": ["s3:ObjectCreated:*"]}]})
    s3.put_object(Bucket="uploads", Key="a.txt", Body=b"hi")
    cloudlet.clock.advance(0)
    [got] = sqs.receive_message(QueueUrl=out_url, WaitTimeSeconds=5)["Messages"]
    [record] = json.loads(got["Body"])["Records"]
    assert (record["eventName"], record["s3"]["object"]["key"]) == ("ObjectCreated:Put", "a.txt")


def test_sqs_event_source_mapping(cloudlet, setup):
    lam, role = setup
    iam, sqs = cloudlet.client("iam"), cloudlet.client("sqs")
    in_url = sqs.create_queue(QueueName="work")["QueueUrl"]
    work_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:work"
    out_url = sqs.create_queue(QueueName="done")["QueueUrl"]
    worker = ('import json, boto3\n'
              'def handler(event, context):\n'
              '    sqs = boto3.client("sqs")\n'
              '    url = sqs.get_queue_url(QueueName="done")["QueueUrl"]\n'
              '    failures = []\n'
              '    for r in event["Records"]:\n'
              '        if r["body"] == "bad":\n'
              '            failures.append({"itemIdentifier": r["messageId"]})\n'
              '        else:\n'
              '            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(\n'
              '                {"body": r["body"], "source": r["eventSource"], "arn": r["eventSourceARN"],\n'
              '                 "count": r["attributes"]["ApproximateReceiveCount"]}))\n'
              '    return {"batchItemFailures": failures}\n')
    create(lam, role, "worker", worker, Timeout=30)
    with pytest.raises(ClientError) as exc:  # the role may not receive yet
        lam.create_event_source_mapping(EventSourceArn=work_arn, FunctionName="worker")
    assert error(exc) == ("InvalidParameterValueException",
                          "The function execution role does not have permissions to call ReceiveMessage on SQS")
    iam.put_role_policy(RoleName="fn-role", PolicyName="consume", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
         "Resource": work_arn}))
    mapping = lam.create_event_source_mapping(EventSourceArn=work_arn, FunctionName="worker", BatchSize=5,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    assert (mapping["State"], mapping["BatchSize"], mapping["EventSourceArn"]) == ("Creating", 5, work_arn)
    for body in ("one", "bad", "two"):
        sqs.send_message(QueueUrl=in_url, MessageBody=body)
    seen = []
    while len(seen) < 2:
        got = sqs.receive_message(QueueUrl=out_url, WaitTimeSeconds=10, MaxNumberOfMessages=10).get("Messages", [])
        assert got, f"the function processed {len(seen)} of 2 messages"
        for m in got:
            sqs.delete_message(QueueUrl=out_url, ReceiptHandle=m["ReceiptHandle"])
            seen.append(json.loads(m["Body"]))
    assert sorted(s["body"] for s in seen) == ["one", "two"]
    assert {(s["source"], s["arn"]) for s in seen} == {("aws:sqs", work_arn)}
    cloudlet.clock.advance(0)  # (waits for the batch under way to finish)
    # "bad" was reported as failed: still in the queue (in flight until its visibility timeout ends).
    attrs = sqs.get_queue_attributes(QueueUrl=in_url, AttributeNames=["ApproximateNumberOfMessages",
                                                                     "ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "1"}
    [listed] = lam.list_event_source_mappings(FunctionName="worker")["EventSourceMappings"]
    assert listed["UUID"] == mapping["UUID"] and listed["State"] == "Enabled"
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    assert lam.list_event_source_mappings()["EventSourceMappings"] == []


def test_versions_and_aliases(cloudlet, setup):
    lam, role = setup
    create(lam, role, "versioned", "def handler(e, c):\n    return 'one'\n")
    v1 = lam.publish_version(FunctionName="versioned", Description="first")
    assert (v1["Version"], v1["FunctionArn"], v1["Description"]) == (
        "1", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:versioned:1", "first")
    assert lam.publish_version(FunctionName="versioned")["Version"] == "1"  # nothing changed since
    lam.update_function_code(FunctionName="versioned", ZipFile=zipped("def handler(e, c):\n    return 'two'\n"))
    assert lam.publish_version(FunctionName="versioned")["Version"] == "2"
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName="versioned")["Versions"]] == [
        "$LATEST", "1", "2"]
    alias = lam.create_alias(FunctionName="versioned", Name="prod", FunctionVersion="1")
    assert alias["AliasArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:versioned:prod"

    def call(**kw):
        out = lam.invoke(FunctionName="versioned", **kw)
        return json.loads(out["Payload"].read()), out["ExecutedVersion"]

    assert call() == ("two", "$LATEST")
    assert call(Qualifier="1") == ("one", "1")
    assert call(Qualifier="prod") == ("one", "1")
    assert json.loads(lam.invoke(FunctionName="versioned:prod")["Payload"].read()) == "one"
    # All traffic to version 2 through the routing weights, then by the alias's version.
    lam.update_alias(FunctionName="versioned", Name="prod", RoutingConfig={"AdditionalVersionWeights": {"2": 1.0}})
    assert call(Qualifier="prod") == ("two", "2")
    lam.update_alias(FunctionName="versioned", Name="prod", FunctionVersion="2", RoutingConfig={})
    assert call(Qualifier="prod") == ("two", "2")
    assert lam.get_function_configuration(FunctionName="versioned", Qualifier="1")["Version"] == "1"
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName="versioned", Qualifier="2")
    assert error(exc) == ("ResourceConflictException",
                          "Unable to delete version because the following aliases reference it: [prod]")
    lam.delete_function(FunctionName="versioned", Qualifier="1")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="versioned", Qualifier="1")
    assert error(exc) == ("ResourceNotFoundException",
                          f"Function not found: arn:aws:lambda:{REGION}:{ACCOUNT}:function:versioned:1")
    assert [a["Name"] for a in lam.list_aliases(FunctionName="versioned")["Aliases"]] == ["prod"]


NODE = '''
exports.handler = async (event, context) => {
  console.log("node got", JSON.stringify(event));
  return { doubled: event.n * 2, fn: context.functionName, version: process.env.AWS_LAMBDA_FUNCTION_VERSION };
};
'''


@pytest.mark.skipif(not __import__("shutil").which("node"), reason="Node.js is not installed on this machine")
def test_a_nodejs_function(cloudlet, setup):
    lam, role = setup
    lam.create_function(FunctionName="node-fn", Runtime="nodejs20.x", Role=role, Handler="index.handler",
                        Code={"ZipFile": zipped(NODE, "index.js")})
    out = lam.invoke(FunctionName="node-fn", Payload=json.dumps({"n": 21}), LogType="Tail")
    assert json.loads(out["Payload"].read()) == {"doubled": 42, "fn": "node-fn", "version": "$LATEST"}
    tail = base64.b64decode(out["LogResult"]).decode()
    assert "\tINFO\tnode got {\"n\":21}" in tail and "REPORT RequestId:" in tail
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName="java-fn", Runtime="java21", Role=role, Handler="x::y",
                            Code={"ZipFile": zipped(NODE)})
    assert error(exc)[0] == "InvalidParameterValueException"


def test_log_subscription_filter_invokes_a_function(cloudlet, setup):
    lam, role = setup
    sqs, logs = cloudlet.client("sqs"), cloudlet.client("logs")
    out_url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    reader = ('import base64, gzip, json, boto3\n'
              'def handler(event, context):\n'
              '    doc = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))\n'
              '    sqs = boto3.client("sqs")\n'
              '    url = sqs.get_queue_url(QueueName="seen")["QueueUrl"]\n'
              '    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(doc))\n')
    fn = create(lam, role, "log-reader", reader, Timeout=30)["FunctionArn"]
    logs.create_log_group(logGroupName="/app/api")
    logs.create_log_stream(logGroupName="/app/api", logStreamName="s1")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/api:*"
    with pytest.raises(ClientError) as exc:
        logs.put_subscription_filter(logGroupName="/app/api", filterName="errors", filterPattern="ERROR",
                                     destinationArn=fn)
    assert error(exc) == ("InvalidParameterException", "Could not execute the lambda function. Make sure you have "
                                                       "given CloudWatch Logs permission to execute your function.")
    lam.add_permission(FunctionName="log-reader", StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com", SourceArn=group_arn)
    logs.put_subscription_filter(logGroupName="/app/api", filterName="errors", filterPattern="ERROR",
                                 destinationArn=fn)
    [described] = logs.describe_subscription_filters(logGroupName="/app/api")["subscriptionFilters"]
    assert (described["filterName"], described["destinationArn"], described["distribution"]) == (
        "errors", fn, "ByLogStream")
    t = 1_906_545_600_000
    logs.put_log_events(logGroupName="/app/api", logStreamName="s1", logEvents=[
        {"timestamp": t, "message": "INFO fine"}, {"timestamp": t + 1, "message": "ERROR boom"},
        {"timestamp": t + 2, "message": "ERROR again"}])
    cloudlet.clock.advance(0)
    [got] = sqs.receive_message(QueueUrl=out_url, WaitTimeSeconds=5)["Messages"]
    doc = json.loads(got["Body"])
    assert {k: doc[k] for k in ("messageType", "owner", "logGroup", "logStream", "subscriptionFilters")} == {
        "messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": "/app/api", "logStream": "s1",
        "subscriptionFilters": ["errors"]}
    assert [(e["timestamp"], e["message"]) for e in doc["logEvents"]] == [(t + 1, "ERROR boom"),
                                                                          (t + 2, "ERROR again")]
    logs.delete_subscription_filter(logGroupName="/app/api", filterName="errors")
    assert logs.describe_subscription_filters(logGroupName="/app/api")["subscriptionFilters"] == []


WEB = '''
import json

def handler(event, context):
    if event["rawPath"] == "/plain":
        return {"hello": "world"}
    return {"statusCode": 201, "headers": {"X-Route": event["rawPath"]},
            "body": json.dumps({"method": event["requestContext"]["http"]["method"],
                                "query": event.get("queryStringParameters"), "body": event.get("body")})}
'''


def test_function_urls(cloudlet, setup):
    import http.client

    lam, role = setup
    create(lam, role, "web", WEB)
    url = lam.create_function_url_config(FunctionName="web", AuthType="NONE")["FunctionUrl"]
    assert url.startswith("http://") and ".lambda-url.us-east-1.localhost:" in url

    host = url.split("/")[2]

    def fetch(path, data=None, method="GET"):
        # (to cloudlet's address with the URL's Host: *.localhost names resolve
        # in curl and browsers, not in every system resolver)
        conn = http.client.HTTPConnection("127.0.0.1", int(cloudlet.endpoint.rsplit(":", 1)[1]), timeout=30)
        try:
            conn.request(method, path, body=data, headers={"Host": host, "Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    # No policy statement for "*" yet: AWS answers 403.
    assert fetch("/plain")[0] == 403
    lam.add_permission(FunctionName="web", StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    status, headers, body = fetch("/plain")
    assert (status, json.loads(body)) == (200, {"hello": "world"})
    status, headers, body = fetch("/orders?id=7&id=8", data=b'{"n": 1}', method="POST")
    assert status == 201 and {k.lower(): v for k, v in headers.items()}["x-route"] == "/orders"
    assert json.loads(body) == {"method": "POST", "query": {"id": "7,8"}, "body": '{"n": 1}'}
    assert lam.get_function_url_config(FunctionName="web")["AuthType"] == "NONE"
    lam.update_function_url_config(FunctionName="web", Cors={"AllowOrigins": ["https://app.example"],
                                                             "AllowMethods": ["POST"], "MaxAge": 300})
    conn = http.client.HTTPConnection("127.0.0.1", int(cloudlet.endpoint.rsplit(":", 1)[1]), timeout=30)
    conn.request("OPTIONS", "/orders", headers={"Host": host, "Origin": "https://app.example",
                                                 "Access-Control-Request-Method": "POST"})
    preflight = conn.getresponse()
    preflight.read()
    conn.close()
    allowed = {k.lower(): v for k, v in preflight.getheaders()}
    assert (preflight.status, allowed["access-control-allow-origin"], allowed["access-control-allow-methods"],
            allowed["access-control-max-age"]) == (200, "https://app.example", "POST", "300")
    lam.update_function_url_config(FunctionName="web", AuthType="AWS_IAM")
    assert fetch("/plain")[0] == 403  # unsigned
    lam.delete_function_url_config(FunctionName="web")
    assert fetch("/plain")[0] == 403


def test_creating_a_function_needs_iam_pass_role(cloudlet, setup):
    from tests.services.test_iam_enforcement import allow, user_with

    lam, role = setup
    dev, dev_arn = user_with(cloudlet, "dev", doc(allow("lambda:*")))
    dev_lambda = dev("lambda")
    with pytest.raises(ClientError) as exc:
        dev_lambda.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
                                   Code={"ZipFile": zipped(ECHO)})
    code, message = error(exc)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {dev_arn} is not authorized to perform: iam:PassRole on resource: {role}")
    # PassRole to Lambda only (iam:PassedToService), as AWS's managed policies write it.
    cloudlet.client("iam").put_user_policy(UserName="dev", PolicyName="pass", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
         "Condition": {"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}}}))
    created = dev_lambda.create_function(FunctionName="f", Runtime="python3.12", Role=role, Handler="app.handler",
                                         Code={"ZipFile": zipped(ECHO)})
    assert created["Role"] == role
    scheduler = dev("scheduler")
    with pytest.raises(ClientError):  # may not use scheduler at all, nor pass the role to it
        scheduler.create_schedule(Name="s", ScheduleExpression="rate(5 minutes)", FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": created["FunctionArn"], "RoleArn": role})


def test_async_destinations_and_retry_settings(cloudlet, setup):
    lam, role = setup
    sqs = cloudlet.client("sqs")
    ok_url = sqs.create_queue(QueueName="on-success")["QueueUrl"]
    bad_url = sqs.create_queue(QueueName="on-failure")["QueueUrl"]
    create(lam, role, "ok", ECHO)
    create(lam, role, "bad", FAIL)
    for name, which, queue in (("ok", "OnSuccess", "on-success"), ("bad", "OnFailure", "on-failure")):
        lam.put_function_event_invoke_config(
            FunctionName=name, MaximumRetryAttempts=0,
            DestinationConfig={which: {"Destination": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"}})
    got = lam.get_function_event_invoke_config(FunctionName="bad")
    assert got["MaximumRetryAttempts"] == 0 and got["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:bad"
    lam.invoke(FunctionName="ok", InvocationType="Event", Payload=b'{"x": 1}')
    lam.invoke(FunctionName="bad", InvocationType="Event", Payload=b'{"y": 2}')
    cloudlet.clock.advance(0)
    [success] = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=ok_url, WaitTimeSeconds=5)["Messages"]]
    assert success["requestContext"]["condition"] == "Success"
    assert success["requestContext"]["functionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:ok:$LATEST"
    assert success["requestPayload"] == {"x": 1} and success["responsePayload"]["event"] == {"x": 1}
    assert success["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    [failure] = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=bad_url, WaitTimeSeconds=5)["Messages"]]
    assert (failure["requestContext"]["condition"], failure["requestContext"]["approximateInvokeCount"]) == (
        "RetriesExhausted", 1)  # no retries: MaximumRetryAttempts 0
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert failure["responsePayload"]["errorType"] == "ValueError"


def test_layers(cloudlet, setup):
    lam, role = setup
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr(zipfile.ZipInfo("python/shared_util.py", date_time=(2030, 1, 1, 0, 0, 0)),
                         "def shout(text):\n    return text.upper() + '!'\n")
    layer = lam.publish_layer_version(LayerName="utils", Content={"ZipFile": buf.getvalue()},
                                      CompatibleRuntimes=["python3.12"])
    assert (layer["Version"], layer["LayerVersionArn"]) == (1, f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:utils:1")
    source = "import shared_util\n\ndef handler(event, context):\n    return shared_util.shout(event['text'])\n"
    fn = create(lam, role, "uses-layer", source, Layers=[layer["LayerVersionArn"]])
    assert fn["Layers"] == [{"Arn": layer["LayerVersionArn"], "CodeSize": len(buf.getvalue())}]
    out = lam.invoke(FunctionName="uses-layer", Payload=json.dumps({"text": "hi"}))
    assert json.loads(out["Payload"].read()) == "HI!"
    assert [x["LayerName"] for x in lam.list_layers()["Layers"]] == ["utils"]
    with pytest.raises(ClientError) as exc:
        create(lam, role, "bad-layer", source, Layers=[f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:utils:9"])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_settings_terraform_reads_and_reserved_concurrency(cloudlet, setup):
    lam, role = setup
    create(lam, role, "tf", ECHO)
    assert lam.get_function_concurrency(FunctionName="tf").get("ReservedConcurrentExecutions") is None
    assert lam.put_function_concurrency(FunctionName="tf", ReservedConcurrentExecutions=0)[
        "ReservedConcurrentExecutions"] == 0
    assert "_Reserved" not in lam.get_function_configuration(FunctionName="tf")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="tf")
    assert error(exc) == ("TooManyRequestsException", "Rate Exceeded.")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert settings["AccountUsage"]["FunctionCount"] == 1
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName="tf", ReservedConcurrentExecutions=950)
    assert error(exc)[0] == "InvalidParameterValueException"
    lam.delete_function_concurrency(FunctionName="tf")
    assert lam.invoke(FunctionName="tf")["StatusCode"] == 200
    assert lam.get_function_code_signing_config(FunctionName="tf")["FunctionName"] == "tf"
    assert lam.get_runtime_management_config(FunctionName="tf")["UpdateRuntimeOn"] == "Auto"
    assert lam.get_function_recursion_config(FunctionName="tf")["RecursiveLoop"] == "Terminate"
