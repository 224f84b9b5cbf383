"""CloudWatch's retention and roll-up, on cloudlet's clock (an hourly job,
`cloudwatch-retention`), as AWS documents it ("Metrics retention"): data
points with a period under 60 seconds are available for 3 hours, 1-minute
ones for 15 days, 5-minute ones for 63 days, hourly ones for 455 days;
older data is aggregated into the coarser period. Per run:

  - 1-second points older than 3 hours are merged into one point per
    metric, unit and minute (resolution 60; their values kept, so minute
    percentiles survive; their minute roll-up rows already count them);
  - roll-up minute rows of 5-minute windows older than 15 days become one
    5-minute row, and the raw points of those minutes are deleted (from
    then on no percentiles);
  - 5-minute rows of hours older than 63 days become one hour row;
  - rows of hours older than 455 days are deleted;
  - a metric without datapoints for two weeks is not listed (ListMetrics
    filters on last_put); its row goes once none of its data is left.

Boundaries are whole windows: a 5-minute window is rolled once all of it
is older than 15 days, an hour once all of it is older than 63 days.
"""

from __future__ import annotations

import asyncio
import math
from array import array

import orjson

from cloudlet.services.cloudwatch.metrics import _point
from cloudlet.services.cloudwatch.store import INSERT_POINT

DAY = 86400
HIGH_RES = 3 * 3600
MINUTES = 15 * DAY
FIVE_MINUTES = 63 * DAY
HOURS = 455 * DAY
TWO_WEEKS = 14 * DAY
# Raw points are deleted per metric (through the (metric_id, ts) index), a
# transaction per this many metrics, yielding to the event loop between.
CHUNK = 500

ROLL = ("INSERT INTO cloudwatch_rollup (metric_id, start, unit, period, count, sum, min, max) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (metric_id, start, unit) DO UPDATE SET "
        "period = MAX(period, excluded.period), count = count + excluded.count, sum = sum + excluded.sum, "
        "min = MIN(min, excluded.min), max = MAX(max, excluded.max)")


def start(service) -> None:
    cloud = service.cloud
    now = cloud.clock.now()
    cloud.scheduler.every("cloudwatch-retention", 3600, lambda when: run(cloud, when),
                          first_run=(now // 3600 + 1) * 3600)  # on whole clock hours


def cutoffs(now: float) -> dict:
    return {"high_res": now - HIGH_RES,
            "minutes": math.floor((now - MINUTES) / 300) * 300,
            "five_minutes": math.floor((now - FIVE_MINUTES) / 3600) * 3600,
            "hours": math.floor((now - HOURS) / 3600) * 3600}


async def run(cloud, now: float) -> None:
    cloud.metrics.flush()
    storage = cloud.storage
    cut = cutoffs(now)
    with storage.tx():
        _merge_high_res(storage, cut["high_res"])
        _roll(storage, 60, 300, cut["minutes"])
        _roll(storage, 300, 3600, cut["five_minutes"])
        storage.execute("DELETE FROM cloudwatch_rollup WHERE period = 3600 AND start < ?", (cut["hours"],))
    ids = [r[0] for r in storage.all("SELECT id FROM cloudwatch_metrics ORDER BY id")]
    for i in range(0, len(ids), CHUNK):
        with storage.tx():
            storage.executemany("DELETE FROM cloudwatch_points WHERE metric_id = ? AND ts < ?",
                                [(mid, cut["minutes"]) for mid in ids[i:i + CHUNK]])
        await asyncio.sleep(0)
    with storage.tx():
        gone = storage.execute(
            "DELETE FROM cloudwatch_metrics WHERE last_put < ? "
            "AND NOT EXISTS (SELECT 1 FROM cloudwatch_rollup r WHERE r.metric_id = cloudwatch_metrics.id) "
            "AND NOT EXISTS (SELECT 1 FROM cloudwatch_points p WHERE p.metric_id = cloudwatch_metrics.id)",
            (now - TWO_WEEKS,)).rowcount
    if gone:
        cloud.metrics.ids.clear()


def _roll(storage, period: int, into: int, before: int) -> None:
    """Rows of `period` starting before `before` (a multiple of `into`)
    become rows of `into`, merged into any already there."""
    rows = storage.all(
        "SELECT metric_id, (start / ?) * ?, unit, SUM(count), SUM(sum), MIN(min), MAX(max) FROM cloudwatch_rollup "
        "WHERE period = ? AND start < ? GROUP BY 1, 2, 3", (into, into, period, before))
    if not rows:
        return
    storage.execute("DELETE FROM cloudwatch_rollup WHERE period = ? AND start < ?", (period, before))
    storage.executemany(ROLL, [(mid, s, unit, into, n, total, lo, hi) for mid, s, unit, n, total, lo, hi in rows])


def _merge_high_res(storage, before: float) -> None:
    rows = storage.all(
        "SELECT rowid, metric_id, unit, ts, count, sum, min, max, vals, packed, weights FROM cloudwatch_points "
        "WHERE resolution = 1 AND ts < ?", (before,))
    if not rows:
        return
    groups: dict = {}
    for rowid, mid, unit, ts, count, total, lo, hi, vals, packed, weights in rows:
        if packed is not None:
            values = array("d", packed).tolist()
            counts = array("d", weights).tolist() if weights is not None else None
        elif vals is not None:
            pairs = orjson.loads(vals)
            values, counts = [v for v, _ in pairs], [float(n) for _, n in pairs]
        else:
            values = counts = None
        # The shape of metrics._datum's rows, which _point merges.
        groups.setdefault((mid, unit, math.floor(ts / 60) * 60), []).append(
            (None, None, None, None, count, total, lo, hi, values, counts, None))
    storage.executemany("DELETE FROM cloudwatch_points WHERE rowid = ?", [(r[0],) for r in rows])
    storage.executemany(INSERT_POINT, [(mid, float(minute), unit, *_point(group), 60)
                                       for (mid, unit, minute), group in groups.items()])
