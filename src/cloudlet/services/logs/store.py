"""CloudWatch Logs' tables. A log group is a row of logs_groups (by
account, region and name); its streams rows of logs_streams; every event a
row of logs_events, ordered within its stream by (timestamp, id): what
GetLogEvents pages through with its tokens. Metric filters and resource
policies have tables of their own.

Migrations are appended, never edited."""

MIGRATIONS = [
    """
    CREATE TABLE logs_groups (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        created INTEGER NOT NULL, retention INTEGER, kms_key TEXT, class TEXT NOT NULL,
        protected INTEGER NOT NULL DEFAULT 0, tags TEXT NOT NULL DEFAULT '{}',
        UNIQUE (account, region, name));
    CREATE TABLE logs_streams (
        id INTEGER PRIMARY KEY, group_id INTEGER NOT NULL, name TEXT NOT NULL, created INTEGER NOT NULL,
        first_event INTEGER, last_event INTEGER, last_ingestion INTEGER, bytes INTEGER NOT NULL DEFAULT 0,
        UNIQUE (group_id, name));
    CREATE TABLE logs_events (
        id INTEGER PRIMARY KEY, stream_id INTEGER NOT NULL, timestamp INTEGER NOT NULL, ingestion INTEGER NOT NULL,
        message TEXT NOT NULL);
    CREATE INDEX logs_events_by_time ON logs_events (stream_id, timestamp, id);
    """,
    # Metric filters (metricfilters.py): transformations as the API takes them.
    """
    CREATE TABLE logs_metric_filters (
        group_id INTEGER NOT NULL, name TEXT NOT NULL, pattern TEXT NOT NULL, transformations TEXT NOT NULL,
        created INTEGER NOT NULL, PRIMARY KEY (group_id, name));
    """,
    # Resource policies (resourcepolicies.py): resource_arn '' for an
    # account-level policy, else the log group's ARN (one per group, with its
    # revision id); document as stored (normalized), updated in ms.
    """
    CREATE TABLE logs_resource_policies (
        account TEXT NOT NULL, region TEXT NOT NULL, resource_arn TEXT NOT NULL, name TEXT NOT NULL,
        document TEXT NOT NULL, updated INTEGER NOT NULL, revision TEXT,
        PRIMARY KEY (account, region, resource_arn, name));
    """,
    # Logs Insights (insights.py): a query and its results (run when
    # started), and saved query definitions.
    """
    CREATE TABLE logs_queries (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, query TEXT NOT NULL,
        groups TEXT NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, status TEXT NOT NULL,
        created INTEGER NOT NULL, duration INTEGER NOT NULL, results TEXT NOT NULL, statistics TEXT NOT NULL);
    CREATE INDEX logs_queries_by_account ON logs_queries (account, region, created);
    CREATE TABLE logs_query_definitions (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, query TEXT NOT NULL,
        groups TEXT NOT NULL, modified INTEGER NOT NULL);
    """,
    # Subscription filters (subscriptions.py).
    """
    CREATE TABLE logs_subscription_filters (
        group_id INTEGER NOT NULL, name TEXT NOT NULL, pattern TEXT NOT NULL, destination TEXT NOT NULL,
        role TEXT, distribution TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (group_id, name));
    """,
]
