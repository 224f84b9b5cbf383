"""SES's tables, shared by the v1 (query) and v2 (REST) APIs: both are
views of the same identities, templates, configuration sets and sent
messages, as on AWS. The "ses" provider owns the migrations; "sesv2"
reads and writes through it.

Migrations are appended, never edited."""

MIGRATIONS = [
    """
    CREATE TABLE ses_identities (
        account TEXT NOT NULL, region TEXT NOT NULL, identity TEXT NOT NULL, kind TEXT NOT NULL,
        status TEXT NOT NULL, token TEXT NOT NULL, dkim_tokens TEXT NOT NULL, dkim_enabled INTEGER NOT NULL,
        created REAL NOT NULL, settings TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (account, region, identity));
    CREATE TABLE ses_templates (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, subject TEXT, text TEXT, html TEXT,
        created REAL NOT NULL, PRIMARY KEY (account, region, name));
    CREATE TABLE ses_config_sets (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, created REAL NOT NULL,
        settings TEXT NOT NULL DEFAULT '{}', destinations TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (account, region, name));
    CREATE TABLE ses_messages (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, message_id TEXT NOT NULL UNIQUE,
        sent REAL NOT NULL, source TEXT NOT NULL, destination TEXT NOT NULL, subject TEXT, raw BLOB NOT NULL,
        config_set TEXT, tags TEXT NOT NULL DEFAULT '[]', outcome TEXT NOT NULL);
    CREATE INDEX ses_messages_by_time ON ses_messages (account, region, sent);
    CREATE TABLE ses_accounts (
        account TEXT NOT NULL, region TEXT NOT NULL, production INTEGER NOT NULL DEFAULT 0,
        sending_enabled INTEGER NOT NULL DEFAULT 1, details TEXT, PRIMARY KEY (account, region));
    """,
]
