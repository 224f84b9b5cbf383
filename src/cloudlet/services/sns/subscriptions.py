"""SNS subscriptions: subscribe (with confirmation for HTTP/S and email),
confirm, unsubscribe, list, attributes.

A subscription row's `confirmed` is 1 (confirmed), 0 (pending
confirmation) or -1 (unsubscribed HTTP/S endpoint: kept so the
UnsubscribeConfirmation's SubscribeURL can restore it, as on AWS).
"""

from __future__ import annotations

import re
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.sns import deliverypolicy
from cloudlet.services.sns.delivery import new_token
from cloudlet.services.sns.topics import invalid

PROTOCOLS = ("http", "https", "email", "email-json", "sms", "sqs", "application", "lambda", "firehose")
# Protocols whose endpoint must confirm before it receives anything.
_CONFIRMED_BY_ENDPOINT = ("http", "https", "email", "email-json")
SETTABLE = frozenset({"DeliveryPolicy", "FilterPolicy", "FilterPolicyScope", "RawMessageDelivery",
                      "RedrivePolicy", "SubscriptionRoleArn", "ReplayPolicy"})
# Protocols RawMessageDelivery applies to.
_RAW_CAPABLE = ("http", "https", "sqs", "firehose")
_PHONE = re.compile(r"^\+?[1-9][0-9]{1,14}$")


def subscription_missing() -> AwsError:
    return AwsError("NotFoundException", "Subscription does not exist")


class Subscription:
    __slots__ = ("arn", "topic_arn", "owner", "protocol", "endpoint", "attributes", "confirmed", "token")

    def __init__(self, row):
        self.arn, self.topic_arn, self.owner, self.protocol, self.endpoint, attributes, confirmed, self.token = row
        self.attributes: dict[str, str] = orjson.loads(attributes)
        self.confirmed = confirmed

    @property
    def raw(self) -> bool:
        return self.attributes.get("RawMessageDelivery") == "true"

    def filter_policy(self):
        """The compiled filter policy, or None (compiled once per policy
        text, process-wide)."""
        text = self.attributes.get("FilterPolicy")
        if not text:
            return None
        return _compiled(text, self.attributes.get("FilterPolicyScope", "MessageAttributes"))


_POLICIES: dict = {}


def _compiled(text: str, scope: str):
    key = (text, scope)
    found = _POLICIES.get(key)
    if found is None:
        from cloudlet.eventruler import compile_policy

        if len(_POLICIES) > 10_000:
            _POLICIES.clear()
        found = _POLICIES[key] = compile_policy(text, scope)
    return found


_COLUMNS = "arn, topic_arn, owner, protocol, endpoint, attributes, confirmed, token"


class SubscriptionOps:
    """Mixin of SnsService."""

    def find_subscription(self, arn: str, include_deleted: bool = False) -> Subscription | None:
        row = self.storage.one(f"SELECT {_COLUMNS} FROM sns_subscriptions WHERE arn = ?", (arn,))
        if row is None or (row[6] < 0 and not include_deleted):
            return None
        return Subscription(row)

    def topic_subscriptions(self, topic_arn: str) -> list[Subscription]:
        """The confirmed subscriptions, which are what a publish reaches."""
        return [Subscription(r) for r in self.storage.all(
            f"SELECT {_COLUMNS} FROM sns_subscriptions WHERE topic_arn = ? AND confirmed = 1", (topic_arn,))]

    def subscription(self, arn: str | None) -> Subscription:
        if not arn or len(arn.split(":")) != 7 or not arn.startswith("arn:"):
            raise invalid("SubscriptionArn")
        sub = self.find_subscription(arn)
        if sub is None:
            raise subscription_missing()
        return sub

    # -- checks ----------------------------------------------------------

    def _check_endpoint(self, topic, protocol: str, endpoint: str) -> None:
        if protocol not in PROTOCOLS:
            raise invalid(f"Amazon SNS does not support this protocol string: {protocol}")
        if not endpoint:
            raise invalid("Endpoint Reason: An endpoint must be specified")
        if protocol == "sqs":
            parts = endpoint.split(":")
            if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
                raise invalid("SQS endpoint ARN")
            if endpoint.endswith(".fifo") and not topic.fifo:
                # AWS's text really repeats its prefix.
                raise invalid("Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to "
                              "standard SNS topics")
        elif topic.fifo:
            raise invalid(f"Invalid protocol type: {protocol}")
        if protocol in ("http", "https"):
            if not endpoint.lower().startswith(protocol + "://"):
                raise invalid("Endpoint must match the specified protocol")
        elif protocol in ("email", "email-json"):
            if "@" not in endpoint or endpoint.startswith("@") or endpoint.endswith("@"):
                raise invalid("Email address")
        elif protocol == "sms":
            if not _PHONE.match(endpoint.replace("-", "").replace(" ", "")):
                raise invalid(f"Invalid SMS endpoint: {endpoint}")
        elif protocol in ("application", "lambda", "firehose"):
            parts = endpoint.split(":")
            service = {"application": "sns", "lambda": "lambda", "firehose": "firehose"}[protocol]
            if len(parts) < 6 or parts[0] != "arn" or parts[2] != service:
                raise invalid("Endpoint")
            if protocol == "application" and self.platform_endpoint(endpoint) is None:
                # AWS's text, with no space before the ARN.
                raise invalid(f"Endpoint Reason: Endpoint does not exist for endpoint arn{endpoint}")

    def _check_sub_attributes(self, attributes: dict, topic, protocol: str, endpoint: str, *,
                              subscribe: bool) -> dict:
        """Checked attributes (with AWS's texts: Subscribe puts
        "Attributes Reason: " before them)."""
        reason = "Attributes Reason: " if subscribe else ""
        out = {}
        for name, value in attributes.items():
            if name not in SETTABLE:
                raise invalid("AttributeName")
            value = value or ""
            if name == "RawMessageDelivery":
                if value.lower() not in ("true", "false"):
                    raise invalid(f"{reason}RawMessageDelivery: Invalid value [{value}]. Must be true or false.")
                if protocol not in _RAW_CAPABLE:
                    raise invalid(f"{reason}Delivery protocol [{protocol}] does not support raw message delivery.")
                value = value.lower()
            elif name == "FilterPolicyScope":
                if value not in ("MessageAttributes", "MessageBody"):
                    raise invalid(f"{reason}FilterPolicyScope: Invalid value [{value}]. Please use either "
                                  "MessageBody or MessageAttributes")
            elif name == "DeliveryPolicy" and value:
                if protocol not in ("http", "https"):
                    raise invalid(f"{reason}DeliveryPolicy: Delivery policy is only supported for HTTP/S "
                                  "endpoints")
                try:
                    # Kept in the form AWS stores and shows back.
                    value = orjson.dumps(deliverypolicy.validate_subscription_policy(value)).decode()
                except deliverypolicy.DeliveryPolicyError as exc:
                    raise AwsError("InvalidParameterException", exc.api_message(in_attributes=subscribe)) from None
            elif name == "RedrivePolicy" and value:
                self._check_redrive(value, topic, reason)
            elif name == "SubscriptionRoleArn" and value and not value.startswith("arn:"):
                raise invalid(f"{reason}SubscriptionRoleArn: Invalid value [{value}]")
            out[name] = value
        if out.get("FilterPolicy"):
            from cloudlet.eventruler import FilterPolicyError

            scope = out.get("FilterPolicyScope") or attributes.get("FilterPolicyScope") or "MessageAttributes"
            try:
                _compiled(out["FilterPolicy"], scope)
            except FilterPolicyError as exc:
                raise AwsError("InvalidParameterException", exc.api_message(subscribe=subscribe)) from None
        return out

    @staticmethod
    def _check_redrive(value: str, topic, reason: str) -> None:
        try:
            doc = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise invalid(f"{reason}RedrivePolicy: failed to parse JSON.") from None
        target = doc.get("deadLetterTargetArn") if isinstance(doc, dict) else None
        parts = target.split(":") if isinstance(target, str) else []
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sqs":
            raise invalid(f"{reason}RedrivePolicy: deadLetterTargetArn is an invalid arn")
        if topic is not None and topic.fifo and not target.endswith(".fifo"):
            raise invalid(f"{reason}RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a "
                          "FIFO Topic.")

    # -- the calls -------------------------------------------------------

    async def Subscribe(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        protocol = params.get("Protocol") or ""
        endpoint = params.get("Endpoint") or ""
        self._check_endpoint(topic, protocol, endpoint)
        attributes = self._check_sub_attributes(dict(params.get("Attributes") or {}), topic, protocol, endpoint,
                                                subscribe=True)
        return_arn = bool(params.get("ReturnSubscriptionArn"))
        with self.storage.tx():
            existing = self.storage.one(f"SELECT {_COLUMNS} FROM sns_subscriptions WHERE topic_arn = ? AND "
                                        "protocol = ? AND endpoint = ? AND confirmed >= 0",
                                        (topic.arn, protocol, endpoint))
            if existing is not None:
                sub = Subscription(existing)
                for key, value in attributes.items():
                    if sub.attributes.get(key, "false" if key == "RawMessageDelivery" else None) != value:
                        raise invalid("Attributes Reason: Subscription already exists with different attributes")
                if sub.confirmed or return_arn:
                    return {"SubscriptionArn": sub.arn}
                return {"SubscriptionArn": "pending confirmation"}
            if self.storage.one("SELECT COUNT(*) FROM sns_subscriptions WHERE topic_arn = ? AND confirmed >= 0",
                                (topic.arn,))[0] >= self.max_subscriptions_per_topic:
                raise AwsError("SubscriptionLimitExceededException",
                               "Invalid parameter: TopicArn Reason: Subscription limit exceeded")
            arn = f"{topic.arn}:{uuid.uuid4()}"
            # A queue of another account subscribed from the topic's side
            # waits for its owner to confirm; its owner's own subscription
            # does not (the SNS guide, "Sending Amazon SNS messages to an
            # Amazon SQS queue in a different account").
            cross_account_queue = protocol == "sqs" and endpoint.split(":")[4] != ctx.account_id
            needs_confirmation = protocol in _CONFIRMED_BY_ENDPOINT or cross_account_queue
            token = new_token() if needs_confirmation else None
            attributes.setdefault("RawMessageDelivery", "false")
            self.storage.execute(
                "INSERT INTO sns_subscriptions (arn, topic_arn, owner, protocol, endpoint, attributes, confirmed, "
                "token, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (arn, topic.arn, ctx.account_id, protocol, endpoint, orjson.dumps(attributes).decode(),
                 int(not needs_confirmation), token, self.clock.now()))
            if needs_confirmation and not cross_account_queue:
                self.send_confirmation(topic, self.find_subscription(arn))
        if cross_account_queue:
            await self.send_sqs_confirmation(topic, self.find_subscription(arn))
        if needs_confirmation and not return_arn:
            return {"SubscriptionArn": "pending confirmation"}
        return {"SubscriptionArn": arn}

    def ConfirmSubscription(self, ctx, params):
        # Unauthenticated on AWS too: the endpoint that got the token calls it.
        topic = self.topic(params["TopicArn"])
        token = params["Token"]
        row = self.storage.one(f"SELECT {_COLUMNS} FROM sns_subscriptions WHERE topic_arn = ? AND token = ?",
                               (topic.arn, token))
        if row is None:
            raise invalid("Token")
        sub = Subscription(row)
        if sub.confirmed == 1:
            return {"SubscriptionArn": sub.arn}  # idempotent
        attributes = dict(sub.attributes)
        authenticated = str(params.get("AuthenticateOnUnsubscribe", "")).lower() == "true"
        attributes["ConfirmationWasAuthenticated"] = "true" if authenticated else "false"
        with self.storage.tx():
            self.storage.execute("UPDATE sns_subscriptions SET confirmed = 1, attributes = ? WHERE arn = ?",
                                 (orjson.dumps(attributes).decode(), sub.arn))
        return {"SubscriptionArn": sub.arn}

    def Unsubscribe(self, ctx, params):
        arn = params["SubscriptionArn"]
        if len(arn.split(":")) != 7 or not arn.startswith("arn:"):
            raise invalid("SubscriptionArn")
        sub = self.find_subscription(arn)
        if sub is None:
            return {}  # unsubscribing twice succeeds
        self._authorize_unsubscribe(ctx, sub, params)
        topic = self.find_topic(sub.topic_arn)
        with self.storage.tx():
            if sub.protocol in ("http", "https") and topic is not None:
                token = new_token()
                self.storage.execute("UPDATE sns_subscriptions SET confirmed = -1, token = ? WHERE arn = ?",
                                     (token, arn))
                self.send_unsubscribe_confirmation(topic, sub, token)
            else:
                self.storage.execute("DELETE FROM sns_subscriptions WHERE arn = ?", (arn,))
        return {}

    def _authorize_unsubscribe(self, ctx, sub: Subscription, params: dict) -> None:
        """An UnsubscribeURL works without credentials unless the endpoint
        confirmed with AuthenticateOnUnsubscribe; a signed caller needs
        sns:Unsubscribe on the topic."""
        if ctx.principal.type == "Anonymous":
            if sub.attributes.get("ConfirmationWasAuthenticated") == "true":
                raise AwsError("AuthorizationErrorException",
                               "Unsubscribe requires authentication for this subscription")
            return
        topic = self.find_topic(sub.topic_arn)
        policy = (topic.attributes.get("Policy"), topic.account) if topic is not None else None
        self.cloud.authorizer.require(ctx, self, ctx.op_model, params, "SNS:Unsubscribe", sub.topic_arn, policy)

    # -- listing ---------------------------------------------------------

    def _entry(self, sub: Subscription) -> dict:
        return {"SubscriptionArn": sub.arn if sub.confirmed == 1 else "PendingConfirmation", "Owner": sub.owner,
                "Protocol": sub.protocol, "Endpoint": sub.endpoint, "TopicArn": sub.topic_arn}

    def _page(self, where: str, args: tuple, params) -> dict:
        token = params.get("NextToken")
        start = 0
        if token:
            if not token.isdigit():
                raise invalid("NextToken")
            start = int(token)
        rows = self.storage.all(f"SELECT {_COLUMNS} FROM sns_subscriptions WHERE {where} AND confirmed >= 0 "
                                "ORDER BY created, arn LIMIT 101 OFFSET ?", (*args, start))
        out: dict = {"Subscriptions": [self._entry(Subscription(r)) for r in rows[:100]]}
        if len(rows) > 100:
            out["NextToken"] = str(start + 100)
        return out

    def ListSubscriptions(self, ctx, params):
        prefix = f"arn:aws:sns:{ctx.region}:"
        return self._page("owner = ? AND substr(topic_arn, 1, ?) = ?", (ctx.account_id, len(prefix), prefix),
                          params)

    def ListSubscriptionsByTopic(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        return self._page("topic_arn = ?", (topic.arn,), params)

    # -- attributes ------------------------------------------------------

    def GetSubscriptionAttributes(self, ctx, params):
        sub = self.subscription(params["SubscriptionArn"])
        attributes = dict(sub.attributes)
        attributes.update(SubscriptionArn=sub.arn, TopicArn=sub.topic_arn, Owner=sub.owner, Protocol=sub.protocol,
                          Endpoint=sub.endpoint, PendingConfirmation="false" if sub.confirmed == 1 else "true",
                          SubscriptionPrincipal=f"arn:aws:iam::{sub.owner}:root")
        attributes.setdefault("ConfirmationWasAuthenticated",
                              "false" if sub.protocol in _CONFIRMED_BY_ENDPOINT else "true")
        if attributes.get("FilterPolicy"):
            attributes.setdefault("FilterPolicyScope", "MessageAttributes")
        else:
            attributes.pop("FilterPolicyScope", None)
        if sub.protocol in ("http", "https"):
            topic = self.find_topic(sub.topic_arn)
            if topic is not None:
                attributes["EffectiveDeliveryPolicy"] = orjson.dumps(
                    self.effective_delivery_policy(topic, sub)).decode()
        return {"Attributes": attributes}

    def SetSubscriptionAttributes(self, ctx, params):
        sub = self.subscription(params["SubscriptionArn"])
        name = params["AttributeName"]
        value = params.get("AttributeValue") or ""
        topic = self.find_topic(sub.topic_arn)
        attributes = dict(sub.attributes)
        if name in ("FilterPolicy", "RedrivePolicy", "DeliveryPolicy", "SubscriptionRoleArn", "ReplayPolicy") \
                and value == "":
            if name not in SETTABLE:
                raise invalid("AttributeName")
            attributes.pop(name, None)
        else:
            given = {name: value}
            if name == "FilterPolicy":
                given["FilterPolicyScope"] = attributes.get("FilterPolicyScope", "MessageAttributes")
            elif name == "FilterPolicyScope" and attributes.get("FilterPolicy"):
                given["FilterPolicy"] = attributes["FilterPolicy"]  # the policy must suit the new scope
            checked = self._check_sub_attributes(given, topic, sub.protocol, sub.endpoint, subscribe=False)
            attributes[name] = checked[name]
        with self.storage.tx():
            self.storage.execute("UPDATE sns_subscriptions SET attributes = ? WHERE arn = ?",
                                 (orjson.dumps(attributes).decode(), sub.arn))
        return {}
