"""CloudWatch's tables.

`cloudwatch_metrics`: one row per metric (account, region, namespace, name,
dimensions as canonical sorted JSON), with the time of its last datapoint
(ListMetrics' RecentlyActive). `cloudwatch_points`: raw datapoints, each a
statistic set (count, sum, min, max) with, for points that carry their
values (Value, Values/Counts), the values themselves as JSON [[v, n], ...]
so percentiles can be computed. Retention and roll-up (3 h of 1-second
points, 15 days of 1-minute, ...) are not applied yet.
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
]

UPSERT_METRIC = (
    "INSERT INTO cloudwatch_metrics (account, region, namespace, name, dims, last_put) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (account, region, namespace, name, dims) DO UPDATE SET last_put = MAX(last_put, excluded.last_put) "
    "RETURNING id")

INSERT_POINT = ("INSERT INTO cloudwatch_points (metric_id, ts, unit, count, sum, min, max, vals, resolution) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")


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
