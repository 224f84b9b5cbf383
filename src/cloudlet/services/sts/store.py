"""STS's table: the temporary credentials it has issued."""

MIGRATIONS = [
    """
    CREATE TABLE sts_sessions (
        access_key TEXT PRIMARY KEY, secret TEXT NOT NULL, token TEXT NOT NULL, account TEXT NOT NULL,
        kind TEXT NOT NULL, arn TEXT NOT NULL, user_id TEXT NOT NULL, role_arn TEXT, role_name TEXT,
        session_name TEXT, user_name TEXT, issued REAL NOT NULL, expires REAL NOT NULL, source_identity TEXT,
        tags TEXT NOT NULL DEFAULT '{}', transitive TEXT NOT NULL DEFAULT '[]',
        policies TEXT NOT NULL DEFAULT '[]', chained INTEGER NOT NULL DEFAULT 0, mfa INTEGER NOT NULL DEFAULT 0,
        federated_provider TEXT);
    CREATE INDEX sts_sessions_expires ON sts_sessions (expires);
    CREATE TABLE sts_jwks (issuer TEXT PRIMARY KEY, jwks TEXT NOT NULL);
    """,
]
