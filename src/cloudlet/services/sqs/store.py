"""SQS's tables. Messages are rows: a receive is one UPDATE ... RETURNING
over the (queue, visible_at) index, so its cost does not grow with the
number of messages waiting.

Migrations are appended, never edited: a data directory keeps the ones it
ran."""

MIGRATIONS = [
    """
    CREATE TABLE sqs_queues (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        arn TEXT NOT NULL, fifo INTEGER NOT NULL, created REAL NOT NULL, modified REAL NOT NULL,
        attributes TEXT NOT NULL, tags TEXT NOT NULL DEFAULT '{}', purged REAL, next_seq INTEGER NOT NULL DEFAULT 1,
        UNIQUE (account, region, name));
    CREATE TABLE sqs_deleted_queues (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, deleted REAL NOT NULL,
        PRIMARY KEY (account, region, name));
    CREATE TABLE sqs_messages (
        id INTEGER PRIMARY KEY, queue_id INTEGER NOT NULL, message_id TEXT NOT NULL, body TEXT NOT NULL,
        md5_body TEXT NOT NULL, attributes TEXT, md5_attributes TEXT, system TEXT, md5_system TEXT,
        sent REAL NOT NULL, visible_at REAL NOT NULL, expires_at REAL NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0, first_receive REAL, receipt TEXT, received_at REAL,
        sender_id TEXT NOT NULL, group_id TEXT, dedup_id TEXT, seq TEXT, source_arn TEXT);
    CREATE INDEX sqs_messages_visible ON sqs_messages (queue_id, visible_at, id);
    CREATE INDEX sqs_messages_groups ON sqs_messages (queue_id, group_id, id) WHERE group_id IS NOT NULL;
    CREATE INDEX sqs_messages_expiry ON sqs_messages (expires_at);
    CREATE TABLE sqs_dedup (
        queue_id INTEGER NOT NULL, key TEXT NOT NULL, message_id TEXT NOT NULL, seq TEXT, expires REAL NOT NULL,
        PRIMARY KEY (queue_id, key));
    CREATE TABLE sqs_receive_attempts (
        queue_id INTEGER NOT NULL, attempt TEXT NOT NULL, expires REAL NOT NULL, messages TEXT NOT NULL,
        PRIMARY KEY (queue_id, attempt));
    CREATE TABLE sqs_move_tasks (
        handle TEXT PRIMARY KEY, source_arn TEXT NOT NULL, destination_arn TEXT, rate INTEGER,
        status TEXT NOT NULL, started REAL NOT NULL, last_tick REAL NOT NULL, moved INTEGER NOT NULL DEFAULT 0,
        to_move INTEGER NOT NULL, budget REAL NOT NULL DEFAULT 0, failure TEXT);
    """,
    # Server-side encryption (sse.py). data_key: NULL = stored in plaintext
    # (rows from before SSE, queues without it), 0 = SSE-SQS (sealed by
    # SQS's own key), > 0 = SSE-KMS (the row of sqs_data_keys whose key
    # sealed it). An encrypted row keeps body '' and attributes NULL; both
    # are in `sealed`.
    """
    ALTER TABLE sqs_messages ADD COLUMN data_key INTEGER;
    ALTER TABLE sqs_messages ADD COLUMN sealed BLOB;
    CREATE INDEX sqs_messages_kms_keys ON sqs_messages (data_key) WHERE data_key > 0;
    CREATE TABLE sqs_data_keys (
        id INTEGER PRIMARY KEY AUTOINCREMENT, queue_arn TEXT NOT NULL, kms_key TEXT NOT NULL,
        blob BLOB NOT NULL, created REAL NOT NULL);
    """,
]
