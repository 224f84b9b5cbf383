"""Lifecycle configurations: checked as S3 checks them and stored as
given (with an ID for each rule that came without one). Applying them to
objects is the lifecycle runner's work, not this module's."""

from __future__ import annotations

import base64
import uuid

from cloudlet.services.s3.common import malformed_xml, s3_error

LIFECYCLE = "lifecycle"
MAX_RULES = 1000
_MIN_DAYS = {"STANDARD_IA": 30, "ONEZONE_IA": 30}
_DEFAULT_MIN_SIZE = "all_storage_classes_128K"


def _argument(message: str, name: str | None = None, value=None):
    return s3_error("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def _request(message: str):
    return s3_error("InvalidRequest", message, 400)


def _midnight(value) -> bool:
    return float(value) % 86400 == 0


def _filter_text(rule: dict) -> str:
    """How S3 names a rule's filter in its messages: "(prefix=logs/)"."""
    prefix = rule.get("Prefix")
    f = rule.get("Filter") or {}
    if prefix is None:
        prefix = f.get("Prefix", (f.get("And") or {}).get("Prefix", ""))
    return f"(prefix={prefix or ''})"


def check_rules(rules: list[dict]) -> list[dict]:
    """The rules as stored, or the error S3 answers."""
    if not rules or len(rules) > MAX_RULES:
        raise malformed_xml()
    seen: set[str] = set()
    out = []
    for rule in rules:
        rule = dict(rule)
        if rule.get("Status") not in ("Enabled", "Disabled"):
            raise malformed_xml()
        rule_id = rule.get("ID")
        if rule_id:
            if len(rule_id) > 255:
                raise _argument("ID length should not exceed allowed limit of 255", "ID", rule_id)
            if rule_id in seen:
                raise _argument("Rule ID must be unique. Found same ID for more than one rule", "ID", rule_id)
            seen.add(rule_id)
        else:
            rule["ID"] = base64.b64encode(str(uuid.uuid4()).encode()).decode()
        tags = _check_filter(rule)
        actions = [k for k in ("Expiration", "Transitions", "NoncurrentVersionExpiration",
                               "NoncurrentVersionTransitions", "AbortIncompleteMultipartUpload") if rule.get(k)]
        if not actions:
            raise _argument("At least one action needs to be specified in a rule")
        _check_expiration(rule, tags)
        _check_transitions(rule)
        _check_noncurrent(rule)
        abort = rule.get("AbortIncompleteMultipartUpload")
        if abort is not None:
            days = abort.get("DaysAfterInitiation")
            if days is None:
                raise malformed_xml()
            if days <= 0:
                raise _argument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive "
                                "integer", "DaysAfterInitiation", days)
            if tags:
                raise _request("AbortIncompleteMultipartUpload cannot be specified with Tags.")
        out.append(rule)
    return out


def _check_filter(rule: dict) -> bool:
    """Checks a rule's filter; True if it filters on tags."""
    if "Prefix" in rule and "Filter" in rule:
        raise malformed_xml()
    if "Prefix" not in rule and "Filter" not in rule:
        raise malformed_xml()
    prefix = rule.get("Prefix")
    f = rule.get("Filter")
    if f is None:
        _check_prefix(prefix or "")
        return False
    present = [k for k in ("Prefix", "Tag", "And", "ObjectSizeGreaterThan", "ObjectSizeLessThan") if k in f]
    if len(present) > 1:
        raise malformed_xml()
    if "Prefix" in f:
        _check_prefix(f["Prefix"] or "")
    tags: list[dict] = []
    if "Tag" in f:
        tags = [f["Tag"]]
    greater, less = f.get("ObjectSizeGreaterThan"), f.get("ObjectSizeLessThan")
    if "And" in f:
        both = f["And"] or {}
        _check_prefix(both.get("Prefix") or "")
        tags = both.get("Tags") or []
        greater, less = both.get("ObjectSizeGreaterThan"), both.get("ObjectSizeLessThan")
        keys = set()
        for tag in tags:
            if tag["Key"] in keys:
                raise _request("Duplicate Tag Keys are not allowed.")
            keys.add(tag["Key"])
    for tag in tags:
        if not 1 <= len(tag.get("Key") or "") <= 128:
            raise s3_error("InvalidTag", "The TagKey you have provided is invalid", 400, TagKey=tag.get("Key"))
        if len(tag.get("Value") or "") > 256:
            raise s3_error("InvalidTag", "The TagValue you have provided is invalid", 400, TagKey=tag["Key"],
                           TagValue=tag.get("Value"))
    for name, size in (("ObjectSizeGreaterThan", greater), ("ObjectSizeLessThan", less)):
        if size is not None and size < (0 if name == "ObjectSizeGreaterThan" else 1):
            raise _argument(f"'{name}' must be a positive integer", name, size)
    if greater is not None and less is not None and greater >= less:
        raise _argument("'ObjectSizeGreaterThan' should be less than 'ObjectSizeLessThan'")
    return bool(tags)


def _check_prefix(prefix: str) -> None:
    if len(prefix.encode()) > 1024:
        raise _request("The maximum size of a prefix is 1024.")


def _check_expiration(rule: dict, tags: bool) -> None:
    expiration = rule.get("Expiration")
    if expiration is None:
        return
    days, date, marker = expiration.get("Days"), expiration.get("Date"), expiration.get("ExpiredObjectDeleteMarker")
    given = [x for x in (days, date, marker) if x is not None]
    if len(given) != 1:
        raise malformed_xml()
    if days is not None and days <= 0:
        raise _argument("'Days' for Expiration action must be a positive integer", "Days", days)
    if date is not None and not _midnight(date):
        raise _argument("'Date' must be at midnight GMT", "Date")
    if marker is not None and tags:
        raise _request("ExpiredObjectDeleteMarker cannot be specified with object tags")


def _check_transitions(rule: dict) -> None:
    transitions = rule.get("Transitions") or []
    classes = set()
    for t in transitions:
        days, date, storage = t.get("Days"), t.get("Date"), t.get("StorageClass")
        if (days is None) == (date is None) or storage is None:
            raise malformed_xml()
        if storage in classes:
            raise _argument("'StorageClass' must be different for 'Transition' actions in same 'Rule' with filter "
                            f"'{_filter_text(rule)}'")
        classes.add(storage)
        if days is not None:
            if days < 0:
                raise _argument("'Days' for Transition action must be a positive integer", "Days", days)
            minimum = _MIN_DAYS.get(storage)
            if minimum and days < minimum:
                raise _argument(f"'Days' in Transition action must be greater than or equal to {minimum} for "
                                f"storageClass '{storage}'")
        if date is not None and not _midnight(date):
            raise _argument("'Date' must be at midnight GMT", "Date")
    expiration_days = (rule.get("Expiration") or {}).get("Days")
    if expiration_days is not None:
        for t in transitions:
            if t.get("Days") is not None and expiration_days <= t["Days"]:
                raise _argument(f"'Days' in the Expiration action for filter '{_filter_text(rule)}' must be greater "
                                "than 'Days' in the Transition action")


def _check_noncurrent(rule: dict) -> None:
    expiration = rule.get("NoncurrentVersionExpiration")
    if expiration is not None:
        days, newer = expiration.get("NoncurrentDays"), expiration.get("NewerNoncurrentVersions")
        if days is None and newer is None:
            raise malformed_xml()
        if days is not None and days <= 0:
            raise _argument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer",
                            "NoncurrentDays", days)
        if newer is not None and not 1 <= newer <= 100:
            raise _argument("NewerNoncurrentVersions must be between 1 and 100", "NewerNoncurrentVersions", newer)
    classes = set()
    for t in rule.get("NoncurrentVersionTransitions") or []:
        days, storage = t.get("NoncurrentDays"), t.get("StorageClass")
        if days is None or storage is None:
            raise malformed_xml()
        if storage in classes:
            raise _argument("'StorageClass' must be different for 'NoncurrentVersionTransition' actions in same "
                            f"'Rule' with filter '{_filter_text(rule)}'")
        classes.add(storage)
        if days < 0:
            raise _argument("'NoncurrentDays' for NoncurrentVersionTransition action must be a positive integer",
                            "NoncurrentDays", days)
        minimum = _MIN_DAYS.get(storage)
        if minimum and days < minimum:
            raise _argument(f"'NoncurrentDays' in NoncurrentVersionTransition action must be greater than or equal "
                            f"to {minimum} for storageClass '{storage}'")
        newer = t.get("NewerNoncurrentVersions")
        if newer is not None and not 1 <= newer <= 100:
            raise _argument("NewerNoncurrentVersions must be between 1 and 100", "NewerNoncurrentVersions", newer)


class LifecycleOps:
    """Mixed into BucketOps."""

    def lifecycle_rules(self, bucket: str) -> list[dict]:
        """The stored rules (for the lifecycle runner)."""
        return (self.get_config(bucket, LIFECYCLE) or {}).get("Rules", [])

    def PutBucketLifecycleConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = params.get("LifecycleConfiguration")
        if config is None:
            raise s3_error("MissingRequestBodyError", "Request Body is empty", 400)
        rules = check_rules(config.get("Rules") or [])
        size = params.get("TransitionDefaultMinimumObjectSize") or _DEFAULT_MIN_SIZE
        self.put_config(bucket.name, LIFECYCLE, {"Rules": rules, "TransitionDefaultMinimumObjectSize": size})
        return {"TransitionDefaultMinimumObjectSize": size}

    def GetBucketLifecycleConfiguration(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        config = self.get_config(bucket.name, LIFECYCLE)
        if config is None:
            raise s3_error("NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist", 404,
                           BucketName=bucket.name)
        return config

    def DeleteBucketLifecycle(self, ctx, params: dict) -> dict:
        bucket = self.owned_bucket(ctx, params)
        self.delete_config(bucket.name, LIFECYCLE)
        return {}
