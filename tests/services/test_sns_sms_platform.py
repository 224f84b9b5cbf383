"""SNS text messaging (SMS settings, opt-out, the SMS sandbox) and mobile
push (platform applications and endpoints) through boto3 against a real
server. Time-bound rules (opt in once every 30 days, sandbox deletes after
24 hours) move the virtual clock."""

from __future__ import annotations

import datetime
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from tests.services.sns_helpers import ACCOUNT, outbox

REGION = "us-east-1"
DAY = 86400
CHARSET = "must contain only characters 'a'-'z', 'A'-'Z', '0'-'9', '_', '-', and '.'"


@pytest.fixture
def sns(cloudlet):
    return cloudlet.client("sns")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def status(exc) -> int:
    return exc.value.response["ResponseMetadata"]["HTTPStatusCode"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def opt_out(cloudlet, phone: str, account: str | None = None) -> None:
    body = {"phoneNumber": phone}
    if account:
        body["account"] = account
    cloudlet.admin("POST", "/_cloudlet/sns/opt-out", body)


# == SMS settings =============================================================

def test_sms_attributes_default_set_filter_and_clear(sns, cloudlet):
    assert sns.get_sms_attributes()["attributes"] == {"MonthlySpendLimit": "1"}
    settings = {
        "MonthlySpendLimit": "50",
        "DeliveryStatusIAMRole": f"arn:aws:iam::{ACCOUNT}:role/SNSSuccessFeedback",
        "DeliveryStatusSuccessSamplingRate": "10",
        "DefaultSenderID": "Cloudlet1",
        "DefaultSMSType": "Transactional",
        "UsageReportS3Bucket": "sms-usage.reports",
    }
    assert sns.set_sms_attributes(attributes=settings)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sns.get_sms_attributes()["attributes"] == settings
    assert sns.get_sms_attributes(attributes=["DefaultSMSType", "DefaultSenderID", "NoSuchThing"])["attributes"] == \
        {"DefaultSMSType": "Transactional", "DefaultSenderID": "Cloudlet1"}
    # An empty value clears a setting; MonthlySpendLimit falls back to its default.
    sns.set_sms_attributes(attributes={"DefaultSenderID": "", "MonthlySpendLimit": ""})
    got = sns.get_sms_attributes()["attributes"]
    assert "DefaultSenderID" not in got and got["MonthlySpendLimit"] == "1"
    # SMS settings are per region.
    west = cloudlet.client("sns", region="us-west-2")
    assert west.get_sms_attributes()["attributes"] == {"MonthlySpendLimit": "1"}


@pytest.mark.parametrize("name,value,message", [
    ("Colour", "blue", "Invalid parameter: Colour"),
    ("DefaultSMSType", "Urgent", "Invalid parameter: DefaultSMSType Reason: must be Promotional or Transactional"),
    ("DefaultSenderID", "12345", "Invalid parameter: DefaultSenderID Reason: must be 1-11 alphanumeric characters "
                                 "with at least one letter"),
    ("DefaultSenderID", "ElevenPlus1X", "Invalid parameter: DefaultSenderID Reason: must be 1-11 alphanumeric "
                                        "characters with at least one letter"),
    ("DeliveryStatusSuccessSamplingRate", "101",
     "Invalid parameter: DeliveryStatusSuccessSamplingRate Reason: must be an integer from 0 to 100"),
    ("MonthlySpendLimit", "1.5", "Invalid parameter: MonthlySpendLimit Reason: must be a whole number of US dollars"),
    ("DeliveryStatusIAMRole", f"arn:aws:iam::{ACCOUNT}:user/someone",
     "Invalid parameter: DeliveryStatusIAMRole Reason: must be the ARN of an IAM role"),
    ("UsageReportS3Bucket", "Bad_Bucket", "Invalid parameter: UsageReportS3Bucket Reason: must be an S3 bucket name"),
])
def test_sms_attribute_validation_changes_nothing(sns, name, value, message):
    with pytest.raises(ClientError) as exc:
        sns.set_sms_attributes(attributes={"DefaultSMSType": "Transactional", name: value})
    assert error(exc) == ("InvalidParameter", message)
    assert status(exc) == 400
    assert sns.get_sms_attributes()["attributes"] == {"MonthlySpendLimit": "1"}


# == opting out and in ========================================================

def test_opt_out_check_and_opt_in_once_every_30_days(sns, cloudlet):
    phone = "+15555550100"
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"] is False
    opt_out(cloudlet, "+1 (555) 555-0100")  # the admin API takes a number as people write it
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"] is True
    assert sns.list_phone_numbers_opted_out()["phoneNumbers"] == [phone]
    # Opt-outs belong to the account.
    other = cloudlet.client("sns", access_key="111111111111")
    assert other.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"] is False

    sns.opt_in_phone_number(phoneNumber=phone)
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"] is False
    assert sns.list_phone_numbers_opted_out()["phoneNumbers"] == []

    opt_out(cloudlet, phone)
    with pytest.raises(ClientError) as exc:
        sns.opt_in_phone_number(phoneNumber=phone)
    assert error(exc) == ("InvalidParameter", "Invalid parameter: PhoneNumber Reason: You can opt in a phone "
                                              "number only once every 30 days")
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"] is True
    cloudlet.clock.advance(29 * DAY)
    with pytest.raises(ClientError):
        sns.opt_in_phone_number(phoneNumber=phone)
    cloudlet.clock.advance(DAY)
    sns.opt_in_phone_number(phoneNumber=phone)
    assert sns.check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"] is False
    # Opting in a number that has not opted out does nothing, and succeeds.
    sns.opt_in_phone_number(phoneNumber="+15555550199")


@pytest.mark.parametrize("phone", ["555-0100", "+1555555010x", "+0123456789", "+1234567890123456", ""])
def test_phone_numbers_must_be_e164(sns, phone):
    for call in (sns.check_if_phone_number_is_opted_out, sns.opt_in_phone_number):
        with pytest.raises(ClientError) as exc:
            call(phoneNumber=phone)
        assert error(exc) == ("InvalidParameter", "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")


def test_opted_out_numbers_list_in_pages_of_100(sns, cloudlet):
    numbers = [f"+1555555{n:04d}" for n in range(150)]
    for number in numbers:
        opt_out(cloudlet, number)
    first = sns.list_phone_numbers_opted_out()
    assert first["phoneNumbers"] == numbers[:100]
    second = sns.list_phone_numbers_opted_out(nextToken=first["nextToken"])
    assert second["phoneNumbers"] == numbers[100:]
    assert "nextToken" not in second
    with pytest.raises(ClientError) as exc:
        sns.list_phone_numbers_opted_out(nextToken="garbage")
    assert error(exc) == ("InvalidParameter", "Invalid parameter: nextToken")


def test_publish_to_an_opted_out_number_is_accepted_but_not_texted(sns, cloudlet):
    opt_out(cloudlet, "+15555550111")
    assert sns.publish(PhoneNumber="+15555550111", Message="nope")["MessageId"]
    sns.publish(PhoneNumber="+15555550112", Message="yes")
    assert [(m["endpoint"], m["message"]) for m in outbox(cloudlet, protocol="sms")] == [("+15555550112", "yes")]


# == the SMS sandbox ==========================================================

def otp_for(cloudlet, phone: str) -> str:
    texts = outbox(cloudlet, protocol="sms", endpoint=phone)
    return re.fullmatch(r"Your Amazon SNS verification code is: (\d{6})", texts[-1]["message"]).group(1)


def test_account_is_out_of_the_sandbox_and_has_no_origination_numbers(sns):
    assert sns.get_sms_sandbox_account_status()["IsInSandbox"] is False
    assert sns.list_origination_numbers()["PhoneNumbers"] == []
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == []


def test_sandbox_number_add_verify_delete(sns, cloudlet):
    phone = "+15555550142"
    sns.create_sms_sandbox_phone_number(PhoneNumber=phone, LanguageCode="en-GB")
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [{"PhoneNumber": phone, "Status": "Pending"}]
    [text] = outbox(cloudlet, protocol="sms", endpoint=phone)
    assert text["account"] == ACCOUNT
    code = otp_for(cloudlet, phone)

    wrong = "000000" if code != "000000" else "111111"
    with pytest.raises(ClientError) as exc:
        sns.verify_sms_sandbox_phone_number(PhoneNumber=phone, OneTimePassword=wrong)
    assert error(exc) == ("VerificationException", "Invalid one-time password")
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [{"PhoneNumber": phone, "Status": "Pending"}]

    sns.verify_sms_sandbox_phone_number(PhoneNumber=phone, OneTimePassword=code)
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [{"PhoneNumber": phone, "Status": "Verified"}]
    sns.verify_sms_sandbox_phone_number(PhoneNumber=phone, OneTimePassword=code)  # again: still fine

    with pytest.raises(ClientError) as exc:
        sns.create_sms_sandbox_phone_number(PhoneNumber=phone)
    assert error(exc) == ("UserError", f"Phone number {phone} is already verified")

    # Deleting waits 24 hours after the verification or the last attempt.
    with pytest.raises(ClientError) as exc:
        sns.delete_sms_sandbox_phone_number(PhoneNumber=phone)
    assert error(exc) == ("UserError", f"Phone number {phone} can be deleted only 24 hours after its "
                                       "verification or last verification attempt")
    cloudlet.clock.advance(DAY)
    sns.delete_sms_sandbox_phone_number(PhoneNumber=phone)
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == []


def test_sandbox_missing_numbers_are_not_found(sns):
    phone = "+15555550143"
    for call, kwargs in ((sns.verify_sms_sandbox_phone_number, {"OneTimePassword": "123456"}),
                         (sns.delete_sms_sandbox_phone_number, {})):
        with pytest.raises(ClientError) as exc:
            call(PhoneNumber=phone, **kwargs)
        assert error(exc) == ("ResourceNotFound", f"Phone number {phone} does not exist in the SMS sandbox")
        assert status(exc) == 404


def test_sandbox_rejects_opted_out_and_malformed_numbers(sns, cloudlet):
    opt_out(cloudlet, "+15555550144")
    with pytest.raises(ClientError) as exc:
        sns.create_sms_sandbox_phone_number(PhoneNumber="+15555550144")
    assert error(exc) == ("OptedOut", "Phone number +15555550144 is opted out of receiving SMS messages "
                                      "from this account")
    with pytest.raises(ClientError) as exc:
        sns.create_sms_sandbox_phone_number(PhoneNumber="12345")
    assert error(exc) == ("InvalidParameter", "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
    assert outbox(cloudlet, protocol="sms") == []


def test_sandbox_resends_a_new_code_five_times_a_day(sns, cloudlet):
    phone = "+15555550145"
    for _ in range(5):
        sns.create_sms_sandbox_phone_number(PhoneNumber=phone)
    assert len(outbox(cloudlet, protocol="sms", endpoint=phone)) == 5
    with pytest.raises(ClientError) as exc:
        sns.create_sms_sandbox_phone_number(PhoneNumber=phone)
    assert error(exc) == ("UserError", f"A one-time password can be sent to {phone} at most 5 times every 24 hours")
    cloudlet.clock.advance(DAY)
    sns.create_sms_sandbox_phone_number(PhoneNumber=phone)
    sns.verify_sms_sandbox_phone_number(PhoneNumber=phone, OneTimePassword=otp_for(cloudlet, phone))
    assert sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"] == [{"PhoneNumber": phone, "Status": "Verified"}]


def test_sandbox_holds_ten_numbers_and_lists_them_in_pages(sns, cloudlet):
    phones = [f"+1555555020{n}" for n in range(10)]
    for phone in phones:
        sns.create_sms_sandbox_phone_number(PhoneNumber=phone)
    with pytest.raises(ClientError) as exc:
        sns.create_sms_sandbox_phone_number(PhoneNumber="+15555550299")
    assert error(exc) == ("UserError", "You can have at most 10 destination phone numbers in the SMS sandbox")
    seen, token = [], None
    while True:
        page = sns.list_sms_sandbox_phone_numbers(MaxResults=4, **({"NextToken": token} if token else {}))
        assert len(page["PhoneNumbers"]) <= 4
        seen += [n["PhoneNumber"] for n in page["PhoneNumbers"]]
        token = page.get("NextToken")
        if token is None:
            break
    assert seen == phones
    assert len(sns.list_sms_sandbox_phone_numbers()["PhoneNumbers"]) == 10
    # Sandbox numbers are per region.
    assert cloudlet.client("sns", region="eu-west-1").list_sms_sandbox_phone_numbers()["PhoneNumbers"] == []


# == platform applications ====================================================

def app_arn(platform: str, name: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:sns:{region}:{account}:app/{platform}/{name}"


def create_gcm(sns, name: str | None = None, **attributes) -> str:
    name = name or unique("gcm")
    return sns.create_platform_application(
        Name=name, Platform="GCM", Attributes={"PlatformCredential": "fcm-server-key", **attributes},
    )["PlatformApplicationArn"]


def test_platform_application_lifecycle(sns):
    name = unique("news.app")
    arn = create_gcm(sns, name)
    assert arn == app_arn("GCM", name)
    # The credential is kept, never shown.
    assert sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"] == \
        {"Enabled": "true", "AuthenticationMethod": "Key"}
    assert sns.list_platform_applications()["PlatformApplications"] == [
        {"PlatformApplicationArn": arn, "Attributes": {"Enabled": "true", "AuthenticationMethod": "Key"}}]

    topic = sns.create_topic(Name=unique("push-events"))["TopicArn"]
    role = f"arn:aws:iam::{ACCOUNT}:role/SNSPushFeedback"
    sns.set_platform_application_attributes(PlatformApplicationArn=arn, Attributes={
        "EventEndpointCreated": topic, "EventDeliveryFailure": topic, "SuccessFeedbackRoleArn": role,
        "SuccessFeedbackSampleRate": "50", "PlatformCredential": "rotated-key"})
    assert sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"] == {
        "Enabled": "true", "AuthenticationMethod": "Key", "EventEndpointCreated": topic,
        "EventDeliveryFailure": topic, "SuccessFeedbackRoleArn": role, "SuccessFeedbackSampleRate": "50"}
    # An empty value unsets; a service-account JSON key switches FCM to token authentication.
    sns.set_platform_application_attributes(PlatformApplicationArn=arn, Attributes={
        "EventDeliveryFailure": "", "PlatformCredential": '{"type": "service_account", "project_id": "p"}'})
    got = sns.get_platform_application_attributes(PlatformApplicationArn=arn)["Attributes"]
    assert "EventDeliveryFailure" not in got and got["AuthenticationMethod"] == "Token"

    assert sns.delete_platform_application(PlatformApplicationArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as exc:
        sns.get_platform_application_attributes(PlatformApplicationArn=arn)
    assert error(exc) == ("NotFound", "PlatformApplication does not exist")
    assert status(exc) == 404
    sns.delete_platform_application(PlatformApplicationArn=arn)  # deleting again succeeds
    assert sns.list_platform_applications()["PlatformApplications"] == []


@pytest.mark.parametrize("name,platform,attributes,message", [
    ("bad name", "GCM", {"PlatformCredential": "k"}, f"Invalid parameter: bad name Reason: {CHARSET}"),
    ("a" * 257, "GCM", {"PlatformCredential": "k"},
     f"Invalid parameter: {'a' * 257} Reason: must be at most 256 characters long"),
    ("app", "FCM", {"PlatformCredential": "k"}, "Invalid parameter: Platform Reason: FCM is not supported"),
    ("app", "APNS", {"PlatformCredential": "key"},
     "Invalid parameter: Attributes Reason: PlatformCredential attribute provided without PlatformPrincipal"),
    ("app", "ADM", {"PlatformPrincipal": "client-id"},
     "Invalid parameter: Attributes Reason: PlatformPrincipal attribute provided without PlatformCredential"),
    ("app", "WNS", {"SuccessFeedbackSampleRate": "5"},
     "Invalid parameter: Attributes Reason: PlatformPrincipal and PlatformCredential attributes required"),
    ("app", "GCM", {"SuccessFeedbackSampleRate": "5"},
     "Invalid parameter: Attributes Reason: PlatformCredential attribute required"),
    ("app", "GCM", {"PlatformCredential": "k", "Colour": "blue"},
     "Invalid parameter: Attributes Reason: Invalid attribute name: Colour"),
    ("app", "GCM", {"PlatformCredential": "k", "ApplePlatformTeamID": "TEAM"},
     "Invalid parameter: Attributes Reason: Invalid attribute name: ApplePlatformTeamID"),
    ("app", "GCM", {"PlatformCredential": "k", "EventEndpointCreated": "not-a-topic"},
     "Invalid parameter: Attributes Reason: Invalid value for attribute: EventEndpointCreated: must be a topic ARN"),
    ("app", "GCM", {"PlatformCredential": "k", "SuccessFeedbackSampleRate": "150"},
     "Invalid parameter: Attributes Reason: Invalid value for attribute: SuccessFeedbackSampleRate: "
     "must be an integer from 0 to 100"),
    ("app", "APNS", {"PlatformPrincipal": "key-id", "PlatformCredential": "p8", "ApplePlatformTeamID": "TEAM"},
     "Invalid parameter: Attributes Reason: ApplePlatformTeamID and ApplePlatformBundleID are both required "
     "for token-based authentication"),
])
def test_create_platform_application_validation(sns, name, platform, attributes, message):
    with pytest.raises(ClientError) as exc:
        sns.create_platform_application(Name=name, Platform=platform, Attributes=attributes)
    assert error(exc) == ("InvalidParameter", message)
    assert sns.list_platform_applications()["PlatformApplications"] == []


def self_signed_certificate(days: int) -> tuple[str, str, datetime.datetime]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Apple Push Services: com.example.app")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    end = start + datetime.timedelta(days=days)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode(), end)


def test_apns_certificate_and_token_authentication(sns):
    cert, key, expiry = self_signed_certificate(365)
    cert_arn = sns.create_platform_application(
        Name=unique("ios"), Platform="APNS", Attributes={"PlatformPrincipal": cert, "PlatformCredential": key},
    )["PlatformApplicationArn"]
    assert sns.get_platform_application_attributes(PlatformApplicationArn=cert_arn)["Attributes"] == {
        "Enabled": "true", "AuthenticationMethod": "Certificate",
        "AppleCertificateExpiryDate": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}

    token_arn = sns.create_platform_application(Name=unique("ios-dev"), Platform="APNS_SANDBOX", Attributes={
        "PlatformPrincipal": "ABC123DEFG", "PlatformCredential": "-----BEGIN PRIVATE KEY-----\n...",
        "ApplePlatformTeamID": "TEAM123456", "ApplePlatformBundleID": "com.example.app"})["PlatformApplicationArn"]
    assert ":app/APNS_SANDBOX/ios-dev-" in token_arn
    assert sns.get_platform_application_attributes(PlatformApplicationArn=token_arn)["Attributes"] == {
        "Enabled": "true", "AuthenticationMethod": "Token", "ApplePlatformTeamID": "TEAM123456",
        "ApplePlatformBundleID": "com.example.app"}


def test_platform_applications_list_in_pages_and_per_account_and_region(sns, cloudlet):
    arns = sorted(create_gcm(sns, f"app-{n:03d}") for n in range(105))
    first = sns.list_platform_applications()
    assert [a["PlatformApplicationArn"] for a in first["PlatformApplications"]] == arns[:100]
    second = sns.list_platform_applications(NextToken=first["NextToken"])
    assert [a["PlatformApplicationArn"] for a in second["PlatformApplications"]] == arns[100:]
    assert "NextToken" not in second
    with pytest.raises(ClientError) as exc:
        sns.list_platform_applications(NextToken="bm90IGFuIGFybg==")
    assert error(exc) == ("InvalidParameter", "Invalid parameter: NextToken")

    assert cloudlet.client("sns", region="eu-west-1").list_platform_applications()["PlatformApplications"] == []
    other = cloudlet.client("sns", access_key="111111111111")
    assert other.list_platform_applications()["PlatformApplications"] == []
    with pytest.raises(ClientError) as exc:
        other.get_platform_application_attributes(PlatformApplicationArn=arns[0])
    assert error(exc) == ("NotFound", "PlatformApplication does not exist")


def test_platform_application_arn_must_be_an_arn(sns):
    for call in (sns.get_platform_application_attributes, sns.delete_platform_application,
                 sns.list_endpoints_by_platform_application):
        with pytest.raises(ClientError) as exc:
            call(PlatformApplicationArn="app/GCM/x")
        assert error(exc) == ("InvalidParameter", "Invalid parameter: PlatformApplicationArn Reason: An ARN must "
                                                  "have at least 6 elements, not 1")


# == platform endpoints =======================================================

ENDPOINT_ARN = re.compile(r"^arn:aws:sns:us-east-1:000000000000:endpoint/GCM/(?P<app>[^/]+)/"
                          r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_create_platform_endpoint_is_idempotent_for_the_same_attributes(sns):
    name = unique("android")
    app = create_gcm(sns, name)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token")["EndpointArn"]
    assert ENDPOINT_ARN.match(arn).group("app") == name
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == {"Enabled": "true", "Token": "token"}
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token")["EndpointArn"] == arn
    # Naming the default value is the same thing.
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token",
                                        Attributes={"Enabled": "true"})["EndpointArn"] == arn
    with pytest.raises(ClientError) as exc:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token", CustomUserData="user 7")
    assert error(exc) == ("InvalidParameter", f"Invalid parameter: Token Reason: Endpoint {arn} already exists "
                                              "with the same Token, but different attributes.")

    with_data = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token-2", CustomUserData="user 7",
                                             Attributes={"Enabled": "false"})["EndpointArn"]
    assert with_data != arn
    assert sns.get_endpoint_attributes(EndpointArn=with_data)["Attributes"] == \
        {"Enabled": "false", "Token": "token-2", "CustomUserData": "user 7"}
    # CustomUserData as an attribute is the same as the parameter.
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token-2", Attributes={
        "Enabled": "false", "CustomUserData": "user 7"})["EndpointArn"] == with_data
    with pytest.raises(ClientError) as exc:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token="token-2", CustomUserData="user 7",
                                     Attributes={"Enabled": "true"})
    assert error(exc) == ("InvalidParameter", f"Invalid parameter: Token Reason: Endpoint {with_data} already "
                                              "exists with the same Token, but different attributes.")
    # The same token in another application is another endpoint.
    other_app = create_gcm(sns)
    assert sns.create_platform_endpoint(PlatformApplicationArn=other_app, Token="token")["EndpointArn"] != arn

    listed = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)["Endpoints"]
    assert sorted(listed, key=lambda e: e["EndpointArn"]) == sorted([
        {"EndpointArn": arn, "Attributes": {"Enabled": "true", "Token": "token"}},
        {"EndpointArn": with_data, "Attributes": {"Enabled": "false", "Token": "token-2", "CustomUserData": "user 7"}},
    ], key=lambda e: e["EndpointArn"])


def test_set_endpoint_attributes_and_delete(sns):
    app = create_gcm(sns)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="old-token")["EndpointArn"]
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "FALSE", "Token": "new-token",
                                                             "CustomUserData": "{\"user\": 7}"})
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == \
        {"Enabled": "false", "Token": "new-token", "CustomUserData": "{\"user\": 7}"}
    # The endpoint is now found by its new token; the old one is free.
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="new-token", CustomUserData="{\"user\": 7}",
                                        Attributes={"Enabled": "false"})["EndpointArn"] == arn
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="old-token")["EndpointArn"] != arn
    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "true", "CustomUserData": ""})
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == {"Enabled": "true", "Token": "new-token"}

    assert sns.delete_endpoint(EndpointArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 200
    for call, kwargs in ((sns.get_endpoint_attributes, {}), (sns.set_endpoint_attributes,
                                                             {"Attributes": {"Enabled": "true"}})):
        with pytest.raises(ClientError) as exc:
            call(EndpointArn=arn, **kwargs)
        assert error(exc) == ("NotFound", "Endpoint does not exist")
        assert status(exc) == 404
    sns.delete_endpoint(EndpointArn=arn)  # idempotent


@pytest.mark.parametrize("attributes,message", [
    ({"Colour": "blue"}, "Invalid parameter: Attributes Reason: Invalid attribute name: Colour"),
    ({"Enabled": "maybe"}, "Invalid parameter: Attributes Reason: Invalid value for attribute: Enabled: "
                           "must be true or false"),
    ({"CustomUserData": "x" * 2049}, "Invalid parameter: Attributes Reason: Invalid value for attribute: "
                                     "CustomUserData: must be at most 2048 bytes long in UTF-8 encoding"),
    ({"ChannelId": "c"}, "Invalid parameter: Attributes Reason: Invalid attribute name: ChannelId"),
])
def test_endpoint_attribute_validation(sns, attributes, message):
    app = create_gcm(sns)
    with pytest.raises(ClientError) as exc:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token="t", Attributes=attributes)
    assert error(exc) == ("InvalidParameter", message)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="t")["EndpointArn"]
    with pytest.raises(ClientError) as exc:
        sns.set_endpoint_attributes(EndpointArn=arn, Attributes=attributes)
    assert error(exc) == ("InvalidParameter", message)
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == {"Enabled": "true", "Token": "t"}


def test_endpoints_need_their_application(sns):
    missing = app_arn("GCM", "never-made")
    with pytest.raises(ClientError) as exc:
        sns.create_platform_endpoint(PlatformApplicationArn=missing, Token="t")
    assert error(exc) == ("NotFound", "PlatformApplication does not exist")
    with pytest.raises(ClientError) as exc:
        sns.list_endpoints_by_platform_application(PlatformApplicationArn=missing)
    assert error(exc) == ("NotFound", "PlatformApplication does not exist")
    for call in (sns.get_endpoint_attributes, sns.delete_endpoint):
        with pytest.raises(ClientError) as exc:
            call(EndpointArn="endpoint")
        assert error(exc) == ("InvalidParameter", "Invalid parameter: EndpointArn Reason: An ARN must have at least "
                                                  "6 elements, not 1")


def test_deleting_an_application_deletes_its_endpoints(sns):
    app = create_gcm(sns)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="t")["EndpointArn"]
    sns.delete_platform_application(PlatformApplicationArn=app)
    with pytest.raises(ClientError) as exc:
        sns.get_endpoint_attributes(EndpointArn=arn)
    assert error(exc) == ("NotFound", "Endpoint does not exist")


def test_apple_tokens_are_kept_in_lowercase(sns):
    app = sns.create_platform_application(Name=unique("ios"), Platform="APNS_VOIP", Attributes={
        "PlatformPrincipal": "cert", "PlatformCredential": "key"})["PlatformApplicationArn"]
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="ABCDEF0123")["EndpointArn"]
    assert ":endpoint/APNS_VOIP/ios-" in arn
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"]["Token"] == "abcdef0123"
    assert sns.create_platform_endpoint(PlatformApplicationArn=app, Token="abcdef0123")["EndpointArn"] == arn


def test_baidu_endpoints_need_channel_and_user(sns):
    app = sns.create_platform_application(Name=unique("baidu"), Platform="BAIDU", Attributes={
        "PlatformPrincipal": "api-key", "PlatformCredential": "secret"})["PlatformApplicationArn"]
    with pytest.raises(ClientError) as exc:
        sns.create_platform_endpoint(PlatformApplicationArn=app, Token="channel-1", Attributes={"UserId": "u"})
    assert error(exc) == ("InvalidParameter", "Invalid parameter: Attributes Reason: ChannelId attribute required "
                                              "for the BAIDU platform")
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="channel-1",
                                       Attributes={"ChannelId": "channel-1", "UserId": "u"})["EndpointArn"]
    assert sns.get_endpoint_attributes(EndpointArn=arn)["Attributes"] == \
        {"Enabled": "true", "Token": "channel-1", "ChannelId": "channel-1", "UserId": "u"}


def test_endpoints_list_in_pages(sns):
    app = create_gcm(sns)
    arns = sorted(sns.create_platform_endpoint(PlatformApplicationArn=app, Token=f"t{n}")["EndpointArn"]
                  for n in range(102))
    first = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app)
    second = sns.list_endpoints_by_platform_application(PlatformApplicationArn=app, NextToken=first["NextToken"])
    assert [e["EndpointArn"] for e in first["Endpoints"] + second["Endpoints"]] == arns
    assert len(first["Endpoints"]) == 100 and "NextToken" not in second


# == publishing to endpoints (the publisher reads these endpoints) ============

def test_publish_to_an_endpoint_is_captured_and_a_disabled_one_refused(sns, cloudlet):
    app = create_gcm(sns)
    arn = sns.create_platform_endpoint(PlatformApplicationArn=app, Token="device")["EndpointArn"]
    message_id = sns.publish(TargetArn=arn, MessageStructure="json",
                             Message='{"default": "hi", "GCM": "{\\"notification\\": {\\"body\\": \\"hi\\"}}"}',
                             )["MessageId"]
    [push] = outbox(cloudlet, protocol="application", endpoint=arn)
    assert (push["messageId"], push["message"]) == (message_id, '{"notification": {"body": "hi"}}')

    sns.set_endpoint_attributes(EndpointArn=arn, Attributes={"Enabled": "false"})
    with pytest.raises(ClientError) as exc:
        sns.publish(TargetArn=arn, Message="hi")
    assert error(exc) == ("EndpointDisabled", "Endpoint is disabled")
    assert len(outbox(cloudlet, protocol="application")) == 1
