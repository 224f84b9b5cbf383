"""GetKeyLastUsage: the last successful cryptographic operation of each key.

Tracked operations (the model's KeyLastUsageTrackingOperation): Encrypt,
Decrypt, ReEncrypt (both its keys), GenerateDataKey[WithoutPlaintext],
GenerateDataKeyPair[WithoutPlaintext], GenerateMac, VerifyMac, Sign,
Verify, DeriveSharedSecret, Encapsulate, Decapsulate. A call that fails
(an invalid signature or MAC included) or is a DryRun records nothing.

Recording must not cost Encrypt and Decrypt a database write: a use is
noted in this process's memory (one dict entry per key, the latest use
wins) and written behind by one scheduler job a second of clock time
after the first unwritten use, in one statement for all keys noted
since. GetKeyLastUsage reads the notes first, so it is exact on the node
that served the calls; other nodes see a use once it is written (within
about a second, like AWS's own eventual consistency). `flush_usage` also
runs when an admin clock move settles the services, and `stop` writes
what is left when the service is stopped.

KmsRequestId is the request id of the call; CloudTrailEventId the eventID
of its CloudTrail record in the key's account (found by the request id
among the records of that second; left out when recording is off).
TrackingStartDate is when cloudlet began
tracking the key: its creation, or for keys made before tracking existed
the time the service first started with it (kms_keys.tracking_start).
"""

from __future__ import annotations

import re

from cloudlet.errors import AwsError

USAGE_WRITE_DELAY = 1.0  # clock seconds between a first unwritten use and its write
_ALIAS = re.compile(r"^(alias/|arn:aws[a-z-]*:kms:[^:]*:[^:]*:alias/)")


class UsageOps:
    """Mixin of KmsService (which sets self._usage = {})."""

    def note_usage(self, ctx, key, operation: str) -> None:
        """A successful cryptographic operation with `key` (on the hot path:
        one dict assignment; the write is scheduled once per batch)."""
        usage = self._usage
        if not usage:
            self.cloud.scheduler.at(self._usage_job, self.clock.now() + USAGE_WRITE_DELAY, self.flush_usage)
        usage[(key.account, key.region, key.id)] = (operation, self.clock.now(), ctx.request_id)

    @property
    def _usage_job(self) -> str:
        # Each node writes its own notes: one lease per node, not one shared.
        return f"kms-key-usage-{self.cloud.scheduler.node_id}"

    def flush_usage(self, now: float | None = None) -> None:
        """Write the noted uses (one executemany; a later use already
        written by another node is not overwritten with an older one)."""
        usage, self._usage = self._usage, {}
        if not usage:
            return
        rows = [(operation, when, request_id, account, region, key_id, when)
                for (account, region, key_id), (operation, when, request_id) in usage.items()]
        with self.storage.tx():
            self.storage.executemany(
                "UPDATE kms_keys SET last_operation = ?, last_used = ?, last_request_id = ? "
                "WHERE account = ? AND region = ? AND id = ? AND (last_used IS NULL OR last_used <= ?)", rows)

    def start_usage_tracking(self) -> None:
        """Keys made before tracking existed start being tracked now."""
        now = self.clock.now()
        if self.storage.scalar("SELECT 1 FROM kms_keys WHERE tracking_start IS NULL LIMIT 1") is None:
            return
        with self.storage.tx():
            self.storage.execute("UPDATE kms_keys SET tracking_start = CASE WHEN created > ? THEN created ELSE ? END "
                                 "WHERE tracking_start IS NULL", (now, now))

    # -- the call ----------------------------------------------------------

    def GetKeyLastUsage(self, ctx, params):
        given = params["KeyId"]
        if _ALIAS.match(given):
            # "Alias names are not supported": only a key id or key ARN.
            raise AwsError("NotFoundException", f"Invalid keyId '{given}'")
        key = self.key_for(ctx, given)
        noted = self._usage.get((key.account, key.region, key.id))
        row = self.storage.one("SELECT tracking_start, last_operation, last_used, last_request_id FROM kms_keys "
                               "WHERE account = ? AND region = ? AND id = ?", (key.account, key.region, key.id))
        tracking_start, operation, when, request_id = row if row is not None else (None, None, None, None)
        if noted is not None and (when is None or noted[1] >= when):
            operation, when, request_id = noted
        last: dict = {}
        if operation is not None:
            last = {"Operation": operation, "Timestamp": when, "KmsRequestId": request_id}
            event_id = self._event_id_of(key, when, request_id)
            if event_id is not None:
                last["CloudTrailEventId"] = event_id
        return {"KeyId": key.id, "KeyLastUsage": last,
                "TrackingStartDate": tracking_start if tracking_start is not None else key.created,
                "KeyCreationDate": key.created}

    def _event_id_of(self, key, when: float, request_id: str) -> str | None:
        """The eventID of the call's CloudTrail record: recorded as the call
        ended, so within a few seconds after the use was noted."""
        recorder = self.cloud.gateway.recorder
        if not recorder.enabled or not request_id:
            return None
        recorder.write_batch()
        self.cloud.service("cloudtrail")  # (its tables)
        return self.storage.scalar(
            "SELECT event_id FROM cloudtrail_event_fields WHERE account = ? AND region = ? AND category = 0 AND "
            "time >= ? AND time <= ? AND request_id = ? ORDER BY seq LIMIT 1",
            (key.account, key.region, when, when + 5, request_id))
