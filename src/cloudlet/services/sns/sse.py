"""Server-side encryption of a topic with KmsMasterKeyId.

Publish asks KMS, as the publisher through SNS (kms:ViaService
sns.<region>.amazonaws.com, encryption context {"aws:sns:topicArn":
topic ARN}), for a data key: kms:GenerateDataKey, then kms:Decrypt to
check it; the SNS Developer Guide's key management page says a publisher
needs both. A publisher reuses its data key for up to 5 minutes (that
page's "data key reuse period"), so a key disabled meanwhile stops its
publishes once those minutes are over. KMS's refusals answer as SNS's
KMS* errors.

What SNS keeps of a message, the HTTP/S deliveries not yet made
(sns_deliveries), is sealed under that data key (AES-256-GCM, the message
id as associated data); the data key's KMS ciphertext is a row of
sns_data_keys. The delivery job opens it with the data key it was made
with, kept in memory; after a restart SNS decrypts the data key once
through KMS itself (the key must be usable; no key policy is asked, as
the publisher's permission covered the message), as a service keeping
its own data keys does. Messages delivered to SQS are the queue's to
encrypt (SQS's sse.py); the outbox (email, SMS, mobile push) holds what
was delivered, in the clear, as a mailbox would.
"""

from __future__ import annotations

import dataclasses

from cloudlet.errors import AwsError
from cloudlet.gateway.dispatch import new_request_id
from cloudlet.services.sqs.sse import DataKeySealer, requester

SNS_PRINCIPAL = "sns.amazonaws.com"
REUSE_SECONDS = 300
_CACHE_LIMIT = 10_000

# KMS error code -> SNS error shape
_KMS_ERRORS = {
    "AccessDeniedException": "KMSAccessDeniedException",
    "DisabledException": "KMSDisabledException",
    "KMSInvalidStateException": "KMSInvalidStateException",
    "NotFoundException": "KMSNotFoundException",
    "KMSOptInRequired": "KMSOptInRequired",
    "ThrottlingException": "KMSThrottlingException",
    "LimitExceededException": "KMSThrottlingException",
}


def kms_error(err: AwsError, kms_request_id: str) -> AwsError:
    """A KMS refusal as SNS answers it (the KMS* error; KMS's message with
    the service's details appended, worded as SQS's answers are)."""
    code = _KMS_ERRORS.get(err.code, "KMSInvalidStateException")
    status = err.status or (403 if err.code == "KMSOptInRequired" else 400)
    return AwsError(code, f"{err.message} (Service: AWSKMS; Status Code: {status}; Error Code: {err.code}; "
                          f"Request ID: {kms_request_id}; Proxy: null)")


def key_reference(topic) -> str:
    """KmsMasterKeyId as an ARN (an id or alias names a key of the
    topic's account and region)."""
    given = topic.attributes["KmsMasterKeyId"]
    if given.startswith("arn:"):
        return given
    prefix = f"arn:aws:kms:{topic.region}:{topic.account}:"
    return prefix + given if given.startswith("alias/") else f"{prefix}key/{given}"


class TopicEncryptionOps:
    """Mixin of SnsService. State (SnsService.__init__): _publish_keys
    ((topic, key, requester) -> (sealer, created, expires)) and
    _delivery_keys (data key id -> sealer), this process only."""

    async def topic_sealer(self, ctx, topic) -> DataKeySealer | None:
        """The publisher's data key for an encrypted topic (None: the topic
        is not encrypted). Raises SNS's KMS* errors."""
        given = topic.attributes.get("KmsMasterKeyId")
        if not given:
            return None
        now = self.clock.now()
        cache_key = (topic.arn, given, requester(ctx))
        hit = self._publish_keys.get(cache_key)
        if hit is not None and hit[1] <= now < hit[2]:
            return hit[0]
        context = {"aws:sns:topicArn": topic.arn}
        made = await self._kms(ctx, topic.region, "GenerateDataKey",
                               {"KeyId": key_reference(topic), "KeySpec": "AES_256", "EncryptionContext": context})
        checked = await self._kms(ctx, topic.region, "Decrypt", {"CiphertextBlob": made["CiphertextBlob"],
                                                                 "KeyId": made["KeyId"], "EncryptionContext": context})
        if bytes(checked["Plaintext"]) != bytes(made["Plaintext"]):
            raise AwsError("KMSInvalidStateException", "The data key KMS returned does not decrypt to itself.")
        with self.storage.tx():
            data_key = self.storage.scalar(
                "INSERT INTO sns_data_keys (topic_arn, kms_key, blob, created) VALUES (?, ?, ?, ?) RETURNING id",
                (topic.arn, made["KeyId"], bytes(made["CiphertextBlob"]), now))
        sealer = DataKeySealer(data_key, made["Plaintext"])
        for cache in (self._publish_keys, self._delivery_keys):
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
        self._publish_keys[cache_key] = (sealer, now, now + REUSE_SECONDS)
        self._delivery_keys[data_key] = sealer
        return sealer

    async def _kms(self, ctx, region: str, operation: str, params: dict) -> dict:
        """A KMS call SNS makes for the publisher (kms:ViaService is SNS's)."""
        request_id = new_request_id()
        principal = ctx.principal
        if principal.type == "AWSService":
            # A service publishing calls KMS from AWS's own accounts (see
            # SQS's sse.py): kms:CallerAccount is not the customer's.
            principal = dataclasses.replace(principal, account_id="")
        try:
            return await self.cloud.gateway.call(
                "kms", operation, params, account_id=ctx.account_id, region=region, invoked_by=SNS_PRINCIPAL,
                principal=principal, request_id=request_id, source_arn=ctx.extra.get("aws:SourceArn"))
        except AwsError as err:
            raise kms_error(err, request_id) from None

    def delivery_sealer(self, data_key: int) -> DataKeySealer:
        """The data key a pending delivery was sealed with: in memory since
        the publish, else decrypted by KMS for SNS (after a restart)."""
        sealer = self._delivery_keys.get(data_key)
        if sealer is not None:
            return sealer
        row = self.storage.one("SELECT topic_arn, kms_key, blob FROM sns_data_keys WHERE id = ?", (data_key,))
        if row is None:
            raise AwsError("KMSNotFoundException", "The data key of this delivery no longer exists.")
        topic_arn, kms_key, blob = row
        plaintext = self._decrypt_for_sns(kms_key, bytes(blob), {"aws:sns:topicArn": topic_arn})
        sealer = self._delivery_keys[data_key] = DataKeySealer(data_key, plaintext)
        return sealer

    def _decrypt_for_sns(self, kms_key: str, blob: bytes, context: dict) -> bytes:
        """KMS Decrypt of SNS's own data key, called on the KMS provider
        directly (no caller to authorize; the key's state still counts)."""
        from cloudlet.gateway.auth import Principal
        from cloudlet.gateway.context import RequestContext
        from cloudlet.protocol.http import HttpRequest

        _, _, _, region, account = kms_key.split(":")[:5]
        principal = Principal(account_id=account, arn=SNS_PRINCIPAL, user_id=SNS_PRINCIPAL, type="AWSService",
                              name=SNS_PRINCIPAL)
        kms = self.cloud.service("kms")
        ctx = RequestContext(request_id=new_request_id(), account_id=account, region=region, principal=principal,
                             service="kms", operation="Decrypt", protocol="internal",
                             request=HttpRequest("POST", "/"), cloud=self.cloud,
                             op_model=self.cloud.models.get("kms").operation("Decrypt"), invoked_by=SNS_PRINCIPAL,
                             user_agent=SNS_PRINCIPAL, source_ip=SNS_PRINCIPAL)
        out = kms.Decrypt(ctx, {"CiphertextBlob": blob, "KeyId": kms_key, "EncryptionContext": context})
        return bytes(out["Plaintext"])

    def forget_data_keys(self, now: float) -> None:
        """Data keys of no pending delivery, an hour after their reuse
        period (deliveries are given up an hour after their publish), and
        expired cache entries."""
        with self.storage.tx():
            gone = [r[0] for r in self.storage.all(
                "DELETE FROM sns_data_keys WHERE created < ? AND NOT EXISTS (SELECT 1 FROM sns_deliveries "
                "WHERE data_key = sns_data_keys.id) RETURNING id", (now - REUSE_SECONDS - 3600,))]
        for data_key in gone:
            self._delivery_keys.pop(data_key, None)
        for key in [k for k, v in self._publish_keys.items() if not v[1] <= now < v[2]]:
            del self._publish_keys[key]
