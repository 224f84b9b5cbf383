"""SNS's tables.

sns_deliveries holds the HTTP/S deliveries (notifications and
confirmations) not yet made: written with the call that causes them,
deleted once delivered, dead-lettered or given up. next_attempt is clock
time; `leased` marks one in flight (cleared at start).

Migrations are appended, never edited.
"""

MIGRATIONS = [
    """
    CREATE TABLE sns_topics (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL UNIQUE, fifo INTEGER NOT NULL, created REAL NOT NULL, attributes TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]', data_protection TEXT, next_seq INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account, region, name));
    CREATE TABLE sns_subscriptions (
        arn TEXT PRIMARY KEY, topic_arn TEXT NOT NULL, owner TEXT NOT NULL, protocol TEXT NOT NULL,
        endpoint TEXT NOT NULL, attributes TEXT NOT NULL, confirmed INTEGER NOT NULL, token TEXT,
        created REAL NOT NULL);
    CREATE INDEX sns_subscriptions_topic ON sns_subscriptions (topic_arn);
    CREATE TABLE sns_dedup (
        topic_id INTEGER NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL, seq TEXT, expires REAL NOT NULL,
        PRIMARY KEY (topic_id, key));
    CREATE TABLE sns_deliveries (
        id INTEGER PRIMARY KEY, subscription_arn TEXT NOT NULL, topic_arn TEXT NOT NULL,
        endpoint TEXT NOT NULL, message_type TEXT NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
        raw INTEGER NOT NULL DEFAULT 0, leased INTEGER NOT NULL DEFAULT 0,
        attempt INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL, created REAL NOT NULL);
    CREATE INDEX sns_deliveries_due ON sns_deliveries (next_attempt);
    CREATE TABLE sns_outbox (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, protocol TEXT NOT NULL, endpoint TEXT NOT NULL,
        subscription_arn TEXT, topic_arn TEXT, message_id TEXT NOT NULL, subject TEXT, message TEXT NOT NULL,
        attributes TEXT, created REAL NOT NULL);
    CREATE TABLE sns_sms (
        account TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (account, kind, key));
    CREATE TABLE sns_platform (
        arn TEXT PRIMARY KEY, account TEXT NOT NULL, kind TEXT NOT NULL, parent TEXT, name TEXT,
        attributes TEXT NOT NULL, created REAL NOT NULL);
    """,
    # Encryption at rest of a KMS-encrypted topic's pending deliveries
    # (sse.py): data_key names the sns_data_keys row whose key sealed the
    # body into `sealed` (body is then ''); NULL: plaintext.
    """
    ALTER TABLE sns_deliveries ADD COLUMN data_key INTEGER;
    ALTER TABLE sns_deliveries ADD COLUMN sealed BLOB;
    CREATE TABLE sns_data_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT, topic_arn TEXT NOT NULL, kms_key TEXT NOT NULL,
        blob BLOB NOT NULL, created REAL NOT NULL);
    """,
]
