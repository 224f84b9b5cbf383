"""The sink through which cloudlet's services publish their AWS/* metrics
(`cloud.metrics`): cheap on the hot path.

A datum is added to an in-memory per-minute aggregate (count, sum, min, max
per metric, unit and minute); a scheduler job every minute, and every
CloudWatch read before it answers, writes the aggregates as statistic sets
(a point and a roll-up row per metric, unit and minute), in one transaction. Gauge samplers (`add_sampler`) run in that job first:
SQS's Approximate* gauges are sampled there.
"""

from __future__ import annotations

import logging

from cloudlet.services.cloudwatch.store import (INSERT_POINT, MIGRATIONS, UPSERT_ROLLUP, dims_key, remember,
                                                resolve_metrics)

log = logging.getLogger("cloudlet.cloudwatch")


class MetricsSink:
    def __init__(self, cloud):
        self.cloud = cloud
        self._buffer: dict = {}
        self._samplers: dict = {}
        self._ready = False
        # Metric ids (store.resolve_metrics' cache), shared with PutMetricData.
        self.ids: dict = {}
        self._dims: dict = {}

    def __call__(self, account, region, namespace, name, dimensions, value, unit="None",
                 timestamp: float | None = None) -> None:
        """One datum, in the minute of `timestamp` (default: now; a log
        metric filter's datum takes its log event's time)."""
        minute = int((self.cloud.clock.now() if timestamp is None else timestamp) // 60) * 60
        # Services send the same few dimension sets over and over: their
        # canonical JSON is made once (this is on SQS's send path).
        frozen = tuple(dimensions.items()) if isinstance(dimensions, dict) else None
        dk = self._dims.get(frozen) if frozen is not None else None
        if dk is None:
            dk = dims_key(dimensions)
            if frozen is not None:
                if len(self._dims) > 10_000:
                    self._dims.clear()
                self._dims[frozen] = dk
        key = (account, region, namespace, name, dk, unit, minute)
        agg = self._buffer.get(key)
        if agg is None:
            self._buffer[key] = [1, value, value, value]
        else:
            agg[0] += 1
            agg[1] += value
            if value < agg[2]:
                agg[2] = value
            if value > agg[3]:
                agg[3] = value

    def add_sampler(self, name: str, fn) -> None:
        """fn(now) is called every minute, before the buffer is written (it
        emits gauges through this sink)."""
        self._samplers[name] = fn

    def start(self) -> None:
        self.cloud.scheduler.every("cloudwatch-vended-metrics", 60, self.tick,
                                   first_run=(self.cloud.clock.now() // 60 + 1) * 60)

    def tick(self, now: float) -> None:
        for name, fn in list(self._samplers.items()):
            try:
                fn(now)
            except Exception:
                log.exception("metrics sampler %s failed", name)
        self.flush()

    def ensure_tables(self) -> None:
        if not self._ready:
            self.cloud.storage.migrate("cloudwatch", MIGRATIONS)
            self._ready = True

    def flush(self) -> None:
        """Write the buffered aggregates (one statistic set per metric,
        unit and minute)."""
        if not self._buffer:
            return
        buffer, self._buffer = self._buffer, {}
        self.ensure_tables()
        storage = self.cloud.storage
        wanted: dict = {}
        for (account, region, namespace, name, dims, _unit, minute) in buffer:
            key = (account, region, namespace, name, dims)
            if wanted.get(key, -1) < minute:
                wanted[key] = minute
        with storage.tx():
            ids, learned = resolve_metrics(storage, self.ids, wanted, self.cloud.clock.now())
            points, rollup = [], []
            for (account, region, namespace, name, dims, unit, minute), (n, s, lo, hi) in buffer.items():
                mid = ids[(account, region, namespace, name, dims)]
                points.append((mid, minute, unit, n, s, lo, hi, None, None, 60))
                rollup.append((mid, minute, unit, n, s, lo, hi))
            storage.executemany(INSERT_POINT, points)
            storage.executemany(UPSERT_ROLLUP, rollup)
        remember(self.ids, learned)

    def reset(self) -> None:
        self._buffer.clear()
        self.ids.clear()
        self._ready = False
