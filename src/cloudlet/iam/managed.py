"""AWS managed policies: the real documents under their real ARNs.

`managed_policies.json` beside this module holds one entry per policy, keyed
by policy name, copied from what AWS publishes (the AWS Managed Policy
Reference Guide and `iam:GetPolicy`/`iam:GetPolicyVersion` output): ARN, path,
description, default version id, creation and last-update times, and the
default version's document with AWS's own statement order, Sids and action
lists. Times are stored as ISO 8601 UTC strings and handed out as epoch
seconds.

The file is read once, on the first call, and kept for the life of the
process. `document` is the policy text as stored: compact JSON, ready to put
in a response or hand to the policy evaluator.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

DATA_FILE = Path(__file__).with_name("managed_policies.json")


@dataclass(frozen=True, slots=True)
class ManagedPolicy:
    name: str
    arn: str
    path: str
    description: str
    version: str  # default version id, "v1", "v12", ...
    created: float  # epoch seconds, UTC
    updated: float  # epoch seconds, UTC
    document: str  # compact JSON text of the default version


def _epoch(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


@functools.lru_cache(maxsize=1)
def managed_policies() -> dict[str, ManagedPolicy]:
    """Every known AWS managed policy by name. The dict is shared between
    callers: read it, don't change it."""
    raw = orjson.loads(DATA_FILE.read_bytes())
    return {
        name: ManagedPolicy(
            name=name,
            arn=entry["arn"],
            path=entry["path"],
            description=entry["description"],
            version=entry["version"],
            created=_epoch(entry["created"]),
            updated=_epoch(entry["updated"]),
            document=orjson.dumps(entry["document"]).decode(),
        )
        for name, entry in raw.items()
    }


@functools.lru_cache(maxsize=1)
def _by_arn() -> dict[str, ManagedPolicy]:
    return {policy.arn: policy for policy in managed_policies().values()}


def managed_policy_by_arn(arn: str) -> ManagedPolicy | None:
    """The AWS managed policy with this ARN (path included), or None."""
    return _by_arn().get(arn)
