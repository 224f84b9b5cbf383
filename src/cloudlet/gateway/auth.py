"""Who is calling: the credential in a request, and the identity behind it.

Reads SigV4 (Authorization header or presigned X-Amz-* query), SigV2 (S3's
"AWS key:sig" header and query signatures). Resolving a key to an identity:
keys issued by cloudlet's IAM / STS are looked up through a resolver the IAM
service installs; otherwise a key of exactly 12 digits is the root of that
account, and any other key the root of the default account (unless strict
auth is on). Verifying signatures and enforcing policy build on this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cloudlet.errors import AwsError
from cloudlet.protocol.http import HttpRequest

_SIGV4_HEADER = re.compile(
    r"AWS4-(?:HMAC-SHA256|ECDSA-P256-SHA256)\s+Credential=(?P<cred>[^,\s]+)"
    r"(?:\s*,\s*SignedHeaders=(?P<signed>[^,\s]+))?(?:\s*,\s*Signature=(?P<sig>[0-9a-fA-F]+))?")
_SIGV2_HEADER = re.compile(r"AWS\s+(?P<key>[^:\s]+):(?P<sig>\S+)")
_ACCOUNT_KEY = re.compile(r"^\d{12}$")


@dataclass(slots=True)
class Credential:
    access_key: str
    kind: str  # "sigv4" | "sigv4-query" | "sigv2" | "sigv2-query"
    region: str | None = None
    service: str | None = None
    date: str | None = None
    signed_headers: list[str] = field(default_factory=list)
    signature: str = ""


@dataclass(slots=True)
class Principal:
    """The identity a request acts as."""
    account_id: str
    arn: str
    user_id: str
    type: str = "Root"  # Root | IAMUser | AssumedRole | FederatedUser | AWSService | Anonymous
    name: str | None = None
    access_key: str | None = None
    session_token: str | None = None
    attributes: dict = field(default_factory=dict)

    @property
    def is_root(self) -> bool:
        return self.type == "Root"


def parse_credential(request: HttpRequest) -> Credential | None:
    """The credential a request carries, or None for an anonymous request."""
    header = request.header("authorization")
    if header:
        if header.startswith("AWS4-HMAC-SHA256 Credential="):
            # The common form, sliced without a regex.
            end = header.find(",", 28)
            scope = header[28:end if end > 0 else None].strip()
            signed = sig = None
            i = header.find("SignedHeaders=", end)
            if i > 0:
                j = header.find(",", i)
                signed = header[i + 14:j if j > 0 else None].strip()
            i = header.find("Signature=", end)
            if i > 0:
                sig = header[i + 10:].strip().rstrip(",")
            return _sigv4(scope, "sigv4", signed, sig)
        m = _SIGV4_HEADER.match(header.strip())
        if m:
            return _sigv4(m.group("cred"), "sigv4", m.group("signed"), m.group("sig"))
        m = _SIGV2_HEADER.match(header.strip())
        if m:
            return Credential(m.group("key"), "sigv2", signature=m.group("sig"), service="s3")
        raise AwsError("IncompleteSignature",
                       f"Authorization header requires 'Credential' parameter. Authorization={header[:64]}", 400)
    if request.query_string:
        q = request.query
        cred = q.get("X-Amz-Credential")
        if cred:
            return _sigv4(cred, "sigv4-query", q.get("X-Amz-SignedHeaders"), q.get("X-Amz-Signature"))
        key = q.get("AWSAccessKeyId")
        if key:
            return Credential(key, "sigv2-query", signature=q.get("Signature", ""))
    return None


def _sigv4(scope: str, kind: str, signed: str | None, sig: str | None) -> Credential:
    parts = scope.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AwsError("IncompleteSignature",
                       f"Credential should be scoped to a valid region, not '{scope}'. ", 400)
    return Credential(parts[0], kind, region=parts[2], service=parts[3], date=parts[1],
                      signed_headers=(signed or "").split(";") if signed else [], signature=sig or "")


def root_principal(account_id: str) -> Principal:
    return Principal(account_id=account_id, arn=f"arn:aws:iam::{account_id}:root",
                     user_id=account_id, type="Root")


def anonymous_principal(account_id: str) -> Principal:
    return Principal(account_id=account_id, arn="anonymous", user_id="anonymous", type="Anonymous")


def token_error(kind: str, signing_name: str, protocol: str) -> AwsError:
    """AWS's answer to an unknown, inactive, malformed or expired credential,
    which differs by service family."""
    if signing_name == "s3":
        return {
            "invalid": AwsError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403),
            "bad_token": AwsError("InvalidToken", "The provided token is malformed or otherwise invalid.", 400),
            "expired": AwsError("ExpiredToken", "The provided token has expired.", 400),
        }[kind]
    if protocol in ("json", "rest-json"):
        status = 403 if protocol == "rest-json" else 400
        if kind == "expired":
            return AwsError("ExpiredTokenException", "The security token included in the request is expired", status)
        return AwsError("UnrecognizedClientException", "The security token included in the request is invalid.", status)
    if kind == "expired":
        return AwsError("ExpiredToken", "The security token included in the request is expired", 403)
    return AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)


def apply_payload(request: HttpRequest, verified) -> None:
    """After an aws-chunked body is decoded: its trailing checksums become
    headers (where the model binds them) and aws-chunked leaves
    Content-Encoding."""
    if verified is None or not verified.payload_mode.startswith("streaming"):
        return
    for name, value in verified.trailers.items():
        request.set_header(name, value)
    request.set_header("content-encoding", verified.content_encoding)
    if verified.decoded_length is not None:
        request.set_header("content-length", str(verified.decoded_length))


class Authenticator:
    """Turns a request's credential into the Principal it acts as.

    Keys cloudlet issued (IAM access keys, STS sessions; `issued` is set by
    the app) are always verified: signature, status, session token, expiry.
    Other keys: exactly 12 digits is the root of that account, anything else
    the root of the default account, or refused under strict auth."""

    def __init__(self, default_account: str, strict: bool = False, clock=None):
        self.default_account = default_account
        self.strict = strict
        self.clock = clock
        self.issued = None

    def authenticate(self, cred: Credential | None, request: HttpRequest, *, signing_name: str = "",
                     protocol: str = "") -> Principal:
        if cred is None:
            if signing_name == "s3" or self.strict:
                return anonymous_principal(self.default_account)
            # Unsigned calls (curl) act as the default root outside S3.
            return root_principal(self.default_account)
        key = cred.access_key
        issued = self.issued.lookup(key) if self.issued is not None else None
        if issued is None:
            if self.strict and key != "test" and not _ACCOUNT_KEY.match(key):
                raise token_error("invalid", signing_name, protocol)
            payload = request.header("x-amz-content-sha256")
            if signing_name == "s3" and payload and len(payload) == 64 and request.body:
                # S3 checks the body against the hash it was sent with, even
                # where cloudlet cannot check the signature (no secret).
                from cloudlet.gateway.sigv4 import SigV4Error, auth_error, body_sha256

                computed = body_sha256(request.body)
                if computed != payload.lower():
                    raise auth_error(SigV4Error(
                        "content_sha_mismatch",
                        "The provided 'x-amz-content-sha256' header does not match what was computed.",
                        {"ClientComputedContentSHA256": payload, "S3ComputedContentSHA256": computed}),
                        signing_name=signing_name, protocol=protocol)
            elif payload and payload.startswith("STREAMING-"):
                # Not verified (cloudlet does not know this key's secret), but
                # the aws-chunked framing still has to come off.
                from cloudlet.gateway.sigv4 import SigV4Error, auth_error, decode_payload

                try:
                    apply_payload(request, decode_payload(request))
                except SigV4Error as err:
                    raise auth_error(err, signing_name=signing_name, protocol=protocol) from None
            if _ACCOUNT_KEY.match(key):
                return root_principal(key)
            return root_principal(self.default_account)
        from cloudlet.gateway.sigv4 import SigV4Error, auth_error, verify

        if cred.kind.startswith("sigv2"):
            raise AwsError("InvalidRequest", "The authorization mechanism you have provided is not supported. "
                                             "Please use AWS4-HMAC-SHA256.", 400)
        if not issued.active:  # inactive or deleted: refused before the signature is looked at
            raise token_error("invalid", signing_name, protocol)
        try:
            verified = verify(request, cred, issued.secret, wall_now=self.clock.wall(), clock_now=self.clock.now())
        except SigV4Error as err:
            raise auth_error(err, signing_name=signing_name, protocol=protocol) from None
        apply_payload(request, verified)
        if issued.session_token is not None:
            token = request.header("x-amz-security-token") or request.query.get("X-Amz-Security-Token")
            if not token:
                raise token_error("invalid", signing_name, protocol)
            if token != issued.session_token:
                raise token_error("bad_token" if signing_name == "s3" else "invalid", signing_name, protocol)
            if self.clock.now() >= issued.expires:
                raise token_error("expired", signing_name, protocol)
        return issued.principal
