"""KMS's tables.

Key material is never stored in plaintext: `kms_material.sealed` is the
material sealed (AES-256-GCM) under the master key kept in the data
directory, with the key's ARN and material version as associated data, so
a sealed blob cannot be moved to another key. A multi-Region replica is
a row of its own (same key id, its region) with a copy of the material.

Migration 2: GetKeyLastUsage's columns on kms_keys (see usage.py). Keys
made before it get their tracking_start when the service next starts.
"""

MIGRATIONS = [
    """
    CREATE TABLE kms_keys (
        account TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, arn TEXT NOT NULL UNIQUE,
        created REAL NOT NULL, description TEXT NOT NULL, key_spec TEXT NOT NULL, key_usage TEXT NOT NULL,
        origin TEXT NOT NULL, manager TEXT NOT NULL, state TEXT NOT NULL, policy TEXT NOT NULL,
        tags TEXT NOT NULL DEFAULT '[]', deletion_date REAL, pending_window INTEGER,
        rotation_period INTEGER, next_rotation REAL, multi_region INTEGER NOT NULL DEFAULT 0,
        primary_region TEXT, valid_to REAL, current_version TEXT, extra TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (account, region, id));
    CREATE INDEX kms_keys_deletion ON kms_keys (deletion_date) WHERE deletion_date IS NOT NULL;
    CREATE INDEX kms_keys_rotation ON kms_keys (next_rotation) WHERE next_rotation IS NOT NULL;
    CREATE TABLE kms_material (
        account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT NOT NULL, version TEXT NOT NULL,
        sealed BLOB NOT NULL, created REAL NOT NULL, rotation_type TEXT, imported INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (account, region, key_id, version));
    CREATE TABLE kms_aliases (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, key_id TEXT NOT NULL,
        created REAL NOT NULL, updated REAL NOT NULL, PRIMARY KEY (account, region, name));
    CREATE INDEX kms_aliases_key ON kms_aliases (account, region, key_id);
    CREATE TABLE kms_grants (
        id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT NOT NULL, name TEXT,
        grantee TEXT NOT NULL, retiring TEXT, operations TEXT NOT NULL, constraints TEXT,
        issuing_account TEXT NOT NULL, created REAL NOT NULL);
    CREATE INDEX kms_grants_key ON kms_grants (account, region, key_id);
    CREATE TABLE kms_imports (
        account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT NOT NULL, token TEXT NOT NULL,
        wrapping_sealed BLOB NOT NULL, algorithm TEXT NOT NULL, wrapping_spec TEXT NOT NULL, expires REAL NOT NULL,
        PRIMARY KEY (account, region, key_id));
    """,
    """
    ALTER TABLE kms_keys ADD COLUMN tracking_start REAL;
    ALTER TABLE kms_keys ADD COLUMN last_operation TEXT;
    ALTER TABLE kms_keys ADD COLUMN last_used REAL;
    ALTER TABLE kms_keys ADD COLUMN last_request_id TEXT;
    """,
]
