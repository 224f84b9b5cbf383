"""AWS CloudTrail: the event history (LookupEvents over what the gateway's
recorder stores), trails and their selectors.

Delivery of log files and digests to S3 and ListPublicKeys: delivery.py.
Insights events and ListInsightsMetricData: insights.py.
Not yet built: CloudWatch Logs, event data stores (Lake).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re

import orjson

from cloudlet.errors import AwsError
from cloudlet.gateway.auth import Principal
from cloudlet.protocol.common import parse_timestamp
from cloudlet.protocol.validate import check as validate
from cloudlet.services.base import Service
from cloudlet.services.cloudtrail import events as ev
from cloudlet.services.cloudtrail.cwlogs import LogsDelivery, parse_group_arn
from cloudlet.services.cloudtrail.delivery import Delivery
from cloudlet.services.cloudtrail.insights import MIGRATION as INSIGHTS_MIGRATION
from cloudlet.services.cloudtrail.insights import Insights
from cloudlet.services.cloudtrail.selectors import check_advanced, check_basic, wants_data

SERVICE_PRINCIPAL = "cloudtrail.amazonaws.com"
RETENTION = 90 * 86400
MAX_TRAILS_PER_REGION = 5

MIGRATIONS = [
    """
    CREATE TABLE cloudtrail_events (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        time REAL NOT NULL,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        service TEXT NOT NULL,
        name TEXT NOT NULL,
        read_only INTEGER NOT NULL,
        category INTEGER NOT NULL,
        username TEXT,
        access_key TEXT,
        identity BLOB NOT NULL,
        source_ip TEXT,
        user_agent TEXT,
        request_id TEXT,
        params BLOB,
        output BLOB,
        error_code TEXT,
        error_message TEXT,
        resources BLOB
    );
    CREATE INDEX cloudtrail_events_by_time ON cloudtrail_events (account, region, category, time);
    CREATE TABLE cloudtrail_trails (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        multi_region INTEGER NOT NULL,
        logging INTEGER NOT NULL,
        config BLOB NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    """,
    """
    CREATE TABLE cloudtrail_delivery (
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        name TEXT NOT NULL,
        cursor INTEGER NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (account, region, name)
    );
    CREATE TABLE cloudtrail_log_files (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        home TEXT NOT NULL,
        name TEXT NOT NULL,
        region TEXT NOT NULL,
        delivered REAL NOT NULL,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        hash TEXT NOT NULL,
        oldest REAL NOT NULL,
        newest REAL NOT NULL,
        digested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX cloudtrail_log_files_by_trail ON cloudtrail_log_files (account, home, name, region, digested);
    CREATE TABLE cloudtrail_digest_chains (
        account TEXT NOT NULL,
        home TEXT NOT NULL,
        name TEXT NOT NULL,
        region TEXT NOT NULL,
        end_time REAL NOT NULL,
        prev BLOB,
        PRIMARY KEY (account, home, name, region)
    );
    CREATE TABLE cloudtrail_signing_keys (
        region TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        valid_from REAL NOT NULL,
        valid_to REAL NOT NULL,
        public BLOB NOT NULL,
        private BLOB NOT NULL,
        PRIMARY KEY (region, fingerprint)
    );
    """,
    INSIGHTS_MIGRATION,
    # sharedEventID: one call recorded in two accounts (the caller's and
    # the resource owner's)
    "ALTER TABLE cloudtrail_events ADD COLUMN shared_id TEXT;",
    # Records packed: binding 20 parameters per record cost the recorder
    # more than the rest of a light call. Columns that SQL filters, sorts
    # or groups by stay; the rest is one JSON array (events.REC_FIELDS),
    # readable by name in the view cloudtrail_event_fields.
    f"""
    ALTER TABLE cloudtrail_events RENAME TO cloudtrail_events_unpacked;
    DROP INDEX cloudtrail_events_by_time;
    CREATE TABLE cloudtrail_events (
        seq INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        account TEXT NOT NULL,
        region TEXT NOT NULL,
        service TEXT NOT NULL,
        name TEXT NOT NULL,
        read_only INTEGER NOT NULL,
        category INTEGER NOT NULL,
        error_code TEXT,
        rec BLOB NOT NULL
    );
    INSERT INTO cloudtrail_events (seq, time, account, region, service, name, read_only, category, error_code, rec)
        SELECT seq, time, account, region, service, name, read_only, category, error_code,
               CAST(json_array(event_id, username, access_key, json(CAST(identity AS TEXT)), source_ip, user_agent,
                               request_id, json(CAST(params AS TEXT)), json(CAST(output AS TEXT)), error_message,
                               json(CAST(resources AS TEXT)), shared_id) AS BLOB)
        FROM cloudtrail_events_unpacked;
    DROP TABLE cloudtrail_events_unpacked;
    CREATE INDEX cloudtrail_events_by_time ON cloudtrail_events (account, region, category, time);
    {ev.FIELDS_VIEW};
    """,
    # event ids stored without their dashes (the view adds them)
    f"DROP VIEW cloudtrail_event_fields; {ev.FIELDS_VIEW};",
]

_NAME_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")
_ADJACENT = re.compile(r"[._-]{2}")
_DEFAULT_SELECTORS = [{"ReadWriteType": "All", "IncludeManagementEvents": True, "DataResources": [],
                       "ExcludeManagementEventSources": []}]


def _err(code: str, message: str) -> AwsError:
    return AwsError(code, message, 400)


class Trail:
    """One trail (its home region's row)."""

    __slots__ = ("account", "region", "name", "multi_region", "logging", "config")

    def __init__(self, account, region, name, multi_region, logging, config):
        self.account = account
        self.region = region
        self.name = name
        self.multi_region = bool(multi_region)
        self.logging = bool(logging)
        self.config = config if isinstance(config, dict) else orjson.loads(config)

    @property
    def arn(self) -> str:
        return f"arn:aws:cloudtrail:{self.region}:{self.account}:trail/{self.name}"

    @property
    def event_selectors(self):
        return self.config.get("EventSelectors")

    @property
    def advanced_event_selectors(self):
        return self.config.get("AdvancedEventSelectors")

    def describe(self) -> dict:
        c = self.config
        out = {"Name": self.name, "S3BucketName": c["S3BucketName"]}
        if c.get("S3KeyPrefix"):
            out["S3KeyPrefix"] = c["S3KeyPrefix"]
        if c.get("SnsTopicName"):
            out["SnsTopicName"] = c["SnsTopicName"]
            out["SnsTopicARN"] = c["SnsTopicARN"]
        out.update({
            "IncludeGlobalServiceEvents": c["IncludeGlobalServiceEvents"],
            "IsMultiRegionTrail": self.multi_region,
            "HomeRegion": self.region,
            "TrailARN": self.arn,
            "LogFileValidationEnabled": c["LogFileValidationEnabled"],
        })
        for key in ("CloudWatchLogsLogGroupArn", "CloudWatchLogsRoleArn", "KmsKeyId"):
            if c.get(key):
                out[key] = c[key]
        out["HasCustomEventSelectors"] = bool(c.get("AdvancedEventSelectors")) or \
            c.get("EventSelectors") not in (None, _DEFAULT_SELECTORS)
        out["HasInsightSelectors"] = bool(c.get("InsightSelectors"))
        out["IsOrganizationTrail"] = False
        return out


class CloudTrailService(Insights, Delivery, LogsDelivery, Service):
    model_name = "cloudtrail"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.cloud.scheduler.every("cloudtrail-retention", 3600, self._retention)
        self.start_delivery()
        self.start_insights()

    def reset(self) -> None:
        self.cloud.gateway.recorder.forget()
        if self._keys is not None:
            self._keys.forget()

    def _retention(self, now: float) -> None:
        """Events older than 90 days of clock time are gone, as on AWS."""
        with self.storage.tx():
            self.storage.execute("DELETE FROM cloudtrail_events WHERE time < ?", (now - RETENTION,))
            self.storage.execute("DELETE FROM cloudtrail_insights WHERE time < ?", (now - RETENTION,))

    # -- input ------------------------------------------------------------

    def check_input(self, op, params: dict, request) -> None:
        if op.name == "LookupEvents":
            limit = params.get("MaxResults")
            if limit is not None and not 1 <= limit <= 50:
                raise _err("InvalidMaxResultsException", "MaxResults must be between 1 and 50.")
        validate(op.input, params, "ValidationException")

    # -- trails: storage ------------------------------------------------------

    def _trails(self, account: str) -> list[Trail]:
        rows = self.storage.all("SELECT account, region, name, multi_region, logging, config FROM "
                                "cloudtrail_trails WHERE account = ? ORDER BY region, name", (account,))
        return [Trail(*row) for row in rows]

    def data_trails(self, account: str) -> list[Trail]:
        """The logging trails of an account whose selectors want data events
        (the recorder's question, cached by it until `forget`)."""
        return [t for t in self._trails(account) if t.logging and wants_data(t)]

    def _save(self, trail: Trail) -> None:
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO cloudtrail_trails (account, region, name, multi_region, logging, config) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, name) DO UPDATE SET "
                "multi_region = excluded.multi_region, logging = excluded.logging, config = excluded.config",
                (trail.account, trail.region, trail.name, int(trail.multi_region), int(trail.logging),
                 orjson.dumps(trail.config)))
        self.cloud.gateway.recorder.forget()

    def _find(self, ctx, name_or_arn: str | None, *, home: bool = False) -> Trail:
        """A trail by name or ARN, as seen from the caller's region (a
        multi-region trail is seen everywhere: its shadow). `home`: the
        call may only change a trail in its home region."""
        if not name_or_arn:
            raise _err("InvalidTrailNameException", "Trail name cannot be empty.")
        account, region = ctx.account_id, ctx.region
        if name_or_arn.startswith("arn:"):
            parts = name_or_arn.split(":", 5)
            if len(parts) != 6 or parts[2] != "cloudtrail" or not parts[5].startswith("trail/"):
                raise _err("CloudTrailARNInvalidException",
                           f"Invalid trail ARN: {name_or_arn}.")
            name = parts[5][len("trail/"):]
            row = self.storage.one("SELECT account, region, name, multi_region, logging, config FROM "
                                   "cloudtrail_trails WHERE account = ? AND region = ? AND name = ?",
                                   (parts[4], parts[3], name))
            if row is None or (row[1] != region and not row[3]):
                raise _err("TrailNotFoundException", f"Unknown trail: {name_or_arn} for the user: {account}")
        else:
            _check_name(name_or_arn)
            row = self.storage.one("SELECT account, region, name, multi_region, logging, config FROM "
                                   "cloudtrail_trails WHERE account = ? AND name = ? AND (region = ? OR "
                                   "multi_region = 1) ORDER BY region = ? DESC", (account, name_or_arn, region,
                                                                                  region))
            if row is None:
                arn = f"arn:aws:cloudtrail:{region}:{account}:trail/{name_or_arn}"
                raise _err("TrailNotFoundException", f"Unknown trail: {arn} for the user: {account}")
        trail = Trail(*row)
        if home and trail.region != region:
            raise _err("InvalidHomeRegionException",
                       f"This operation must be called from the trail's home region, {trail.region}.")
        return trail

    # -- trails: the destinations -----------------------------------------------

    def _as_cloudtrail(self, ctx, service_name: str, operation: str, trail_arn: str):
        """A context for asking whether cloudtrail.amazonaws.com, acting
        for `trail_arn`, may call a service (the target's resource policy
        must grant it, as for any service principal)."""
        from cloudlet.gateway.context import RequestContext
        from cloudlet.protocol.http import HttpRequest

        cloud = self.cloud
        op = cloud.models.get(service_name).operation(operation)
        principal = Principal(account_id=ctx.account_id, arn=SERVICE_PRINCIPAL, user_id=SERVICE_PRINCIPAL,
                              type="AWSService", name=SERVICE_PRINCIPAL)
        sub = RequestContext(request_id=ctx.request_id, account_id=ctx.account_id, region=ctx.region,
                             principal=principal, service=service_name, operation=operation, protocol="internal",
                             request=HttpRequest("POST", "/"), cloud=cloud, op_model=op,
                             invoked_by=SERVICE_PRINCIPAL, user_agent=SERVICE_PRINCIPAL,
                             source_ip=SERVICE_PRINCIPAL)
        sub.extra["aws:SourceArn"] = trail_arn
        # (CloudTrail names its source by aws:SourceArn / aws:SourceAccount,
        # not the legacy aws:SourceOwner a default topic policy tests)
        sub.extra["aws:SourceAccount"] = ctx.account_id
        return sub, op

    def _allowed(self, ctx, service_name: str, operation: str, params: dict, trail_arn: str) -> bool:
        sub, op = self._as_cloudtrail(ctx, service_name, operation, trail_arn)
        try:
            self.cloud.authorizer.check(sub, self.cloud.service(service_name), op, params)
        except AwsError:
            return False
        return True

    def _check_bucket(self, ctx, bucket: str, prefix: str | None, trail_arn: str) -> None:
        if not bucket:
            raise _err("InvalidS3BucketNameException", "S3 bucket name cannot be empty.")
        s3 = self.cloud.service("s3")
        if s3.find_bucket(bucket) is None:
            raise _err("S3BucketDoesNotExistException", f"S3 bucket {bucket} does not exist.")
        key = f"{prefix + '/' if prefix else ''}AWSLogs/{ctx.account_id}/CloudTrail/{ctx.region}/check.json.gz"
        if not (self._allowed(ctx, "s3", "GetBucketAcl", {"Bucket": bucket}, trail_arn)
                and self._allowed(ctx, "s3", "PutObject", {"Bucket": bucket, "Key": key,
                                                           "ACL": "bucket-owner-full-control"}, trail_arn)):
            raise _err("InsufficientS3BucketPolicyException",
                       f"Incorrect S3 bucket policy is detected for bucket: {bucket}")

    def _check_topic(self, ctx, topic: str, trail_arn: str) -> str:
        arn = topic if topic.startswith("arn:") else f"arn:aws:sns:{ctx.region}:{ctx.account_id}:{topic}"
        sns = self.cloud.service("sns")
        if sns.find_topic(arn) is None or not self._allowed(
                ctx, "sns", "Publish", {"TopicArn": arn, "Message": "CloudTrail"}, trail_arn):
            raise _err("InsufficientSnsTopicPolicyException",
                       "SNS Topic does not exist or the topic policy is incorrect!")
        return arn

    def _check_key(self, ctx, key_id: str, bucket: str, trail_arn: str) -> str:
        kms = self.cloud.service("kms")
        sub, _ = self._as_cloudtrail(ctx, "kms", "DescribeKey", trail_arn)
        key = kms._authz_key(sub, "DescribeKey", {"KeyId": key_id})
        if key is None:
            if key_id.startswith("arn:") or key_id.startswith("alias/") or len(key_id) == 36:
                raise _err("KmsKeyNotFoundException", f"KMS key {key_id} does not exist.")
            raise _err("InvalidKmsKeyIdException", f"KMS key {key_id} is not valid.")
        params = {"KeyId": key.arn, "KeySpec": "AES_256", "EncryptionContext": {"aws:cloudtrail:arn": trail_arn}}
        if not self._allowed(ctx, "kms", "GenerateDataKey", params, trail_arn):
            raise _err("InsufficientEncryptionPolicyException",
                       f"Insufficient permissions to access S3 bucket {bucket} or KMS key {key.arn}.")
        return key.arn

    def _apply_destinations(self, ctx, trail: Trail, params: dict, creating: bool) -> None:
        """Check and store S3BucketName / S3KeyPrefix / SnsTopicName / KmsKeyId."""
        c = trail.config
        bucket_given = "S3BucketName" in params or "S3KeyPrefix" in params
        if "S3BucketName" in params:
            c["S3BucketName"] = params["S3BucketName"]
        if "S3KeyPrefix" in params:
            prefix = params["S3KeyPrefix"]
            if prefix and (len(prefix) > 200 or prefix.startswith("/") or "//" in prefix):
                raise _err("InvalidS3PrefixException", f"Invalid S3 prefix: {prefix}.")
            c["S3KeyPrefix"] = prefix or None
        if creating or bucket_given:
            self._check_bucket(ctx, c["S3BucketName"], c.get("S3KeyPrefix"), trail.arn)
        if params.get("SnsTopicName") is not None:
            if params["SnsTopicName"] == "":
                c["SnsTopicName"] = c["SnsTopicARN"] = None
            else:
                arn = self._check_topic(ctx, params["SnsTopicName"], trail.arn)
                c["SnsTopicName"] = arn.rsplit(":", 1)[-1]
                c["SnsTopicARN"] = arn
        if params.get("KmsKeyId") is not None:
            if params["KmsKeyId"] == "":
                c["KmsKeyId"] = None
            else:
                c["KmsKeyId"] = self._check_key(ctx, params["KmsKeyId"], c["S3BucketName"], trail.arn)
        group, role = params.get("CloudWatchLogsLogGroupArn"), params.get("CloudWatchLogsRoleArn")
        if group is not None or role is not None:
            if bool(group) != bool(role):
                raise _err("InvalidCloudWatchLogsLogGroupArnException" if role else
                           "InvalidCloudWatchLogsRoleArnException",
                           "You must specify a log group as well as a role ARN." if role else
                           "You must specify a role ARN as well as a log group.")
            if group and parse_group_arn(group) is None:
                raise _err("InvalidCloudWatchLogsLogGroupArnException", "Invalid log group ARN.")
            if role and not role.startswith("arn:aws:iam::"):
                raise _err("InvalidCloudWatchLogsRoleArnException", "Invalid role ARN.")
            if role:
                from cloudlet.gateway.servicerole import require_pass_role

                require_pass_role(self.cloud, ctx, self, params, role, "cloudtrail.amazonaws.com", trail.arn)
            c["CloudWatchLogsLogGroupArn"], c["CloudWatchLogsRoleArn"] = group or None, role or None
            self.forget_role_sessions(trail)
            if group:
                self.check_logs_destination(ctx, trail)

    # -- trails: operations ---------------------------------------------------

    def CreateTrail(self, ctx, params: dict) -> dict:
        name = params["Name"]
        _check_name(name)
        account, region = ctx.account_id, ctx.region
        if params.get("IsOrganizationTrail"):
            raise _err("OrganizationsNotInUseException",
                       "This account is not a member of an organization.")
        taken = self.storage.one("SELECT 1 FROM cloudtrail_trails WHERE account = ? AND name = ? AND "
                                 "(region = ? OR multi_region = 1)", (account, name, region))
        if taken is not None:
            raise _err("TrailAlreadyExistsException", f"Trail {name} already exists for customer: {account}")
        count = self.storage.scalar("SELECT COUNT(*) FROM cloudtrail_trails WHERE account = ? AND region = ?",
                                    (account, region))
        if count >= MAX_TRAILS_PER_REGION:
            raise _err("MaximumNumberOfTrailsExceededException",
                       f"User: {account} already has {MAX_TRAILS_PER_REGION} trails in {region}.")
        multi = bool(params.get("IsMultiRegionTrail", False))
        include_global = params.get("IncludeGlobalServiceEvents", True)
        if multi and not include_global:
            raise _err("InvalidParameterCombinationException", "Multi-Region trail must include global service events.")
        tags = params.get("TagsList") or []
        _check_tags(tags)
        trail = Trail(account, region, name, multi, False, {
            "S3BucketName": params["S3BucketName"], "S3KeyPrefix": None, "SnsTopicName": None,
            "SnsTopicARN": None, "IncludeGlobalServiceEvents": bool(include_global),
            "LogFileValidationEnabled": bool(params.get("EnableLogFileValidation", False)),
            "CloudWatchLogsLogGroupArn": None, "CloudWatchLogsRoleArn": None, "KmsKeyId": None,
            "EventSelectors": _DEFAULT_SELECTORS, "AdvancedEventSelectors": None, "InsightSelectors": None,
            "Tags": [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags],
            "Created": ctx.now(), "Started": None, "Stopped": None,
        })
        self._apply_destinations(ctx, trail, params, creating=True)
        self._save(trail)
        return self._output(ctx, trail)

    def _output(self, ctx, trail: Trail) -> dict:
        shape = ctx.op_model.output
        described = trail.describe()
        return {k: v for k, v in described.items() if k in shape.members}

    def UpdateTrail(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["Name"], home=True)
        if params.get("IsOrganizationTrail"):
            raise _err("OrganizationsNotInUseException", "This account is not a member of an organization.")
        c = trail.config
        if "IsMultiRegionTrail" in params:
            trail.multi_region = bool(params["IsMultiRegionTrail"])
        if "IncludeGlobalServiceEvents" in params:
            c["IncludeGlobalServiceEvents"] = bool(params["IncludeGlobalServiceEvents"])
        if trail.multi_region and not c["IncludeGlobalServiceEvents"]:
            raise _err("InvalidParameterCombinationException", "Multi-Region trail must include global service events.")
        changed = None
        if "EnableLogFileValidation" in params:
            enabled = bool(params["EnableLogFileValidation"])
            if enabled != bool(c.get("LogFileValidationEnabled")):
                changed = enabled
            c["LogFileValidationEnabled"] = enabled
        self._apply_destinations(ctx, trail, params, creating=False)
        self._save(trail)
        if changed is not None:
            self.validation_changed(trail, changed, ctx.now())
        return self._output(ctx, trail)

    def DeleteTrail(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["Name"], home=True)
        with self.storage.tx():
            self.storage.execute("DELETE FROM cloudtrail_trails WHERE account = ? AND region = ? AND name = ?",
                                 (trail.account, trail.region, trail.name))
        self.trail_deleted(trail)
        self.cloud.gateway.recorder.forget()
        return {}

    def GetTrail(self, ctx, params: dict) -> dict:
        return {"Trail": self._find(ctx, params["Name"]).describe()}

    def _visible(self, ctx) -> list[Trail]:
        return [t for t in self._trails(ctx.account_id) if t.region == ctx.region or t.multi_region]

    def DescribeTrails(self, ctx, params: dict) -> dict:
        names = params.get("trailNameList")
        shadows = params.get("includeShadowTrails", True)
        trails = self._visible(ctx)
        if not shadows:
            trails = [t for t in trails if t.region == ctx.region]
        if names:
            wanted = []
            for t in trails:
                if t.name in names or t.arn in names:
                    wanted.append(t)
            for n in names:
                if n.startswith("arn:") and not n.startswith("arn:aws:cloudtrail:"):
                    raise _err("CloudTrailARNInvalidException", f"Invalid trail ARN: {n}.")
            trails = wanted
        return {"trailList": [t.describe() for t in trails]}

    def ListTrails(self, ctx, params: dict) -> dict:
        return {"Trails": [{"TrailARN": t.arn, "Name": t.name, "HomeRegion": t.region}
                           for t in self._trails(ctx.account_id)]}

    def GetTrailStatus(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["Name"])
        c = trail.config
        out = {"IsLogging": trail.logging}
        if c.get("Started") is not None:
            out["StartLoggingTime"] = c["Started"]
            out["TimeLoggingStarted"] = _status_time(c["Started"])
        if c.get("Stopped") is not None:
            out["StopLoggingTime"] = c["Stopped"]
            out["TimeLoggingStopped"] = _status_time(c["Stopped"])
        state = self.delivery_status(trail)
        if state.get("LatestDeliveryError"):
            out["LatestDeliveryError"] = state["LatestDeliveryError"]
        if state.get("LatestNotificationError"):
            out["LatestNotificationError"] = state["LatestNotificationError"]
        for key in ("LatestDeliveryTime", "LatestNotificationTime", "LatestDigestDeliveryTime"):
            if state.get(key) is not None:
                out[key] = state[key]
        if state.get("LatestDigestDeliveryError"):
            out["LatestDigestDeliveryError"] = state["LatestDigestDeliveryError"]
        if c.get("CloudWatchLogsLogGroupArn"):
            if state.get("LatestCloudWatchLogsDeliveryTime") is not None:
                out["LatestCloudWatchLogsDeliveryTime"] = state["LatestCloudWatchLogsDeliveryTime"]
            if state.get("LatestCloudWatchLogsDeliveryError"):
                out["LatestCloudWatchLogsDeliveryError"] = state["LatestCloudWatchLogsDeliveryError"]
        out.setdefault("TimeLoggingStarted", "")
        out.setdefault("TimeLoggingStopped", "")

        def attempt(time_key, ok_key):
            if state.get(time_key) is None:
                return "", ""
            return _status_time(state[time_key]), "true" if state.get(ok_key) else "false"

        out["LatestDeliveryAttemptTime"], out["LatestDeliveryAttemptSucceeded"] = attempt(
            "LatestDeliveryAttemptTime", "LatestDeliveryAttemptSucceeded")
        out["LatestNotificationAttemptTime"], out["LatestNotificationAttemptSucceeded"] = attempt(
            "LatestNotificationAttemptTime", "LatestNotificationAttemptSucceeded")
        return out

    def StartLogging(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["Name"], home=True)
        if not trail.logging:
            trail.logging = True
            trail.config["Started"] = ctx.now()
            self._save(trail)
            self.logging_started(trail, ctx.now())
        return {}

    def StopLogging(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["Name"], home=True)
        if trail.logging:
            trail.logging = False
            trail.config["Stopped"] = ctx.now()
            self._save(trail)
            self.logging_stopped(trail)
        return {}

    # -- selectors ---------------------------------------------------------

    def PutEventSelectors(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["TrailName"], home=True)
        basic, advanced = params.get("EventSelectors"), params.get("AdvancedEventSelectors")
        if (basic is None) == (advanced is None):
            raise _err("InvalidEventSelectorsException",
                       "Specify either EventSelectors or AdvancedEventSelectors, but not both.")
        if basic is not None:
            check_basic(basic)
            basic = [{"ReadWriteType": s.get("ReadWriteType", "All"),
                      "IncludeManagementEvents": s.get("IncludeManagementEvents", True),
                      "DataResources": s.get("DataResources") or [],
                      "ExcludeManagementEventSources": s.get("ExcludeManagementEventSources") or []}
                     for s in basic]
            trail.config["EventSelectors"], trail.config["AdvancedEventSelectors"] = basic, None
        else:
            check_advanced(advanced)
            trail.config["EventSelectors"], trail.config["AdvancedEventSelectors"] = None, advanced
        self._save(trail)
        out = {"TrailARN": trail.arn}
        if basic is not None:
            out["EventSelectors"] = basic
        else:
            out["AdvancedEventSelectors"] = advanced
        return out

    def GetEventSelectors(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params["TrailName"])
        out = {"TrailARN": trail.arn}
        if trail.advanced_event_selectors:
            out["AdvancedEventSelectors"] = trail.advanced_event_selectors
        else:
            out["EventSelectors"] = trail.event_selectors or []
        return out

    def PutInsightSelectors(self, ctx, params: dict) -> dict:
        name = params.get("TrailName")
        if not name:
            raise _err("InvalidParameterCombinationException",
                       "You must specify a trail name or an event data store.")
        trail = self._find(ctx, name, home=True)
        selectors = params.get("InsightSelectors") or []
        kinds = [s.get("InsightType") for s in selectors]
        if len(kinds) != len(set(kinds)) or any(k not in ("ApiCallRateInsight", "ApiErrorRateInsight") for k in kinds):
            raise _err("InvalidInsightSelectorsException",
                       "The InsightSelectors are not valid: each insight type may appear once.")
        if selectors and trail.advanced_event_selectors is None and not any(
                s.get("IncludeManagementEvents", True) and s.get("ReadWriteType", "All") in ("All", "WriteOnly")
                for s in (trail.event_selectors or [])):
            raise _err("InvalidInsightSelectorsException",
                       "Insights can only be enabled on a trail that logs write management events.")
        if kinds and not trail.config.get("InsightSelectors"):
            trail.config["InsightsSince"] = ctx.now()
        trail.config["InsightSelectors"] = [{"InsightType": k} for k in kinds] or None
        self._save(trail)
        return {"TrailARN": trail.arn, "InsightSelectors": trail.config["InsightSelectors"] or []}

    def GetInsightSelectors(self, ctx, params: dict) -> dict:
        trail = self._find(ctx, params.get("TrailName"))
        selectors = trail.config.get("InsightSelectors")
        if not selectors:
            raise _err("InsightNotEnabledException", f"Trail {trail.arn} does not have Insights enabled. "
                                                     "Enable Insights on the trail, and try again.")
        return {"TrailARN": trail.arn, "InsightSelectors": selectors}

    # -- tags ------------------------------------------------------------

    def _tag_target(self, ctx, arn: str) -> Trail:
        if not arn or not arn.startswith("arn:aws:cloudtrail:") or ":trail/" not in arn:
            raise _err("CloudTrailARNInvalidException", f"Invalid trail ARN: {arn}.")
        try:
            return self._find(ctx, arn)
        except AwsError as err:
            if err.code == "TrailNotFoundException":
                raise _err("ResourceNotFoundException", f"Resource not found: {arn}.") from None
            raise

    def AddTags(self, ctx, params: dict) -> dict:
        trail = self._tag_target(ctx, params["ResourceId"])
        tags = {t["Key"]: t.get("Value", "") for t in trail.config.get("Tags") or []}
        for t in params.get("TagsList") or []:
            tags[t["Key"]] = t.get("Value", "")
        new = [{"Key": k, "Value": v} for k, v in tags.items()]
        _check_tags(new)
        trail.config["Tags"] = new
        self._save(trail)
        return {}

    def RemoveTags(self, ctx, params: dict) -> dict:
        trail = self._tag_target(ctx, params["ResourceId"])
        gone = {t["Key"] for t in params.get("TagsList") or []}
        trail.config["Tags"] = [t for t in trail.config.get("Tags") or [] if t["Key"] not in gone]
        self._save(trail)
        return {}

    def ListTags(self, ctx, params: dict) -> dict:
        out = []
        for arn in params["ResourceIdList"]:
            trail = self._tag_target(ctx, arn)
            out.append({"ResourceId": trail.arn, "TagsList": trail.config.get("Tags") or []})
        return {"ResourceTagList": out}

    # -- event history -----------------------------------------------------

    def LookupEvents(self, ctx, params: dict) -> dict:
        self.cloud.gateway.recorder.write_batch()  # records still waiting to be written
        attributes = params.get("LookupAttributes") or []
        if len(attributes) > 1:
            raise _err("InvalidLookupAttributesException",
                       "You cannot specify more than one lookup attribute.")
        now = ctx.now()
        start = params.get("StartTime")
        end = params.get("EndTime")
        start = parse_timestamp(start) if start is not None else now - RETENTION
        end = parse_timestamp(end) if end is not None else now
        if start > end:
            raise _err("InvalidTimeRangeException", "Start time must be before end time.")
        category = params.get("EventCategory")
        limit = params.get("MaxResults") or 50
        where = ["account = ?", "region = ?", "category = 0", "time >= ?", "time <= ?"]
        args: list = [ctx.account_id, ctx.region, start, end]
        post = None
        if attributes:
            key, value = attributes[0]["AttributeKey"], attributes[0]["AttributeValue"]
            column = {"EventId": "event_id", "EventName": "name", "Username": "username",
                      "AccessKeyId": "access_key"}.get(key)
            if column is not None:
                where.append(f"{column} = ?")
                args.append(value)
            elif key == "ReadOnly":
                if value not in ("true", "false"):
                    raise _err("InvalidLookupAttributesException",
                               "The value for the ReadOnly attribute must be true or false.")
                where.append("read_only = ?")
                args.append(int(value == "true"))
            else:
                post = (key, value)
        fingerprint = hashlib.sha256(orjson.dumps([attributes, start if params.get("StartTime") is not None else None,
                                                   end if params.get("EndTime") is not None else None,
                                                   category])).hexdigest()[:16]
        token = params.get("NextToken")
        if token is not None:
            cursor = _read_token(token, fingerprint)
            where.append("(time < ? OR (time = ? AND seq < ?))")
            args.extend([cursor[0], cursor[0], cursor[1]])
        if category == "insight":
            return self.lookup_insights(ctx, attributes, start, end, limit,
                                        cursor if token is not None else None, fingerprint)
        found: list = []
        for row in self._scan(where, args, limit + 1 if post is None else 200):
            record = None
            if post is not None:
                record = ev.shape(row, self.cloud.models)
                if not _post_match(post, record):
                    continue
            if len(found) == limit:
                tail = found[-1][0]
                return {"Events": [self._event(r, rec) for r, rec in found],
                        "NextToken": _make_token(tail[2], tail[0], fingerprint)}
            found.append((row, record))
        return {"Events": [self._event(r, rec) for r, rec in found]}

    def _scan(self, where: list, args: list, batch: int):
        """Matching rows, newest first, read `batch` at a time."""
        cursor = None
        while True:
            w, a = list(where), list(args)
            if cursor is not None:
                w.append("(time < ? OR (time = ? AND seq < ?))")
                a.extend([cursor[0], cursor[0], cursor[1]])
            rows = self.storage.all(f"SELECT {ev.COLUMNS} FROM cloudtrail_event_fields WHERE {' AND '.join(w)} "
                                    "ORDER BY time DESC, seq DESC LIMIT ?", (*a, batch))
            rows = [ev.unpack(row) for row in rows]
            yield from rows
            if len(rows) < batch:
                return
            cursor = (rows[-1][2], rows[-1][0])

    def _event(self, row, record: dict | None) -> dict:
        if record is None:
            record = ev.shape(row, self.cloud.models)
        out = {
            "EventId": record["eventID"],
            "EventName": record["eventName"],
            "ReadOnly": "true" if record["readOnly"] else "false",
        }
        if row[10]:
            out["AccessKeyId"] = row[10]
        out["EventTime"] = row[2]
        out["EventSource"] = record["eventSource"]
        if row[9]:
            out["Username"] = row[9]
        out["Resources"] = ev.lookup_resources(record.get("resources") or [])
        out["CloudTrailEvent"] = orjson.dumps(record).decode()
        return out


def _post_match(post, record: dict) -> bool:
    key, value = post
    if key == "EventSource":
        return record["eventSource"] == value
    resources = ev.lookup_resources(record.get("resources") or [])
    if key == "ResourceType":
        return any(r["ResourceType"] == value for r in resources)
    if key == "ResourceName":
        return any(r["ResourceName"] == value for r in resources) or \
            any(r["ARN"] == value for r in record.get("resources") or [])
    return False


def _make_token(time: float, seq: int, fingerprint: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([time, seq, fingerprint])).decode()


def _read_token(token: str, fingerprint: str):
    try:
        time, seq, fp = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        if fp != fingerprint:
            raise ValueError
        return float(time), int(seq)
    except Exception:
        raise _err("InvalidNextTokenException", "Invalid NextToken.") from None


def _status_time(epoch: float) -> str:
    # GetTrailStatus' TimeLogging* strings: "2024-01-01T00:00:00Z"
    from cloudlet.protocol.common import iso8601

    return iso8601(int(epoch))


def _check_name(name: str) -> None:
    if len(name) < 3:
        raise _err("InvalidTrailNameException", "Trail name too short. Minimum allowed length: 3 characters. "
                                                 f"Specified name length: {len(name)} characters.")
    if len(name) > 128:
        raise _err("InvalidTrailNameException", "Trail name too long. Maximum allowed length: 128 characters. "
                                                 f"Specified name length: {len(name)} characters.")
    if not name[0].isascii() or not name[0].isalnum():
        raise _err("InvalidTrailNameException", "Trail name must starts with a letter or number.")
    if not name[-1].isascii() or not name[-1].isalnum():
        raise _err("InvalidTrailNameException", "Trail name must ends with a letter or number.")
    if not _NAME_CHARS.match(name):
        raise _err("InvalidTrailNameException",
                   "Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, "
                   "periods (.), hyphens (-), and underscores (_).")
    if _ADJACENT.search(name):
        raise _err("InvalidTrailNameException",
                   "Trail name cannot contain adjacent periods (.), hyphens (-), or underscores (_).")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return
    raise _err("InvalidTrailNameException", "Trail name cannot be formatted as an IP address.")


def _check_tags(tags: list) -> None:
    if len(tags) > 50:
        raise _err("TagsLimitExceededException", "The number of tags per trail has exceeded the permitted amount. "
                                                 "Currently, the limit is 50.")
    keys = [t["Key"] for t in tags]
    if len(keys) != len(set(keys)):
        raise _err("InvalidTagParameterException", "Tag keys must be unique.")
    for t in tags:
        if t["Key"].startswith("aws:"):
            raise _err("InvalidTagParameterException", "Tag keys cannot start with aws:.")
