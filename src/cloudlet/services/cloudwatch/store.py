"""CloudWatch's tables.

`cloudwatch_metrics`: one row per metric (account, region, namespace, name,
dimensions as canonical sorted JSON), with the time of its last datapoint
(ListMetrics' RecentlyActive). `cloudwatch_points`: raw datapoints, each a
statistic set (count, sum, min, max) with, for points that carry their
values (Value, Values/Counts), the values themselves as JSON [[v, n], ...]
so percentiles can be computed: since the third migration as `packed`, the
values as float64s sorted ascending, and `weights`, their counts (NULL when
every count is 1); a point with neither (a Value, a statistic set) holds
one exact value when its min equals its max, and has no percentiles
otherwise. The old JSON `vals` column is still read. A request's points of
one (metric, unit, timestamp, resolution) are one row.

`cloudwatch_rollup`: the statistic sets per metric, unit and minute
(`period` 60), written with the points (one upsert per minute of a
request); the SampleCount/Sum/Minimum/Maximum/Average of periods that are
multiples of a minute are read from it. retention.py rolls minute rows
older than 15 days into 5-minute rows (`period` 300), those older than 63
days into hour rows (3600), and deletes hour rows after 455 days; raw
points go once their minute is 15 days old (1-second points after 3 hours,
merged into one point per minute).

`cloudwatch_alarms`: metric and composite alarms, the definition as the
JSON DescribeAlarms returns (minus state) and the state columns apart, with
`memory`, what the evaluator keeps between runs. `cloudwatch_alarm_history`
outlives its alarm. `cloudwatch_tags` are by resource ARN (alarms and
Contributor Insights rules). `cloudwatch_dashboards` are per account (a
dashboard has no region). `cloudwatch_anomaly_detectors`: one row per
detector, `identity` its canonical JSON key (namespace, metric, dimensions,
stat, or the metric-math queries).
"""

MIGRATIONS = [
    """
    CREATE TABLE cloudwatch_metrics (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, namespace TEXT NOT NULL,
        name TEXT NOT NULL, dims TEXT NOT NULL, last_put REAL NOT NULL,
        UNIQUE (account, region, namespace, name, dims));
    CREATE INDEX cloudwatch_metrics_name ON cloudwatch_metrics (account, region, name);
    CREATE TABLE cloudwatch_points (
        metric_id INTEGER NOT NULL, ts REAL NOT NULL, unit TEXT NOT NULL, count REAL NOT NULL,
        sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL, vals TEXT, resolution INTEGER NOT NULL DEFAULT 60);
    CREATE INDEX cloudwatch_points_metric_ts ON cloudwatch_points (metric_id, ts);
    """,
    """
    CREATE TABLE cloudwatch_alarms (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
        config TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL, reason_data TEXT,
        state_updated REAL NOT NULL, state_transitioned REAL NOT NULL, memory TEXT,
        PRIMARY KEY (account, region, name));
    CREATE TABLE cloudwatch_alarm_history (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, alarm_name TEXT NOT NULL,
        alarm_type TEXT NOT NULL, ts REAL NOT NULL, item_type TEXT NOT NULL, summary TEXT NOT NULL,
        data TEXT NOT NULL);
    CREATE INDEX cloudwatch_alarm_history_name ON cloudwatch_alarm_history (account, region, alarm_name, ts);
    CREATE TABLE cloudwatch_tags (
        arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
    CREATE TABLE cloudwatch_dashboards (
        account TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, modified REAL NOT NULL,
        PRIMARY KEY (account, name));
    CREATE TABLE cloudwatch_anomaly_detectors (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, identity TEXT NOT NULL,
        config TEXT NOT NULL, created REAL NOT NULL, UNIQUE (account, region, identity));
    """,
    """
    ALTER TABLE cloudwatch_points ADD COLUMN packed BLOB;
    ALTER TABLE cloudwatch_points ADD COLUMN weights BLOB;
    CREATE TABLE cloudwatch_rollup (
        metric_id INTEGER NOT NULL, start INTEGER NOT NULL, unit TEXT NOT NULL, period INTEGER NOT NULL,
        count REAL NOT NULL, sum REAL NOT NULL, min REAL NOT NULL, max REAL NOT NULL,
        PRIMARY KEY (metric_id, start, unit)) WITHOUT ROWID;
    INSERT INTO cloudwatch_rollup (metric_id, start, unit, period, count, sum, min, max)
        SELECT metric_id, CAST(ts / 60 AS INTEGER) * 60, unit, 60, SUM(count), SUM(sum), MIN(min), MAX(max)
        FROM cloudwatch_points WHERE count > 0 GROUP BY metric_id, CAST(ts / 60 AS INTEGER), unit;
    CREATE INDEX cloudwatch_rollup_period ON cloudwatch_rollup (period, start);
    CREATE INDEX cloudwatch_points_high_res ON cloudwatch_points (ts) WHERE resolution = 1;
    """,
]

UPSERT_METRIC = (
    "INSERT INTO cloudwatch_metrics (account, region, namespace, name, dims, last_put) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account, region, namespace, name, dims) DO UPDATE SET last_put = MAX(last_put, excluded.last_put) "
    "RETURNING id")

INSERT_POINT = ("INSERT INTO cloudwatch_points (metric_id, ts, unit, count, sum, min, max, packed, weights, "
                "resolution) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")

# One statistic set added to a metric's (unit, minute) roll-up row.
UPSERT_ROLLUP = (
    "INSERT INTO cloudwatch_rollup (metric_id, start, unit, period, count, sum, min, max) "
    "VALUES (?, ?, ?, 60, ?, ?, ?, ?) ON CONFLICT (metric_id, start, unit) DO UPDATE SET "
    "count = count + excluded.count, sum = sum + excluded.sum, min = MIN(min, excluded.min), "
    "max = MAX(max, excluded.max)")


def dims_key(dimensions) -> str:
    """Canonical JSON of dimensions (a list of {Name, Value} or a dict)."""
    import orjson

    if isinstance(dimensions, dict):
        pairs = sorted(dimensions.items())
    else:
        pairs = sorted((d["Name"], d["Value"]) for d in dimensions or ())
    return orjson.dumps(pairs).decode()


def metric_id(storage, account, region, namespace, name, dims, ts, cache=None) -> int:
    key = (account, region, namespace, name, dims)
    if cache is not None and key in cache:
        storage.execute("UPDATE cloudwatch_metrics SET last_put = MAX(last_put, ?) WHERE id = ?", (ts, cache[key]))
        return cache[key]
    found = storage.scalar(UPSERT_METRIC, (account, region, namespace, name, dims, ts))
    if cache is not None:
        cache[key] = found
    return found


LAST_PUT_SLACK = 60.0


def resolve_metrics(storage, cache: dict, wanted: dict, now: float) -> tuple[dict, dict]:
    """Ids of the metrics in `wanted` ({(account, region, namespace, name,
    dims): newest timestamp}), creating rows and moving last_put forward,
    inside the caller's transaction. `cache` maps a key to (id, a last_put
    known to be stored): a metric known with a last_put as new, or at most
    LAST_PUT_SLACK older, costs no statement (last_put, read only by
    ListMetrics' two-week and three-hour windows, may lag by that much).
    Returns (ids, learned); the caller adds `learned` to `cache` once its
    transaction has ended well (a rolled back row must not stay cached).
    A metric row is only deleted (retention.py) once its last_put is two
    weeks old: an id is used from the cache only while its cached last_put
    is more recent than that by an hour, so never after its row is gone."""
    ids, learned = {}, {}
    fresh = now - 13 * 86400 - 23 * 3600
    for key, ts in wanted.items():
        known = cache.get(key)
        if known is not None and (known[1] >= ts or (ts - known[1] <= LAST_PUT_SLACK and known[1] >= fresh)):
            ids[key] = known[0]
            continue
        mid = storage.scalar(UPSERT_METRIC, (*key, ts))
        ids[key] = mid
        learned[key] = (mid, ts if known is None else max(ts, known[1]))
    return ids, learned


def remember(cache: dict, learned: dict) -> None:
    if len(cache) + len(learned) > 100_000:
        cache.clear()
    cache.update(learned)
