"""Amazon Simple Notification Service.

Topics, subscriptions and everything not yet delivered live in SQLite
(store.py). The operations live in mixins by subject: topics,
subscriptions, publish (validation and fan-out), delivery (SQS through the
gateway as sns.amazonaws.com, HTTP/S with retries on the clock, the
outbox), SMS and mobile push (platform). Messages are signed with a key
kept in storage (signing.py), whose certificate is served at the
SigningCertURL every envelope carries.
"""

from __future__ import annotations

from cloudlet.services.base import Service
from cloudlet.services.sns.delivery import DeliveryOps
from cloudlet.services.sns.deliverylog import DeliveryLogOps
from cloudlet.services.sns.platform import PlatformOps
from cloudlet.services.sns.publish import PublishOps
from cloudlet.services.sns.sms import SmsOps
from cloudlet.services.sns.sse import TopicEncryptionOps
from cloudlet.services.sns.store import MIGRATIONS
from cloudlet.services.sns.subscriptions import SubscriptionOps
from cloudlet.services.sns.topics import TopicOps

# Calls AWS authorizes as another action, or not at all (""). SNS spells
# its actions "SNS:Publish" in its denials; IAM matches either case.
_ACTIONS = {"PublishBatch": "SNS:Publish", "ConfirmSubscription": "", "Unsubscribe": ""}
# Calls whose resource is the topic named by one of these parameters.
_TOPIC_PARAMS = ("TopicArn", "ResourceArn")


class SnsService(DeliveryLogOps, TopicOps, SubscriptionOps, PublishOps, DeliveryOps, SmsOps, PlatformOps, TopicEncryptionOps,
                 Service):
    model_name = "sns"
    migrations = MIGRATIONS
    max_subscriptions_per_topic = 12_500_000

    def __init__(self, cloud):
        super().__init__(cloud)
        self._signer = None
        self._sign_pool = None
        self._inflight: set = set()  # HTTP/S delivery tasks under way
        self._throttle: dict = {}  # subscription ARN -> clock time its endpoint may next be sent to
        self._fifo_locks: dict = {}
        # Encryption at rest (sse.py): data keys in use (plaintext, this process only).
        self._publish_keys: dict = {}
        self._delivery_keys: dict = {}

    def start(self) -> None:
        self.cloud.scheduler.every("sns-dedup-sweep", 300, self._sweep)
        self.recover_deliveries()

    def _sweep(self, now: float) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM sns_dedup WHERE expires <= ?", (now,))
        self.forget_data_keys(now)

    @property
    def sign_pool(self):
        """Threads that sign messages (RSA releases the GIL)."""
        if self._sign_pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._sign_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="sns-sign")
        return self._sign_pool

    @property
    def signer(self):
        if self._signer is None:
            from cloudlet.services.sns.signing import Signer

            self._signer = Signer(self.storage)
        return self._signer

    def reset(self) -> None:
        self._throttle.clear()
        self._fifo_locks.clear()
        self._publish_keys.clear()
        self._delivery_keys.clear()

    def metric(self, topic, name: str, value: float, unit: str = "Count") -> None:
        """An AWS/SNS metric datum, for CloudWatch once it exists (a sink on
        the cloud; nothing is kept until then)."""
        sink = self.cloud.metrics
        if sink is not None:
            sink(topic.account, topic.region, "AWS/SNS", name, {"TopicName": topic.name}, value, unit)

    # -- authorization ---------------------------------------------------

    def authz_action(self, operation: str) -> str | None:
        return _ACTIONS.get(operation, f"SNS:{operation}")

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        for name in _TOPIC_PARAMS:
            arn = params.get(name)
            if arn and arn.startswith("arn:aws:sns:"):
                return [arn]
        if operation == "Publish" and params.get("TargetArn"):
            return [params["TargetArn"]]
        arn = params.get("SubscriptionArn")
        if arn and arn.count(":") == 6:
            return [arn.rsplit(":", 1)[0]]  # subscription calls are authorized on the topic
        return ["*"]

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        if not resource.startswith("arn:aws:sns:") or ":endpoint/" in resource or ":app/" in resource:
            return None
        topic = self.find_topic(resource)
        if topic is None:
            return None
        policy = topic.attributes.get("Policy")
        return (policy, topic.account) if policy else None
