"""Trail delivery: log files and digests written to the trail's bucket.

Every delivery interval (`--trail-delivery-interval`, 5 minutes of clock
time by default) each logging trail gets the records recorded since its
cursor (a `seq` of cloudtrail_events) that its selectors match, shaped by
events.py, as one gzipped {"Records": [...]} file per source region:

  [prefix/]AWSLogs/<account>/CloudTrail/<region>/<YYYY>/<MM>/<DD>/
      <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alphanumerics>.json.gz

written through S3's PutObject as cloudtrail.amazonaws.com (so the bucket
policy, default encryption and notifications apply), SSE-KMS when the trail
has a KmsKeyId. The cursor is written right after the PutObject returns, in
the same shared transaction as the object's row, so a killed server neither
loses records nor (but in the rare case of a commit between the two) sends
them twice.

With log file validation, every digest interval (an hour by default) a
digest per region names the log files delivered in the period with the
SHA-256 of their uncompressed content, chained to the previous digest,
signed SHA256withRSA over

  digestEndTime \\n bucket/key \\n hex SHA-256 of the uncompressed digest \\n previous signature (or "null")

with the hex signature in the object's metadata (x-amz-meta-signature,
x-amz-meta-signature-algorithm), as the CloudTrail User Guide documents and
`aws cloudtrail validate-logs` checks. StopLogging, or validation turned
off, ends the chain with the digest of the period of the stop (state
`digest_until`); logging (or validation) again starts a new chain, whose
first digest has no previous one.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import gzip
import hashlib
import logging
import secrets
import string

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudtrail import events as ev
from cloudlet.services.cloudtrail.selectors import matches
from cloudlet.services.cloudtrail.signing import ALGORITHM, SigningKeys, sign

log = logging.getLogger("cloudlet.cloudtrail")

SERVICE_PRINCIPAL = "cloudtrail.amazonaws.com"
_ALNUM = string.ascii_letters + string.digits
_BATCH = 2000
_MAX_RECORDS_PER_FILE = 10_000


def _utc(epoch: float) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(int(epoch), _dt.timezone.utc)


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else _utc(epoch).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0)


class Delivery:
    """Mixin of CloudTrailService: the delivery job, flush, digests,
    ListPublicKeys."""

    _delivery_lock: asyncio.Lock | None = None
    _keys: SigningKeys | None = None

    # -- settings ---------------------------------------------------------

    @property
    def delivery_interval(self) -> float:
        return float(getattr(self.cloud.settings, "trail_delivery_interval", 300) or 300)

    @property
    def digest_interval(self) -> float:
        return float(getattr(self.cloud.settings, "trail_digest_interval", 3600) or 3600)

    @property
    def keys(self) -> SigningKeys:
        if self._keys is None:
            self._keys = SigningKeys(self.cloud)
        return self._keys

    def start_delivery(self) -> None:
        tick = min(self.delivery_interval, self.digest_interval)
        self.cloud.scheduler.every("cloudtrail-delivery", tick, self._delivery_job)

    # -- per-trail state ----------------------------------------------------

    def _state(self, trail) -> tuple[int, dict] | None:
        row = self.storage.one("SELECT cursor, state FROM cloudtrail_delivery WHERE account = ? AND region = ? "
                               "AND name = ?", (trail.account, trail.region, trail.name))
        return None if row is None else (row[0], orjson.loads(row[1]))

    def _put_state(self, trail, cursor: int, state: dict) -> None:
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO cloudtrail_delivery (account, region, name, cursor, state) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (account, region, name) DO UPDATE SET cursor = excluded.cursor, state = excluded.state",
                (trail.account, trail.region, trail.name, cursor, orjson.dumps(state)))

    def _max_seq(self) -> int:
        return self.storage.scalar("SELECT COALESCE(MAX(seq), 0) FROM cloudtrail_events") or 0

    def logging_started(self, trail, now: float) -> None:
        """StartLogging: deliver what is recorded from now on; a new digest
        chain starts now, unless the chain of a stop is still open (its
        last digest not made yet): then it goes on."""
        self.cloud.gateway.recorder.write_batch()
        found = self._state(trail)
        state = found[1] if found else {}
        state.pop("stop_seq", None)
        state.pop("digest_from", None)
        state["next_delivery"] = now + self.delivery_interval
        chain_open = state.pop("digest_until", None) is not None
        with self.storage.tx():
            self._put_state(trail, self._max_seq(), state)
            if not chain_open:
                self._end_chains(trail)

    def _end_chains(self, trail) -> None:
        self.storage.execute("DELETE FROM cloudtrail_digest_chains WHERE account = ? AND home = ? AND name = ?",
                             (trail.account, trail.region, trail.name))

    def logging_stopped(self, trail) -> None:
        """StopLogging: what was recorded until now is still delivered,
        and with log file validation one last digest (at the end of the
        digest period of the stop) covers it: then the chain ends."""
        self.cloud.gateway.recorder.write_batch()
        found = self._state(trail)
        if found is None:
            return
        cursor, state = found
        state["stop_seq"] = self._max_seq()
        if trail.config.get("LogFileValidationEnabled"):
            state["digest_until"] = trail.config.get("Stopped") or self.cloud.clock.now()
        self._put_state(trail, cursor, state)

    def validation_changed(self, trail, enabled: bool, now: float) -> None:
        """UpdateTrail turned log file validation off (the chain ends with
        the digest of the current period: log files delivered from now on
        are never digested) or on (a new chain from now; or, the last
        digest of the old one not made yet, the old chain goes on)."""
        if not trail.logging:
            return
        found = self._state(trail)
        cursor, state = found if found is not None else (self._max_seq(), {})
        if not enabled:
            state["digest_until"] = now
            self._put_state(trail, cursor, state)
            return
        with self.storage.tx():
            if state.pop("digest_until", None) is None:
                state["digest_from"] = now
                self._end_chains(trail)
            self._put_state(trail, cursor, state)

    def trail_deleted(self, trail) -> None:
        with self.storage.tx():
            for table, home in (("cloudtrail_delivery", "region"), ("cloudtrail_digest_chains", "home"),
                                ("cloudtrail_log_files", "home")):
                self.storage.execute(f"DELETE FROM {table} WHERE account = ? AND {home} = ? AND name = ?",
                                     (trail.account, trail.region, trail.name))

    def delivery_status(self, trail) -> dict:
        found = self._state(trail)
        return found[1] if found else {}

    # -- the job --------------------------------------------------------------

    async def _delivery_job(self, now: float) -> None:
        await self.deliver(now, force=False)

    async def flush(self) -> dict:
        """Deliver everything pending now (the admin endpoint)."""
        return await self.deliver(self.cloud.clock.now(), force=True)

    async def deliver(self, now: float, force: bool) -> dict:
        if self._delivery_lock is None:
            self._delivery_lock = asyncio.Lock()
        async with self._delivery_lock:
            # records of this loop iteration first: they are pending too
            self.cloud.gateway.recorder.write_batch()
            files = digests = 0
            rows = self.storage.all("SELECT account, region, name, multi_region, logging, config FROM "
                                    "cloudtrail_trails ORDER BY account, region, name")
            from cloudlet.services.cloudtrail.provider import Trail

            for row in rows:
                trail = Trail(*row)
                try:
                    files += await self._deliver_trail(trail, now, force)
                    if not force and ((trail.logging and trail.config.get("LogFileValidationEnabled"))
                                      or "digest_until" in self.delivery_status(trail)):
                        digests += await self._digests(trail, now)
                except Exception:
                    log.exception("delivering trail %s failed", trail.arn)
            return {"logFiles": files, "digestFiles": digests}

    def _pending(self, trail, cursor: int, upper: int | None):
        where = ["seq > ?", "account = ?"]
        args: list = [cursor, trail.account]
        if upper is not None:
            where.append("seq <= ?")
            args.append(upper)
        if not trail.multi_region:
            if trail.config.get("IncludeGlobalServiceEvents", True):
                where.append("(region = ? OR (region = 'us-east-1' AND service IN ('iam', 'sts')))")
            else:
                where.append("region = ?")
            args.append(trail.region)
        while True:
            batch = self.storage.all(f"SELECT {ev.COLUMNS} FROM cloudtrail_events WHERE {' AND '.join(where)} "
                                     "ORDER BY seq LIMIT ?", (*args, _BATCH))
            yield from map(ev.unpack, batch)
            if len(batch) < _BATCH:
                return
            args[0] = batch[-1][0]

    async def _deliver_trail(self, trail, now: float, force: bool) -> int:
        found = self._state(trail)
        if found is None:
            if not trail.logging:
                return 0
            # (a trail logging before delivery existed: from now on)
            self._put_state(trail, self._max_seq(), {"next_delivery": now + self.delivery_interval})
            return 0
        cursor, state = found
        upper = state.get("stop_seq")
        if not trail.logging and upper is None:
            return 0
        if not force and now < state.get("next_delivery", 0):
            return 0
        state["next_delivery"] = now + self.delivery_interval
        by_region: dict[str, list] = {}
        last = cursor
        models = self.cloud.models
        # CloudWatch Logs gets each record once, even when the S3 put
        # fails and the same records come round again.
        to_logs = [] if trail.config.get("CloudWatchLogsLogGroupArn") else None
        logged = state.get("cwl_seq", 0)
        for row in self._pending(trail, cursor, upper):
            last = row[0]
            record = ev.shape(row, models)
            if not matches(trail, record):
                continue
            by_region.setdefault(row[4], []).append((row[2], record))
            if to_logs is not None and row[0] > logged:
                to_logs.append((row[4], row[2], record))
        if upper is not None and not trail.logging:
            state.pop("stop_seq", None)
        if to_logs is not None:
            if to_logs:
                self.deliver_to_logs(trail, to_logs, state, now)
            state["cwl_seq"] = max(logged, last)
        if not by_region:
            self._put_state(trail, last, state)
            return 0
        files = []
        for region in sorted(by_region):
            items = by_region[region]
            for i in range(0, len(items), _MAX_RECORDS_PER_FILE):
                files.append((region, items[i:i + _MAX_RECORDS_PER_FILE]))
        written = []
        state["LatestDeliveryAttemptTime"] = now
        for region, items in files:
            key, body, digest = self._log_file(trail, region, items, now)
            try:
                await self._put(trail, key, body, None)
            except AwsError as err:
                state["LatestDeliveryAttemptSucceeded"] = False
                state["LatestDeliveryError"] = err.code
                # what was written is not sent again; the rest waits
                self._put_state(trail, cursor if not written else last, state)
                log.info("trail %s: delivery to %s failed: %s", trail.arn, trail.config["S3BucketName"], err.code)
                return len(written)
            written.append(key)
            if trail.config.get("LogFileValidationEnabled"):
                with self.storage.tx():
                    self.storage.execute(
                        "INSERT INTO cloudtrail_log_files (account, home, name, region, delivered, bucket, key, "
                        "hash, oldest, newest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (trail.account, trail.region, trail.name, region, now, trail.config["S3BucketName"], key,
                         digest, min(t for t, _ in items), max(t for t, _ in items)))
        state["LatestDeliveryAttemptSucceeded"] = True
        state["LatestDeliveryTime"] = now
        state.pop("LatestDeliveryError", None)
        self._put_state(trail, last, state)
        await self._notify(trail, written, now)
        return len(written)

    def _prefix(self, trail) -> str:
        prefix = trail.config.get("S3KeyPrefix")
        return f"{prefix}/" if prefix else ""

    def _log_file(self, trail, region: str, items: list, now: float) -> tuple[str, bytes, str]:
        t = _utc(now)
        suffix = "".join(secrets.choice(_ALNUM) for _ in range(16))
        key = (f"{self._prefix(trail)}AWSLogs/{trail.account}/CloudTrail/{region}/{t:%Y/%m/%d}/"
               f"{trail.account}_CloudTrail_{region}_{t:%Y%m%dT%H%MZ}_{suffix}.json.gz")
        raw = orjson.dumps({"Records": [record for _, record in items]})
        return key, _gzip(raw), hashlib.sha256(raw).hexdigest()

    async def _put(self, trail, key: str, body: bytes, metadata: dict | None) -> None:
        bucket = trail.config["S3BucketName"]
        found = self.cloud.service("s3").find_bucket(bucket)
        if found is None:
            raise AwsError("NoSuchBucket", "The specified bucket does not exist", 404)
        params = {"Bucket": bucket, "Key": key, "Body": body, "ACL": "bucket-owner-full-control",
                  "ContentType": "application/json", "ContentEncoding": "gzip"}
        if metadata:
            params["Metadata"] = metadata
        if trail.config.get("KmsKeyId"):
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = trail.config["KmsKeyId"]
        await self.cloud.gateway.call("s3", "PutObject", params, account_id=found.account, region=found.region,
                                      invoked_by=SERVICE_PRINCIPAL, source_arn=trail.arn,
                                      source_account=trail.account)

    async def _notify(self, trail, keys: list[str], now: float) -> None:
        topic = trail.config.get("SnsTopicARN")
        if not topic or not keys:
            return
        message = orjson.dumps({"s3Bucket": trail.config["S3BucketName"], "s3ObjectKey": keys}).decode()
        found = self._state(trail)
        cursor, state = found
        state["LatestNotificationAttemptTime"] = now
        try:
            parts = topic.split(":")
            await self.cloud.gateway.call("sns", "Publish", {"TopicArn": topic, "Message": message},
                                          account_id=parts[4], region=parts[3], invoked_by=SERVICE_PRINCIPAL,
                                          source_arn=trail.arn, source_account=trail.account)
        except AwsError as err:
            state["LatestNotificationAttemptSucceeded"] = False
            state["LatestNotificationError"] = err.code
        else:
            state["LatestNotificationAttemptSucceeded"] = True
            state["LatestNotificationTime"] = now
            state.pop("LatestNotificationError", None)
        self._put_state(trail, cursor, state)

    # -- digests ----------------------------------------------------------------

    async def _digests(self, trail, now: float) -> int:
        """Every digest period that has ended: one digest per region the
        trail delivers for (its home region always)."""
        regions = {trail.region}
        regions.update(r for (r,) in self.storage.all(
            "SELECT DISTINCT region FROM cloudtrail_log_files WHERE account = ? AND home = ? AND name = ?",
            (trail.account, trail.region, trail.name)))
        regions.update(r for (r,) in self.storage.all(
            "SELECT region FROM cloudtrail_digest_chains WHERE account = ? AND home = ? AND name = ?",
            (trail.account, trail.region, trail.name)))
        interval = self.digest_interval
        state = self.delivery_status(trail)
        # (logging stopped / validation turned off: the chain's last digest
        # is the one of the period of the stop, made once the records from
        # before the stop are delivered)
        until = state.get("digest_until")
        if until is not None and state.get("stop_seq") is not None:
            return 0
        made = 0
        ended = True
        for region in sorted(regions):
            row = self.storage.one("SELECT end_time, prev FROM cloudtrail_digest_chains WHERE account = ? AND "
                                   "home = ? AND name = ? AND region = ?",
                                   (trail.account, trail.region, trail.name, region))
            if row is None:
                if until is not None:
                    continue
                started = state.get("digest_from") or trail.config.get("Started") or now
                end, prev = float(started), None
                with self.storage.tx():
                    self.storage.execute("INSERT INTO cloudtrail_digest_chains (account, home, name, region, "
                                         "end_time, prev) VALUES (?, ?, ?, ?, ?, NULL)",
                                         (trail.account, trail.region, trail.name, region, end))
            else:
                end, prev = row[0], orjson.loads(row[1]) if row[1] else None
            while end + interval <= now:
                final = until is not None and end + interval >= until
                if until is not None and end >= until and not self._undigested(trail, region):
                    break
                try:
                    prev = await self._digest(trail, region, end, end + interval, prev, final)
                except AwsError as err:
                    status = self.delivery_status(trail)
                    status["LatestDigestDeliveryError"] = err.code
                    self._put_state(trail, self._state(trail)[0], status)
                    return made
                end += interval
                made += 1
                if final:
                    break
            if until is not None and (end < until or self._undigested(trail, region)):
                ended = False
        if until is not None and ended:
            with self.storage.tx():
                self._end_chains(trail)
                found = self._state(trail)
                if found is not None:
                    state = found[1]
                    state.pop("digest_until", None)
                    self._put_state(trail, found[0], state)
        return made

    def _undigested(self, trail, region: str) -> bool:
        return self.storage.one("SELECT 1 FROM cloudtrail_log_files WHERE account = ? AND home = ? AND name = ? "
                                "AND region = ? AND digested = 0 LIMIT 1",
                                (trail.account, trail.region, trail.name, region)) is not None

    async def _digest(self, trail, region: str, start: float, end: float, prev: dict | None,
                      final: bool = False) -> dict:
        bucket = trail.config["S3BucketName"]
        t = _utc(end)
        key = (f"{self._prefix(trail)}AWSLogs/{trail.account}/CloudTrail-Digest/{region}/{t:%Y/%m/%d}/"
               f"{trail.account}_CloudTrail-Digest_{region}_{trail.name}_{trail.region}_{t:%Y%m%dT%H%M%SZ}.json.gz")
        files = self.storage.all("SELECT id, bucket, key, hash, oldest, newest FROM cloudtrail_log_files WHERE "
                                 "account = ? AND home = ? AND name = ? AND region = ? AND digested = 0 AND "
                                 "delivered <= ? ORDER BY id",
                                 (trail.account, trail.region, trail.name, region, float("inf") if final else end))
        fingerprint, private = self.keys.current(region, end)
        doc = {
            "awsAccountId": trail.account,
            "digestStartTime": _iso(start),
            "digestEndTime": _iso(end),
            "digestS3Bucket": bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": fingerprint,
            "digestSignatureAlgorithm": ALGORITHM,
            "newestEventTime": _iso(max(f[5] for f in files)) if files else None,
            "oldestEventTime": _iso(min(f[4] for f in files)) if files else None,
            "previousDigestS3Bucket": prev["bucket"] if prev else None,
            "previousDigestS3Object": prev["key"] if prev else None,
            "previousDigestHashValue": prev["hash"] if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev["signature"] if prev else None,
            "logFiles": [{"s3Bucket": f[1], "s3Object": f[2], "hashValue": f[3], "hashAlgorithm": "SHA-256",
                          "newestEventTime": _iso(f[5]), "oldestEventTime": _iso(f[4])} for f in files],
        }
        raw = orjson.dumps(doc)
        digest_hash = hashlib.sha256(raw).hexdigest()
        to_sign = f"{doc['digestEndTime']}\n{bucket}/{key}\n{digest_hash}\n{doc['previousDigestSignature'] or 'null'}"
        signature = sign(private, to_sign.encode())
        await self._put(trail, key, _gzip(raw), {"signature": signature, "signature-algorithm": ALGORITHM})
        new_prev = {"bucket": bucket, "key": key, "hash": digest_hash, "signature": signature}
        with self.storage.tx():
            self.storage.execute("UPDATE cloudtrail_digest_chains SET end_time = ?, prev = ? WHERE account = ? AND "
                                 "home = ? AND name = ? AND region = ?",
                                 (end, orjson.dumps(new_prev), trail.account, trail.region, trail.name, region))
            if files:
                self.storage.execute(f"UPDATE cloudtrail_log_files SET digested = 1 WHERE id IN "
                                     f"({','.join('?' * len(files))})", [f[0] for f in files])
            found = self._state(trail)
            if found is not None:
                cursor, state = found
                state["LatestDigestDeliveryTime"] = self.cloud.clock.now()
                state.pop("LatestDigestDeliveryError", None)
                self._put_state(trail, cursor, state)
        return new_prev

    # -- ListPublicKeys -------------------------------------------------------------

    def ListPublicKeys(self, ctx, params: dict) -> dict:
        from cloudlet.protocol.common import parse_timestamp

        now = ctx.now()
        start = parse_timestamp(params["StartTime"]) if params.get("StartTime") is not None else now
        end = parse_timestamp(params["EndTime"]) if params.get("EndTime") is not None else now
        if start > end:
            raise AwsError("InvalidTimeRangeException", "Start time must be before end time.", 400)
        out = []
        for public, valid_from, valid_to, fingerprint in self.keys.public_keys(ctx.region, start, end):
            # (the DER PKCS #1 key; on the wire base64, which the CLI's
            # validate-logs, keeping blobs as text, decodes itself)
            out.append({"Value": bytes(public), "ValidityStartTime": valid_from,
                        "ValidityEndTime": valid_to, "Fingerprint": fingerprint})
        return {"PublicKeyList": out}
