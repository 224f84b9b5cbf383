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
from typing import Callable

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


# A resolver returns the Principal for an access key cloudlet issued, or
# None if it did not issue it.
KeyResolver = Callable[[str, HttpRequest], "Principal | None"]


class Authenticator:
    def __init__(self, default_account: str, strict: bool = False):
        self.default_account = default_account
        self.strict = strict
        self._resolvers: list[KeyResolver] = []

    def add_resolver(self, resolver: KeyResolver) -> None:
        self._resolvers.append(resolver)

    def principal(self, cred: Credential | None, request: HttpRequest) -> Principal:
        if cred is None:
            return anonymous_principal(self.default_account)
        key = cred.access_key
        for resolver in self._resolvers:
            found = resolver(key, request)
            if found is not None:
                return found
        if _ACCOUNT_KEY.match(key):
            return root_principal(key)
        if self.strict and key != "test":
            raise AwsError("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        return root_principal(self.default_account)
