"""Shared IAM helpers: ids, ARNs, errors, pagination, policy text."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote

from cloudlet.errors import AwsError

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_SECRET_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

# Unique-id prefixes IAM uses (IAM User Guide, "IAM identifiers").
USER_ID, GROUP_ID, ROLE_ID, POLICY_ID, PROFILE_ID = "AIDA", "AGPA", "AROA", "ANPA", "AIPA"
ACCESS_KEY, TEMP_ACCESS_KEY = "AKIA", "ASIA"


def new_id(prefix: str, length: int = 21) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length - len(prefix)))


def new_access_key_id(temporary: bool = False) -> str:
    return new_id(TEMP_ACCESS_KEY if temporary else ACCESS_KEY, 20)


def new_secret() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def iam_arn(account: str, kind: str, path: str, name: str) -> str:
    return f"arn:aws:iam::{account}:{kind}{path}{name}"


def encode_document(document: str) -> str:
    """IAM returns policy documents URL-encoded (SDKs decode them)."""
    return quote(document, safe="")


def document_size(document: str) -> int:
    """Policy size as IAM counts it for its quotas: whitespace is free."""
    return sum(1 for ch in document if not ch.isspace())


# -- errors ------------------------------------------------------------------

def no_such_entity(message: str) -> AwsError:
    return AwsError("NoSuchEntity", message)


def already_exists(message: str) -> AwsError:
    return AwsError("EntityAlreadyExists", message)


def delete_conflict(message: str) -> AwsError:
    return AwsError("DeleteConflict", message)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceeded", message)


def invalid_input(message: str) -> AwsError:
    return AwsError("InvalidInput", message)


def malformed_policy(message: str) -> AwsError:
    return AwsError("MalformedPolicyDocument", message)


# -- pagination --------------------------------------------------------------

def paginate(items: list, params: dict, key: str) -> tuple[list, dict]:
    """IAM's Marker / MaxItems / IsTruncated paging over a sorted list.
    Returns (page, extra output members)."""
    marker = params.get("Marker")
    start = 0
    if marker:
        try:
            start = int(base64.urlsafe_b64decode(marker.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise invalid_input("Invalid Marker.") from None
    limit = params.get("MaxItems") or 100
    page = items[start:start + limit]
    out: dict = {key: page, "IsTruncated": start + limit < len(items)}
    if out["IsTruncated"]:
        out["Marker"] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return page, out


def path_matches(path: str, prefix: str | None) -> bool:
    return not prefix or path.startswith(prefix)
