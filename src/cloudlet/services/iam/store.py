"""IAM's tables. IAM is global: everything is keyed by account, not region.
Entity names are unique per account without regard to case, as in AWS."""

MIGRATIONS = [
    """
    CREATE TABLE iam_users (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL, created INTEGER NOT NULL, boundary TEXT, password_last_used INTEGER,
        PRIMARY KEY (account, name));
    CREATE TABLE iam_groups (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (account, name));
    CREATE TABLE iam_group_members (
        account TEXT NOT NULL, group_name TEXT NOT NULL COLLATE NOCASE, user_name TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (account, group_name, user_name));
    CREATE TABLE iam_roles (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL, created INTEGER NOT NULL, trust_policy TEXT NOT NULL, description TEXT,
        max_session INTEGER NOT NULL DEFAULT 3600, boundary TEXT, last_used INTEGER, last_used_region TEXT,
        PRIMARY KEY (account, name));
    CREATE TABLE iam_policies (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL UNIQUE, description TEXT, created INTEGER NOT NULL, updated INTEGER NOT NULL,
        default_version TEXT NOT NULL, next_version INTEGER NOT NULL, PRIMARY KEY (account, name));
    CREATE TABLE iam_policy_versions (
        arn TEXT NOT NULL, version TEXT NOT NULL, document TEXT NOT NULL, created INTEGER NOT NULL,
        PRIMARY KEY (arn, version));
    CREATE TABLE iam_inline_policies (
        account TEXT NOT NULL, kind TEXT NOT NULL, entity TEXT NOT NULL COLLATE NOCASE,
        name TEXT NOT NULL COLLATE NOCASE, document TEXT NOT NULL,
        PRIMARY KEY (account, kind, entity, name));
    CREATE TABLE iam_attachments (
        account TEXT NOT NULL, kind TEXT NOT NULL, entity TEXT NOT NULL COLLATE NOCASE, policy_arn TEXT NOT NULL,
        PRIMARY KEY (account, kind, entity, policy_arn));
    CREATE INDEX iam_attachments_policy ON iam_attachments (policy_arn);
    CREATE TABLE iam_access_keys (
        id TEXT PRIMARY KEY, secret TEXT NOT NULL, account TEXT NOT NULL, user_name TEXT COLLATE NOCASE,
        status TEXT NOT NULL, created INTEGER NOT NULL, last_used INTEGER, last_used_service TEXT,
        last_used_region TEXT);
    CREATE INDEX iam_access_keys_user ON iam_access_keys (account, user_name);
    CREATE TABLE iam_login_profiles (
        account TEXT NOT NULL, user_name TEXT NOT NULL COLLATE NOCASE, password_hash TEXT NOT NULL,
        created INTEGER NOT NULL, reset_required INTEGER NOT NULL, PRIMARY KEY (account, user_name));
    CREATE TABLE iam_instance_profiles (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (account, name));
    CREATE TABLE iam_instance_profile_roles (
        account TEXT NOT NULL, profile TEXT NOT NULL COLLATE NOCASE, role TEXT NOT NULL COLLATE NOCASE,
        PRIMARY KEY (account, profile, role));
    CREATE TABLE iam_tags (
        account TEXT NOT NULL, kind TEXT NOT NULL, entity TEXT NOT NULL COLLATE NOCASE, key TEXT NOT NULL,
        value TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (account, kind, entity, key));
    CREATE TABLE iam_account_aliases (account TEXT PRIMARY KEY, alias TEXT NOT NULL UNIQUE);
    CREATE TABLE iam_password_policy (account TEXT PRIMARY KEY, policy TEXT NOT NULL);
    CREATE TABLE iam_oidc_providers (
        account TEXT NOT NULL, arn TEXT NOT NULL, url TEXT NOT NULL, client_ids TEXT NOT NULL,
        thumbprints TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (account, arn));
    CREATE TABLE iam_credential_reports (account TEXT PRIMARY KEY, generated INTEGER NOT NULL, content BLOB NOT NULL);
    """,
    # Virtual MFA devices (mfa.py): user_name is the user the device is
    # enabled for; last_step the TOTP step of the last code accepted.
    """
    CREATE TABLE iam_mfa_devices (
        account TEXT NOT NULL, serial TEXT NOT NULL COLLATE NOCASE, name TEXT NOT NULL, path TEXT NOT NULL,
        seed TEXT NOT NULL, user_name TEXT COLLATE NOCASE, enabled INTEGER, created INTEGER NOT NULL,
        last_step INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (account, serial));
    CREATE INDEX iam_mfa_devices_user ON iam_mfa_devices (account, user_name);
    """,
    # SAML identity providers (saml.py): keys is a JSON list of
    # {KeyId, Timestamp, der}; extra the stored ContextProvider /
    # IdentityCenterInstanceArn.
    """
    CREATE TABLE iam_saml_providers (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, arn TEXT NOT NULL, uuid TEXT NOT NULL,
        metadata TEXT NOT NULL, encryption TEXT, keys TEXT NOT NULL, created INTEGER NOT NULL,
        extra TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (account, name));
    """,
    # Server certificates, users' signing certificates and SSH public keys
    # (certificates.py). A signing certificate of the root user has no
    # user_name.
    """
    CREATE TABLE iam_server_certificates (
        account TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, id TEXT NOT NULL, path TEXT NOT NULL,
        arn TEXT NOT NULL, body TEXT NOT NULL, chain TEXT, uploaded INTEGER NOT NULL, expires INTEGER NOT NULL,
        PRIMARY KEY (account, name));
    CREATE TABLE iam_signing_certificates (
        account TEXT NOT NULL, id TEXT NOT NULL, user_name TEXT COLLATE NOCASE, body TEXT NOT NULL,
        status TEXT NOT NULL, uploaded INTEGER NOT NULL, PRIMARY KEY (account, id));
    CREATE TABLE iam_ssh_keys (
        account TEXT NOT NULL, id TEXT NOT NULL, user_name TEXT NOT NULL COLLATE NOCASE, body TEXT NOT NULL,
        fingerprint TEXT NOT NULL, status TEXT NOT NULL, uploaded INTEGER NOT NULL, PRIMARY KEY (account, id));
    """,
    # Service-specific credentials (servicecreds.py): service_user and a
    # password, or an alias and a secret (API keys); expires NULL: never.
    """
    CREATE TABLE iam_service_credentials (
        account TEXT NOT NULL, id TEXT NOT NULL, user_name TEXT NOT NULL COLLATE NOCASE, service TEXT NOT NULL,
        service_user TEXT, secret TEXT NOT NULL, alias TEXT, status TEXT NOT NULL, created INTEGER NOT NULL,
        expires INTEGER, PRIMARY KEY (account, id));
    """,
]
