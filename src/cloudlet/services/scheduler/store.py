"""EventBridge Scheduler's tables: schedule groups (the "default" group of
an account and Region is made when first named) and schedules, each with
its settings as the API takes them and the clock time it fires next.

Migrations are appended, never edited."""

MIGRATIONS = [
    """
    CREATE TABLE scheduler_groups (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
        modified REAL NOT NULL, tags TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (account, region, name));
    CREATE TABLE scheduler_schedules (
        account TEXT NOT NULL, region TEXT NOT NULL, grp TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
        created REAL NOT NULL, modified REAL NOT NULL, next_fire REAL,
        PRIMARY KEY (account, region, grp, name));
    CREATE INDEX scheduler_due ON scheduler_schedules (next_fire) WHERE next_fire IS NOT NULL;
    """,
]
