"""SNS delivery status logging into CloudWatch Logs: successes and
failures of SQS deliveries, written as the topic's feedback roles (which
SNS assumes, so their trust and permissions decide), in AWS's log groups
and entry format."""

from __future__ import annotations

import hashlib
import json

from tests.services.sns_helpers import ACCOUNT, queue_for_topic
from tests.services.test_iam_enforcement import doc

REGION = "us-east-1"


def test_sqs_delivery_status_is_logged(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    iam, sns, sqs, logs = (cloudlet.client(s) for s in ("iam", "sns", "sqs", "logs"))
    role = iam.create_role(RoleName="SNSFeedback", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    iam.put_role_policy(RoleName="SNSFeedback", PolicyName="logs", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": "*"}))
    topic = sns.create_topic(Name="orders", Attributes={
        "SQSSuccessFeedbackRoleArn": role, "SQSSuccessFeedbackSampleRate": "100", "SQSFailureFeedbackRoleArn": role})[
        "TopicArn"]
    _, good_arn = queue_for_topic(sqs, "good", topic)
    _, closed_arn = queue_for_topic(sqs, "closed", topic, allow=False)
    for arn in (good_arn, closed_arn):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    message_id = sns.publish(TopicArn=topic, Message="order 1")["MessageId"]
    cloudlet.clock.advance(1)  # (the admin call waits for the logs SNS is writing)

    success_group = f"sns/{REGION}/{ACCOUNT}/orders"
    [stream] = logs.describe_log_streams(logGroupName=success_group)["logStreams"]
    assert stream["logStreamName"] == "2030/06/01"
    [event] = logs.get_log_events(logGroupName=success_group, logStreamName="2030/06/01")["events"]
    entry = json.loads(event["message"])
    assert entry["status"] == "SUCCESS"
    assert entry["notification"] == {"messageMD5Sum": hashlib.md5(b"order 1").hexdigest(), "messageId": message_id,
                                     "topicArn": topic, "timestamp": "2030-06-01 12:00:00.000"}
    delivery = entry["delivery"]
    assert (delivery["destination"], delivery["statusCode"], delivery["attempts"], delivery["dwellTimeMs"]) == (
        good_arn, 200, 1, 0)
    assert set(json.loads(delivery["providerResponse"])) == {"sqsRequestId", "sqsMessageId"}

    [failure] = logs.filter_log_events(logGroupName=success_group + "/Failure")["events"]
    entry = json.loads(failure["message"])
    assert (entry["status"], entry["delivery"]["destination"], entry["delivery"]["statusCode"]) == (
        "FAILURE", closed_arn, 403)
    assert json.loads(entry["delivery"]["providerResponse"])["ErrorCode"] == "AccessDenied"


def test_no_role_permission_means_no_log(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    iam, sns, sqs, logs = (cloudlet.client(s) for s in ("iam", "sns", "sqs", "logs"))
    role = iam.create_role(RoleName="NoLogs", AssumeRolePolicyDocument=doc(
        {"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sts:AssumeRole"}))["Role"]["Arn"]
    topic = sns.create_topic(Name="quiet", Attributes={"SQSSuccessFeedbackRoleArn": role})["TopicArn"]
    url, arn = queue_for_topic(sqs, "q", topic)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, Message="m")
    cloudlet.clock.advance(1)
    assert logs.describe_log_groups(logGroupNamePrefix="sns/")["logGroups"] == []
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["m"]  # delivered all the same
