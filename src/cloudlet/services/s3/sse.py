"""Server-side encryption: every object version is encrypted at rest
under its own data key (objectdata.py); what differs is how that key is
kept, recorded in the version's `sse` column:

  SSE-S3   {"alg": "AES256", "oid", "key": data key sealed by S3's master key}
  SSE-KMS  {"alg": "aws:kms", "oid", "kms_key": key ARN, "blob": KMS
           ciphertext blob, "context": the encryption context, "bucket_key",
           "user_context": whether the caller gave one}
  DSSE-KMS the same with "alg": "aws:kms:dsse" and "layer": a second key
           sealed by the master key; the data key is SHA-256(KMS key ||
           layer), so both layers are needed to read
  SSE-C    {"alg": "SSE-C", "oid", "key": data key wrapped under the
           customer's key, "md5": the key's MD5 as the client sent it}

"oid" is a random id of the stored data; the master key seals and the
customer key wraps under associated data naming bucket, key and oid, so a
sealed key cannot be moved to another object. KMS data keys come from
kms:GenerateDataKey and back through kms:Decrypt, called as the requester
through S3 (`invoked_by` s3.amazonaws.com: kms:ViaService applies), with
the encryption context S3 uses: {"aws:s3:arn": object ARN} (the bucket ARN
with an S3 Bucket Key) plus any the caller adds.

The multipart helper uses `sse_choice` / `protect` / `unprotect` /
`sse_response` the same way for an upload's data key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass, field

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudlet.errors import AwsError
from cloudlet.services.s3 import objectdata
from cloudlet.services.s3.common import (
    Bucket,
    invalid_argument,
    invalid_request,
    s3_error,
)

AES256 = "AES256"
KMS = "aws:kms"
DSSE = "aws:kms:dsse"
SSE_C = "SSE-C"
AWS_MANAGED_KEY = "alias/aws/s3"
ENCRYPTION_CONFIG = "encryption"  # bucket configuration kind (buckets.py writes it)

_SSE_ARG = "x-amz-server-side-encryption"
_KMS_REQUIRED = ("Server Side Encryption with AWS KMS managed key requires HTTP header "
                 "x-amz-server-side-encryption : aws:kms")
STORED_ENCRYPTED = ("The object was stored using a form of Server Side Encryption. The correct parameters must be "
                    "provided to retrieve the object.")
WRONG_CUSTOMER_KEY = ("Requests specifying Server Side Encryption with Customer provided keys must provide the "
                      "correct secret key.")


@dataclass
class CustomerKey:
    key: bytes
    md5: str


@dataclass
class SseChoice:
    """How a new object is to be encrypted, decided from the request and
    the bucket's default before any key exists."""
    alg: str
    kms_key: str | None = None
    user_context: dict | None = None
    bucket_key: bool = False
    customer: CustomerKey | None = None


@dataclass
class Protection:
    data_key: bytes
    sse: dict = field(default_factory=dict)


# -- request headers ---------------------------------------------------------------

def customer_key(params: dict, prefix: str = "SSECustomer", sse_value: str | None = None) -> CustomerKey | None:
    """SSE-C headers (x-amz-server-side-encryption-customer-* or the
    x-amz-copy-source-... ones), checked in S3's order; None if absent."""
    algorithm, key, md5 = params.get(prefix + "Algorithm"), params.get(prefix + "Key"), params.get(prefix + "KeyMD5")
    if algorithm is None and key is None and md5 is None:
        return None
    if sse_value is not None:
        raise invalid_argument("Server Side Encryption with Customer provided key is incompatible with the encryption "
                               "method specified", _SSE_ARG, sse_value)
    if algorithm is None:
        raise invalid_argument("Requests specifying Server Side Encryption with Customer provided keys must provide a "
                               "valid encryption algorithm.", _SSE_ARG, "null")
    if key is None:
        raise invalid_argument("Requests specifying Server Side Encryption with Customer provided keys must provide an "
                               "appropriate secret key.", _SSE_ARG, "null")
    if algorithm != AES256:
        raise s3_error("InvalidEncryptionAlgorithmError",
                       "The Encryption request you specified is not valid. Supported value: AES256.", 400,
                       ArgumentName=_SSE_ARG, ArgumentValue=algorithm)
    try:
        raw = base64.b64decode(key.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = None
    computed = base64.b64encode(hashlib.md5(raw).digest()).decode() if raw is not None else None
    # The MD5 is checked before the key's length (AWS answers a 24-byte key
    # with a wrong MD5 that way).
    if md5 is not None and md5.strip() != computed:
        raise invalid_argument("The calculated MD5 hash of the key did not match the hash that was provided.",
                               _SSE_ARG, "null")
    if raw is None or len(raw) != 32:
        raise invalid_argument("The secret key was invalid for the specified algorithm.", _SSE_ARG, "null")
    return CustomerKey(raw, computed)


def reject_sse_headers(request) -> None:
    """Reads (GET, HEAD, GetObjectAttributes) take no SSE-S3/KMS headers:
    the encryption of a stored object cannot change."""
    value = request.header("x-amz-server-side-encryption")
    if value is not None:
        raise invalid_argument("x-amz-server-side-encryption header is not supported for this operation.", _SSE_ARG,
                               value)
    if request.header("x-amz-server-side-encryption-aws-kms-key-id") is not None:
        raise invalid_argument(_KMS_REQUIRED, _SSE_ARG, "null")


def _user_context(text: str | None) -> dict | None:
    if text is None:
        return None
    try:
        value = orjson.loads(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        value = None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid_argument("The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 "
                               "string holding JSON which represents a string-string map",
                               "x-amz-server-side-encryption-context", text)
    return value


class Encryption:
    """Mixed into S3Service."""

    def bucket_default_sse(self, bucket: Bucket) -> dict:
        """The bucket's default encryption rule (ServerSideEncryptionRule as
        PutBucketEncryption took it); SSE-S3 when none is configured."""
        config = self.get_config(bucket.name, ENCRYPTION_CONFIG)
        rules = (config or {}).get("Rules") or []
        return rules[0] if rules else {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": AES256}}

    def sse_choice(self, bucket: Bucket, params: dict, *, inherit_bucket_key: bool = True) -> SseChoice:
        """The encryption a write asks for (PutObject, CopyObject's target,
        CreateMultipartUpload), else the bucket's default."""
        sse_value = params.get("ServerSideEncryption")
        customer = customer_key(params, sse_value=sse_value)
        if customer is not None:
            return SseChoice(SSE_C, customer=customer)
        kms_key = params.get("SSEKMSKeyId")
        context = params.get("SSEKMSEncryptionContext")
        rule = self.bucket_default_sse(bucket)
        default = rule.get("ApplyServerSideEncryptionByDefault") or {}
        if sse_value is not None:
            if sse_value not in (AES256, KMS, DSSE):
                raise invalid_argument("The encryption method specified is not supported", _SSE_ARG, sse_value)
            alg = sse_value
        elif kms_key is not None or context is not None:
            raise invalid_argument(_KMS_REQUIRED, _SSE_ARG, "null")
        else:
            alg = default.get("SSEAlgorithm") or AES256
            if alg not in (AES256, KMS, DSSE):
                alg = AES256
        if alg == AES256:
            if kms_key is not None or context is not None:
                raise invalid_argument(_KMS_REQUIRED, _SSE_ARG, alg)
            return SseChoice(AES256)
        bucket_key = params.get("BucketKeyEnabled")
        if bucket_key is None:
            bucket_key = bool(rule.get("BucketKeyEnabled")) if inherit_bucket_key else False
        if alg == DSSE:
            bucket_key = False  # S3 Bucket Keys are not for DSSE-KMS
        if kms_key is None and default.get("SSEAlgorithm") in (KMS, DSSE):
            kms_key = default.get("KMSMasterKeyID")
        return SseChoice(alg, kms_key=kms_key or AWS_MANAGED_KEY, user_context=_user_context(context),
                         bucket_key=bool(bucket_key))

    # -- keys --------------------------------------------------------------------

    @staticmethod
    def _aad(bucket: str, key: str, oid: str) -> bytes:
        return f"s3:{bucket}/{key}:{oid}".encode()

    async def protect(self, ctx, bucket: Bucket, key: str, choice: SseChoice) -> Protection:
        """A fresh data key for a new object and how it is kept."""
        oid = os.urandom(16).hex()
        aad = self._aad(bucket.name, key, oid)
        if choice.alg == SSE_C:
            data_key = objectdata.new_data_key()
            wrapped = objectdata.wrap_key(AESGCM(choice.customer.key), data_key, aad)
            return Protection(data_key, {"alg": SSE_C, "oid": oid, "key": wrapped, "md5": choice.customer.md5})
        if choice.alg == AES256:
            data_key = objectdata.new_data_key()
            sealed = base64.b64encode(self.master.seal(data_key, aad)).decode()
            return Protection(data_key, {"alg": AES256, "oid": oid, "key": sealed})
        arn = f"arn:aws:s3:::{bucket.name}" if choice.bucket_key else f"arn:aws:s3:::{bucket.name}/{key}"
        context = dict(choice.user_context or {})
        context["aws:s3:arn"] = arn
        out = await self._kms(ctx, bucket, "GenerateDataKey",
                              {"KeyId": choice.kms_key, "KeySpec": "AES_256", "EncryptionContext": context})
        sse = {"alg": choice.alg, "oid": oid, "kms_key": out["KeyId"],
               "blob": base64.b64encode(out["CiphertextBlob"]).decode(), "context": context,
               "bucket_key": choice.bucket_key, "user_context": choice.user_context is not None}
        data_key = bytes(out["Plaintext"])
        if choice.alg == DSSE:
            layer = objectdata.new_data_key()
            sse["layer"] = base64.b64encode(self.master.seal(layer, aad)).decode()
            data_key = hashlib.sha256(data_key + layer).digest()
        return Protection(data_key, sse)

    async def unprotect(self, ctx, bucket: Bucket, key: str, sse: dict,
                        customer: CustomerKey | None = None) -> bytes:
        """The data key of a stored object (KMS Decrypt for SSE-KMS, as the
        requester; the customer's key for SSE-C: 403 if it is not the one)."""
        alg = sse.get("alg")
        aad = self._aad(bucket.name, key, sse.get("oid", ""))
        if alg == SSE_C:
            if customer is None:
                raise invalid_request(STORED_ENCRYPTED)
            try:
                return objectdata.unwrap_key(AESGCM(customer.key), sse["key"], aad)
            except objectdata.CorruptData:
                raise s3_error("AccessDenied", WRONG_CUSTOMER_KEY, 403) from None
        if alg == AES256:
            return self._open_sealed(sse["key"], aad)
        if alg in (KMS, DSSE):
            out = await self._kms(ctx, bucket, "Decrypt", {
                "CiphertextBlob": base64.b64decode(sse["blob"]), "KeyId": sse["kms_key"],
                "EncryptionContext": sse["context"]})
            data_key = bytes(out["Plaintext"])
            if alg == DSSE:
                data_key = hashlib.sha256(data_key + self._open_sealed(sse["layer"], aad)).digest()
            return data_key
        raise _damaged(f"unknown protection {alg!r}")

    def _open_sealed(self, sealed: str, aad: bytes) -> bytes:
        """A data key sealed under S3's master key, opened (remembered: a
        GET of a small object spent ~5% of its time opening its key)."""
        cache = self.__dict__.setdefault("_opened_keys", {})
        found = cache.get((sealed, aad))
        if found is not None:
            return found
        from cloudlet.services.kms.crypto import SealedDataError

        try:
            key = self.master.open(base64.b64decode(sealed), aad)
        except SealedDataError as exc:
            raise _damaged(str(exc)) from None
        if len(cache) >= 4096:
            cache.clear()
        cache[(sealed, aad)] = key
        return key

    async def _kms(self, ctx, bucket: Bucket, operation: str, params: dict) -> dict:
        """A KMS call S3 makes for the requester; KMS's refusals as S3
        reports them (AccessDenied 403, else KMS.<code> 400)."""
        try:
            return await self.cloud.gateway.call("kms", operation, params, account_id=ctx.account_id,
                                                 region=bucket.region, invoked_by="s3.amazonaws.com",
                                                 principal=ctx.principal, request_id=ctx.request_id)
        except AwsError as err:
            if err.code in ("AccessDeniedException", "AccessDenied"):
                raise s3_error("AccessDenied", err.message or "Access Denied", 403) from None
            raise AwsError(f"KMS.{err.code}", err.message, 400) from None

    # -- responses ---------------------------------------------------------------

    @staticmethod
    def sse_response(sse: dict, *, with_context: bool = False) -> dict:
        """The x-amz-server-side-encryption* response members of an object."""
        alg = sse.get("alg")
        if alg == SSE_C:
            return {"SSECustomerAlgorithm": AES256, "SSECustomerKeyMD5": sse.get("md5")}
        if alg in (KMS, DSSE):
            out = {"ServerSideEncryption": alg, "SSEKMSKeyId": sse.get("kms_key")}
            if sse.get("bucket_key"):
                out["BucketKeyEnabled"] = True
            if with_context and sse.get("user_context"):
                out["SSEKMSEncryptionContext"] = base64.b64encode(orjson.dumps(sse["context"])).decode()
            return out
        if alg == AES256:
            return {"ServerSideEncryption": AES256}
        return {}

    @staticmethod
    def etag_of(md5: bytes, sse: dict) -> str:
        """S3's ETag: the MD5 of the data for SSE-S3, something else (not
        derivable from the content) for SSE-KMS and SSE-C."""
        if sse.get("alg") in (KMS, DSSE, SSE_C):
            return '"' + hashlib.md5(md5 + bytes.fromhex(sse["oid"])).hexdigest() + '"'
        return '"' + md5.hex() + '"'


def _damaged(detail: str) -> AwsError:
    """A stored key that does not open (tampered with, or moved to another
    object): S3's internal error, logged for the operator."""
    import logging

    logging.getLogger("cloudlet.s3").error("object data key does not open: %s", detail)
    return s3_error("InternalError", "We encountered an internal error. Please try again.", 500)


def read_customer_key(params: dict, sse: dict, prefix: str = "SSECustomer") -> CustomerKey | None:
    """SSE-C headers on a read of an object: required for an SSE-C object,
    refused for any other."""
    given = customer_key(params, prefix)
    if sse.get("alg") == SSE_C:
        if given is None:
            raise invalid_request(STORED_ENCRYPTED)
    elif given is not None:
        raise invalid_request("The encryption parameters are not applicable to this object.")
    return given
