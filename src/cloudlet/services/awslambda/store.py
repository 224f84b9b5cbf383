"""Lambda's tables: functions (configuration as the API shows it, the
resource policy, tags), their code (zip files by SHA-256, shared by
functions with the same code), and asynchronous invocations waiting to run
(stored before Invoke answers 202, so a restart loses none).

Migrations are appended, never edited."""

MIGRATIONS = [
    """
    CREATE TABLE lambda_functions (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, config TEXT NOT NULL,
        code_sha TEXT NOT NULL, policy TEXT, tags TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (account, region, name));
    CREATE TABLE lambda_code (sha TEXT PRIMARY KEY, data BLOB NOT NULL);
    CREATE TABLE lambda_async (
        id INTEGER PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        request_id TEXT NOT NULL, payload BLOB NOT NULL, attempt INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL, next_attempt REAL NOT NULL, leased INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX lambda_async_due ON lambda_async (next_attempt);
    """,
    # Event source mappings (esm.py): SQS queues polled for a function.
    """
    CREATE TABLE lambda_esm (
        uuid TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, function TEXT NOT NULL,
        source_arn TEXT NOT NULL, config TEXT NOT NULL, created REAL NOT NULL, modified REAL NOT NULL);
    """,
    # Published versions (a snapshot of configuration and code) and aliases.
    """
    CREATE TABLE lambda_versions (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        config TEXT NOT NULL, code_sha TEXT NOT NULL, PRIMARY KEY (account, region, name, version));
    CREATE TABLE lambda_aliases (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, alias TEXT NOT NULL, config TEXT NOT NULL,
        PRIMARY KEY (account, region, name, alias));
    """,
    # Function URLs (urls.py), by their URL id.
    """
    CREATE TABLE lambda_urls (
        url_id TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
        qualifier TEXT NOT NULL, config TEXT NOT NULL, UNIQUE (account, region, name, qualifier));
    """,
    # Asynchronous invocation settings (PutFunctionEventInvokeConfig), per qualifier.
    """
    CREATE TABLE lambda_invoke_configs (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, qualifier TEXT NOT NULL,
        config TEXT NOT NULL, PRIMARY KEY (account, region, name, qualifier));
    """,
    # Layer versions (layers.py); their zips are in lambda_code too.
    """
    CREATE TABLE lambda_layers (
        account TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
        config TEXT NOT NULL, code_sha TEXT NOT NULL, PRIMARY KEY (account, region, name, version));
    """,
]
