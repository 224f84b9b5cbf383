"""Event notification configurations: checked (event names, key filters,
destinations that exist and whose policies let S3 deliver from this
bucket) and stored. Delivering events (and the s3:TestEvent AWS sends on
a successful Put) belongs to the delivery side: it is told through
`notification_configured(ctx, bucket, configuration)` when it has one."""

from __future__ import annotations

import uuid

import orjson

from cloudlet.services.s3.common import s3_error

NOTIFICATION = "notification"
_KINDS = (("QueueConfigurations", "QueueArn", "Queue", "sqs"),
          ("TopicConfigurations", "TopicArn", "Topic", "sns"),
          ("LambdaFunctionConfigurations", "LambdaFunctionArn", "CloudFunction", "lambda"))
EVENTS = frozenset("""
s3:ObjectCreated:* s3:ObjectCreated:Put s3:ObjectCreated:Post s3:ObjectCreated:Copy
s3:ObjectCreated:CompleteMultipartUpload s3:ObjectRemoved:* s3:ObjectRemoved:Delete
s3:ObjectRemoved:DeleteMarkerCreated s3:ObjectRestore:* s3:ObjectRestore:Post s3:ObjectRestore:Completed
s3:ObjectRestore:Delete s3:ReducedRedundancyLostObject s3:Replication:* s3:Replication:OperationFailedReplication
s3:Replication:OperationNotTracked s3:Replication:OperationMissedThreshold
s3:Replication:OperationReplicatedAfterThreshold s3:LifecycleExpiration:* s3:LifecycleExpiration:Delete
s3:LifecycleExpiration:DeleteMarkerCreated s3:LifecycleTransition s3:IntelligentTiering s3:ObjectTagging:*
s3:ObjectTagging:Put s3:ObjectTagging:Delete s3:ObjectAcl:Put
""".split())


def _invalid(message: str, name=None, value=None):
    return s3_error("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def _expand(event: str) -> set[str]:
    """The concrete event types an event name covers (for overlap checks)."""
    if event.endswith(":*"):
        head = event[:-1]
        return {e for e in EVENTS if e.startswith(head) and not e.endswith("*")} or {event}
    return {event}


def _overlap(a: tuple[str, str], b: tuple[str, str]) -> bool:
    (pa, sa), (pb, sb) = a, b
    prefixes = pa.startswith(pb) or pb.startswith(pa)
    suffixes = sa.endswith(sb) or sb.endswith(sa)
    return prefixes and suffixes


class NotificationOps:
    """Mixed into BucketOps."""

    def notification_configuration(self, bucket: str) -> dict:
        """The stored configuration (for event delivery)."""
        return self.get_config(bucket, NOTIFICATION) or {}

    def PutBucketNotificationConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get("NotificationConfiguration") or {}
        skip = bool(params.get("SkipDestinationValidation"))
        stored: dict = {}
        seen: list[tuple[set, tuple[str, str]]] = []
        unvalidated: list[tuple[str, str]] = []
        for list_name, arn_member, _, service in _KINDS:
            items = config.get(list_name) or []
            out = []
            for item in items:
                item = dict(item)
                arn = item.get(arn_member) or ""
                if not arn.startswith(f"arn:aws:{service}:") or len(arn.split(":")) < 6:
                    raise _invalid("The ARN could not be parsed", arn_member, arn)
                events = item.get("Events") or []
                for event in events:
                    if event not in EVENTS:
                        raise _invalid("The event is not supported for notifications", "Event", event)
                key_filter = self._check_filter(item)
                covered = set().union(*(_expand(e) for e in events)) if events else set()
                for other_events, other_filter in seen:
                    if covered & other_events and _overlap(key_filter, other_filter):
                        raise _invalid("Configuration is ambiguously defined. Cannot have overlapping suffixes in "
                                       "two rules if the prefixes are overlapping for the same event type.",
                                       "FilterRule", None)
                seen.append((covered, key_filter))
                if not item.get("Id"):
                    item["Id"] = str(uuid.uuid4())
                if not skip:
                    problem = self._destination_problem(service, arn, bucket)
                    if problem:
                        unvalidated.append((arn, problem))
                out.append(item)
            if out:
                stored[list_name] = out
        if unvalidated:
            arn, problem = unvalidated[0]
            raise _invalid("Unable to validate the following destination configurations", arn, problem)
        if config.get("EventBridgeConfiguration") is not None:
            stored["EventBridgeConfiguration"] = {}
        if stored:
            self.put_config(bucket.name, NOTIFICATION, stored)
        else:
            self.delete_config(bucket.name, NOTIFICATION)
        configured = getattr(self, "notification_configured", None)  # event delivery's hook (s3:TestEvent)
        if configured is not None and stored:
            configured(ctx, bucket, stored)
        return {}

    def GetBucketNotificationConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        return self.notification_configuration(bucket.name)

    @staticmethod
    def _check_filter(item: dict) -> tuple[str, str]:
        """Validates an item's key filter; returns (prefix, suffix). Rule
        names are stored as S3 returns them ("Prefix", "Suffix")."""
        rules = (((item.get("Filter") or {}).get("Key") or {}).get("FilterRules")) or []
        found = {"prefix": "", "suffix": ""}
        given = set()
        normalized = []
        for rule in rules:
            name = (rule.get("Name") or "").lower()
            value = rule.get("Value") or ""
            if name not in ("prefix", "suffix"):
                raise _invalid("filter rule name must be either prefix or suffix", "FilterRule.Name",
                               rule.get("Name"))
            if name in given:
                raise _invalid(f"Cannot specify more than one {name} rule in a filter.", "FilterRule.Name", name)
            given.add(name)
            found[name] = value
            normalized.append({"Name": name.capitalize(), "Value": value})
        if rules:
            item["Filter"] = {"Key": {"FilterRules": normalized}}
        return found["prefix"], found["suffix"]

    def _destination_problem(self, service: str, arn: str, bucket) -> str | None:
        """Why S3 could not validate a destination, or None: it must exist
        and its resource policy must let s3.amazonaws.com deliver from this
        bucket (aws:SourceArn, aws:SourceAccount)."""
        what = {"sqs": "queue", "sns": "topic", "lambda": "function"}[service]
        provider = self.cloud.service(service)
        policy = None
        exists = False
        if service == "sqs" and provider is not None:
            queue = provider.queue_by_arn(arn)
            exists = queue is not None
            policy = queue.attributes.get("Policy") if queue is not None else None
        elif service == "sns" and provider is not None:
            topic = provider.find_topic(arn)
            exists = topic is not None
            policy = topic.attributes.get("Policy") if topic is not None else None
        elif service == "lambda" and provider is not None:
            parts = arn.split(":")
            fn = provider.find_function(parts[4], parts[3], parts[6]) if len(parts) >= 7 else None
            exists = fn is not None
            policy = orjson.dumps(fn["policy"]).decode() if fn is not None and fn["policy"] else None
        if not exists:
            if service == "lambda":
                return f"Not authorized to invoke function [{arn}]"
            return f"The destination {what} does not exist"
        action = {"sqs": "sqs:SendMessage", "sns": "sns:Publish", "lambda": "lambda:InvokeFunction"}[service]
        if not policy or not _service_may(policy, action, arn, bucket, self.clock.now()):
            if service == "lambda":
                return f"Not authorized to invoke function [{arn}]"
            return f"Permissions on the destination {what} do not allow S3 to publish notifications from this bucket"
        return None


def _service_may(policy: str, action: str, arn: str, bucket, now: float) -> bool:
    from cloudlet.iam import AuthzRequest, PolicySet, PrincipalInfo, evaluate, parse_policy
    from cloudlet.iam.policy import PolicyError

    try:
        document = parse_policy(policy, "resource")
    except PolicyError:
        return False
    principal = PrincipalInfo(arn="s3.amazonaws.com", account=bucket.account, type="AWSService",
                              service="s3.amazonaws.com")
    context = {"aws:SourceArn": bucket.arn, "aws:SourceAccount": bucket.account, "aws:SourceOwner": bucket.account,
               "aws:SecureTransport": True}
    request = AuthzRequest(principal=principal, action=action, resource=arn, context=context)
    return evaluate(request, PolicySet(resource=document, resource_must_allow=True), now).allowed
