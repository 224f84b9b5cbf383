"""Lifecycle rules, run by cloudlet's clock (an hourly job; tests advance
the virtual clock by days instead of waiting).

As the S3 User Guide ("Lifecycle configuration elements", "Setting
lifecycle configuration on a bucket") describes:
- an object's age counts from its creation, and an action falls due at the
  first midnight UTC after creation + Days (a Date rule: from that midnight);
- Expiration of a current version deletes it in an unversioned bucket, and
  puts a delete marker on top of it in a versioning-enabled or suspended
  one (suspended: the marker is the null version, replacing a null object);
- ExpiredObjectDeleteMarker removes a delete marker that is a key's only
  version left;
- a version's noncurrent age counts from when its successor was created;
  NewerNoncurrentVersions keeps that many newest noncurrent versions;
- AbortIncompleteMultipartUpload aborts uploads DaysAfterInitiation after
  they started;
- transitions change the recorded storage class (cloudlet has one tier).
Filters: Prefix (also the legacy rule-level one), Tag, ObjectSizeGreaterThan
/ LessThan, and And of those. Only Enabled rules run.

The bucket's configuration is the `lifecycle` row of s3_bucket_configs:
{"Rules": [...]} as PutBucketLifecycleConfiguration took it.
"""

from __future__ import annotations

import calendar
import time

import orjson

from cloudlet.services.s3.common import OBJECT_COLUMNS, ObjectVersion

DAY = 86_400
LIFECYCLE = "lifecycle"


def midnight_floor(t: float) -> float:
    return float(int(t // DAY) * DAY)


def due_cutoff(now: float, days: int) -> float:
    """Objects created at or before this time are due `days` days after
    creation (rounded up to midnight UTC) by `now`."""
    return midnight_floor(now) - days * DAY


def parse_date(value) -> float:
    """A rule's Date (ISO 8601, midnight UTC) as epoch seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).replace("Z", "+00:00")
    day = text[:10]
    return float(calendar.timegm(time.strptime(day, "%Y-%m-%d")))


class RuleFilter:
    """What a rule applies to: a key prefix (for SQL) and a predicate on the
    rest (tags, size)."""

    def __init__(self, rule: dict):
        flt = rule.get("Filter")
        self.prefix = rule.get("Prefix") or ""
        self.tags: dict[str, str] = {}
        self.greater: int | None = None
        self.less: int | None = None
        if flt:
            self._read(flt)
            if "And" in flt:
                self._read(flt["And"])

    def _read(self, part: dict) -> None:
        if part.get("Prefix"):
            self.prefix = part["Prefix"]
        if part.get("Tag"):
            self.tags[part["Tag"]["Key"]] = part["Tag"]["Value"]
        for tag in part.get("Tags") or []:
            self.tags[tag["Key"]] = tag["Value"]
        if part.get("ObjectSizeGreaterThan") is not None:
            self.greater = int(part["ObjectSizeGreaterThan"])
        if part.get("ObjectSizeLessThan") is not None:
            self.less = int(part["ObjectSizeLessThan"])

    def matches(self, version: ObjectVersion) -> bool:
        if not version.key.startswith(self.prefix):
            return False
        if self.tags and any(version.tags.get(k) != v for k, v in self.tags.items()):
            return False
        if self.greater is not None and not version.size > self.greater:
            return False
        if self.less is not None and not version.size < self.less:
            return False
        return True


def prefix_bounds(prefix: str) -> tuple[str, str | None]:
    """SQL range [lo, hi) of keys starting with `prefix` (hi None: no bound)."""
    if not prefix:
        return "", None
    last = prefix[-1]
    if ord(last) >= 0x10FFFF:
        return prefix, None
    return prefix, prefix[:-1] + chr(ord(last) + 1)


class LifecycleRunner:
    """Mixed into S3Service."""

    def run_lifecycle(self, now: float) -> None:
        for (bucket_name, value) in self.storage.all(
                "SELECT bucket, value FROM s3_bucket_configs WHERE kind = ?", (LIFECYCLE,)):
            bucket = self.find_bucket(bucket_name)
            if bucket is None:
                continue
            config = orjson.loads(value)
            for rule in config.get("Rules") or []:
                if rule.get("Status") != "Enabled":
                    continue
                self._apply_rule(bucket, rule, RuleFilter(rule), now)

    def _versions(self, bucket: str, flt: RuleFilter, where: str, params: tuple) -> list[ObjectVersion]:
        lo, hi = prefix_bounds(flt.prefix)
        sql = f"SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key >= ?"
        args: list = [bucket, lo]
        if hi is not None:
            sql += " AND key < ?"
            args.append(hi)
        rows = self.storage.all(f"{sql} AND {where} ORDER BY key, seq", (*args, *params))
        return [v for v in map(ObjectVersion.from_row, rows) if flt.matches(v)]

    def _apply_rule(self, bucket, rule: dict, flt: RuleFilter, now: float) -> None:
        expiration = rule.get("Expiration") or {}
        cutoff = None
        if expiration.get("Days") is not None:
            cutoff = due_cutoff(now, int(expiration["Days"]))
        elif expiration.get("Date") is not None and parse_date(expiration["Date"]) <= now:
            cutoff = now
        if cutoff is not None:
            for v in self._versions(bucket.name, flt, "is_latest = 1 AND delete_marker = 0 AND last_modified <= ?",
                                    (cutoff,)):
                self._expire_current(bucket, v, now)
        # Noncurrent versions first: a marker they leave alone is then expired.
        noncurrent = rule.get("NoncurrentVersionExpiration") or {}
        if noncurrent.get("NoncurrentDays") is not None or noncurrent.get("NewerNoncurrentVersions") is not None:
            self._expire_noncurrent(bucket, flt, noncurrent, now)
        if expiration.get("ExpiredObjectDeleteMarker"):
            for v in self._versions(bucket.name, flt, "is_latest = 1 AND delete_marker = 1", ()):
                others = self.storage.scalar("SELECT COUNT(*) FROM s3_objects WHERE bucket = ? AND key = ?",
                                             (bucket.name, v.key))
                if others == 1:
                    with self.storage.tx():
                        self.remove_version(bucket.name, v.key, v.version_id)
                    self.lifecycle_event(bucket, v, "LifecycleExpiration:Delete")
        for transition in rule.get("Transitions") or []:
            if transition.get("Days") is not None:
                when = due_cutoff(now, int(transition["Days"]))
            elif transition.get("Date") is not None and parse_date(transition["Date"]) <= now:
                when = now
            else:
                continue
            for v in self._versions(bucket.name, flt, "is_latest = 1 AND delete_marker = 0 AND last_modified <= ? "
                                    "AND storage_class != ?", (when, transition["StorageClass"])):
                self._transition(bucket, v, transition["StorageClass"])
        for transition in rule.get("NoncurrentVersionTransitions") or []:
            days = transition.get("NoncurrentDays")
            if days is None:
                continue
            for v, since in self._noncurrent(bucket.name, flt):
                if since <= due_cutoff(now, int(days)) and v.storage_class != transition["StorageClass"] \
                        and not v.delete_marker:
                    self._transition(bucket, v, transition["StorageClass"])
        abort = rule.get("AbortIncompleteMultipartUpload") or {}
        if abort.get("DaysAfterInitiation") is not None:
            self._abort_uploads(bucket.name, flt.prefix, due_cutoff(now, int(abort["DaysAfterInitiation"])))

    def _expire_current(self, bucket, v: ObjectVersion, now: float) -> None:
        with self.storage.tx():
            if bucket.versioning:
                self.commit_version(bucket, v.key, {"delete_marker": True, "owner": v.owner, "last_modified": now})
                event = "LifecycleExpiration:DeleteMarkerCreated"
            else:
                self.remove_version(bucket.name, v.key, v.version_id)
                event = "LifecycleExpiration:Delete"
        self.lifecycle_event(bucket, v, event)

    def _noncurrent(self, bucket: str, flt: RuleFilter) -> list[tuple[ObjectVersion, float]]:
        """Noncurrent versions with the time each became noncurrent (its
        successor's creation), newest first per key."""
        out = []
        versions = self._versions(bucket, flt, "1 = 1", ())
        by_key: dict[str, list[ObjectVersion]] = {}
        for v in versions:
            by_key.setdefault(v.key, []).append(v)
        for chain in by_key.values():
            chain.sort(key=lambda v: v.seq, reverse=True)
            for newer, older in zip(chain, chain[1:]):
                out.append((older, newer.last_modified))
        return out

    def _expire_noncurrent(self, bucket, flt: RuleFilter, rule: dict, now: float) -> None:
        days = rule.get("NoncurrentDays")
        keep = int(rule.get("NewerNoncurrentVersions") or 0)
        rank: dict[str, int] = {}
        for v, since in self._noncurrent(bucket.name, flt):
            rank[v.key] = rank.get(v.key, 0) + 1
            if rank[v.key] <= keep:
                continue  # one of the newest noncurrent versions to keep
            if days is not None and since > due_cutoff(now, int(days)):
                continue
            with self.storage.tx():
                self.remove_version(bucket.name, v.key, v.version_id)
            self.lifecycle_event(bucket, v, "LifecycleExpiration:Delete")

    def _transition(self, bucket, v: ObjectVersion, storage_class: str) -> None:
        with self.storage.tx():
            self.forget_object(bucket.name, v.key)
            self.storage.execute("UPDATE s3_objects SET storage_class = ? WHERE bucket = ? AND key = ? AND "
                                 "version_id = ?", (storage_class, bucket.name, v.key, v.version_id))
        self.lifecycle_event(bucket, v, "LifecycleTransition")

    def _abort_uploads(self, bucket: str, prefix: str, cutoff: float) -> None:
        lo, hi = prefix_bounds(prefix)
        sql = "SELECT upload_id FROM s3_uploads WHERE bucket = ? AND key >= ? AND initiated <= ?"
        args: list = [bucket, lo, cutoff]
        if hi is not None:
            sql += " AND key < ?"
            args.append(hi)
        for (upload_id,) in self.storage.all(sql, tuple(args)):
            with self.storage.tx():
                parts = self.storage.all("SELECT blob, size FROM s3_parts WHERE upload_id = ?", (upload_id,))
                self.discard_pieces([[blob, size] for blob, size in parts])
                self.storage.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
                self.storage.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))

    def lifecycle_event(self, bucket, version: ObjectVersion, event: str) -> None:
        """A lifecycle action happened (the notifications hook)."""
        notify = getattr(self, "notify", None)
        if notify is not None:
            notify(bucket, event, version)
