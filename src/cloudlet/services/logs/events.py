"""PutLogEvents and GetLogEvents.

PutLogEvents takes a batch as CloudWatch Logs does (the PutLogEvents API
reference): events in chronological order, spanning at most 24 hours, at
most 1,048,576 bytes counting 26 bytes per event; sequence tokens are
accepted and ignored (as AWS has since 2023). Events more than two hours in
the future, more than 14 days old, or older than the group's retention are
not stored and are reported in rejectedLogEventsInfo; the rest are stored
with their ingestion time, by cloudlet's clock.

GetLogEvents pages a stream by (timestamp, id): a forward token ("f/...")
continues after the last event returned, a backward one ("b/...") before
the first; with neither, startFromHead picks the oldest events, else the
newest. A token at the end of the stream comes back unchanged, which is
how callers know they have read everything.
"""

from __future__ import annotations

from cloudlet.errors import AwsError

MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD = 26
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
MAX_GET_BYTES = 1_048_576


def _token(direction: str, timestamp: int, event_id: int) -> str:
    return f"{direction}/{timestamp:020d}{event_id:036d}"


def _position(token: str) -> tuple[str, int, int]:
    direction, _, digits = token.partition("/")
    if direction not in ("f", "b") or len(digits) != 56 or not digits.isdigit():
        raise AwsError("InvalidParameterException", "The specified nextToken is invalid.")
    return direction, int(digits[:20]), int(digits[20:])


class EventOps:
    """Mixed into LogsService."""

    def PutLogEvents(self, ctx, params):
        events = params["logEvents"]
        size = sum(len(e["message"].encode()) + EVENT_OVERHEAD for e in events)
        if size > MAX_BATCH_BYTES:
            raise AwsError("InvalidParameterException", f"Upload too large: {size} bytes exceeds limit of "
                                                        f"{MAX_BATCH_BYTES}")
        for before, after in zip(events, events[1:]):
            if after["timestamp"] < before["timestamp"]:
                raise AwsError("InvalidParameterException", "Log events in a single PutLogEvents request must be "
                                                            "in chronological order.")
        if events[-1]["timestamp"] - events[0]["timestamp"] > DAY_MS:
            raise AwsError("InvalidParameterException", "The batch of log events in a single PutLogEvents request "
                                                        "cannot span more than 24 hours.")
        now = self._now_ms()
        with self.storage.tx():
            group = self.group(ctx, params)
            stream_id, _, _, first, last, _, stored = self.stream_row(group, params["logStreamName"])
            retention_cutoff = now - group.retention * DAY_MS if group.retention else None
            rejected: dict = {}
            rows = []
            for i, event in enumerate(events):
                ts = event["timestamp"]
                if ts > now + 2 * HOUR_MS:
                    rejected.setdefault("tooNewLogEventStartIndex", i)
                elif ts < now - 14 * DAY_MS:
                    rejected["tooOldLogEventEndIndex"] = i
                elif retention_cutoff is not None and ts < retention_cutoff:
                    rejected["expiredLogEventEndIndex"] = i
                else:
                    rows.append((stream_id, ts, now, event["message"]))
            if rows:
                self.storage.executemany("INSERT INTO logs_events (stream_id, timestamp, ingestion, message) "
                                         "VALUES (?, ?, ?, ?)", rows)
                stamps = [r[1] for r in rows]
                added = sum(len(r[3].encode()) for r in rows)
                self.storage.execute(
                    "UPDATE logs_streams SET first_event = ?, last_event = ?, last_ingestion = ?, bytes = ? "
                    "WHERE id = ?",
                    (min([first] + stamps) if first is not None else min(stamps),
                     max([last] + stamps) if last is not None else max(stamps), now, stored + added, stream_id))
        if rows:
            self.apply_metric_filters(group, ctx.account_id, ctx.region, [(r[1], r[3]) for r in rows])
            self.deliver_subscriptions(group, params["logStreamName"], [(r[1], r[3]) for r in rows])
            dims = {"LogGroupName": group.name}
            sink = self.cloud.metrics
            sink(ctx.account_id, ctx.region, "AWS/Logs", "IncomingLogEvents", dims, float(len(rows)), "Count")
            sink(ctx.account_id, ctx.region, "AWS/Logs", "IncomingBytes", dims, float(added), "Bytes")
        out = {"nextSequenceToken": f"{now:056d}"}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    def GetLogEvents(self, ctx, params):
        group = self.group(ctx, params)
        stream_id = self.stream_row(group, params["logStreamName"])[0]
        limit = params.get("limit") or 10_000
        where = ["stream_id = ?"]
        args: list = [stream_id]
        if params.get("startTime") is not None:
            where.append("timestamp >= ?")
            args.append(params["startTime"])
        if params.get("endTime") is not None:
            where.append("timestamp < ?")
            args.append(params["endTime"])
        token = params.get("nextToken")
        forward = bool(params.get("startFromHead"))
        at = None
        if token is not None:
            direction, ts, event_id = _position(token)
            forward = direction == "f"
            at = (ts, event_id)
            where.append("(timestamp, id) > (?, ?)" if forward else "(timestamp, id) < (?, ?)")
            args += [ts, event_id]
        order = "ASC" if forward else "DESC"
        rows = self.storage.all(f"SELECT id, timestamp, ingestion, message FROM logs_events WHERE "
                                f"{' AND '.join(where)} ORDER BY timestamp {order}, id {order} LIMIT ?",
                                (*args, limit))
        # (as much as fits in a megabyte)
        kept, size = [], 0
        for row in rows:
            size += len(row[3].encode()) + EVENT_OVERHEAD
            if kept and size > MAX_GET_BYTES:
                break
            kept.append(row)
        if not forward:
            kept.reverse()
        events = [{"timestamp": ts, "message": message, "ingestionTime": ingestion}
                  for _, ts, ingestion, message in kept]
        if kept:
            first, last = kept[0], kept[-1]
            forward_token = _token("f", last[1], last[0])
            backward_token = _token("b", first[1], first[0])
        elif at is not None:
            forward_token, backward_token = _token("f", *at), _token("b", *at)
        else:
            # An empty stream (or window): tokens of its ends.
            forward_token, backward_token = _token("f", 0, 0), _token("b", 0, 0)
        return {"events": events, "nextForwardToken": forward_token, "nextBackwardToken": backward_token}

    def FilterLogEvents(self, ctx, params):
        """Events of a group's streams (all, named, or by prefix) that match
        a filter pattern (patterns.py), oldest first across streams."""
        from cloudlet.services.logs.patterns import PatternError, compile_pattern

        group = self.group(ctx, params)
        names, prefix = params.get("logStreamNames"), params.get("logStreamNamePrefix")
        if names is not None and prefix is not None:
            raise AwsError("InvalidParameterException", "logStreamNames and logStreamNamePrefix are mutually "
                                                        "exclusive parameters.")
        try:
            match = compile_pattern(params.get("filterPattern"))
        except PatternError as err:
            raise AwsError("InvalidParameterException", str(err)) from None
        streams = {sid: name for sid, name in self.storage.all(
            "SELECT id, name FROM logs_streams WHERE group_id = ? ORDER BY name", (group.id,))}
        if names is not None:
            wanted = set(names)
            streams = {sid: name for sid, name in streams.items() if name in wanted}
        elif prefix is not None:
            streams = {sid: name for sid, name in streams.items() if name.startswith(prefix)}
        limit = params.get("limit") or 10_000
        where = [f"stream_id IN ({','.join('?' * len(streams))})"] if streams else ["0"]
        args: list = list(streams)
        if params.get("startTime") is not None:
            where.append("timestamp >= ?")
            args.append(params["startTime"])
        if params.get("endTime") is not None:
            where.append("timestamp < ?")
            args.append(params["endTime"])
        if params.get("nextToken"):
            _, ts, event_id = _position("f/" + params["nextToken"].removeprefix("f/"))
            where.append("(timestamp, id) > (?, ?)")
            args += [ts, event_id]
        events, size, last, more = [], 0, None, False
        cursor = self.storage.all(f"SELECT id, stream_id, timestamp, ingestion, message FROM logs_events WHERE "
                                  f"{' AND '.join(where)} ORDER BY timestamp, id", tuple(args))
        for event_id, stream_id, ts, ingestion, message in cursor:
            if not match(message):
                continue
            size += len(message.encode()) + EVENT_OVERHEAD
            if len(events) >= limit or (events and size > MAX_GET_BYTES):
                more = True
                break
            events.append({"logStreamName": streams[stream_id], "timestamp": ts, "message": message,
                           "ingestionTime": ingestion, "eventId": f"{stream_id:020d}{event_id:036d}"})
            last = (ts, event_id)
        out = {"events": events,
               "searchedLogStreams": [{"logStreamName": name, "searchedCompletely": not more}
                                      for name in streams.values()]}
        if more and last is not None:
            out["nextToken"] = _token("f", *last)
        return out
