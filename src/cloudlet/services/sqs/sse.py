"""Server-side encryption of messages at rest.

A message row of an encrypted queue keeps its body and message attributes
sealed together (AES-256-GCM, the message id as associated data) in
`sealed`, with `data_key` naming the key (store.py):

- SSE-SQS (SqsManagedSseEnabled, the default for new queues): SQS's own
  key, made once and kept in `_meta` sealed by `<data-dir>/sqs-master.key`
  (the database alone cannot open it); no KMS call.
- SSE-KMS (KmsMasterKeyId): a data key from KMS's GenerateDataKey with the
  encryption context {"aws:sqs:arn": queue ARN}, asked for as the caller
  through SQS (kms:ViaService sqs.<region>.amazonaws.com) and checked
  with kms:Decrypt, as the SQS Developer Guide describes ("Configure KMS
  permissions for producers"). Its ciphertext blob is a row of
  sqs_data_keys. A sender reuses its data key for the queue's
  KmsDataKeyReusePeriodSeconds (clock time); a receiver decrypts each data
  key once per period. Requesters do not share data keys (the guide's
  "Understanding the data key reuse period"): the caches are per
  principal (a role's sessions are one requester; a service principal is
  one per source it acts for). Within a period nothing asks KMS, so a key
  disabled meanwhile fails sends and receives only once the period ends,
  as on AWS.

A dead-lettered or moved message keeps the source queue's encryption (its
reader needs kms:Decrypt on the source's key, as AWS documents). Rows
stored before encryption existed, or in queues without it, stay plaintext
(`data_key` NULL) and read as before.

AWS documents that SSE covers the message body only; cloudlet seals the
message attributes with it (nothing an API caller can see differs).

KMS refusals answer as SQS's Kms* errors (query codes KMS.<Exception>),
with KMS's message and the suffix SQS's Java stack adds to it.
"""

from __future__ import annotations

import base64
import dataclasses
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudlet.errors import AwsError
from cloudlet.gateway.dispatch import new_request_id

SQS_PRINCIPAL = "sqs.amazonaws.com"
MASTER_KEY_FILE = "sqs-master.key"
SSE_SQS = 0  # data_key of rows sealed by SQS's own key
MAX_REUSE = 86_400
_NONCE = 12
_NONCE_MASK = (1 << 96) - 1
_SSE_SQS_META = "sqs.sse-sqs-key"  # SSE-SQS's key, sealed by the master key (_meta)
_SSE_SQS_AAD = b"cloudlet sqs: the SSE-SQS key"
_CACHE_LIMIT = 10_000

# KMS error code -> SQS error shape
_KMS_ERRORS = {
    "AccessDeniedException": "KmsAccessDenied",
    "DisabledException": "KmsDisabled",
    "KMSInvalidStateException": "KmsInvalidState",
    "NotFoundException": "KmsNotFound",
    "InvalidKeyUsageException": "KmsInvalidKeyUsage",
    "ThrottlingException": "KmsThrottled",
    "LimitExceededException": "KmsThrottled",
    "KMSOptInRequired": "KmsOptInRequired",
}


def kms_error(err: AwsError, kms_request_id: str) -> AwsError:
    """A KMS refusal as SQS answers it: the Kms* error, KMS's message with
    the service's details appended, as in the answers AWS gives."""
    code = _KMS_ERRORS.get(err.code, "KmsInvalidState")
    status = err.status or (403 if err.code == "KMSOptInRequired" else 400)
    message = (f"{err.message} (Service: AWSKMS; Status Code: {status}; Error Code: {err.code}; "
               f"Request ID: {kms_request_id}; Proxy: null)")
    return AwsError(code, message)


def requester(ctx) -> tuple:
    """Who a data key belongs to: the principal, a role's sessions being
    one requester, a service principal one per source it acts for."""
    principal = ctx.principal
    kind = principal.type
    if kind == "AWSService":
        return (principal.name, ctx.extra.get("aws:SourceArn"))
    if kind == "AssumedRole":
        attrs = principal.attributes
        return (attrs.get("role_arn") or principal.arn, tuple(attrs.get("session_policies") or ()))
    return (principal.arn,)


def key_reference(queue) -> str:
    """KmsMasterKeyId as an ARN: an id or alias names a key of the queue's
    account and region, whoever sends."""
    given = queue.kms_key
    if given.startswith("arn:"):
        return given
    prefix = f"arn:aws:kms:{queue.region}:{queue.account}:"
    return prefix + given if given.startswith("alias/") else f"{prefix}key/{given}"


def pack(body: str, attributes: str | None) -> bytes:
    raw = body.encode()
    return len(raw).to_bytes(4, "big") + raw + (attributes.encode() if attributes else b"")


def unpack(payload: bytes) -> tuple[str, str | None]:
    size = int.from_bytes(payload[:4], "big")
    rest = payload[4 + size:]
    return payload[4:4 + size].decode(), (rest.decode() if rest else None)


class DataKeySealer:
    """AES-256-GCM under one data key; sealed = nonce || ciphertext || tag.

    Nonces count up from a random 96-bit start (one system call per key,
    not per message): two sealers of one key repeat a nonce only if their
    runs overlap, which random starts make negligible."""

    __slots__ = ("data_key", "_aead", "_nonce")

    def __init__(self, data_key: int, key: bytes):
        self.data_key = data_key
        self._aead = AESGCM(bytes(key))
        self._nonce = int.from_bytes(os.urandom(_NONCE), "big")

    def seal(self, payload: bytes, aad: bytes) -> bytes:
        self._nonce = nonce = (self._nonce + 1) & _NONCE_MASK
        iv = nonce.to_bytes(_NONCE, "big")
        return iv + self._aead.encrypt(iv, payload, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)


class EncryptionOps:
    """Mixin of SqsService. State (set in SqsService.__init__): _sse_sqs
    (SSE-SQS's sealer, loaded on first use), _send_keys and _open_keys
    (data keys in use: (sealer, created, expires) by queue or data key and
    requester; this process only)."""

    @property
    def sse_sqs_sealer(self) -> DataKeySealer:
        """SSE-SQS's key: made once (the first node to store it wins),
        kept sealed by SQS's master key file."""
        if self._sse_sqs is None:
            from cloudlet.services.kms.crypto import load_or_create_master_key

            master = load_or_create_master_key(os.path.join(self.cloud.data_dir, MASTER_KEY_FILE))
            sealed = self.storage.get_meta(_SSE_SQS_META)
            if sealed is None:
                with self.storage.tx():
                    self.storage.execute("INSERT INTO _meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                                         (_SSE_SQS_META, base64.b64encode(master.seal(os.urandom(32),
                                                                                      _SSE_SQS_AAD)).decode()))
                sealed = self.storage.get_meta(_SSE_SQS_META)
            self._sse_sqs = DataKeySealer(SSE_SQS, master.open(base64.b64decode(sealed), _SSE_SQS_AAD))
        return self._sse_sqs

    def sealer_for(self, ctx, queue):
        """What seals a message sent now to `queue` (None: plaintext)."""
        if queue.kms_key is not None:
            return self._send_key(ctx, queue)
        if queue.sse_sqs:
            return self.sse_sqs_sealer
        return None

    @staticmethod
    def seal(sealer, message_id: str, body: str, attributes: str | None) -> bytes:
        return sealer.seal(pack(body, attributes), message_id.encode())

    # -- KMS -------------------------------------------------------------

    def _kms(self, ctx, region: str, operation: str, params: dict) -> dict:
        """A KMS call SQS makes for the requester (kms:ViaService is SQS's)."""
        request_id = new_request_id()
        principal = ctx.principal
        if principal.type == "AWSService":
            # A service (SNS delivering) calls KMS from AWS's own accounts:
            # kms:CallerAccount is not the customer's, so the AWS managed
            # key (alias/aws/sqs), whose policy requires it, refuses it.
            principal = dataclasses.replace(principal, account_id="")
        try:
            return self.cloud.gateway.call_sync(
                "kms", operation, params, account_id=ctx.account_id, region=region, invoked_by=SQS_PRINCIPAL,
                principal=principal, request_id=request_id, source_arn=ctx.extra.get("aws:SourceArn"))
        except AwsError as err:
            raise kms_error(err, request_id) from None

    @staticmethod
    def _cached(cache: dict, key, now: float):
        hit = cache.get(key)
        if hit is not None and hit[1] <= now < hit[2]:
            return hit[0]
        return None

    @staticmethod
    def _remember(cache: dict, key, sealer, now: float, reuse: int) -> None:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = (sealer, now, now + reuse)

    def _send_key(self, ctx, queue) -> DataKeySealer:
        """The requester's data key for `queue`: cached for the reuse
        period, else a new one from KMS (GenerateDataKey, then Decrypt to
        check it, as SQS does)."""
        now = self.clock.now()
        cache_key = (queue.id, queue.kms_key, requester(ctx))
        sealer = self._cached(self._send_keys, cache_key, now)
        if sealer is not None:
            return sealer
        context = {"aws:sqs:arn": queue.arn}
        made = self._kms(ctx, queue.region, "GenerateDataKey",
                         {"KeyId": key_reference(queue), "KeySpec": "AES_256", "EncryptionContext": context})
        checked = self._kms(ctx, queue.region, "Decrypt", {"CiphertextBlob": made["CiphertextBlob"],
                                                           "KeyId": made["KeyId"], "EncryptionContext": context})
        if bytes(checked["Plaintext"]) != bytes(made["Plaintext"]):
            raise AwsError("KmsInvalidState", "The data key KMS returned does not decrypt to itself.")
        with self.storage.tx():
            data_key = self.storage.scalar(
                "INSERT INTO sqs_data_keys (queue_arn, kms_key, blob, created) VALUES (?, ?, ?, ?) RETURNING id",
                (queue.arn, made["KeyId"], bytes(made["CiphertextBlob"]), now))
        sealer = DataKeySealer(data_key, made["Plaintext"])
        self._remember(self._send_keys, cache_key, sealer, now, queue.reuse)
        return sealer

    def _open_key(self, ctx, queue, data_key: int):
        """What opens rows sealed under `data_key`, for this requester
        (KMS Decrypt once per reuse period of the queue read)."""
        if data_key == SSE_SQS:
            return self.sse_sqs_sealer
        now = self.clock.now()
        cache_key = (data_key, requester(ctx))
        sealer = self._cached(self._open_keys, cache_key, now)
        if sealer is not None:
            return sealer
        row = self.storage.one("SELECT queue_arn, kms_key, blob FROM sqs_data_keys WHERE id = ?", (data_key,))
        if row is None:
            raise AwsError("KmsNotFound", "The data key of this message no longer exists.")
        queue_arn, kms_key, blob = row
        out = self._kms(ctx, kms_key.split(":")[3], "Decrypt",
                        {"CiphertextBlob": bytes(blob), "KeyId": kms_key,
                         "EncryptionContext": {"aws:sqs:arn": queue_arn}})
        sealer = DataKeySealer(data_key, out["Plaintext"])
        self._remember(self._open_keys, cache_key, sealer, now, queue.reuse)
        return sealer

    def open_rows(self, ctx, queue, rows: list) -> list:
        """Message rows (of _MSG_COLUMNS) with sealed ones opened: body and
        attributes back in their places. Raises SQS's Kms* errors."""
        if not rows:
            return rows
        out = None
        openers: dict = {}
        for i, row in enumerate(rows):
            data_key = row[16]
            if data_key is None:
                continue
            if out is None:
                out = list(rows)
            sealer = openers.get(data_key)
            if sealer is None:
                sealer = openers[data_key] = self._open_key(ctx, queue, data_key)
            body, attributes = unpack(sealer.open(bytes(row[17]), row[1].encode()))
            out[i] = row[:2] + (body,) + row[3:4] + (attributes,) + row[5:]
        return rows if out is None else out

    # -- housekeeping ----------------------------------------------------

    def forget_data_keys(self, now: float) -> None:
        """Drop data keys whose period is over and that no message uses
        (any reuse period has ended a day later), and expired cache
        entries."""
        with self.storage.tx():
            self.storage.execute(
                "DELETE FROM sqs_data_keys WHERE created < ? AND NOT EXISTS (SELECT 1 FROM sqs_messages "
                "WHERE data_key > 0 AND data_key = sqs_data_keys.id)", (now - MAX_REUSE - 60,))
        for cache in (self._send_keys, self._open_keys):
            for key in [k for k, v in cache.items() if not v[1] <= now < v[2]]:
                del cache[key]
