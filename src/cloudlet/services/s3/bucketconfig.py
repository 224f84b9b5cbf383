"""Bucket configurations that are stored as given once checked: tagging,
versioning, default encryption, CORS, website, logging, request payment,
transfer acceleration, Object Lock, replication. Each Get answers AWS's
error for a configuration never set (or its documented default)."""

from __future__ import annotations

import re

from cloudlet.services.s3.common import malformed_xml, s3_error

TAGGING = "tagging"
ENCRYPTION = "encryption"
CORS = "cors"
WEBSITE = "website"
LOGGING = "logging"
REQUEST_PAYMENT = "request_payment"
ACCELERATE = "accelerate"
OBJECT_LOCK = "object-lock"
REPLICATION = "replication"

_TAG_TEXT = re.compile(r"[\w\s.:/=+\-@]*")
MAX_BUCKET_TAGS = 50
_CORS_METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
_SSE = ("AES256", "aws:kms", "aws:kms:dsse")
DEFAULT_ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                                 "BucketKeyEnabled": False}]}


def invalid_tag(message: str, **fields):
    return s3_error("InvalidTag", message, 400, **fields)


def validate_tags(tags: list[dict], kind: str = "bucket") -> None:
    """A bucket's tag set, checked in S3's order ("create-bucket": tags in
    CreateBucketConfiguration, whose aws: message differs)."""
    if kind != "object" and len(tags) > MAX_BUCKET_TAGS:
        raise s3_error("BadRequest", f"Bucket tag count cannot be greater than {MAX_BUCKET_TAGS}", 400)
    seen = set()
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        if key is None or value is None:
            raise malformed_xml()
        if key in seen:
            raise invalid_tag("Cannot provide multiple Tags with the same key", TagKey=key)
        if key.startswith("aws:"):
            if kind == "create-bucket":
                raise invalid_tag('User-defined tag keys can\'t start with "aws:". This prefix is reserved for '
                                  'system tags. Remove "aws:" from your tag keys and try again.')
            if kind == "object":
                raise invalid_tag("Your TagKey cannot be prefixed with aws:", TagKey=key)
            raise invalid_tag("System tags cannot be added/updated by requester", TagKey=key)
        if not 1 <= len(key) <= 128 or not _TAG_TEXT.fullmatch(key):
            raise invalid_tag("The TagKey you have provided is invalid", TagKey=key)
        if len(value) > 256 or not _TAG_TEXT.fullmatch(value):
            raise invalid_tag("The TagValue you have provided is invalid", TagKey=key, TagValue=value)
        seen.add(key)


class BucketConfigOps:
    """Mixed into BucketOps."""

    # -- tagging -----------------------------------------------------------------

    def PutBucketTagging(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        tags = (params.get("Tagging") or {}).get("TagSet") or []
        validate_tags(tags)
        if tags:
            self.put_config(bucket.name, TAGGING, [{"Key": t["Key"], "Value": t["Value"]} for t in tags])
        else:
            self.delete_config(bucket.name, TAGGING)
        return {}

    def GetBucketTagging(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        tags = self.get_config(bucket.name, TAGGING)
        if not tags:
            raise s3_error("NoSuchTagSet", "The TagSet does not exist", 404, BucketName=bucket.name)
        return {"TagSet": tags}

    def DeleteBucketTagging(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, TAGGING)
        return {}

    # -- versioning ---------------------------------------------------------------

    def PutBucketVersioning(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get("VersioningConfiguration") or {}
        status = config.get("Status")
        mfa_delete = config.get("MFADelete")
        if status not in ("Enabled", "Suspended") or mfa_delete not in (None, "Enabled", "Disabled"):
            raise malformed_xml()
        if mfa_delete is not None or bucket.mfa_delete == "Enabled":
            # Only the root user, signing with its MFA device's code in
            # x-amz-mfa, changes (or works under) MFA delete.
            if not params.get("MFA"):
                raise s3_error("AccessDenied", "Mfa Authentication must be used for this request", 403)
            if ctx.principal.session_token:
                raise s3_error("InvalidRequest", "DevPay and Mfa are mutually exclusive authorization methods.",
                               400)
        if status == "Suspended" and bucket.object_lock:
            raise s3_error("InvalidBucketState", "An Object Lock configuration is present on this bucket, so the "
                                                 "versioning state cannot be changed.", 409, BucketName=bucket.name)
        try:
            with self.storage.tx():
                self.storage.execute("UPDATE s3_buckets SET versioning = ?, mfa_delete = ? WHERE name = ?",
                                     (status, mfa_delete or bucket.mfa_delete, bucket.name))
        finally:
            self.forget_bucket(bucket.name)
        return {}

    def GetBucketVersioning(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        out = {}
        if bucket.versioning:
            out["Status"] = bucket.versioning
        if bucket.mfa_delete:
            out["MFADelete"] = bucket.mfa_delete
        return out

    # -- default encryption ----------------------------------------------------------

    def bucket_encryption(self, bucket: str) -> dict:
        """The bucket's default encryption rule ({"SSEAlgorithm", maybe
        "KMSMasterKeyID"}, "BucketKeyEnabled"): SSE-S3 unless set, as on AWS
        since January 2023."""
        config = self.get_config(bucket, ENCRYPTION) or DEFAULT_ENCRYPTION
        rule = config["Rules"][0]
        return {**rule.get("ApplyServerSideEncryptionByDefault", {}),
                "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled"))}

    def PutBucketEncryption(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        rules = (params.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
        if len(rules) != 1:
            raise malformed_xml()
        rule = rules[0]
        default = rule.get("ApplyServerSideEncryptionByDefault")
        if default is None:
            raise malformed_xml()
        algorithm = default.get("SSEAlgorithm")
        if algorithm not in _SSE:
            raise malformed_xml()
        key = default.get("KMSMasterKeyID")
        if key is not None and algorithm == "AES256":
            raise s3_error("InvalidArgument", "a KMSMasterKeyID is not applicable if the default sse algorithm is "
                                              "not aws:kms or aws:kms:dsse", 400,
                           ArgumentName="ApplyServerSideEncryptionByDefault")
        stored: dict = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": algorithm},
                        "BucketKeyEnabled": bool(rule.get("BucketKeyEnabled"))}
        if key:
            stored["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = key
        if rule.get("BlockedEncryptionTypes"):
            stored["BlockedEncryptionTypes"] = rule["BlockedEncryptionTypes"]
        self.put_config(bucket.name, ENCRYPTION, {"Rules": [stored]})
        return {}

    def GetBucketEncryption(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        return {"ServerSideEncryptionConfiguration": self.get_config(bucket.name, ENCRYPTION) or DEFAULT_ENCRYPTION}

    def DeleteBucketEncryption(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, ENCRYPTION)  # back to SSE-S3
        return {}

    # -- CORS ------------------------------------------------------------------------

    def PutBucketCors(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        rules = (params.get("CORSConfiguration") or {}).get("CORSRules") or []
        if not rules or len(rules) > 100:
            raise malformed_xml()
        for rule in rules:
            if not rule.get("AllowedMethods") or not rule.get("AllowedOrigins"):
                raise malformed_xml()
            for method in rule["AllowedMethods"]:
                if method not in _CORS_METHODS:
                    raise s3_error("InvalidRequest", "Found unsupported HTTP method in CORS config. Unsupported "
                                                     f"method is {method}", 400)
            for origin in rule["AllowedOrigins"]:
                if origin.count("*") > 1:
                    raise s3_error("InvalidRequest", f'AllowedOrigin "{origin}" can not have more than one '
                                                     "wildcard.", 400)
            for header in rule.get("AllowedHeaders") or []:
                if header.count("*") > 1:
                    raise s3_error("InvalidRequest", f'AllowedHeader "{header}" can not have more than one '
                                                     "wildcard.", 400)
            if len(rule.get("ID") or "") > 255:
                raise s3_error("InvalidArgument", "ID length should not exceed allowed limit of 255", 400,
                               ArgumentName="ID", ArgumentValue=rule["ID"])
        self.put_config(bucket.name, CORS, rules)
        return {}

    def GetBucketCors(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        rules = self.get_config(bucket.name, CORS)
        if rules is None:
            raise s3_error("NoSuchCORSConfiguration", "The CORS configuration does not exist", 404,
                           BucketName=bucket.name)
        return {"CORSRules": rules}

    def DeleteBucketCors(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, CORS)
        return {}

    # -- website -------------------------------------------------------------------------

    def PutBucketWebsite(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get("WebsiteConfiguration") or {}
        _check_website(config)
        self.put_config(bucket.name, WEBSITE, config)
        return {}

    def GetBucketWebsite(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = self.get_config(bucket.name, WEBSITE)
        if config is None:
            raise s3_error("NoSuchWebsiteConfiguration", "The specified bucket does not have a website "
                                                         "configuration", 404, BucketName=bucket.name)
        return config

    def DeleteBucketWebsite(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, WEBSITE)
        return {}

    # -- logging -----------------------------------------------------------------------------

    def PutBucketLogging(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        enabled = (params.get("BucketLoggingStatus") or {}).get("LoggingEnabled")
        if not enabled:
            self.delete_config(bucket.name, LOGGING)
            return {}
        target_name = enabled.get("TargetBucket")
        if target_name is None or enabled.get("TargetPrefix") is None:
            raise malformed_xml()
        target = self.find_bucket(target_name)
        if target is None:
            raise s3_error("InvalidTargetBucketForLogging", "The target bucket for logging does not exist", 400,
                           TargetBucket=target_name)
        if target.account != bucket.account:
            raise s3_error("InvalidTargetBucketForLogging", "The owner for the bucket to be logged and the target "
                                                            "bucket must be the same.", 400, TargetBucket=target_name)
        if target.region != bucket.region:
            raise s3_error("CrossLocationLoggingProhibitted", "Cross S3 location logging not allowed. ", 403,
                           TargetBucketLocation=target.region, SourceBucketLocation=bucket.region)
        if enabled.get("TargetGrants") and self.bucket_ownership(target_name) == "BucketOwnerEnforced":
            raise s3_error("InvalidTargetBucketForLogging", "Target grants are not supported because the target "
                                                            "bucket uses the bucket owner enforced setting for "
                                                            "Object Ownership.", 400, TargetBucket=target_name)
        self.put_config(bucket.name, LOGGING, enabled)
        return {}

    def GetBucketLogging(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        enabled = self.get_config(bucket.name, LOGGING)
        return {"LoggingEnabled": enabled} if enabled else {}

    # -- request payment, acceleration --------------------------------------------------------

    def PutBucketRequestPayment(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        payer = (params.get("RequestPaymentConfiguration") or {}).get("Payer")
        if payer not in ("Requester", "BucketOwner"):
            raise malformed_xml()
        self.put_config(bucket.name, REQUEST_PAYMENT, payer)
        return {}

    def GetBucketRequestPayment(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        return {"Payer": self.get_config(bucket.name, REQUEST_PAYMENT) or "BucketOwner"}

    def PutBucketAccelerateConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        status = (params.get("AccelerateConfiguration") or {}).get("Status")
        if status not in ("Enabled", "Suspended"):
            raise malformed_xml()
        if "." in bucket.name:
            raise s3_error("InvalidRequest", "S3 Transfer Acceleration is not supported for buckets with periods "
                                             "(.) in their names", 400)
        self.put_config(bucket.name, ACCELERATE, status)
        return {}

    def GetBucketAccelerateConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        status = self.get_config(bucket.name, ACCELERATE)
        return {"Status": status} if status else {}

    # -- Object Lock ----------------------------------------------------------------------------

    def PutObjectLockConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get("ObjectLockConfiguration") or {}
        if config.get("ObjectLockEnabled") != "Enabled":
            raise malformed_xml()
        rule = config.get("Rule")
        if rule is not None:
            retention = rule.get("DefaultRetention")
            if not retention or retention.get("Mode") not in ("GOVERNANCE", "COMPLIANCE"):
                raise malformed_xml()
            days, years = retention.get("Days"), retention.get("Years")
            if (days is None) == (years is None):
                raise malformed_xml()
            if (days if days is not None else years) <= 0:
                raise s3_error("InvalidArgument", "Default retention period must be a positive integer value", 400,
                               ArgumentName="Days" if days is not None else "Years",
                               ArgumentValue=days if days is not None else years)
        if not bucket.object_lock:
            # Existing buckets may turn Object Lock on once versioning is on.
            if bucket.versioning != "Enabled":
                raise s3_error("InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object "
                                                     "Lock configuration", 409, BucketName=bucket.name)
            try:
                with self.storage.tx():
                    self.storage.execute("UPDATE s3_buckets SET object_lock = 1 WHERE name = ?", (bucket.name,))
            finally:
                self.forget_bucket(bucket.name)
        stored = {"ObjectLockEnabled": "Enabled"}
        if rule is not None:
            stored["Rule"] = {"DefaultRetention": {k: v for k, v in rule["DefaultRetention"].items()
                                                   if k in ("Mode", "Days", "Years")}}
        self.put_config(bucket.name, OBJECT_LOCK, stored)
        return {}

    def GetObjectLockConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        if not bucket.object_lock:
            raise s3_error("ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for "
                                                                   "this bucket", 404, BucketName=bucket.name)
        return {"ObjectLockConfiguration": self.get_config(bucket.name, OBJECT_LOCK) or {"ObjectLockEnabled": "Enabled"}}

    # -- replication (stored; nothing is copied) ----------------------------------------------------

    def PutBucketReplication(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get("ReplicationConfiguration") or {}
        rules = config.get("Rules") or []
        if not config.get("Role") or not rules or len(rules) > 1000:
            raise malformed_xml()
        if bucket.versioning != "Enabled":
            raise s3_error("InvalidRequest", "Versioning must be 'Enabled' on the bucket to apply a replication "
                                             "configuration", 400)
        ids = set()
        with_filter = any("Filter" in r for r in rules)
        for rule in rules:
            if rule.get("Status") not in ("Enabled", "Disabled") or not rule.get("Destination", {}).get("Bucket"):
                raise malformed_xml()
            if with_filter and ("Filter" not in rule or "DeleteMarkerReplication" not in rule
                                or "Priority" not in rule):
                # The V2 schema (Filter) wants every rule to say these.
                raise malformed_xml()
            rule_id = rule.get("ID")
            if rule_id:
                if rule_id in ids:
                    raise s3_error("InvalidArgument", "Rule Id must be unique", 400, ArgumentName="ID",
                                   ArgumentValue=rule_id)
                ids.add(rule_id)
            destination = rule["Destination"]["Bucket"]
            if not destination.startswith("arn:aws:s3:::"):
                raise s3_error("InvalidArgument", "Invalid Destination bucket ARN", 400,
                               ArgumentName="Destination.Bucket", ArgumentValue=destination)
            target = self.find_bucket(destination[len("arn:aws:s3:::"):])
            if target is None:
                raise s3_error("InvalidRequest", "Destination bucket must exist.", 400)
            if target.versioning != "Enabled":
                raise s3_error("InvalidRequest", "Destination bucket must have versioning enabled.", 400)
        stored = dict(config)
        stored["Rules"] = []
        for rule in rules:
            if not rule.get("ID"):
                rule = {**rule, "ID": _generated_id(rule)}
            stored["Rules"].append(rule)
        self.put_config(bucket.name, REPLICATION, stored)
        return {}

    def GetBucketReplication(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = self.get_config(bucket.name, REPLICATION)
        if config is None:
            raise s3_error("ReplicationConfigurationNotFoundError", "The replication configuration was not found",
                           404, BucketName=bucket.name)
        return {"ReplicationConfiguration": config}

    def DeleteBucketReplication(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, REPLICATION)
        return {}


def _check_website(config: dict) -> None:
    redirect_all = config.get("RedirectAllRequestsTo")
    if redirect_all:
        if len([k for k, v in config.items() if v is not None]) > 1:
            raise s3_error("InvalidArgument", "RedirectAllRequestsTo cannot be provided in conjunction with other "
                                              "Routing Rules.", 400, ArgumentName="RedirectAllRequestsTo",
                           ArgumentValue="not null")
        if not redirect_all.get("HostName"):
            raise malformed_xml()
        _check_protocol(redirect_all.get("Protocol"))
        return
    index = config.get("IndexDocument")
    if not index:
        raise s3_error("InvalidArgument", "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo "
                                          "is empty", 400, ArgumentName="IndexDocument", ArgumentValue="null")
    suffix = index.get("Suffix")
    if not suffix or "/" in suffix:
        raise s3_error("InvalidArgument", "The IndexDocument Suffix is not well formed", 400,
                       ArgumentName="IndexDocument", ArgumentValue=suffix or None)
    if "ErrorDocument" in config and not (config.get("ErrorDocument") or {}).get("Key"):
        raise malformed_xml()
    if "RoutingRules" in config:
        rules = config.get("RoutingRules") or []
        if not rules or len(rules) > 50:
            raise malformed_xml()
        for rule in rules:
            redirect = rule.get("Redirect") or {}
            if "ReplaceKeyPrefixWith" in redirect and "ReplaceKeyWith" in redirect:
                raise s3_error("InvalidRequest", "You can only define ReplaceKeyPrefix or ReplaceKey but not both.",
                               400)
            if "Condition" in rule and not rule.get("Condition"):
                raise s3_error("InvalidRequest", "Condition cannot be empty. To redirect all requests without a "
                                                 "condition, the condition element shouldn't be present.", 400)
            _check_protocol(redirect.get("Protocol"))


def _check_protocol(protocol) -> None:
    if protocol and protocol not in ("http", "https"):
        raise s3_error("InvalidRequest", "Invalid protocol, protocol can be http or https. If not defined the "
                                         "protocol will be selected automatically.", 400)


def _generated_id(rule: dict) -> str:
    """A rule without an ID gets one, as S3 gives it (stable for the rule)."""
    import base64
    import hashlib

    import orjson

    digest = hashlib.sha256(orjson.dumps(rule, option=orjson.OPT_SORT_KEYS)).digest()
    return base64.b64encode(digest[:36]).decode()[:48]
