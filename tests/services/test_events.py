"""EventBridge through boto3 against a real server: buses and their
policies, rules and targets with AWS's answers, PutEvents routed by event
patterns into SQS and SNS (the queue's and topic's policies decide),
Input / InputPath / InputTransformer, dead-letter queues, TestEventPattern,
tags, cross-account buses."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import receive_all

ACCOUNT = "000000000000"
OTHER = "111111111111"
REGION = "us-east-1"
START = "2030-06-01T12:00:00Z"
NOW = datetime(2030, 6, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def clients(cloudlet):
    cloudlet.clock.set(START)
    return cloudlet.client("events"), cloudlet.client("sqs")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def queue_for_rules(sqs, name: str, rule_arns: list[str] | None = None) -> tuple[str, str]:
    """(url, arn) of a queue whose policy lets EventBridge rules send to it
    (all rules of the account when none are named)."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    condition = ({"ArnEquals": {"aws:SourceArn": rule_arns}} if rule_arns else
                 {"StringEquals": {"aws:SourceAccount": ACCOUNT}})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": condition}]})})
    return url, arn


def bodies(sqs, url: str) -> list:
    return [json.loads(m["Body"]) for m in receive_all(sqs, url)]


def put(events, source="app.orders", detail_type="Order Placed", detail=None, **entry) -> dict:
    return events.put_events(Entries=[dict(Source=source, DetailType=detail_type,
                                           Detail=json.dumps(detail if detail is not None else {}), **entry)])


def test_default_bus_and_custom_buses(clients):
    events, _ = clients
    default = events.describe_event_bus()
    assert {k: default[k] for k in ("Name", "Arn", "CreationTime", "LastModifiedTime")} == {
        "Name": "default", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default",
        "CreationTime": NOW, "LastModifiedTime": NOW}
    out = events.create_event_bus(Name="orders", Description="order events", Tags=[{"Key": "team", "Value": "a"}])
    assert out["EventBusArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/orders"
    assert out["Description"] == "order events"
    for name, expected in (("orders", ("ResourceAlreadyExistsException", "Event bus orders already exists.")),
                           ("default", ("ResourceAlreadyExistsException", "Event bus default already exists.")),
                           ("a/b", ("ValidationException", "Event bus name must not contain '/'."))):
        with pytest.raises(ClientError) as exc:
            events.create_event_bus(Name=name)
        assert error(exc) == expected
    events.create_event_bus(Name="payments")
    listed = events.list_event_buses()["EventBuses"]
    assert [b["Name"] for b in listed] == ["default", "orders", "payments"]
    assert set(listed[1]) == {"Name", "Arn", "Description", "CreationTime", "LastModifiedTime"}
    page = events.list_event_buses(Limit=2)
    assert [b["Name"] for b in page["EventBuses"]] == ["default", "orders"]
    assert [b["Name"] for b in events.list_event_buses(NextToken=page["NextToken"])["EventBuses"]] == ["payments"]
    assert [b["Name"] for b in events.list_event_buses(NamePrefix="pay")["EventBuses"]] == ["payments"]
    assert events.list_tags_for_resource(ResourceARN=out["EventBusArn"])["Tags"] == [{"Key": "team", "Value": "a"}]
    with pytest.raises(ClientError) as exc:
        events.delete_event_bus(Name="default")
    assert error(exc) == ("ValidationException", "Cannot delete event bus default.")
    events.delete_event_bus(Name="payments")
    events.delete_event_bus(Name="payments")  # gone already: still fine, as on AWS
    with pytest.raises(ClientError) as exc:
        events.describe_event_bus(Name="payments")
    assert error(exc) == ("ResourceNotFoundException", "Event bus payments does not exist.")


def test_rules_put_describe_list_enable_delete(clients):
    events, sqs = clients
    pattern = json.dumps({"source": ["app.orders"]})
    arn = events.put_rule(Name="orders", EventPattern=pattern, Description="all orders")["RuleArn"]
    assert arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/orders"
    described = events.describe_rule(Name="orders")
    described.pop("ResponseMetadata")
    assert described == {"Name": "orders", "Arn": arn, "EventPattern": pattern, "State": "ENABLED",
                         "Description": "all orders", "EventBusName": "default", "CreatedBy": ACCOUNT}
    events.create_event_bus(Name="custom")
    custom = events.put_rule(Name="orders", EventBusName="custom", EventPattern=pattern, State="DISABLED")
    assert custom["RuleArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/custom/orders"
    events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)")
    rules = events.list_rules()["Rules"]
    assert [r["Name"] for r in rules] == ["nightly", "orders"]
    assert rules[0] == {"Name": "nightly", "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly",
                        "ScheduleExpression": "cron(0 2 * * ? *)", "State": "ENABLED", "EventBusName": "default"}
    assert [(r["Name"], r["State"]) for r in events.list_rules(EventBusName="custom")["Rules"]] == \
        [("orders", "DISABLED")]
    assert [r["Name"] for r in events.list_rules(NamePrefix="ord")["Rules"]] == ["orders"]
    events.disable_rule(Name="orders")
    assert events.describe_rule(Name="orders")["State"] == "DISABLED"
    events.enable_rule(Name="orders")
    assert events.describe_rule(Name="orders")["State"] == "ENABLED"

    _, queue_arn = queue_for_rules(sqs, "orders")
    out = events.put_targets(Rule="orders", Targets=[{"Id": "q", "Arn": queue_arn}])
    out.pop("ResponseMetadata")
    assert out == {"FailedEntryCount": 0, "FailedEntries": []}
    assert events.list_rule_names_by_target(TargetArn=queue_arn)["RuleNames"] == ["orders"]
    with pytest.raises(ClientError) as exc:
        events.delete_rule(Name="orders")
    assert error(exc) == ("ValidationException", "Rule can't be deleted since it has targets.")
    # PutRule again updates in place and keeps the targets.
    events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["app.shop"]}))
    assert events.list_targets_by_rule(Rule="orders")["Targets"] == [{"Id": "q", "Arn": queue_arn}]
    assert events.remove_targets(Rule="orders", Ids=["q", "nope"])["FailedEntries"] == [
        {"TargetId": "nope", "ErrorCode": "ResourceNotFoundException",
         "ErrorMessage": "Target nope does not exist on rule orders."}]
    events.delete_rule(Name="orders")
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name="orders")
    assert error(exc) == ("ResourceNotFoundException", "Rule orders does not exist on EventBus default.")
    with pytest.raises(ClientError) as exc:
        events.enable_rule(Name="orders", EventBusName="custom2")
    assert error(exc) == ("ResourceNotFoundException", "Event bus custom2 does not exist.")


@pytest.mark.parametrize("kwargs, expected", [
    (dict(), ("ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.")),
    (dict(ScheduleExpression="rate(1 minutes)"), ("ValidationException", "Parameter ScheduleExpression is not valid.")),
    (dict(ScheduleExpression="rate(5 minutes)", EventBusName="custom"),
     ("ValidationException", "ScheduleExpression is supported only on the default event bus.")),
    (dict(EventPattern='{"source": "app"}'),
     ("InvalidEventPatternException", 'Event pattern is not valid. Reason: "source" must be an object or an array')),
    (dict(EventPattern='{"resources": []}'),
     ("InvalidEventPatternException", "Event pattern is not valid. Reason: Empty arrays are not allowed")),
    (dict(EventPattern='{"detail": {}}'),
     ("InvalidEventPatternException", "Event pattern is not valid. Reason: Empty objects are not allowed")),
    (dict(EventPattern='["a"]'),
     ("InvalidEventPatternException", "Event pattern is not valid. Reason: Filter is not an object")),
    (dict(EventPattern='{"time": [{"prefix": 123}]}'),
     ("InvalidEventPatternException", "Event pattern is not valid. Reason: prefix match pattern must be a string")),
    (dict(EventPattern='{"a": [{"EXISTS": true}]}'),
     ("InvalidEventPatternException", "Event pattern is not valid. Reason: Unrecognized match type EXISTS")),
    (dict(EventPattern='{"source": ["a"]}', EventBusName="nope"),
     ("ResourceNotFoundException", "Event bus nope does not exist.")),
])
def test_put_rule_errors(clients, kwargs, expected):
    events, _ = clients
    events.create_event_bus(Name="custom")
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name="r", **kwargs)
    assert error(exc) == expected


def test_put_events_routes_by_pattern_into_sqs(cloudlet, clients):
    events, sqs = clients
    arn = events.put_rule(Name="big-orders", EventPattern=json.dumps({
        "source": ["app.orders"], "detail-type": ["Order Placed"],
        "detail": {"total": [{"numeric": [">=", 100]}], "country": [{"anything-but": "FR"}]}}))["RuleArn"]
    url, queue_arn = queue_for_rules(sqs, "big-orders", [arn])
    events.put_targets(Rule="big-orders", Targets=[{"Id": "q", "Arn": queue_arn}])
    out = events.put_events(Entries=[
        {"Source": "app.orders", "DetailType": "Order Placed", "Detail": json.dumps({"total": 250, "country": "DE"}),
         "Resources": ["arn:aws:app:order/1"]},
        {"Source": "app.orders", "DetailType": "Order Placed", "Detail": json.dumps({"total": 20, "country": "DE"})},
        {"Source": "app.orders", "DetailType": "Order Placed", "Detail": json.dumps({"total": 300, "country": "FR"})},
        {"Source": "app.orders", "DetailType": "Order Placed", "Detail": json.dumps({"total": 100, "country": "PT"}),
         "Time": datetime(2030, 5, 31, 23, 59, 59, tzinfo=timezone.utc)},
        # anything-but needs the field: no country, no match (Event Ruler)
        {"Source": "app.orders", "DetailType": "Order Placed", "Detail": json.dumps({"total": 100})},
    ])
    assert out["FailedEntryCount"] == 0
    ids = [e["EventId"] for e in out["Entries"]]
    messages = receive_all(sqs, url)
    assert [json.loads(m["Body"])["id"] for m in messages] == [ids[0], ids[3]]
    # The body is AWS's event JSON, compact, keys in AWS's order.
    assert messages[0]["Body"] == (
        '{"version":"0","id":"%s","detail-type":"Order Placed","source":"app.orders","account":"%s",'
        '"time":"2030-06-01T12:00:00Z","region":"us-east-1","resources":["arn:aws:app:order/1"],'
        '"detail":{"total":250,"country":"DE"}}' % (ids[0], ACCOUNT))
    assert json.loads(messages[1]["Body"])["time"] == "2030-05-31T23:59:59Z"
    # Disabled: nothing.
    events.disable_rule(Name="big-orders")
    put(events, detail={"total": 500})
    assert receive_all(sqs, url) == []
    cw = cloudlet.client("cloudwatch")
    cloudlet.clock.advance(120)
    stats = cw.get_metric_statistics(Namespace="AWS/Events", MetricName="Invocations",
                                     Dimensions=[{"Name": "RuleName", "Value": "big-orders"}], StartTime=NOW,
                                     EndTime=datetime(2030, 6, 1, 12, 5, tzinfo=timezone.utc), Period=300,
                                     Statistics=["Sum"])["Datapoints"]
    assert [p["Sum"] for p in stats] == [2.0]


def test_put_events_entry_errors_and_limits(clients):
    events, _ = clients
    out = events.put_events(Entries=[
        {"DetailType": "x", "Detail": "{}"},
        {"Source": "a", "Detail": "{}"},
        {"Source": "a", "DetailType": "x"},
        {"Source": "a", "DetailType": "x", "Detail": "[1]"},
        {"Source": "a", "DetailType": "x", "Detail": "not json"},
        {"Source": "a", "DetailType": "x", "Detail": "{}", "EventBusName": "no-such-bus"},
    ])
    assert out["FailedEntryCount"] == 5
    assert out["Entries"][:5] == [
        {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required "
                                                         "argument."},
        {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter DetailType is not valid. Reason: DetailType is a "
                                                         "required argument."},
        {"ErrorCode": "InvalidArgument", "ErrorMessage": "Parameter Detail is not valid. Reason: Detail is a required "
                                                         "argument."},
        {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."},
        {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."},
    ]
    assert set(out["Entries"][5]) == {"EventId"}  # a bus that does not exist: accepted and dropped, as on AWS
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[{"Source": "a", "DetailType": "x",
                                    "Detail": json.dumps({"p": "x" * (256 * 1024)})}])
    assert error(exc) == ("ValidationException", "Total size of the entries in the request is over the limit.")


def test_target_input_forms(clients):
    events, sqs = clients
    arn = events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app.orders"]}))["RuleArn"]
    queues = {name: queue_for_rules(sqs, name, [arn]) for name in ("constant", "path", "string", "json", "vars")}
    events.put_targets(Rule="r", Targets=[
        {"Id": "constant", "Arn": queues["constant"][1], "Input": '{"fixed": true}'},
        {"Id": "path", "Arn": queues["path"][1], "InputPath": "$.detail.customer.name"},
        {"Id": "string", "Arn": queues["string"][1], "InputTransformer": {
            "InputPathsMap": {"who": "$.detail.customer.name", "total": "$.detail.total",
                              "missing": "$.detail.nope"},
            "InputTemplate": '"<who> paid <total> <missing>"'}},
        {"Id": "json", "Arn": queues["json"][1], "InputTransformer": {
            "InputPathsMap": {"who": "$.detail.customer.name", "customer": "$.detail.customer",
                              "missing": "$.detail.nope"},
            "InputTemplate": '{"name": <who>, "quoted": "<who>", "obj": <customer>, "gone": <missing>}'}},
        {"Id": "vars", "Arn": queues["vars"][1], "InputTransformer": {
            "InputTemplate": '"<aws.events.rule-name> <aws.events.rule-arn>"'}},
    ])
    put(events, detail={"customer": {"name": "Ann", "tier": 2}, "total": 12.5})
    assert [m["Body"] for m in receive_all(sqs, queues["constant"][0])] == ['{"fixed": true}']
    assert [m["Body"] for m in receive_all(sqs, queues["path"][0])] == ['"Ann"']
    assert [m["Body"] for m in receive_all(sqs, queues["string"][0])] == ['"Ann paid 12.5 "']
    [body] = [m["Body"] for m in receive_all(sqs, queues["json"][0])]
    assert json.loads(body) == {"name": "Ann", "quoted": "Ann", "obj": {"name": "Ann", "tier": 2}, "gone": ""}
    assert [m["Body"] for m in receive_all(sqs, queues["vars"][0])] == [f'"r {arn}"']

    for target, message in (
            ({"Id": "t", "Arn": queues["path"][1], "Input": "{}", "InputPath": "$"},
             "Only one of Input, InputPath, or InputTransformer must be provided for target t."),
            ({"Id": "t", "Arn": queues["path"][1], "InputTransformer": {"InputTemplate": '"<nope>"'}},
             "InputTemplate for target t contains invalid placeholder nope."),
            ({"Id": "t", "Arn": "not-an-arn"},
             "Parameter not-an-arn is not valid. Reason: Provided Arn is not in correct format.")):
        with pytest.raises(ClientError) as exc:
            events.put_targets(Rule="r", Targets=[target])
        assert error(exc) == ("ValidationException", message)
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule="r", Targets=[{"Id": "sixth", "Arn": queues["path"][1]}])
    assert error(exc) == ("LimitExceededException", "The requested resource exceeds the maximum number allowed.")


def test_sns_target_and_the_queue_policy_decides_with_a_dead_letter_queue(clients, cloudlet):
    events, sqs = clients
    sns = cloudlet.client("sns")
    arn = events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app.orders"]}))["RuleArn"]
    topic = sns.create_topic(Name="orders")["TopicArn"]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                               "Action": "sns:Publish", "Resource": topic}]}))
    subscribed_url, subscribed_arn = queue_for_rules(sqs, "from-topic")
    sqs.set_queue_attributes(QueueUrl=subscribed_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                               "Action": "sqs:SendMessage", "Resource": subscribed_arn}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=subscribed_arn, Attributes={"RawMessageDelivery": "true"})
    # A queue without a policy for EventBridge: the delivery is refused and dead-lettered.
    closed_url = sqs.create_queue(QueueName="closed")["QueueUrl"]
    closed_arn = sqs.get_queue_attributes(QueueUrl=closed_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    dlq_url, dlq_arn = queue_for_rules(sqs, "dlq", [arn])
    events.put_targets(Rule="r", Targets=[
        {"Id": "topic", "Arn": topic},
        {"Id": "closed", "Arn": closed_arn, "DeadLetterConfig": {"Arn": dlq_arn}}])
    event_id = put(events, detail={"n": 1})["Entries"][0]["EventId"]
    [via_topic] = bodies(sqs, subscribed_url)
    assert via_topic["id"] == event_id and via_topic["detail"] == {"n": 1}
    assert receive_all(sqs, closed_url) == []
    [dead] = receive_all(sqs, dlq_url, MessageAttributeNames=["All"])
    assert json.loads(dead["Body"])["id"] == event_id
    attributes = {k: v["StringValue"] for k, v in dead["MessageAttributes"].items()}
    assert attributes["RULE_ARN"] == arn and attributes["TARGET_ARN"] == closed_arn
    assert attributes["ERROR_CODE"] == "NO_PERMISSIONS"


def test_test_event_pattern(clients):
    events, _ = clients
    event = json.dumps({"id": "1", "account": ACCOUNT, "source": "app.orders", "time": "2030-06-01T12:00:00Z",
                        "region": REGION, "detail-type": "Order Placed",
                        "detail": {"items": [{"sku": "a-1", "qty": 2}, {"sku": "b-2", "qty": 0}],
                                   "ip": "10.0.3.7", "status": "Shipped"}})
    cases = [
        ({"source": ["app.orders"]}, True),
        ({"source": [{"prefix": "app."}], "detail-type": [{"suffix": "Placed"}]}, True),
        ({"detail": {"items": {"sku": [{"wildcard": "b-*"}], "qty": [0]}}}, True),
        ({"detail": {"items": {"sku": ["a-1"], "qty": [0]}}}, False),   # not the same array element
        ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
        ({"detail": {"status": [{"equals-ignore-case": "shipped"}]}}, True),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"$or": [{"source": ["x"]}, {"detail": {"status": ["Shipped"]}}]}, True),
        ({"detail": {"status": [{"anything-but": {"prefix": "Ship"}}]}}, False),
    ]
    for pattern, expected in cases:
        assert events.test_event_pattern(EventPattern=json.dumps(pattern), Event=event)["Result"] is expected, pattern
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(EventPattern='{"source": ["a"]}', Event='{"testEvent": "value"}')
    assert error(exc) == ("ValidationException", "Parameter Event is not valid.")


def test_permissions_and_cross_account_put_events(cloudlet, clients):
    events, sqs = clients
    events.create_event_bus(Name="shared")
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/shared"
    rule = events.put_rule(Name="all", EventBusName="shared", EventPattern='{"source": [{"prefix": ""}]}')
    url, queue_arn = queue_for_rules(sqs, "shared", [rule["RuleArn"]])
    events.put_targets(Rule="all", EventBusName="shared", Targets=[{"Id": "q", "Arn": queue_arn}])
    other = cloudlet.client("events", access_key=OTHER)
    entry = {"Source": "partner.app", "DetailType": "Ping", "Detail": "{}", "EventBusName": bus_arn}
    with pytest.raises(ClientError) as exc:
        other.put_events(Entries=[entry])
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    events.put_permission(EventBusName="shared", Action="events:PutEvents", Principal=OTHER, StatementId="partner")
    policy = json.loads(events.describe_event_bus(Name="shared")["Policy"])
    assert policy == {"Version": "2012-10-17", "Statement": [{
        "Sid": "partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
        "Action": "events:PutEvents", "Resource": bus_arn}]}
    event_id = other.put_events(Entries=[entry])["Entries"][0]["EventId"]
    [got] = bodies(sqs, url)
    assert (got["id"], got["account"], got["source"]) == (event_id, OTHER, "partner.app")
    with pytest.raises(ClientError) as exc:
        events.remove_permission(EventBusName="shared", StatementId="nope")
    assert error(exc) == ("ResourceNotFoundException", "Statement with the provided id does not exist.")
    events.remove_permission(EventBusName="shared", StatementId="partner")
    assert "Policy" not in events.describe_event_bus(Name="shared")


def test_tags_on_rules(clients):
    events, _ = clients
    arn = events.put_rule(Name="r", EventPattern='{"source": ["a"]}', Tags=[{"Key": "k1", "Value": "v1"}])["RuleArn"]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "k2", "Value": "v2"}])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "k1", "Value": "v1"},
                                                                      {"Key": "k2", "Value": "v2"}]
    events.untag_resource(ResourceARN=arn, TagKeys=["k1", "absent"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "k2", "Value": "v2"}]
    with pytest.raises(ClientError) as exc:
        events.list_tags_for_resource(ResourceARN=f"arn:aws:events:{REGION}:{ACCOUNT}:rule/missing")
    assert error(exc) == ("ResourceNotFoundException", "Rule missing does not exist on EventBus default.")


def test_cloudwatch_logs_target_needs_the_log_resource_policy(cloudlet, clients):
    events, _ = clients
    logs = cloudlet.client("logs")
    logs.create_log_group(logGroupName="/aws/events/orders")
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/orders"
    events.put_rule(Name="r", EventPattern=json.dumps({"source": ["app.orders"]}))
    events.put_targets(Rule="r", Targets=[{"Id": "logs", "Arn": group_arn + ":*"}])
    put(events, detail={"n": 1})  # no resource policy yet: refused, as on AWS
    assert logs.describe_log_streams(logGroupName="/aws/events/orders")["logStreams"] == []
    logs.put_resource_policy(policyName="TrustEventsToStoreLogEvents", policyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Sid": "TrustEventsToStoreLogEvent", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/events/*:*"}]}))
    event_id = put(events, detail={"n": 2})["Entries"][0]["EventId"]
    [stream] = logs.describe_log_streams(logGroupName="/aws/events/orders")["logStreams"]
    assert stream["logStreamName"] == event_id
    [logged] = logs.get_log_events(logGroupName="/aws/events/orders", logStreamName=event_id)["events"]
    assert logged["timestamp"] == int(NOW.timestamp() * 1000)
    assert json.loads(logged["message"])["detail"] == {"n": 2}


def test_archives_and_replays(cloudlet, clients):
    events, sqs = clients
    bus = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    archive = events.create_archive(ArchiveName="orders", EventSourceArn=bus, RetentionDays=7,
                                    EventPattern=json.dumps({"source": ["app.orders"]}))
    assert archive["ArchiveArn"] == f"arn:aws:events:{REGION}:{ACCOUNT}:archive/orders"
    assert archive["State"] == "ENABLED"
    for n in range(3):
        put(events, detail={"n": n})
        cloudlet.clock.advance(60)
    put(events, source="app.other", detail={"n": 99})  # not archived: the pattern wants orders
    described = events.describe_archive(ArchiveName="orders")
    assert (described["EventCount"], described["RetentionDays"]) == (3, 7)
    # Replay the first two minutes to a rule created afterwards.
    rule = events.put_rule(Name="late", EventPattern=json.dumps({"source": ["app.orders"]}))["RuleArn"]
    url, queue_arn = queue_for_rules(sqs, "replayed", [rule])
    events.put_targets(Rule="late", Targets=[{"Id": "q", "Arn": queue_arn}])
    out = events.start_replay(ReplayName="first-two", EventSourceArn=archive["ArchiveArn"],
                              EventStartTime=NOW, EventEndTime=datetime(2030, 6, 1, 12, 2, tzinfo=timezone.utc),
                              Destination={"Arn": bus, "FilterArns": [rule]})
    assert out["State"] == "STARTING"
    cloudlet.clock.advance(0)
    replayed = bodies(sqs, url)
    assert [(e["detail"], e["replay-name"]) for e in replayed] == [({"n": 0}, "first-two"), ({"n": 1}, "first-two")]
    replay = events.describe_replay(ReplayName="first-two")
    assert replay["State"] == "COMPLETED" and replay["EventLastReplayedTime"] == datetime(2030, 6, 1, 12, 1,
                                                                                           tzinfo=timezone.utc)
    assert events.describe_archive(ArchiveName="orders")["EventCount"] == 3  # replays are not archived again
    with pytest.raises(ClientError) as exc:
        events.cancel_replay(ReplayName="first-two")
    assert exc.value.response["Error"]["Code"] == "IllegalStatusException"
    # Retention on the clock.
    cloudlet.clock.advance(8 * 86400)
    assert events.describe_archive(ArchiveName="orders")["EventCount"] == 0
    events.delete_archive(ArchiveName="orders")
    assert events.list_archives()["Archives"] == []
