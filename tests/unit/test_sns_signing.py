"""SNS message signatures (cloudlet.services.sns.signing).

Ground truth: Amazon SNS Developer Guide, "Verifying the signatures of Amazon
SNS messages" (the string to sign, SignatureVersion 1 = SHA1withRSA, 2 =
SHA256withRSA) and "Parsing message formats" (the HTTP/S Notification,
SubscriptionConfirmation and UnsubscribeConfirmation documents).

Besides cloudlet's own `verify`, each signature is checked by a validator
written here from the guide's steps, by the openssl commands the guide uses,
by the PyPI package aws-sns-message-validator when it is installed, and
`verify` itself is checked against messages real SNS signed.
"""

from __future__ import annotations

import base64
import copy
import datetime
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from cloudlet.services.sns.signing import (
    CERTIFICATE_META,
    KEY_META,
    Signer,
    string_to_sign,
    verify,
)
from cloudlet.storage import Storage

CERT_URL = "http://127.0.0.1:4566/_cloudlet/sns/SimpleNotificationService-cloudlet.pem"
TOPIC = "arn:aws:sns:us-east-1:000000000000:orders"
TOKEN = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6"
SUBSCRIBE_URL = ("http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn=" + TOPIC
                 + "&Token=" + TOKEN)


def notification(subject: str | None = "Order placed") -> dict:
    m = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": subject,
        "Message": 'Hello world!\nline two, "quoted", \u00e9\u00e8 \u2603 \U0001f600\ttab',
        "Timestamp": "2012-05-02T00:54:06.655Z",
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "http://127.0.0.1:4566/?Action=Unsubscribe&SubscriptionArn=" + TOPIC + ":c9135db0",
    }
    if subject is None:
        del m["Subject"]
    return m


def confirmation(kind: str) -> dict:
    return {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": TOKEN,
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\n"
                   "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": "2012-04-26T20:45:04.751Z",
        "SigningCertURL": CERT_URL,
    }


MESSAGES = {
    "notification": lambda: notification(),
    "notification-no-subject": lambda: notification(None),
    "subscription-confirmation": lambda: confirmation("SubscriptionConfirmation"),
    "unsubscribe-confirmation": lambda: confirmation("UnsubscribeConfirmation"),
}
SIGNED_FIELDS = {
    "Notification": ["Message", "MessageId", "Subject", "Timestamp", "TopicArn"],
    "SubscriptionConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn"],
    "UnsubscribeConfirmation": ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn"],
}


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    s = Storage(str(tmp_path_factory.mktemp("sns") / "db.sqlite"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def signer(storage):
    return Signer(storage)


# -- a validator written from the Developer Guide's steps ---------------------

def doc_validate(message: dict, certificate_pem: bytes) -> bool:
    """'Verifying the signatures of Amazon SNS messages', step by step."""
    # Determine the message type; the names its string to sign has.
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    elif message["Type"] in ("SubscriptionConfirmation", "UnsubscribeConfirmation"):
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    else:
        return False
    # Each pair: the name, a newline, the value, a newline; pairs in byte-sort
    # order; Subject only if included in the message.
    names = sorted((n for n in names if n != "Subject" or n in message), key=lambda n: n.encode())
    to_sign = "".join(name + "\n" + message[name] + "\n" for name in names).encode("utf-8")
    # The public key from the certificate at SigningCertURL.
    public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
    # Decode Signature from Base64; SHA1withRSA for version 1, SHA256withRSA for 2.
    signature = base64.b64decode(message["Signature"])
    digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}[message["SignatureVersion"]]
    try:
        public_key.verify(signature, to_sign, padding.PKCS1v15(), digest)
    except InvalidSignature:
        return False
    return True


def openssl_validate(message: dict, certificate_pem: bytes, tmp_path) -> bool:
    """The guide's shell recipe: openssl x509 -pubkey, then openssl dgst -verify."""
    (tmp_path / "cert.pem").write_bytes(certificate_pem)
    pub = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", str(tmp_path / "cert.pem")],
                         check=True, capture_output=True).stdout
    (tmp_path / "public_key.pem").write_bytes(pub)
    (tmp_path / "signature.bin").write_bytes(base64.b64decode(message["Signature"]))
    (tmp_path / "string_to_sign.txt").write_bytes(string_to_sign(message).encode("utf-8"))
    digest = {"1": "-sha1", "2": "-sha256"}[message["SignatureVersion"]]
    run = subprocess.run(["openssl", "dgst", digest, "-verify", str(tmp_path / "public_key.pem"),
                          "-signature", str(tmp_path / "signature.bin"), str(tmp_path / "string_to_sign.txt")],
                         check=False, capture_output=True, text=True)
    return run.returncode == 0 and "Verified OK" in run.stdout


# -- the string to sign ---------------------------------------------------------

def test_string_to_sign_matches_the_guides_notification_example():
    message = {
        "Type": "Notification",
        "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Subject": "My subject",
        "Message": "My Test Message",
        "Timestamp": "2019-01-31T04:37:04.321Z",
        "SignatureVersion": "1",
        "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-x.pem",
        "UnsubscribeURL": "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe",
    }
    assert string_to_sign(message) == (
        "Message\nMy Test Message\n"
        "MessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
        "Subject\nMy subject\n"
        "Timestamp\n2019-01-31T04:37:04.321Z\n"
        "TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        "Type\nNotification\n")
    del message["Subject"]
    assert "Subject" not in string_to_sign(message)
    assert string_to_sign(message).startswith("Message\nMy Test Message\nMessageId\n")


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_string_to_sign_matches_the_guides_confirmation_example(kind):
    url = ("https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn="
           "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P&Token=233...")
    message = {
        "Type": kind,
        "MessageId": "3d891288-136d-417f-bc05-901c108273ee",
        "Token": "233...",
        "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
        "Message": "My Test Message",
        "SubscribeURL": url,
        "Timestamp": "2019-01-31T19:25:13.719Z",
    }
    assert string_to_sign(message) == (
        "Message\nMy Test Message\n"
        "MessageId\n3d891288-136d-417f-bc05-901c108273ee\n"
        f"SubscribeURL\n{url}\n"
        "Timestamp\n2019-01-31T19:25:13.719Z\n"
        "Token\n233...\n"
        "TopicArn\narn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P\n"
        f"Type\n{kind}\n")


def test_string_to_sign_refuses_what_it_cannot_sign():
    with pytest.raises(ValueError):
        string_to_sign({**notification(), "Type": "Publish"})
    for name in ("Message", "MessageId", "Timestamp", "TopicArn"):
        m = notification()
        del m[name]
        with pytest.raises(ValueError, match=name):
            string_to_sign(m)
    m = confirmation("SubscriptionConfirmation")
    del m["Token"]
    with pytest.raises(ValueError, match="Token"):
        string_to_sign(m)
    with pytest.raises(TypeError):
        string_to_sign({**notification(), "Message": 12})


# -- round trips ----------------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_round_trip(signer, name, version):
    message = MESSAGES[name]()
    original = copy.deepcopy(message)
    signed = signer.sign(message, version)
    assert message == original  # the input is not changed
    assert signed["SignatureVersion"] == version
    assert len(base64.b64decode(signed["Signature"], validate=True)) == 256  # RSA 2048
    assert {k: v for k, v in signed.items() if k not in ("SignatureVersion", "Signature")} == original
    cert = signer.certificate_pem()
    assert verify(signed, cert)
    assert doc_validate(signed, cert)
    # As a subscriber gets it: the JSON body of the POST, parsed.
    for body in (json.dumps(signed), json.dumps(signed, ensure_ascii=False, indent=2)):
        received = json.loads(body)
        assert verify(received, cert) and doc_validate(received, cert)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_tampering_with_a_signed_field_fails(signer, name, version):
    signed = signer.sign(MESSAGES[name](), version)
    cert = signer.certificate_pem()
    for field in SIGNED_FIELDS[signed["Type"]]:
        if field not in signed:
            continue
        forged = {**signed, field: signed[field] + "x"}
        assert not verify(forged, cert), field
        assert not doc_validate(forged, cert), field
    other = {"Notification": "SubscriptionConfirmation"}.get(signed["Type"], "Notification")
    if other == "Notification":  # a confirmation relabelled drops SubscribeURL and Token
        forged = {k: v for k, v in signed.items() if k not in ("SubscribeURL", "Token")}
    else:
        forged = {**signed, "SubscribeURL": SUBSCRIBE_URL, "Token": TOKEN}
    assert not verify({**forged, "Type": other}, cert)
    # The hash named by SignatureVersion is the one checked.
    assert not verify({**signed, "SignatureVersion": {"1": "2", "2": "1"}[version]}, cert)


def test_tampered_message_subject_and_timestamp_fail(signer):
    cert = signer.certificate_pem()
    for version in ("1", "2"):
        signed = signer.sign(notification("Hi"), version)
        assert verify(signed, cert)
        assert not verify({**signed, "Message": signed["Message"].replace("Hello", "Hullo")}, cert)
        assert not verify({**signed, "Subject": "Hj"}, cert)
        assert not verify({k: v for k, v in signed.items() if k != "Subject"}, cert)
        assert not verify({**signed, "Timestamp": "2012-05-02T00:54:06.656Z"}, cert)
        # Adding a Subject to a message signed without one breaks it too.
        bare = signer.sign(notification(None), version)
        assert not verify({**bare, "Subject": "Hi"}, cert)


def test_unsigned_fields_may_change(signer):
    """SigningCertURL and UnsubscribeURL are not signed: the caller may set
    them before or after signing."""
    cert = signer.certificate_pem()
    unsigned = {k: v for k, v in notification().items() if k not in ("SigningCertURL", "UnsubscribeURL")}
    signed = signer.sign(unsigned, "2")
    assert verify(signed, cert)
    later = {**signed, "SigningCertURL": CERT_URL, "UnsubscribeURL": "http://x/?Action=Unsubscribe"}
    assert verify(later, cert) and doc_validate(later, cert)


def test_field_order_follows_sns(signer):
    signed = signer.sign(notification(), "1")
    assert list(signed) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                            "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"]
    signed = signer.sign(confirmation("SubscriptionConfirmation"), "1")
    assert list(signed) == ["Type", "MessageId", "Token", "TopicArn", "Message", "SubscribeURL", "Timestamp",
                            "SignatureVersion", "Signature", "SigningCertURL"]
    # Signing a signed message replaces the signature.
    again = signer.sign(signed, "2")
    assert again["SignatureVersion"] == "2" and list(again) == list(signed)
    assert verify(again, signer.certificate_pem())


@pytest.mark.parametrize("subject", [None, ""])
def test_absent_subject_is_left_out(signer, subject):
    m = notification()
    m["Subject"] = subject
    signed = signer.sign(m, "1")
    assert "Subject" not in signed
    assert verify(signed, signer.certificate_pem()) and doc_validate(signed, signer.certificate_pem())


def test_sign_refuses_names_its_type_does_not_sign(signer):
    with pytest.raises(ValueError, match="Token"):
        signer.sign({**notification(), "Token": TOKEN})
    with pytest.raises(ValueError, match="SubscribeURL"):
        signer.sign({**notification(), "SubscribeURL": SUBSCRIBE_URL})
    with pytest.raises(ValueError, match="Subject"):
        signer.sign({**confirmation("SubscriptionConfirmation"), "Subject": "x"})
    with pytest.raises(ValueError):
        signer.sign(notification(), "3")
    with pytest.raises(ValueError):
        signer.sign({**notification(), "Type": "Bogus"})


def test_verify_is_false_for_garbage(signer, tmp_path):
    cert = signer.certificate_pem()
    signed = signer.sign(notification(), "2")
    assert not verify({**signed, "Signature": "not base64!"}, cert)
    assert not verify({**signed, "Signature": base64.b64encode(b"\0" * 256).decode()}, cert)
    assert not verify({**signed, "SignatureVersion": "3"}, cert)
    assert not verify({k: v for k, v in signed.items() if k != "Signature"}, cert)
    assert not verify({k: v for k, v in signed.items() if k != "TopicArn"}, cert)
    assert not verify(signed, b"not a certificate")
    other = Storage(str(tmp_path / "other.sqlite"))
    assert not verify(signed, Signer(other).certificate_pem())
    other.close()


# -- independent validators -------------------------------------------------------

@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("name", sorted(MESSAGES))
def test_openssl_command_verifies(signer, name, version, tmp_path):
    signed = signer.sign(MESSAGES[name](), version)
    assert openssl_validate(signed, signer.certificate_pem(), tmp_path)
    assert not openssl_validate({**signed, "Message": "forged"}, signer.certificate_pem(), tmp_path)


# -- the key and certificate ------------------------------------------------------

def test_certificate(signer):
    cert = x509.load_pem_x509_certificate(signer.certificate_pem())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "sns.amazonaws.com"
    assert cert.issuer == cert.subject  # self-signed
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), cert.signature_hash_algorithm)
    now = datetime.datetime.now(datetime.UTC)
    assert cert.not_valid_before_utc < now - datetime.timedelta(days=365 * 10)
    assert cert.not_valid_after_utc > now + datetime.timedelta(days=365 * 50)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["sns.amazonaws.com"]


def test_key_and_certificate_persist(tmp_path):
    path = str(tmp_path / "db.sqlite")
    s = Storage(path)
    first = Signer(s)
    cert = first.certificate_pem()
    assert s.get_meta(CERTIFICATE_META) == cert.decode()
    assert s.get_meta(KEY_META).startswith("-----BEGIN PRIVATE KEY-----")
    serialization.load_pem_private_key(s.get_meta(KEY_META).encode(), password=None)
    early = first.sign(notification(), "1")
    # A second Signer on the same Storage, and one after a restart.
    assert Signer(s).certificate_pem() == cert
    s.close()
    s = Storage(path)
    second = Signer(s)
    assert second.certificate_pem() == cert
    for version in ("1", "2"):
        late = second.sign(confirmation("SubscriptionConfirmation"), version)
        assert verify(late, cert) and doc_validate(late, cert)
    assert verify(early, second.certificate_pem())
    # A reset of the services' tables keeps them too (they live in _meta).
    s.reset()
    assert Signer(s).certificate_pem() == cert
    s.close()


def test_each_database_has_its_own_key(tmp_path):
    sa, sb = Storage(str(tmp_path / "a.sqlite")), Storage(str(tmp_path / "b.sqlite"))
    a, b = Signer(sa), Signer(sb)
    assert a.certificate_pem() != b.certificate_pem()
    assert not verify(a.sign(notification()), b.certificate_pem())
    sa.close()
    sb.close()


# -- messages real SNS signed -------------------------------------------------------
# The certificate and the four Notifications below (SignatureVersion 1 and 2,
# with and without Subject) are the fixtures of AWS's own validator,
# aws/aws-php-sns-message-validator, tests/FunctionalValidationsTest.php:
# messages SNS in us-east-2 signed in July 2022 and the certificate at their
# SigningCertURL. (The Developer Guide's samples carry placeholder
# "EXAMPLE..." signatures, so they cannot be verified.) They show that
# `string_to_sign` builds the string real SNS signs.

AWS_CERTIFICATE = b"""-----BEGIN CERTIFICATE-----
MIIF1zCCBL+gAwIBAgIQB9pYWG3Mi7xej22g9pobJTANBgkqhkiG9w0BAQsFADBG
MQswCQYDVQQGEwJVUzEPMA0GA1UEChMGQW1hem9uMRUwEwYDVQQLEwxTZXJ2ZXIg
Q0EgMUIxDzANBgNVBAMTBkFtYXpvbjAeFw0yMTA5MDcwMDAwMDBaFw0yMjA4MTcy
MzU5NTlaMBwxGjAYBgNVBAMTEXNucy5hbWF6b25hd3MuY29tMIIBIjANBgkqhkiG
9w0BAQEFAAOCAQ8AMIIBCgKCAQEAutFqueT3XgP13udzxE6UpbdjOtVO5DwoMpSM
iDNMnGzF1TYH5/R2LPUOBeTB0SkKnR4kpNcUZhicpGD4aKciz/GEZ6wu65xncfT9
H/KBOQwoXYTuClHwp6fYpGzcGFaFoEYMnijL/o4qmTSd+ukglQUgKpsDw4ofw6rU
m2CttJo+GQSNQ9NfGR1h/0J+zsApkeSYrXRx5wNlu87z8os1C/6PBrUHwt3xXeaf
Xzfwut8aRRYsS8BySOA9DAgLfNHlfdQCjKPXKrG/ussgReyWD6n/HH+j7Uha3xos
TzQqJifcxlTq6MxWdPR6fDaJNvqw6DOE7UjUNxHguXHlVfxhlQIDAQABo4IC6TCC
AuUwHwYDVR0jBBgwFoAUWaRmBlKge5WSPKOUByeWdFv5PdAwHQYDVR0OBBYEFAqz
C+vyouneE7mWWLbi9i0UsWUbMBwGA1UdEQQVMBOCEXNucy5hbWF6b25hd3MuY29t
MA4GA1UdDwEB/wQEAwIFoDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIw
OwYDVR0fBDQwMjAwoC6gLIYqaHR0cDovL2NybC5zY2ExYi5hbWF6b250cnVzdC5j
b20vc2NhMWIuY3JsMBMGA1UdIAQMMAowCAYGZ4EMAQIBMHUGCCsGAQUFBwEBBGkw
ZzAtBggrBgEFBQcwAYYhaHR0cDovL29jc3Auc2NhMWIuYW1hem9udHJ1c3QuY29t
MDYGCCsGAQUFBzAChipodHRwOi8vY3J0LnNjYTFiLmFtYXpvbnRydXN0LmNvbS9z
Y2ExYi5jcnQwDAYDVR0TAQH/BAIwADCCAX0GCisGAQQB1nkCBAIEggFtBIIBaQFn
AHYAKXm+8J45OSHwVnOfY6V35b5XfZxgCvj5TV0mXCVdx4QAAAF7vfDVkQAABAMA
RzBFAiEA2XfHuy36aqRFiaL8c3md2mH451go8707+fRE0pEdSRACIE/g5FXTUXUZ
PFcmOhm9TZ+uMY1i4CIQ/CKVWln6C3t+AHYAUaOw9f0BeZxWbbg3eI8MpHrMGyfL
956IQpoN/tSLBeUAAAF7vfDVjAAABAMARzBFAiBF1MhhFP0+FQt3daDFfMYoWwnr
muTInrjNpwfzlvQBugIhAPYadFzr+LaxSJoiZEbEHBvTts7bT0M3eCQONA2O7w6n
AHUAQcjKsd8iRkoQxqE6CUKHXk4xixsD6+tLx2jwkGKWBvYAAAF7vfDVdAAABAMA
RjBEAiAtPapmFAuA71ih4NoSd5hJelzAltNQpxDMcDfDyHyU8gIgWxmaa6+2KbBu
9xdv379zvnJACFR7jc+4asl08Dn4aagwDQYJKoZIhvcNAQELBQADggEBAA54QX0u
oFWXfMmv02CGZv4NWo5TapyeeixQ2kKpZHRdVZjxZrw+hoF6HD7P3kGjH8ztyJll
tDxB0qgMltbPhQdScwhA6iTgoaBYqEUC/VHKd4PmmPT6yIsM36NBZVmkGlzl5uNo
/dBgBaG0SsVJnhr5zro3c2quC7n6fVGEZhf/UgQwRnnvThnvbNKguglDMq4uEqv8
njKyleht+glkcmXO0m9qLKt6BOS0amy6U2GlAwRn0Wx02ndJtnRCSC6kPuRWK/SQ
FEjB7gCK4hdKaAOuWdZpI55vF6ifOeM8toC3g7ofO8qLTnJupAG+ZitY5J3cvHWr
HqOUdKigPDHYLRo=
-----END CERTIFICATE-----
"""

_AWS_CERT_URL = "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
_AWS_TOPIC = "arn:aws:sns:us-east-2:295079676684:publish-and-verify-"
AWS_MESSAGES = [
    {
        "Type": "Notification",
        "MessageId": "792cda85-518f-5dd3-9163-81d851212f3a",
        "TopicArn": _AWS_TOPIC + "892f85fe-4836-424d-8188-ab85bef0f362",
        "Message": "Hello world",
        "Timestamp": "2022-07-28T21:23:58.317Z",
        "SignatureVersion": "1",
        "Signature": "ghtf+deOBAzHJJZ6s6CdRLfTQAlcGzq9naoFM1wi0CJiq//uVRuZnamrkWNF0fhouMFvuLVRwcz8PZLUMSfnmd5VpdTKpTyiK"
                     "my1qJAZXma0w+yi7G+I33hD1Jyk1Nbym2n0kqp3fVu2aoooiN2ZeLAT2bH0/BtjLSfN1yAOKNoprco4qV9gGUZinXJdj9a1Yd"
                     "NhDR2jKi33ldlsVtEXAtiaDklGEk7DgRKX38GerBPiLg3FdtgY6KC7cdeGpU/dGK+4hjc83Ive1HoFkAwqhpgInM2sMytBoso"
                     "iXfCmOKmU4xeGD0gHDNZTlJUJQDlzw8Eag0H9f/5zXF9d3uy0YQ==",
        "SigningCertURL": _AWS_CERT_URL,
    },
    {
        "Type": "Notification",
        "MessageId": "17dea24b-55c2-540b-8362-f916557af765",
        "TopicArn": _AWS_TOPIC + "62674b1d-4295-426b-88e7-5fb75652a04e",
        "Message": "Hello world",
        "Timestamp": "2022-07-28T21:24:08.324Z",
        "SignatureVersion": "2",
        "Signature": "CXVqp9PfZAL+4JHS3Zxo1PFbQsvnOjvmYhtIf17TWpwc+iIVas8kZ8GopuzVzVMdatE7rCl/O4P91Zp05Dwz8lk8dLhfp8gSu"
                     "3Njlzxlyrmzo9x3va3Jb7zFnedgS2GKnZWHGBdwTXho+TosNUE+3e10OMSlwN5XGDwX7+R3WL+rn+AXmFAqp3alg27sYa55h1"
                     "dLE9cGszGPjScPdtF3BmZsUDMx9wSdNKsCk+vSvE8yBjnCmUl7laSFj3LzPVrlSwgNYCF3kYnNAkah7NplK4SFhJYLwS0HCVC"
                     "QJKa8rVbQLf9cBTu60U402mrgy0bN8xWoyimzbYbrOMJjalqkUg==",
        "SigningCertURL": _AWS_CERT_URL,
    },
    {
        "Type": "Notification",
        "MessageId": "11405cc3-9ac7-56d5-b45d-079e8f7a8edf",
        "TopicArn": _AWS_TOPIC + "6e11fed2-fcdf-4c52-9dc4-36ef43f37f84",
        "Subject": "Hello world",
        "Message": "Hello world",
        "Timestamp": "2022-07-28T22:53:49.654Z",
        "SignatureVersion": "1",
        "Signature": "AItkS26d8yvnIKJevdirIPW7eM/yKbZy3/CF2EreCHmXWB3etWaV5Fb7SYpGABMpugpDZzNyGY1wCVWaopDoQ+7Q/kI2TpDu8"
                     "bw1eExbi8U3kduvc/2m2fIrI4gDEY8/v3nzoLcr8pPodqMzrX6SzQou4klfaqbNK+rFmH0LVf2Q1VyOROODoSXmo4jg2Yu12j"
                     "fxccBl96Drr/ihq4MJ4OcrWh6UzXXlVYjJHx2Ui4anNwNEb+Z4C2CAF1DjQUbhDtaoajDBPY+4d9C1OwbqwQpXsd6tyVcI9nF"
                     "yEsVK8lfnAV+/3GZQcdXHbIUYBRGcBa4X5TlWJku5nDH2ERtHHw==",
        "SigningCertURL": _AWS_CERT_URL,
    },
    {
        "Type": "Notification",
        "MessageId": "4504e649-d933-5aa9-8199-bd14ccf05f0b",
        "TopicArn": _AWS_TOPIC + "530b26da-0687-4fe4-9f71-780bad3181e2",
        "Subject": "Hello world",
        "Message": "Hello world",
        "Timestamp": "2022-07-28T22:53:55.086Z",
        "SignatureVersion": "2",
        "Signature": "cETcSvmmkt+My05qCLKexyl0+RyG83mSryKPqTfS+tYcxDJWVcjPJAr+qdpElzVaBl1aTGYVWMY64i9JqZ/JES8pylNj8LGvd"
                     "huNQKO59/WCoIimZAsNhn0xEgOeeDU+W/0BU4sdpCGMNjo0S/FuIiWaRe4E0YWRVrxeQevaQ70euDdfWgd5v1eCKQz8b367b9"
                     "XBmMztL/CWUFI6YaKK/MV21eyvJe3Y7CtVYiOKEYiAZnAEkynK7gUGO5TsgDjGNYhj6U3xYsWgI03bmioSl7kdFSUj+AZ7uga"
                     "s5fghqxgoDsdfqsjMYKRm5KKHQWsgzI619yIzpNKUiSMHxdZXpQ==",
        "SigningCertURL": _AWS_CERT_URL,
    },
]


@pytest.mark.parametrize("index", range(len(AWS_MESSAGES)))
def test_messages_real_sns_signed_verify(index):
    message = AWS_MESSAGES[index]
    assert verify(message, AWS_CERTIFICATE)
    assert doc_validate(message, AWS_CERTIFICATE)
    assert not verify({**message, "Message": "Hello world!"}, AWS_CERTIFICATE)
    assert not verify({**message, "Timestamp": message["Timestamp"].replace(".", ",")}, AWS_CERTIFICATE)
    if "Subject" in message:
        assert not verify({k: v for k, v in message.items() if k != "Subject"}, AWS_CERTIFICATE)
    else:
        assert not verify({**message, "Subject": "Hello world"}, AWS_CERTIFICATE)


def test_cloudlet_certificate_has_the_shape_of_sns(signer):
    """cloudlet's certificate names the subject real SNS's does, with a key
    of the same kind and size."""
    aws = x509.load_pem_x509_certificate(AWS_CERTIFICATE)
    ours = x509.load_pem_x509_certificate(signer.certificate_pem())
    cn = NameOID.COMMON_NAME
    assert ours.subject.get_attributes_for_oid(cn)[0].value == aws.subject.get_attributes_for_oid(cn)[0].value
    assert isinstance(aws.public_key(), rsa.RSAPublicKey) and isinstance(ours.public_key(), rsa.RSAPublicKey)
    assert ours.public_key().key_size == aws.public_key().key_size == 2048
