"""CloudTrail into CloudWatch Logs, end to end: the trail's role is assumed
as cloudtrail.amazonaws.com, records land in `<account>_CloudTrail_<region>`
streams, and the CIS "unauthorized API calls" metric filter and alarm fire
through SNS, all on the virtual clock."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import receive_all
from tests.services.test_cloudtrail import ACCOUNT, REGION, make_trail
from tests.services.test_cloudwatch_alarms import topic_into_queue
from tests.services.test_iam_enforcement import doc, user_with

GROUP = "CloudTrail/audit"
GROUP_ARN = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*"
ROLE = "CloudTrail_CloudWatchLogs_Role"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
STREAM = f"{ACCOUNT}_CloudTrail_{REGION}"
T0 = datetime(2030, 6, 1, 12, 0, tzinfo=timezone.utc)
UNAUTHORIZED = '{ ($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*") }'


def role_policy(streams: str = f"{ACCOUNT}_CloudTrail_*") -> str:
    # the policy the CloudTrail User Guide gives for CloudTrail_CloudWatchLogs_Role
    resource = f"arn:aws:logs:*:{ACCOUNT}:log-group:{GROUP}:log-stream:{streams}"
    return doc({"Sid": "AWSCloudTrailCreateLogStream2014110", "Effect": "Allow", "Action": ["logs:CreateLogStream"],
                "Resource": [resource]},
               {"Sid": "AWSCloudTrailPutLogEvents20141101", "Effect": "Allow", "Action": ["logs:PutLogEvents"],
                "Resource": [resource]})


def make_role(cloudlet, name: str = ROLE, service: str = "cloudtrail.amazonaws.com", policy: bool = True) -> str:
    iam = cloudlet.client("iam")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    if policy:
        iam.put_role_policy(RoleName=name, PolicyName="cwl", PolicyDocument=role_policy())
    return arn


@pytest.fixture
def setup(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    logs = cloudlet.client("logs")
    logs.create_log_group(logGroupName=GROUP)
    make_role(cloudlet)
    return logs, cloudlet.client("cloudtrail")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def records(logs, stream: str = STREAM) -> list[tuple[int, dict]]:
    out = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)["events"]
    return [(e["timestamp"], json.loads(e["message"])) for e in out]


def test_cis_unauthorized_api_calls_alarm(cloudlet, setup):
    logs, ct = setup
    make_trail(cloudlet, "main", "trail-logs", CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=ROLE_ARN)
    # Creating the trail made the home region's stream with the role.
    assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]] == [STREAM]
    [trail] = ct.describe_trails(trailNameList=["main"])["trailList"]
    assert (trail["CloudWatchLogsLogGroupArn"], trail["CloudWatchLogsRoleArn"]) == (GROUP_ARN, ROLE_ARN)
    logs.put_metric_filter(logGroupName=GROUP, filterName="UnauthorizedAPICalls", filterPattern=UNAUTHORIZED,
                           metricTransformations=[{"metricName": "UnauthorizedAPICalls",
                                                   "metricNamespace": "CISBenchmark", "metricValue": "1"}])
    cw, sns, sqs = cloudlet.client("cloudwatch"), cloudlet.client("sns"), cloudlet.client("sqs")
    topic, url = topic_into_queue(sns, sqs, "security-alerts")
    cw.put_metric_alarm(AlarmName="unauthorized-api-calls", Namespace="CISBenchmark",
                        MetricName="UnauthorizedAPICalls", Statistic="Sum", Period=300, EvaluationPeriods=1,
                        Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
                        TreatMissingData="notBreaching", AlarmActions=[topic])
    ct.start_logging(Name="main")

    mallory, _ = user_with(cloudlet, "mallory")
    cloudlet.clock.set("2030-06-01T12:01:00Z")
    for client, call in ((mallory("sqs"), "list_queues"), (mallory("s3"), "list_buckets")):
        with pytest.raises(ClientError):
            getattr(client, call)()
    sqs.create_queue(QueueName="fine")
    assert logs.get_log_events(logGroupName=GROUP, logStreamName=STREAM)["events"] == []
    cloudlet.clock.set("2030-06-01T12:05:00Z")  # the trail's 5-minute delivery

    delivered = records(logs)
    by_name = {r["eventName"]: (ts, r) for ts, r in delivered}
    ts, denied = by_name["ListQueues"]
    assert denied["errorCode"] == "AccessDenied"
    assert denied["userIdentity"]["arn"] == f"arn:aws:iam::{ACCOUNT}:user/mallory"
    assert ts == int(datetime.fromisoformat(denied["eventTime"].replace("Z", "+00:00")).timestamp() * 1000)
    assert by_name["ListBuckets"][1]["errorCode"] == "AccessDenied"
    assert "errorCode" not in by_name["CreateQueue"][1]
    assert [ts for ts, _ in delivered] == sorted(ts for ts, _ in delivered)
    # The same records as the S3 log file of this delivery.
    s3 = cloudlet.client("s3")
    [log_key] = [o["Key"] for o in s3.list_objects_v2(Bucket="trail-logs", Prefix="AWSLogs/")["Contents"]]
    in_s3 = json.loads(gzip.decompress(s3.get_object(Bucket="trail-logs", Key=log_key)["Body"].read()))["Records"]
    assert sorted(r["eventID"] for r in in_s3) == sorted(r["eventID"] for _, r in delivered)
    status = ct.get_trail_status(Name="main")
    assert status["LatestCloudWatchLogsDeliveryTime"] == datetime(2030, 6, 1, 12, 5, tzinfo=timezone.utc)
    assert "LatestCloudWatchLogsDeliveryError" not in status

    denied_count = sum(1 for _, r in delivered if r.get("errorCode", "").startswith("AccessDenied")
                       or r.get("errorCode", "").endswith("UnauthorizedOperation"))
    assert denied_count == 2
    points = cw.get_metric_statistics(Namespace="CISBenchmark", MetricName="UnauthorizedAPICalls",
                                      StartTime=T0, EndTime=datetime(2030, 6, 1, 12, 10, tzinfo=timezone.utc),
                                      Period=300, Statistics=["Sum"])["Datapoints"]
    assert [(p["Timestamp"], p["Sum"]) for p in points] == [(T0, 2.0)]
    cloudlet.clock.advance(60)
    [fired] = cw.describe_alarms(AlarmNames=["unauthorized-api-calls"])["MetricAlarms"]
    assert fired["StateValue"] == "ALARM"
    [notice] = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert (notice["AlarmName"], notice["NewStateValue"]) == ("unauthorized-api-calls", "ALARM")

    # CloudTrail's session of the role is on the record, as on AWS.
    [assumed] = ct.lookup_events(LookupAttributes=[{"AttributeKey": "EventName",
                                                    "AttributeValue": "AssumeRole"}])["Events"]
    event = json.loads(assumed["CloudTrailEvent"])
    assert event["userIdentity"] == {"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"}
    assert event["requestParameters"]["roleArn"] == ROLE_ARN
    assert event["requestParameters"]["roleSessionName"] == "CloudTrail_CloudWatchLogs_Session"


def test_create_and_update_trail_check_the_role_and_group(cloudlet, setup):
    logs, ct = setup
    make_role(cloudlet, "wrong-trust", service="ec2.amazonaws.com")
    make_role(cloudlet, "no-permissions", policy=False)
    cases = [
        (dict(CloudWatchLogsLogGroupArn=GROUP_ARN),
         ("InvalidCloudWatchLogsRoleArnException", "You must specify a role ARN as well as a log group.")),
        (dict(CloudWatchLogsLogGroupArn="CloudTrail/audit", CloudWatchLogsRoleArn=ROLE_ARN),
         ("InvalidCloudWatchLogsLogGroupArnException", "Invalid log group ARN.")),
        (dict(CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/wrong-trust"),
         ("InvalidCloudWatchLogsRoleArnException", "Access denied. Check the trust relationships for your role.")),
        (dict(CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/missing"),
         ("InvalidCloudWatchLogsRoleArnException", "Access denied. Check the trust relationships for your role.")),
        (dict(CloudWatchLogsLogGroupArn=GROUP_ARN,
              CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/no-permissions"),
         ("InvalidCloudWatchLogsLogGroupArnException", "Access denied. Check the permissions for your role.")),
        (dict(CloudWatchLogsLogGroupArn=f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:nope:*",
              CloudWatchLogsRoleArn=ROLE_ARN),
         ("InvalidCloudWatchLogsLogGroupArnException", "Access denied. Check the permissions for your role.")),
    ]
    for i, (kwargs, expected) in enumerate(cases):
        with pytest.raises(ClientError) as exc:
            make_trail(cloudlet, f"trail{i}", f"trail-logs-{i}", **kwargs)
        assert error(exc) == expected, kwargs
    assert ct.describe_trails()["trailList"] == []
    make_trail(cloudlet, "main", "trail-logs")
    with pytest.raises(ClientError) as exc:
        ct.update_trail(Name="main", CloudWatchLogsLogGroupArn=GROUP_ARN,
                        CloudWatchLogsRoleArn=f"arn:aws:iam::{ACCOUNT}:role/no-permissions")
    assert error(exc)[0] == "InvalidCloudWatchLogsLogGroupArnException"
    ct.update_trail(Name="main", CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=ROLE_ARN)
    [trail] = ct.describe_trails()["trailList"]
    assert trail["CloudWatchLogsLogGroupArn"] == GROUP_ARN
    ct.update_trail(Name="main", CloudWatchLogsLogGroupArn="", CloudWatchLogsRoleArn="")
    [trail] = ct.describe_trails()["trailList"]
    assert "CloudWatchLogsLogGroupArn" not in trail and "CloudWatchLogsRoleArn" not in trail


def test_a_failed_delivery_is_reported_and_not_sent_again(cloudlet, setup):
    logs, ct = setup
    iam, sqs = cloudlet.client("iam"), cloudlet.client("sqs")
    make_trail(cloudlet, "main", "trail-logs", CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=ROLE_ARN,
               IsMultiRegionTrail=True)
    ct.start_logging(Name="main")
    cloudlet.clock.set("2030-06-01T12:01:00Z")
    sqs.create_queue(QueueName="first")
    iam.delete_role_policy(RoleName=ROLE, PolicyName="cwl")
    cloudlet.clock.set("2030-06-01T12:05:00Z")
    status = ct.get_trail_status(Name="main")
    assert status["LatestCloudWatchLogsDeliveryError"] == "AccessDeniedException"
    assert "LatestCloudWatchLogsDeliveryTime" not in status
    assert status["LatestDeliveryAttemptSucceeded"] == "true"  # the S3 log file went

    iam.put_role_policy(RoleName=ROLE, PolicyName="cwl", PolicyDocument=role_policy())
    cloudlet.client("sqs", region="us-west-2").create_queue(QueueName="second")
    cloudlet.clock.set("2030-06-01T12:10:00Z")
    status = ct.get_trail_status(Name="main")
    assert "LatestCloudWatchLogsDeliveryError" not in status
    assert status["LatestCloudWatchLogsDeliveryTime"] == datetime(2030, 6, 1, 12, 10, tzinfo=timezone.utc)
    # A stream for the other region, made when its first record came.
    streams = [s["logStreamName"] for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]]
    assert streams == [STREAM, f"{ACCOUNT}_CloudTrail_us-west-2"]
    west = [r["eventName"] for _, r in records(logs, f"{ACCOUNT}_CloudTrail_us-west-2")]
    assert west == ["CreateQueue"]
    home = [r["eventName"] for _, r in records(logs)]
    assert "CreateQueue" not in home and "DeleteRolePolicy" not in home  # the failed delivery's records
    assert "PutRolePolicy" in home
