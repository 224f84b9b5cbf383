"""SNS topics: create, list, delete, attributes, permissions, tags, data
protection policies."""

from __future__ import annotations

import re

import orjson

from cloudlet.errors import AwsError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FIFO_NAME = re.compile(r"^[A-Za-z0-9_-]{1,251}\.fifo$")
SETTABLE = frozenset({
    "DeliveryPolicy", "DisplayName", "Policy", "TracingConfig", "KmsMasterKeyId", "SignatureVersion",
    "ContentBasedDeduplication", "FifoTopic", "ArchivePolicy", "FifoThroughputScope",
    "ApplicationSuccessFeedbackRoleArn", "ApplicationSuccessFeedbackSampleRate", "ApplicationFailureFeedbackRoleArn",
    "HTTPSuccessFeedbackRoleArn", "HTTPSuccessFeedbackSampleRate", "HTTPFailureFeedbackRoleArn",
    "LambdaSuccessFeedbackRoleArn", "LambdaSuccessFeedbackSampleRate", "LambdaFailureFeedbackRoleArn",
    "SQSSuccessFeedbackRoleArn", "SQSSuccessFeedbackSampleRate", "SQSFailureFeedbackRoleArn",
    "FirehoseSuccessFeedbackRoleArn", "FirehoseSuccessFeedbackSampleRate", "FirehoseFailureFeedbackRoleArn",
})
MAX_TAGS = 50



def _check_tag_keys(tags: list) -> None:
    keys = [t["Key"] for t in tags]
    if len(set(keys)) != len(keys):
        raise invalid("Duplicated keys are not allowed.")


def invalid(what: str) -> AwsError:
    return AwsError("InvalidParameterException", f"Invalid parameter: {what}")


def not_found(what: str = "Topic does not exist") -> AwsError:
    return AwsError("NotFoundException", what)


def default_policy(arn: str, account: str) -> str:
    """The access policy SNS writes on a new topic."""
    return orjson.dumps({
        "Version": "2008-10-17", "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic",
                       "SNS:Publish"],
            "Resource": arn, "Condition": {"StringEquals": {"AWS:SourceOwner": account}}}],
    }).decode()


class Topic:
    __slots__ = ("id", "account", "region", "name", "arn", "fifo", "created", "attributes", "tags",
                 "data_protection")

    def __init__(self, row):
        (self.id, self.account, self.region, self.name, self.arn, fifo, self.created, attributes, tags,
         self.data_protection) = row
        self.fifo = bool(fifo)
        self.attributes: dict[str, str] = orjson.loads(attributes)
        self.tags: list[dict] = orjson.loads(tags)


_COLUMNS = "id, account, region, name, arn, fifo, created, attributes, tags, data_protection"


class TopicOps:
    """Mixin of SnsService."""

    @staticmethod
    def topic_arn(region: str, account: str, name: str) -> str:
        return f"arn:aws:sns:{region}:{account}:{name}"

    def find_topic(self, arn: str) -> Topic | None:
        row = self.storage.one(f"SELECT {_COLUMNS} FROM sns_topics WHERE arn = ?", (arn,))
        return Topic(row) if row is not None else None

    def topic(self, arn: str | None) -> Topic:
        if not arn:
            raise invalid("TopicArn")
        parts = arn.split(":")
        if len(parts) < 6:
            raise invalid(f"TopicArn Reason: An ARN must have at least 6 elements, not {len(parts)}")
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "sns":
            raise invalid("TopicArn")
        found = self.find_topic(arn)
        if found is None:
            raise not_found()
        return found

    def _pass_feedback_roles(self, ctx, params: dict, attributes: dict, topic_arn: str) -> None:
        """Delivery-status roles are passed to SNS: iam:PassRole, as on AWS."""
        from cloudlet.gateway.servicerole import require_pass_role

        for name, value in attributes.items():
            if name.endswith("FeedbackRoleArn") and value:
                require_pass_role(self.cloud, ctx, self, params, value, "sns.amazonaws.com", topic_arn)

    def _check_attributes(self, attributes: dict, fifo: bool, creating: bool) -> dict:
        out = {}
        for name, value in attributes.items():
            if name not in SETTABLE:
                raise invalid("AttributeName")
            if name == "FifoTopic":
                if not creating:
                    raise invalid("AttributeName")
                continue
            if name == "ContentBasedDeduplication":
                if not fifo:
                    raise invalid("Attributes Reason: Content-based deduplication can only be set for FIFO topics")
                if value not in ("true", "false"):
                    raise invalid("Attributes Reason: ContentBasedDeduplication must be true or false")
            if name == "SignatureVersion" and value not in ("1", "2"):
                raise invalid("Attributes Reason: SignatureVersion: Invalid value [" + value + "]. Must be one of: 1, 2")
            if name == "DeliveryPolicy" and value:
                from cloudlet.services.sns import deliverypolicy

                try:
                    # Kept in the form AWS stores and shows back.
                    value = orjson.dumps(deliverypolicy.validate_topic_policy(value)).decode()
                except deliverypolicy.DeliveryPolicyError as exc:
                    raise AwsError("InvalidParameterException", exc.api_message(in_attributes=creating)) from None
            if name in ("Policy", "ArchivePolicy") and value:
                try:
                    orjson.loads(value)
                except orjson.JSONDecodeError:
                    raise invalid(f"Attributes Reason: {name}: failed to parse JSON.") from None
            if name == "Policy" and value:
                from cloudlet.iam import PolicyError, parse_policy

                try:
                    parse_policy(value, "resource")
                except PolicyError as exc:
                    raise invalid(f"Policy Error: {exc.message}") from None
            if name == "TracingConfig" and value not in ("PassThrough", "Active"):
                raise invalid("Attributes Reason: TracingConfig: Invalid value.")
            out[name] = value
        return out

    def CreateTopic(self, ctx, params):
        name = params["Name"]
        given = dict(params.get("Attributes") or {})
        fifo = given.get("FifoTopic", "false").lower() == "true"
        if not (_FIFO_NAME if fifo else _NAME).match(name):
            raise invalid("Topic Name")
        checked = self._check_attributes(given, fifo, creating=True)
        account, region = ctx.account_id, ctx.region
        arn = self.topic_arn(region, account, name)
        self._pass_feedback_roles(ctx, params, given, arn)
        tags = list(params.get("Tags") or [])
        _check_tag_keys(tags)
        if len(tags) > MAX_TAGS:
            raise AwsError("TagLimitExceededException", "Could not complete request: tag quota of per resource exceeded")
        with self.storage.tx():
            existing = self.find_topic(arn)
            if existing is not None:
                for key, value in checked.items():
                    if existing.attributes.get(key) != value:
                        raise invalid("Attributes Reason: Topic already exists with different attributes")
                if tags and any(t not in existing.tags for t in tags):
                    raise invalid("Tags Reason: Topic already exists with different tags")
                return {"TopicArn": arn}
            attributes = {"Policy": default_policy(arn, account), "DisplayName": ""}
            if fifo:
                attributes.update(FifoTopic="true", ContentBasedDeduplication="false")
            attributes.update(checked)
            self.storage.execute(
                "INSERT INTO sns_topics (account, region, name, arn, fifo, created, attributes, tags, data_protection) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, region, name, arn, int(fifo), self.clock.now(), orjson.dumps(attributes).decode(),
                 orjson.dumps(tags).decode(), params.get("DataProtectionPolicy")))
        return {"TopicArn": arn}

    def DeleteTopic(self, ctx, params):
        topic = self.find_topic(params["TopicArn"])
        if topic is None:
            return {}  # deleting a topic that does not exist succeeds
        with self.storage.tx():
            self.storage.execute("DELETE FROM sns_subscriptions WHERE topic_arn = ?", (topic.arn,))
            self.storage.execute("DELETE FROM sns_deliveries WHERE topic_arn = ?", (topic.arn,))
            self.storage.execute("DELETE FROM sns_dedup WHERE topic_id = ?", (topic.id,))
            self.storage.execute("DELETE FROM sns_topics WHERE id = ?", (topic.id,))
        return {}

    def ListTopics(self, ctx, params):
        start = int(params["NextToken"]) if (params.get("NextToken") or "").isdigit() else 0
        rows = self.storage.all("SELECT arn FROM sns_topics WHERE account = ? AND region = ? ORDER BY arn "
                                "LIMIT 101 OFFSET ?", (ctx.account_id, ctx.region, start))
        out: dict = {"Topics": [{"TopicArn": arn} for arn, in rows[:100]]}
        if len(rows) > 100:
            out["NextToken"] = str(start + 100)
        return out

    def GetTopicAttributes(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        from cloudlet.services.sns import deliverypolicy

        counts = dict(self.storage.all("SELECT confirmed, COUNT(*) FROM sns_subscriptions WHERE topic_arn = ? "
                                       "GROUP BY confirmed", (topic.arn,)))
        attributes = dict(topic.attributes)
        attributes.update(TopicArn=topic.arn, Owner=topic.account,
                          SubscriptionsConfirmed=str(counts.get(1, 0)), SubscriptionsPending=str(counts.get(0, 0)),
                          SubscriptionsDeleted=str(counts.get(-1, 0)))
        policy = attributes.get("DeliveryPolicy")
        attributes["EffectiveDeliveryPolicy"] = orjson.dumps(
            deliverypolicy.effective_topic_policy(orjson.loads(policy) if policy else None)).decode()
        return {"Attributes": attributes}

    def SetTopicAttributes(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        name = params["AttributeName"]
        value = params.get("AttributeValue") or ""
        self._check_attributes({name: value}, topic.fifo, creating=False)
        self._pass_feedback_roles(ctx, params, {name: value}, topic.arn)
        attributes = dict(topic.attributes)
        if value == "" and name in ("DeliveryPolicy", "KmsMasterKeyId", "ArchivePolicy"):
            attributes.pop(name, None)
        elif name == "Policy" and value == "":
            attributes["Policy"] = default_policy(topic.arn, topic.account)
        else:
            attributes[name] = value
        self._save_attributes(topic, attributes)
        return {}

    def _save_attributes(self, topic: Topic, attributes: dict) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE sns_topics SET attributes = ? WHERE id = ?",
                                 (orjson.dumps(attributes).decode(), topic.id))

    # -- permissions -----------------------------------------------------

    def AddPermission(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        label = params["Label"]
        policy = orjson.loads(topic.attributes["Policy"])
        if any(s.get("Sid") == label for s in policy.get("Statement", [])):
            raise invalid("Statement already exists")
        accounts = params["AWSAccountId"]
        actions = params["ActionName"]
        principals = [f"arn:aws:iam::{a}:root" for a in accounts]
        policy.setdefault("Statement", []).append({
            "Sid": label, "Effect": "Allow", "Principal": {"AWS": principals[0] if len(principals) == 1 else principals},
            "Action": [f"SNS:{a}" for a in actions] if len(actions) > 1 else f"SNS:{actions[0]}",
            "Resource": topic.arn})
        attributes = dict(topic.attributes, Policy=orjson.dumps(policy).decode())
        self._save_attributes(topic, attributes)
        return {}

    def RemovePermission(self, ctx, params):
        topic = self.topic(params["TopicArn"])
        policy = orjson.loads(topic.attributes["Policy"])
        statements = policy.get("Statement", [])
        kept = [s for s in statements if s.get("Sid") != params["Label"]]
        if len(kept) == len(statements):
            raise invalid("Statement does not exist")
        policy["Statement"] = kept
        self._save_attributes(topic, dict(topic.attributes, Policy=orjson.dumps(policy).decode()))
        return {}

    # -- tags ------------------------------------------------------------

    def _tagged(self, arn: str) -> Topic:
        topic = self.find_topic(arn)
        if topic is None:
            raise AwsError("ResourceNotFoundException", "Resource does not exist")
        return topic

    def TagResource(self, ctx, params):
        topic = self._tagged(params["ResourceArn"])
        _check_tag_keys(params["Tags"])
        tags = {t["Key"]: t["Value"] for t in topic.tags}
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        if len(tags) > MAX_TAGS:
            raise AwsError("TagLimitExceededException", "Could not complete request: tag quota of per resource exceeded")
        with self.storage.tx():
            self.storage.execute("UPDATE sns_topics SET tags = ? WHERE id = ?",
                                 (orjson.dumps([{"Key": k, "Value": v} for k, v in tags.items()]).decode(), topic.id))
        return {}

    def UntagResource(self, ctx, params):
        topic = self._tagged(params["ResourceArn"])
        drop = set(params["TagKeys"])
        kept = [t for t in topic.tags if t["Key"] not in drop]
        with self.storage.tx():
            self.storage.execute("UPDATE sns_topics SET tags = ? WHERE id = ?", (orjson.dumps(kept).decode(), topic.id))
        return {}

    def ListTagsForResource(self, ctx, params):
        return {"Tags": self._tagged(params["ResourceArn"]).tags}

    # -- data protection -------------------------------------------------

    def PutDataProtectionPolicy(self, ctx, params):
        topic = self.topic(params["ResourceArn"])
        try:
            orjson.loads(params["DataProtectionPolicy"])
        except orjson.JSONDecodeError:
            raise invalid("DataProtectionPolicy") from None
        with self.storage.tx():
            self.storage.execute("UPDATE sns_topics SET data_protection = ? WHERE id = ?",
                                 (params["DataProtectionPolicy"], topic.id))
        return {}

    def GetDataProtectionPolicy(self, ctx, params):
        topic = self.topic(params["ResourceArn"])
        return {"DataProtectionPolicy": topic.data_protection} if topic.data_protection else {}
