"""EventBridge's tables. An event bus is a row of events_buses (the
default bus of an account and Region is made the first time it is named);
a rule a row of events_rules (by account, region, bus and name) and its
targets rows of events_targets, each target's settings kept as the API
takes them (JSON).

Migrations are appended, never edited."""

MIGRATIONS = [
    """
    CREATE TABLE events_buses (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
        modified REAL NOT NULL, description TEXT, kms_key TEXT, dead_letter TEXT, log_config TEXT,
        policy TEXT, tags TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (account, region, name));
    CREATE TABLE events_rules (
        account TEXT NOT NULL, region TEXT NOT NULL, bus TEXT NOT NULL, name TEXT NOT NULL,
        pattern TEXT, schedule TEXT, state TEXT NOT NULL, description TEXT, role_arn TEXT,
        managed_by TEXT, created REAL NOT NULL, next_fire REAL, tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (account, region, bus, name));
    CREATE INDEX events_rules_scheduled ON events_rules (next_fire) WHERE next_fire IS NOT NULL;
    CREATE TABLE events_targets (
        account TEXT NOT NULL, region TEXT NOT NULL, bus TEXT NOT NULL, rule TEXT NOT NULL, id TEXT NOT NULL,
        arn TEXT NOT NULL, config TEXT NOT NULL, added INTEGER NOT NULL,
        PRIMARY KEY (account, region, bus, rule, id));
    """,
    # Connections (their secrets sealed with EventBridge's master key), API
    # destinations, and HTTP invocations waiting for their (next) attempt.
    """
    CREATE TABLE events_connections (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, uuid TEXT NOT NULL,
        auth_type TEXT NOT NULL, description TEXT, public TEXT NOT NULL, sealed BLOB NOT NULL, state TEXT NOT NULL,
        state_reason TEXT, created REAL NOT NULL, modified REAL NOT NULL, authorized REAL, token BLOB,
        token_expires REAL, PRIMARY KEY (account, region, name));
    CREATE TABLE events_api_destinations (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, uuid TEXT NOT NULL,
        connection_arn TEXT NOT NULL, endpoint TEXT NOT NULL, method TEXT NOT NULL, rate INTEGER NOT NULL,
        description TEXT, state TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL,
        PRIMARY KEY (account, region, name));
    CREATE TABLE events_http_deliveries (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, bus TEXT NOT NULL, rule TEXT NOT NULL,
        rule_arn TEXT NOT NULL, target TEXT NOT NULL, body TEXT NOT NULL, event TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0, created REAL NOT NULL, next_attempt REAL NOT NULL,
        leased INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX events_http_due ON events_http_deliveries (next_attempt);
    """,
    # Archives (the events they keep, in the order they came) and replays.
    """
    CREATE TABLE events_archives (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, source_arn TEXT NOT NULL, pattern TEXT,
        retention INTEGER NOT NULL, description TEXT, created REAL NOT NULL, PRIMARY KEY (account, region, name));
    CREATE TABLE events_archived (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, archive TEXT NOT NULL,
        time REAL NOT NULL, event TEXT NOT NULL);
    CREATE INDEX events_archived_by_time ON events_archived (account, region, archive, time, id);
    CREATE TABLE events_replays (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
        PRIMARY KEY (account, region, name));
    """,
]
