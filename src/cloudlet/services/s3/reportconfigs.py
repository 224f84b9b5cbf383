"""The bucket configurations kept by Id, up to 1,000 of each kind:
analytics, metrics, inventory and S3 Intelligent-Tiering. They are stored
(kind "<kind>:<id>") and listed 100 at a time; nothing reads them yet."""

from __future__ import annotations

import base64

from cloudlet.services.s3.common import malformed_xml, s3_error

MAX_CONFIGURATIONS = 1000
PAGE = 100
_INVENTORY_FIELDS = frozenset("""Size LastModifiedDate StorageClass ETag IsMultipartUploaded ReplicationStatus
EncryptionStatus ObjectLockRetainUntilDate ObjectLockMode ObjectLockLegalHoldStatus IntelligentTieringAccessTier
BucketKeyStatus ChecksumAlgorithm ObjectAccessControlList ObjectOwner LifecycleExpirationDate""".split())
# kind -> the request / response member holding one configuration
_MEMBERS = {"analytics": "AnalyticsConfiguration", "metrics": "MetricsConfiguration",
            "inventory": "InventoryConfiguration", "intelligent-tiering": "IntelligentTieringConfiguration"}


def _check_inventory(config: dict) -> None:
    destination = (config.get("Destination") or {}).get("S3BucketDestination")
    schedule = (config.get("Schedule") or {}).get("Frequency")
    if not destination or not destination.get("Bucket") or destination.get("Format") not in ("CSV", "ORC", "Parquet") \
            or schedule not in ("Daily", "Weekly") or config.get("IncludedObjectVersions") not in ("All", "Current") \
            or config.get("IsEnabled") is None:
        raise malformed_xml()
    if set(config.get("OptionalFields") or []) - _INVENTORY_FIELDS:
        raise malformed_xml()


def _check_tiering(config: dict) -> None:
    tierings = config.get("Tierings") or []
    if config.get("Status") not in ("Enabled", "Disabled") or not tierings:
        raise malformed_xml()
    bounds = {"ARCHIVE_ACCESS": (90, 730), "DEEP_ARCHIVE_ACCESS": (180, 730)}
    for tiering in tierings:
        low, high = bounds.get(tiering.get("AccessTier"), (None, None))
        if low is None:
            raise malformed_xml()
        if not low <= (tiering.get("Days") or 0) <= high:
            raise s3_error("InvalidArgument", f"Days for {tiering['AccessTier']} must be between {low} and {high}",
                           400, ArgumentName="Days", ArgumentValue=tiering.get("Days"))


class ReportConfigOps:
    """Mixed into BucketOps."""

    def _put_report(self, ctx, params: dict, kind: str) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get(_MEMBERS[kind])
        if not config:
            raise malformed_xml()
        if kind == "inventory":
            _check_inventory(config)
        elif kind == "intelligent-tiering":
            _check_tiering(config)
        elif kind == "analytics" and "StorageClassAnalysis" not in config:
            raise malformed_xml()
        if config.get("Id") != params["Id"]:
            if kind == "inventory":
                raise s3_error("IdMismatch", "Document ID does not match the specified configuration ID.", 400)
            raise malformed_xml()
        if kind == "inventory":
            target = config["Destination"]["S3BucketDestination"]["Bucket"]
            if not target.startswith("arn:aws:s3:::") or len(target) == len("arn:aws:s3:::"):
                raise s3_error("InvalidS3DestinationBucket", "Invalid bucket ARN.", 400)
        config_kind = f"{kind}:{params['Id']}"
        if self.get_config(bucket.name, config_kind) is None:
            count = self.storage.scalar("SELECT COUNT(*) FROM s3_bucket_configs WHERE bucket = ? AND kind LIKE ?",
                                        (bucket.name, f"{kind}:%"))
            if count >= MAX_CONFIGURATIONS:
                raise s3_error("TooManyConfigurations", "You are attempting to create a new configuration but have "
                               "already reached the 1,000-configuration limit.", 400)
        self.put_config(bucket.name, config_kind, config)
        return {}

    def _get_report(self, ctx, params: dict, kind: str) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = self.get_config(bucket.name, f"{kind}:{params['Id']}")
        if config is None:
            raise no_such_configuration()
        return {_MEMBERS[kind]: config}

    def _delete_report(self, ctx, params: dict, kind: str) -> dict:
        bucket = self.owned_bucket(ctx, params)
        if self.get_config(bucket.name, f"{kind}:{params['Id']}") is None:
            raise no_such_configuration()
        self.delete_config(bucket.name, f"{kind}:{params['Id']}")
        return {}

    def _list_reports(self, ctx, params: dict, kind: str) -> dict:
        import orjson

        bucket = self.owned_bucket(ctx, params)
        token = params.get("ContinuationToken")
        after = ""
        if token:
            try:
                after = base64.urlsafe_b64decode(token.encode()).decode()
            except (ValueError, UnicodeDecodeError):
                after = "\uffff"
        rows = self.storage.all("SELECT kind, value FROM s3_bucket_configs WHERE bucket = ? AND kind LIKE ? "
                                "AND kind > ? ORDER BY kind LIMIT ?",
                                (bucket.name, f"{kind}:%", f"{kind}:{after}" if after else "", PAGE + 1))
        rows = [r for r in rows if r[0].startswith(f"{kind}:")]
        out: dict = {"IsTruncated": len(rows) > PAGE}
        items = [orjson.loads(value) for _, value in rows[:PAGE]]
        if items:
            out[_MEMBERS[kind] + "List"] = items
        if token:
            out["ContinuationToken"] = token
        if len(rows) > PAGE:
            last = rows[PAGE - 1][0].split(":", 1)[1]
            out["NextContinuationToken"] = base64.urlsafe_b64encode(last.encode()).decode()
        return out

    def PutBucketAnalyticsConfiguration(self, ctx, params):
        return self._put_report(ctx, params, "analytics")

    def GetBucketAnalyticsConfiguration(self, ctx, params):
        return self._get_report(ctx, params, "analytics")

    def DeleteBucketAnalyticsConfiguration(self, ctx, params):
        return self._delete_report(ctx, params, "analytics")

    def ListBucketAnalyticsConfigurations(self, ctx, params):
        return self._list_reports(ctx, params, "analytics")

    def PutBucketMetricsConfiguration(self, ctx, params):
        return self._put_report(ctx, params, "metrics")

    def GetBucketMetricsConfiguration(self, ctx, params):
        return self._get_report(ctx, params, "metrics")

    def DeleteBucketMetricsConfiguration(self, ctx, params):
        return self._delete_report(ctx, params, "metrics")

    def ListBucketMetricsConfigurations(self, ctx, params):
        return self._list_reports(ctx, params, "metrics")

    def PutBucketInventoryConfiguration(self, ctx, params):
        return self._put_report(ctx, params, "inventory")

    def GetBucketInventoryConfiguration(self, ctx, params):
        return self._get_report(ctx, params, "inventory")

    def DeleteBucketInventoryConfiguration(self, ctx, params):
        return self._delete_report(ctx, params, "inventory")

    def ListBucketInventoryConfigurations(self, ctx, params):
        return self._list_reports(ctx, params, "inventory")

    def PutBucketIntelligentTieringConfiguration(self, ctx, params):
        return self._put_report(ctx, params, "intelligent-tiering")

    def GetBucketIntelligentTieringConfiguration(self, ctx, params):
        return self._get_report(ctx, params, "intelligent-tiering")

    def DeleteBucketIntelligentTieringConfiguration(self, ctx, params):
        return self._delete_report(ctx, params, "intelligent-tiering")

    def ListBucketIntelligentTieringConfigurations(self, ctx, params):
        return self._list_reports(ctx, params, "intelligent-tiering")


def no_such_configuration():
    return s3_error("NoSuchConfiguration", "The specified configuration does not exist.", 404)
