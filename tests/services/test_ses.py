"""SES through boto3 (v1 query API and v2 REST API) against a real
server: identities verified the local way, the sandbox, sending (simple,
raw, templated), the outbox, the mailbox simulator's outcomes reported to
SNS, configuration-set events to SNS and EventBridge, quotas, templates."""

from __future__ import annotations

import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import receive_all

ACCOUNT = "000000000000"
REGION = "us-east-1"


@pytest.fixture
def ses(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    cloudlet.admin("DELETE", "/_cloudlet/ses/messages")
    return cloudlet.client("ses")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def verify(cloudlet, identity: str) -> None:
    cloudlet.admin("POST", "/_cloudlet/ses/verify", {"identity": identity})


def outbox(cloudlet, **query) -> list[dict]:
    suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
    return [m for m in cloudlet.admin("GET", "/_cloudlet/ses/messages" + suffix)["messages"]
            if m["outcome"]["state"] != "verification"]


def topic_queue(cloudlet, name: str) -> tuple[str, str]:
    """(topic arn, queue url): an SNS topic SES may publish to, raw into a queue."""
    sns, sqs = cloudlet.client("sns"), cloudlet.client("sqs")
    topic = sns.create_topic(Name=name)["TopicArn"]
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                               "Action": "sqs:SendMessage", "Resource": arn}]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def test_email_identity_is_pending_until_its_link_is_followed(cloudlet, ses):
    ses.verify_email_identity(EmailAddress="sender@example.com")
    assert ses.get_identity_verification_attributes(Identities=["sender@example.com", "nobody@example.com"])[
        "VerificationAttributes"] == {"sender@example.com": {"VerificationStatus": "Pending"}}
    [message] = [m for m in cloudlet.admin("GET", "/_cloudlet/ses/messages")["messages"]
                 if m["destination"]["to"] == ["sender@example.com"]]
    assert message["source"] == "no-reply-aws@amazon.com"
    assert message["subject"] == "Amazon Web Services – Email Address Verification Request in region us-east-1"
    link = next(line for line in message["text"].splitlines() if "/_cloudlet/ses/verify?token=" in line)
    with urllib.request.urlopen(link.strip()) as resp:
        assert b"You have successfully verified sender@example.com" in resp.read()
    assert ses.get_identity_verification_attributes(Identities=["sender@example.com"])[
        "VerificationAttributes"] == {"sender@example.com": {"VerificationStatus": "Success"}}
    assert ses.list_verified_email_addresses()["VerifiedEmailAddresses"] == ["sender@example.com"]

    token = ses.verify_domain_identity(Domain="Example.org")["VerificationToken"]
    assert len(token) == 44
    dkim = ses.verify_domain_dkim(Domain="example.org")["DkimTokens"]
    assert len(dkim) == 3 and all(len(t) == 32 for t in dkim)
    assert ses.get_identity_verification_attributes(Identities=["example.org"])["VerificationAttributes"] == {
        "example.org": {"VerificationStatus": "Pending", "VerificationToken": token}}
    assert ses.list_identities()["Identities"] == ["sender@example.com", "example.org"]
    assert ses.list_identities(IdentityType="Domain")["Identities"] == ["example.org"]
    assert ses.get_identity_notification_attributes(Identities=["example.org"])["NotificationAttributes"] == {
        "example.org": {"ForwardingEnabled": True, "HeadersInBounceNotificationsEnabled": False,
                        "HeadersInComplaintNotificationsEnabled": False,
                        "HeadersInDeliveryNotificationsEnabled": False}}
    ses.delete_identity(Identity="example.org")
    assert ses.list_identities()["Identities"] == ["sender@example.com"]


def test_sandbox_rules_and_sending(cloudlet, ses):
    ses.verify_email_identity(EmailAddress="sender@example.com")
    message = {"Subject": {"Data": "Hello"}, "Body": {"Text": {"Data": "Hi there"}, "Html": {"Data": "<b>Hi</b>"}}}
    with pytest.raises(ClientError) as exc:
        ses.send_email(Source="sender@example.com", Destination={"ToAddresses": ["a@example.net"]}, Message=message)
    assert error(exc) == ("MessageRejected", "Email address is not verified. The following identities failed the "
                                             "check in region US-EAST-1: sender@example.com, a@example.net")
    verify(cloudlet, "sender@example.com")
    with pytest.raises(ClientError) as exc:
        ses.send_email(Source="Sender <sender@example.com>",
                       Destination={"ToAddresses": ["a@example.net", "success@simulator.amazonses.com"],
                                    "CcAddresses": ["b@example.net"]}, Message=message)
    assert error(exc) == ("MessageRejected", "Email address is not verified. The following identities failed the "
                                             "check in region US-EAST-1: a@example.net, b@example.net")
    # A verified domain verifies its addresses.
    ses.verify_domain_identity(Domain="example.net")
    verify(cloudlet, "example.net")
    out = ses.send_email(Source="Sender <sender@example.com>",
                         Destination={"ToAddresses": ["a@example.net"], "CcAddresses": ["b@example.net"],
                                      "BccAddresses": ["hidden@example.net"]},
                         Message=message, ReplyToAddresses=["replies@example.com"])
    assert len(out["MessageId"]) == 60 and out["MessageId"].startswith("0100") and out["MessageId"].endswith("-000000")
    [sent] = outbox(cloudlet)
    assert sent["id"] == out["MessageId"] and sent["source"] == "Sender <sender@example.com>"
    assert sent["destination"] == {"to": ["a@example.net"], "cc": ["b@example.net"], "bcc": ["hidden@example.net"]}
    assert (sent["subject"], sent["text"].strip(), sent["html"].strip()) == ("Hello", "Hi there", "<b>Hi</b>")
    assert "hidden@example.net" not in sent["raw"] and "Reply-To: replies@example.com" in sent["raw"]
    assert [m["id"] for m in outbox(cloudlet, to="b@example.net")] == [out["MessageId"]]
    quota = ses.get_send_quota()
    assert (quota["Max24HourSend"], quota["MaxSendRate"], quota["SentLast24Hours"]) == (200.0, 1.0, 3.0)
    [point] = ses.get_send_statistics()["SendDataPoints"]
    assert (point["DeliveryAttempts"], point["Bounces"], point["Complaints"], point["Rejects"]) == (3, 0, 0, 0)

    for kwargs, expected in (
            (dict(Destination={"ToAddresses": ["no-at-sign"]}), ("InvalidParameterValue", "Missing final '@domain'")),
            (dict(Destination={"ToAddresses": [f"r{i}@example.net" for i in range(51)]}),
             ("InvalidParameterValue", "Recipient count exceeds 50.")),
            (dict(Destination={"ToAddresses": ["a@example.net"]}, ConfigurationSetName="nope"),
             ("ConfigurationSetDoesNotExist", "Configuration set <nope> does not exist.")),
            (dict(Destination={"ToAddresses": ["a@example.net"]}, Tags=[{"Name": "bad:name", "Value": "v"}]),
             ("InvalidParameterValue", "Invalid tag name <bad:name>: only alphanumeric ASCII characters, '_',  '-' "
                                       "are allowed."))):
        with pytest.raises(ClientError) as exc:
            ses.send_email(Source="sender@example.com", Message=message, **kwargs)
        assert error(exc) == expected


def test_raw_and_templated_mail(cloudlet, ses):
    verify_all = ("sender@example.com", "to@example.com")
    for address in verify_all:
        ses.verify_email_identity(EmailAddress=address)
        verify(cloudlet, address)
    raw = (b"From: Sender <sender@example.com>\r\nTo: to@example.com\r\nSubject: Raw one\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\nRaw body\r\n")
    raw_id = ses.send_raw_email(RawMessage={"Data": raw})["MessageId"]
    ses.create_template(Template={"TemplateName": "welcome", "SubjectPart": "Welcome, {{name}}!",
                                  "TextPart": "Hello {{name}}, your plan is {{plan.tier}}.",
                                  "HtmlPart": "<p>Hello {{name}}</p>"})
    with pytest.raises(ClientError) as exc:
        ses.create_template(Template={"TemplateName": "welcome", "SubjectPart": "x"})
    assert error(exc) == ("AlreadyExists", "Template welcome already exists.")
    templated_id = ses.send_templated_email(Source="sender@example.com", Destination={"ToAddresses": ["to@example.com"]},
                                            Template="welcome",
                                            TemplateData=json.dumps({"name": "Ann", "plan": {"tier": "gold"}}))[
        "MessageId"]
    by_id = {m["id"]: m for m in outbox(cloudlet)}
    assert (by_id[raw_id]["subject"], by_id[raw_id]["text"].strip()) == ("Raw one", "Raw body")
    assert by_id[raw_id]["raw"] == raw.decode()
    templated = by_id[templated_id]
    assert templated["subject"] == "Welcome, Ann!"
    assert templated["text"].strip() == "Hello Ann, your plan is gold."
    rendered = ses.test_render_template(TemplateName="welcome", TemplateData=json.dumps({"name": "Bo", "plan": {"tier": "x"}}))
    assert "Subject: Welcome, Bo!" in rendered["RenderedTemplate"]
    with pytest.raises(ClientError) as exc:
        ses.test_render_template(TemplateName="welcome", TemplateData=json.dumps({"plan": {"tier": "x"}}))
    assert error(exc) == ("MissingRenderingAttribute", "Attribute 'name' is not present in the rendering data.")
    with pytest.raises(ClientError) as exc:
        ses.send_templated_email(Source="sender@example.com", Destination={"ToAddresses": ["to@example.com"]},
                                 Template="nope", TemplateData="{}")
    assert error(exc) == ("TemplateDoesNotExist", "Template nope does not exist.")
    assert [t["Name"] for t in ses.list_templates()["TemplatesMetadata"]] == ["welcome"]
    ses.delete_template(TemplateName="welcome")
    ses.delete_template(TemplateName="welcome")  # no error, as on AWS
    assert ses.list_templates()["TemplatesMetadata"] == []


def test_mailbox_simulator_feedback_reaches_the_identity_topics(cloudlet, ses):
    ses.verify_email_identity(EmailAddress="sender@example.com")
    verify(cloudlet, "sender@example.com")
    topic, url = topic_queue(cloudlet, "ses-feedback")
    for kind in ("Bounce", "Complaint", "Delivery"):
        ses.set_identity_notification_topic(Identity="sender@example.com", NotificationType=kind, SnsTopic=topic)
    with pytest.raises(ClientError) as exc:
        ses.set_identity_notification_topic(Identity="sender@example.com", NotificationType="Open", SnsTopic=topic)
    assert error(exc) == ("InvalidParameterValue", "Invalid notification type: Open. Valid values are: Bounce, "
                                                   "Complaint, Delivery.")
    sqs = cloudlet.client("sqs")
    message = {"Subject": {"Data": "Test"}, "Body": {"Text": {"Data": "x"}}}
    sent = {}
    for who in ("success", "bounce", "complaint", "suppressionlist"):
        sent[who] = ses.send_email(Source="sender@example.com", Message=message,
                                   Destination={"ToAddresses": [f"{who}@simulator.amazonses.com"]})["MessageId"]
    notes = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    summary = [(n["notificationType"], n["mail"]["messageId"]) for n in notes]
    assert summary == [("Delivery", sent["success"]), ("Bounce", sent["bounce"]), ("Delivery", sent["complaint"]),
                       ("Complaint", sent["complaint"]), ("Bounce", sent["suppressionlist"])]
    bounce = notes[1]
    assert bounce["mail"]["source"] == "sender@example.com"
    assert bounce["mail"]["sourceArn"] == f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/sender@example.com"
    assert bounce["mail"]["destination"] == ["bounce@simulator.amazonses.com"]
    assert "headers" not in bounce["mail"]
    assert (bounce["bounce"]["bounceType"], bounce["bounce"]["bounceSubType"]) == ("Permanent", "General")
    assert bounce["bounce"]["bouncedRecipients"] == [{"emailAddress": "bounce@simulator.amazonses.com",
                                                      "action": "failed", "status": "5.1.1",
                                                      "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]
    assert notes[4]["bounce"]["bounceSubType"] == "Suppressed"
    assert notes[3]["complaint"]["complainedRecipients"] == [{"emailAddress": "complaint@simulator.amazonses.com"}]
    assert notes[0]["delivery"]["recipients"] == ["success@simulator.amazonses.com"]
    # The simulator is not counted in the quota.
    assert ses.get_send_quota()["SentLast24Hours"] == 0.0


def test_configuration_set_events_to_sns_and_eventbridge(cloudlet, ses):
    ses.verify_email_identity(EmailAddress="sender@example.com")
    verify(cloudlet, "sender@example.com")
    topic, url = topic_queue(cloudlet, "ses-events")
    ses.create_configuration_set(ConfigurationSet={"Name": "tracked"})
    ses.create_configuration_set_event_destination(ConfigurationSetName="tracked", EventDestination={
        "Name": "to-sns", "Enabled": True, "MatchingEventTypes": ["send", "delivery", "bounce"],
        "SNSDestination": {"TopicARN": topic}})
    events, sqs = cloudlet.client("events"), cloudlet.client("sqs")
    # (SES's own API calls come as source aws.ses too, "AWS API Call via CloudTrail")
    rule = events.put_rule(Name="ses", EventPattern=json.dumps({"source": ["aws.ses"],
                                                                "detail-type": [{"prefix": "Email "}]}))["RuleArn"]
    eb_url = sqs.create_queue(QueueName="ses-eb")["QueueUrl"]
    eb_arn = sqs.get_queue_attributes(QueueUrl=eb_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.set_queue_attributes(QueueUrl=eb_url, Attributes={"Policy": json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                                               "Action": "sqs:SendMessage", "Resource": eb_arn,
                                               "Condition": {"ArnEquals": {"aws:SourceArn": rule}}}]})})
    events.put_targets(Rule="ses", Targets=[{"Id": "q", "Arn": eb_arn}])
    v2 = cloudlet.client("sesv2")
    v2.create_configuration_set_event_destination(
        ConfigurationSetName="tracked", EventDestinationName="to-bus", EventDestination={
            "Enabled": True, "MatchingEventTypes": ["DELIVERY"],
            "EventBridgeDestination": {"EventBusArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"}})
    [validation] = receive_all(sqs, url)
    assert validation["Body"] == "Successfully validated SNS topic for Amazon SES event publishing."
    message_id = ses.send_email(Source="sender@example.com", Message={"Subject": {"Data": "S"},
                                                                      "Body": {"Text": {"Data": "b"}}},
                                Destination={"ToAddresses": ["success@simulator.amazonses.com"]},
                                ConfigurationSetName="tracked", Tags=[{"Name": "campaign", "Value": "spring"}])[
        "MessageId"]
    got = [json.loads(m["Body"]) for m in receive_all(sqs, url)]
    assert [e["eventType"] for e in got] == ["Send", "Delivery"]
    mail = got[0]["mail"]
    assert mail["messageId"] == message_id and mail["commonHeaders"]["subject"] == "S"
    assert mail["tags"]["campaign"] == ["spring"] and mail["tags"]["ses:operation"] == ["SendEmail"]
    assert mail["tags"]["ses:configuration-set"] == ["tracked"]
    assert got[0]["send"] == {}
    [on_bus] = [json.loads(m["Body"]) for m in receive_all(sqs, eb_url)]
    assert (on_bus["source"], on_bus["detail-type"]) == ("aws.ses", "Email Delivered")
    assert on_bus["detail"]["eventType"] == "Delivery" and on_bus["detail"]["mail"]["messageId"] == message_id
    described = ses.describe_configuration_set(ConfigurationSetName="tracked",
                                               ConfigurationSetAttributeNames=["eventDestinations"])
    assert [(d["Name"], d["MatchingEventTypes"]) for d in described["EventDestinations"]] == [
        ("to-sns", ["bounce", "delivery", "send"]), ("to-bus", ["delivery"])]
    with pytest.raises(ClientError) as exc:
        ses.delete_configuration_set_event_destination(ConfigurationSetName="tracked", EventDestinationName="x")
    assert error(exc) == ("EventDestinationDoesNotExist", "No EventDestination found for tracked")


def test_v2_identities_templates_account_and_send(cloudlet, ses):
    v2 = cloudlet.client("sesv2")
    assert v2.create_email_identity(EmailIdentity="me@example.com")["VerifiedForSendingStatus"] is False
    with pytest.raises(ClientError) as exc:
        v2.create_email_identity(EmailIdentity="me@example.com")
    assert error(exc) == ("AlreadyExistsException", "Email identity me@example.com already exist.")
    domain = v2.create_email_identity(EmailIdentity="example.com")
    assert domain["IdentityType"] == "DOMAIN" and domain["DkimAttributes"]["Status"] == "PENDING"
    assert len(domain["DkimAttributes"]["Tokens"]) == 3
    got = v2.get_email_identity(EmailIdentity="me@example.com")
    assert (got["IdentityType"], got["VerificationStatus"], got["VerifiedForSendingStatus"]) == \
        ("EMAIL_ADDRESS", "PENDING", False)
    assert [(i["IdentityName"], i["VerificationStatus"]) for i in v2.list_email_identities()["EmailIdentities"]] == \
        [("me@example.com", "PENDING"), ("example.com", "PENDING")]
    verify(cloudlet, "example.com")
    # The v1 API sees the same identities.
    assert ses.get_identity_verification_attributes(Identities=["example.com"])["VerificationAttributes"][
        "example.com"]["VerificationStatus"] == "Success"
    assert v2.get_email_identity(EmailIdentity="me@example.com")["VerifiedForSendingStatus"] is True
    account = v2.get_account()
    assert (account["ProductionAccessEnabled"], account["SendQuota"]["Max24HourSend"],
            account["EnforcementStatus"]) == (False, 200.0, "HEALTHY")
    with pytest.raises(ClientError) as exc:
        v2.send_email(FromEmailAddress="me@example.com", Destination={"ToAddresses": ["x@elsewhere.org"]},
                      Content={"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}}})
    assert error(exc) == ("MessageRejected", "Email address is not verified. The following identities failed the "
                                             "check in region US-EAST-1: x@elsewhere.org")
    v2.put_account_details(MailType="TRANSACTIONAL", WebsiteURL="https://example.com", UseCaseDescription="tests",
                           ProductionAccessEnabled=True)
    account = v2.get_account()
    assert account["ProductionAccessEnabled"] is True and account["SendQuota"]["Max24HourSend"] == 50000.0
    assert account["Details"]["ReviewDetails"]["Status"] == "GRANTED"
    v2.create_email_template(TemplateName="t1", TemplateContent={"Subject": "Hi {{who}}", "Text": "Yo {{who}}"})
    message_id = v2.send_email(FromEmailAddress="me@example.com", Destination={"ToAddresses": ["x@elsewhere.org"]},
                               Content={"Template": {"TemplateName": "t1",
                                                     "TemplateData": json.dumps({"who": "Kim"})}})["MessageId"]
    [sent] = outbox(cloudlet)
    assert (sent["id"], sent["subject"], sent["text"].strip()) == (message_id, "Hi Kim", "Yo Kim")
    assert v2.get_email_template(TemplateName="t1")["TemplateContent"] == {"Subject": "Hi {{who}}",
                                                                           "Text": "Yo {{who}}"}
    with pytest.raises(ClientError) as exc:
        v2.get_email_template(TemplateName="nope")
    assert error(exc) == ("NotFoundException", "Template nope does not exist.")
    with pytest.raises(ClientError) as exc:
        v2.get_email_identity(EmailIdentity="nobody@example.com")
    assert exc.value.response["Error"]["Code"] == "NotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
