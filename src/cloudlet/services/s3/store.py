"""S3's tables.

Bucket names are global (one namespace for every account, as on AWS).
Each bucket configuration (policy, encryption, CORS, lifecycle, ...) is a
row of `s3_bucket_configs`, kind -> the configuration as the API took it
(a JSON document of the operation's input structure; a policy is its text).

An object version is a row of `s3_objects`; its data is a list of pieces
(`pieces`: JSON [[blob key, plaintext size], ...]: one for PutObject, one per
part for a multipart upload, so completing an upload copies nothing), each
a file of the blob store holding AES-256-GCM segments (objectdata.py) under
the version's data key. `sse` holds how that data key is protected: wrapped
by S3's master key (SSE-S3), by KMS (SSE-KMS: the KMS ciphertext blob), or
by the customer's key (SSE-C). Plaintext never reaches the disk.

`seq` orders the versions of a key (newest highest); `is_latest` marks the
current one, which may be a delete marker.
"""

MIGRATIONS = [
    """
    CREATE TABLE s3_buckets (
        name TEXT PRIMARY KEY, account TEXT NOT NULL, region TEXT NOT NULL, created REAL NOT NULL,
        versioning TEXT NOT NULL DEFAULT '', mfa_delete TEXT NOT NULL DEFAULT '',
        object_lock INTEGER NOT NULL DEFAULT 0);
    CREATE INDEX s3_buckets_account ON s3_buckets (account, name);
    CREATE TABLE s3_bucket_configs (
        bucket TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (bucket, kind));
    CREATE TABLE s3_objects (
        bucket TEXT NOT NULL, key TEXT NOT NULL, version_id TEXT NOT NULL, seq INTEGER NOT NULL,
        is_latest INTEGER NOT NULL, delete_marker INTEGER NOT NULL DEFAULT 0,
        size INTEGER NOT NULL DEFAULT 0, etag TEXT NOT NULL DEFAULT '', last_modified REAL NOT NULL,
        storage_class TEXT NOT NULL DEFAULT 'STANDARD', owner TEXT NOT NULL,
        headers TEXT NOT NULL DEFAULT '{}', metadata TEXT NOT NULL DEFAULT '{}',
        checksums TEXT NOT NULL DEFAULT '{}', parts TEXT, pieces TEXT NOT NULL DEFAULT '[]',
        sse TEXT NOT NULL DEFAULT '{}', tags TEXT NOT NULL DEFAULT '{}', lock TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (bucket, key, version_id));
    CREATE INDEX s3_objects_key ON s3_objects (bucket, key, seq);
    CREATE INDEX s3_objects_latest ON s3_objects (bucket, key) WHERE is_latest = 1;
    CREATE TABLE s3_uploads (
        upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL, initiated REAL NOT NULL,
        owner TEXT NOT NULL, initiator TEXT NOT NULL, storage_class TEXT NOT NULL DEFAULT 'STANDARD',
        headers TEXT NOT NULL DEFAULT '{}', metadata TEXT NOT NULL DEFAULT '{}', sse TEXT NOT NULL DEFAULT '{}',
        tags TEXT NOT NULL DEFAULT '{}', lock TEXT NOT NULL DEFAULT '{}', checksum_algorithm TEXT,
        checksum_type TEXT);
    CREATE INDEX s3_uploads_bucket ON s3_uploads (bucket, key, initiated);
    CREATE TABLE s3_parts (
        upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
        last_modified REAL NOT NULL, checksums TEXT NOT NULL DEFAULT '{}', blob TEXT NOT NULL,
        PRIMARY KEY (upload_id, part_number));
    -- Blobs whose rows are gone (deleted objects, replaced parts): removed
    -- from the blob store after the deleting transaction has committed.
    CREATE TABLE s3_dead_blobs (blob TEXT PRIMARY KEY);
    """,
    # Small pieces (at most objectdata.INLINE_MAX sealed bytes) as rows.
    """
    CREATE TABLE s3_inline (blob TEXT PRIMARY KEY, data BLOB NOT NULL);
    """,
    # Small pieces keyed by row id ("r:<id>"): a new one lands on the
    # table's last page, where a random text key touched a random page of
    # its index too, on insert and again on delete. Pieces written before
    # ("i:<hex>") stay in s3_inline.
    """
    CREATE TABLE s3_pieces (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
    """,
    # A version's restore from GLACIER / DEEP_ARCHIVE (restore.py); the
    # index holds only the versions that have one.
    """
    ALTER TABLE s3_objects ADD COLUMN restore TEXT;
    CREATE INDEX s3_objects_restores ON s3_objects (bucket) WHERE restore IS NOT NULL;
    """,
]
