"""CloudWatch's tables.

`cloudwatch_metrics`: one row per metric (account, region, namespace, name,
dimensions as canonical sorted JSON), with the time of its last datapoint
(ListMetrics' RecentlyActive). `cloudwatch_points`: raw datapoints, each a
statistic set (count, sum, min, max) with, for points that carry their
values (Value, Values/Counts), the values themselves as JSON [[v, n], ...]
so percentiles can be computed. Retention and roll-up (3 h of 1-second
points, 15 days of 1-minute, ...) are not applied yet.

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
