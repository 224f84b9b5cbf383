"""RestoreObject: a temporary readable copy of an archived object, run by
cloudlet's clock (tests advance the virtual clock instead of waiting hours).

As the S3 API reference (RestoreObject, HeadObject) and the User Guide
("Restoring an archived object") describe:
- only GLACIER and DEEP_ARCHIVE objects are restored (any other class:
  403 InvalidObjectState); a restore takes the tier's time, here the upper
  end of what AWS quotes: Expedited 5 minutes (not for DEEP_ARCHIVE),
  Standard 5 hours (DEEP_ARCHIVE 12), Bulk 12 hours (DEEP_ARCHIVE 48);
- the first request answers 202; while it runs another answers 409
  RestoreAlreadyInProgress; once it is done a request answers 200 and sets
  a new expiry counted from now;
- the copy expires at the first midnight UTC after completion + Days;
- HEAD and GET show `x-amz-restore: ongoing-request="true"` while it runs,
  then `ongoing-request="false", expiry-date="<date>"`; GET and copies read
  the object only while a restored copy exists; the object keeps its
  storage class;
- events: s3:ObjectRestore:Post (requested), :Completed (with
  glacierEventData) and :Delete (the copy expired).

The state is the version's `restore` column (JSON: tier, days, requested,
completes, expires): it goes with the version row (a replaced null version
starts without one). What a reader sees is computed from it and the clock,
so a clock moved past a completion reads the copy at once; a job once a
clock-minute sends the events and clears expired copies.
"""

from __future__ import annotations

import orjson

from cloudlet.protocol.common import http_date
from cloudlet.services.s3.common import ObjectVersion, s3_error
from cloudlet.services.s3.lifecycle import DAY, midnight_floor
from cloudlet.services.s3.notifications import event_time

ARCHIVED = frozenset({"GLACIER", "DEEP_ARCHIVE"})
TIERS = ("Expedited", "Standard", "Bulk")
_DURATION = {  # seconds, by storage class and tier
    "GLACIER": {"Expedited": 5 * 60, "Standard": 5 * 3600, "Bulk": 12 * 3600},
    "DEEP_ARCHIVE": {"Standard": 12 * 3600, "Bulk": 48 * 3600},
}


def expiry_after(start: float, days: int) -> float:
    """The first midnight UTC after `start` + `days` days."""
    return midnight_floor(start + days * DAY) + DAY


class RestoreState:
    """A version's restore, as of a moment."""

    __slots__ = ("ongoing", "expires")

    def __init__(self, record: dict | None, now: float):
        self.ongoing = False
        self.expires: float | None = None
        if not record:
            return
        if record["completes"] > now:
            self.ongoing = True
            return
        expires = record.get("expires") or expiry_after(record["completes"], record["days"])
        if expires > now:
            self.expires = expires

    @property
    def readable(self) -> bool:
        return self.expires is not None

    @property
    def header(self) -> str | None:
        """x-amz-restore (HeadObject / GetObject `Restore`)."""
        if self.ongoing:
            return 'ongoing-request="true"'
        if self.expires is not None:
            return f'ongoing-request="false", expiry-date="{http_date(self.expires)}"'
        return None

    def status(self) -> dict | None:
        """A listing's RestoreStatus."""
        if self.ongoing:
            return {"IsRestoreInProgress": True}
        if self.expires is not None:
            return {"IsRestoreInProgress": False, "RestoreExpiryDate": self.expires}
        return None


def _malformed():
    return s3_error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                                    "published schema", 400)


class RestoreOps:
    """Mixed into S3Service."""

    def restore_record(self, version: ObjectVersion) -> dict | None:
        raw = self.storage.scalar("SELECT restore FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                                  (version.bucket, version.key, version.version_id))
        return orjson.loads(raw) if raw else None

    def restore_state(self, version: ObjectVersion) -> RestoreState | None:
        """None for an object that is not archived (nothing to restore)."""
        if version.storage_class not in ARCHIVED:
            return None
        return RestoreState(self.restore_record(version), self.clock.now())

    def _save_restore(self, version: ObjectVersion, record: dict | None) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE s3_objects SET restore = ? WHERE bucket = ? AND key = ? AND version_id = ?",
                                 (orjson.dumps(record).decode() if record else None, version.bucket, version.key,
                                  version.version_id))

    def RestoreObject(self, ctx, params):
        bucket = self.owned_bucket(ctx, params)
        key = params["Key"]
        version = self.find_version(bucket, key, params.get("VersionId"), "POST")
        request = params.get("RestoreRequest")
        if request is None:
            raise _malformed()
        if request.get("Type") or request.get("SelectParameters") or request.get("OutputLocation"):
            # (restores that run an S3 Select query: Select is closed to new customers)
            raise s3_error("NotImplemented", "A header you provided implies functionality that is not implemented",
                           501, Header="RestoreRequest Type")
        if version.storage_class not in ARCHIVED:
            raise s3_error("InvalidObjectState", "Restore is not allowed for the object's current storage class", 403,
                           StorageClass=version.storage_class)
        days = request.get("Days")
        if days is None or days < 1:
            raise _malformed()
        tier = (request.get("GlacierJobParameters") or {}).get("Tier") or request.get("Tier") or "Standard"
        if tier not in TIERS:
            raise _malformed()
        duration = _DURATION[version.storage_class].get(tier)
        if duration is None:
            raise s3_error("InvalidArgument", f"{tier} retrieval is not available for the "
                                              f"{version.storage_class} storage class", 400,
                           ArgumentName="Tier", ArgumentValue=tier)
        now = self.clock.now()
        record = self.restore_record(version)
        state = RestoreState(record, now)
        if state.ongoing:
            raise s3_error("RestoreAlreadyInProgress", "Object restore is already in progress", 409)
        if state.readable:
            # A copy exists: its life is counted again from now.
            record.update(days=days, expires=expiry_after(now, days))
            self._save_restore(version, record)
            return {}
        self._save_restore(version, {"tier": tier, "days": days, "requested": now, "completes": now + duration,
                                     "expires": None, "notified": False})
        self._event(ctx, bucket, "ObjectRestore:Post", version)
        return {"__status__": 202}

    def run_restores(self, now: float) -> None:
        """Events of restores that completed, and copies that expired."""
        rows = self.storage.all("SELECT bucket, key, version_id, restore FROM s3_objects WHERE restore IS NOT NULL",
                                ())
        for bucket_name, key, version_id, raw in rows:
            record = orjson.loads(raw)
            bucket = self.find_bucket(bucket_name)
            version = self.version(bucket_name, key, version_id)
            if bucket is None or version is None:
                continue
            if record["completes"] > now:
                continue
            if not record.get("notified"):
                record["notified"] = True
                record["expires"] = record.get("expires") or expiry_after(record["completes"], record["days"])
                self._save_restore(version, record)
                self.notify(bucket, "ObjectRestore:Completed", version, extra={"glacierEventData": {
                    "restoreEventData": {
                        "lifecycleRestorationExpiryTime": event_time(record["expires"]),
                        "lifecycleRestoreStorageClass": version.storage_class}}})
            if record["expires"] <= now:
                self._save_restore(version, None)
                self.notify(bucket, "ObjectRestore:Delete", version)

