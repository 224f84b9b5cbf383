"""The documents SNS delivers: the JSON envelope of a notification or a
(un)subscribe confirmation, in SNS's own layout, and the Lambda event.

SNS writes its envelope with Jackson's pretty printer: two-space indent,
" : " between name and value, and each message attribute compact on its
own line. Byte-for-byte the same text lets users compare bodies with what
they see from AWS.
"""

from __future__ import annotations

import datetime
from urllib.parse import quote

import orjson

ENVELOPE_ORDER = ("Type", "MessageId", "SequenceNumber", "Token", "TopicArn", "Subject", "Message",
                  "SubscribeURL", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL",
                  "UnsubscribeURL", "MessageAttributes")
CERT_PATH = "/_cloudlet/sns/SimpleNotificationService-cloudlet.pem"


def timestamp(epoch: float) -> str:
    """SNS's Timestamp: ISO 8601 in UTC with milliseconds."""
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def render(doc: dict) -> str:
    """`doc` as SNS writes it."""
    lines = []
    for key in ENVELOPE_ORDER:
        if key not in doc:
            continue
        value = doc[key]
        if key == "MessageAttributes":
            lines.append(_attributes_line(value))
        else:
            lines.append(f"  {orjson.dumps(key).decode()} : {orjson.dumps(value).decode()}")
    return "{\n" + ",\n".join(lines) + "\n}"


def _attributes_line(attributes: dict) -> str:
    inner = ",\n".join(f"    {orjson.dumps(name).decode()} : {orjson.dumps(attr).decode()}"
                       for name, attr in attributes.items())
    return f'  "MessageAttributes" : {{\n{inner}\n  }}'


class Notification:
    """One signed notification, rendered once: subscribers' envelopes
    differ only in their UnsubscribeURL, which comes after everything
    signed, so each is the shared text with its URL spliced in."""

    __slots__ = ("signed", "certificate", "attributes", "_head", "_tail")

    def __init__(self, signed: dict, certificate: str, attributes: dict | None):
        self.signed, self.certificate, self.attributes = signed, certificate, attributes
        self._head = render(dict(signed, SigningCertURL=certificate))[:-2]
        self._tail = (",\n" + _attributes_line(attributes) if attributes else "") + "\n}"

    def text(self, unsubscribe_url: str) -> str:
        return f'{self._head},\n  "UnsubscribeURL" : {orjson.dumps(unsubscribe_url).decode()}{self._tail}'

    def doc(self, unsubscribe_url: str) -> dict:
        doc = dict(self.signed, SigningCertURL=self.certificate, UnsubscribeURL=unsubscribe_url)
        if self.attributes:
            doc["MessageAttributes"] = self.attributes
        return doc


class Urls:
    """The URLs an envelope carries, on the address cloudlet is reached at."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")

    @property
    def certificate(self) -> str:
        return self.base + CERT_PATH

    def unsubscribe(self, subscription_arn: str) -> str:
        return (f"{self.base}/?Action=Unsubscribe&SubscriptionArn={quote(subscription_arn, safe=':')}"
                "&Version=2010-03-31")

    def confirm(self, topic_arn: str, token: str) -> str:
        return (f"{self.base}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe=':')}&Token={token}"
                "&Version=2010-03-31")


def lambda_event(subscription_arn: str, envelope: dict) -> bytes:
    """The event Lambda gets for an SNS notification (Lambda Developer
    Guide, "Using AWS Lambda with Amazon SNS"): the envelope with the URL
    names spelled SigningCertUrl / UnsubscribeUrl."""
    sns = {k: v for k, v in envelope.items() if k not in ("SigningCertURL", "UnsubscribeURL")}
    sns["SigningCertUrl"] = envelope.get("SigningCertURL", "")
    sns["UnsubscribeUrl"] = envelope.get("UnsubscribeURL", "")
    sns.setdefault("MessageAttributes", {})
    sns.setdefault("Subject", None)
    return orjson.dumps({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0",
                                      "EventSubscriptionArn": subscription_arn, "Sns": sns}]})
