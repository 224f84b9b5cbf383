"""Encoded authorization failure messages (sts:DecodeAuthorizationMessage).

A denial can be described as AWS describes it (allowed, explicitDeny,
matchedStatements, context with principal, action, resource and condition
keys), encrypted with a key only this cloud holds (kept in storage), so that
only a caller allowed sts:DecodeAuthorizationMessage can read it. cloudlet
attaches one to each would-be denial it logs in `--iam-mode soft`.
"""

from __future__ import annotations

import base64
import os

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY = "sts.authorization-message-key"


def _key(storage) -> bytes:
    value = storage.get_meta(_KEY)
    if value is None:
        value = base64.b64encode(os.urandom(32)).decode()
        storage.set_meta(_KEY, value)
    return base64.b64decode(value)


def describe(principal, action: str, resource: str, decision, context: dict) -> dict:
    items = []
    for key, value in context.items():
        values = value if isinstance(value, list) else [value]
        items.append({"key": key, "values": {"items": [{"value": str(v)} for v in values]}})
    return {
        "allowed": decision.allowed,
        "explicitDeny": decision.decision == "explicitDeny",
        "matchedStatements": {"items": [{"statementId": m.sid or "", "effect": m.effect,
                                         "principals": {"items": []}, "principalGroups": {"items": []},
                                         "actions": {"items": [{"value": action}]},
                                         "resources": {"items": [{"value": resource}]}} for m in decision.matched]},
        "failures": {"items": []},
        "context": {"principal": {"id": principal.user_id, "arn": principal.arn},
                    "action": action, "resource": resource, "conditions": {"items": items}},
    }


def encode(storage, document: dict) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_key(storage)).encrypt(nonce, orjson.dumps(document), b"cloudlet-authz")
    return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def decode(storage, message: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(message + "=" * (-len(message) % 4))
        plain = AESGCM(_key(storage)).decrypt(raw[:12], raw[12:], b"cloudlet-authz")
    except (ValueError, InvalidTag):
        return None
    return plain.decode()
