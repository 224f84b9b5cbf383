"""Stored call rows -> CloudTrail records, shaped when read.

The recorder (cloudlet.gateway.recorder) stores raw material; this module
gives it CloudTrail's form: the userIdentity element per identity type,
requestParameters / responseElements with the model's member names in
lower camel case (S3: bucketName, Host, key and its query/header names),
AWS's timestamp text inside them, resources, and the fields AWS always
writes. Pure functions of the row and the service model.
"""

from __future__ import annotations

import datetime as _dt

import orjson

from cloudlet.protocol.common import iso8601, parse_timestamp

EVENT_VERSION = "1.11"
# (model name -> eventSource prefix) where the endpoint prefix is not it.
_SOURCES = {"email": "ses", "sesv2": "ses"}
# Events named for what no model operation is, by the operation that did
# the work (S3's browser POST upload: PutObject's parameters).
_DONE_BY = {"PostObject": "PutObject"}
# Services whose events AWS records in us-east-1 whatever the caller's region.
GLOBAL_SERVICES = frozenset({"iam"})

# A stored record: the columns SQL filters, sorts or groups by, and `rec`,
# one JSON array of the rest (REC_FIELDS). The view cloudtrail_event_fields
# names every field (objects read back as JSON text); virtual columns would
# do the same but SQLite computes them on every INSERT (+80% per record).
COLUMNS = "seq, time, account, region, service, name, read_only, category, error_code, rec"
REC_FIELDS = ("event_id", "username", "access_key", "identity", "source_ip", "user_agent", "request_id", "params",
              "output", "error_message", "resources", "shared_id")
# Event ids are stored as 32 hex digits (the recorder spares itself the
# dashes); readers see them dashed, in Python (dashed) and in the view.
_DASHED_SQL = ("CASE WHEN length({x}) = 32 THEN substr({x}, 1, 8) || '-' || substr({x}, 9, 4) || '-' || "
               "substr({x}, 13, 4) || '-' || substr({x}, 17, 4) || '-' || substr({x}, 21) ELSE {x} END")


def _field_sql(i: int, name: str) -> str:
    value = f"json_extract(CAST(rec AS TEXT), '$[{i}]')"
    if name in ("event_id", "shared_id"):
        value = _DASHED_SQL.format(x=value)
    return f"{value} AS {name}"


FIELDS_VIEW = ("CREATE VIEW cloudtrail_event_fields AS SELECT *, "
               + ", ".join(_field_sql(i, name) for i, name in enumerate(REC_FIELDS)) + " FROM cloudtrail_events")


def dashed(event_id: str | None) -> str | None:
    """A stored event id in the UUID form records show."""
    if event_id is not None and len(event_id) == 32:
        return f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:]}"
    return event_id


def unpack(row) -> tuple:
    """A stored row (COLUMNS) as (seq, event_id, time, account, region,
    service, name, read_only, category, username, access_key, identity,
    source_ip, user_agent, request_id, params, output, error_code,
    error_message, resources, shared_id), JSON fields decoded."""
    seq, time, account, region, service, name, read_only, category, error_code, rec = row
    (event_id, username, access_key, identity, source_ip, user_agent, request_id, params, output, error_message,
     resources, shared_id) = orjson.loads(rec)
    return (seq, event_id, time, account, region, service, name, read_only, category, username, access_key, identity,
            source_ip, user_agent, request_id, params, output, error_code, error_message, resources, shared_id)


def event_source(service: str, models=None) -> str:
    prefix = _SOURCES.get(service)
    if prefix is None and models is not None:
        model = models.get(service)
        prefix = model.endpoint_prefix if model is not None else None
    return f"{prefix or service}.amazonaws.com"


# -- resources ---------------------------------------------------------------

def resources_of(service: str, operation: str, params: dict, account: str, region: str) -> list[dict]:
    """The resources CloudTrail names for a call ({ARN, accountId, type})."""
    get = params.get
    if service == "s3":
        bucket = get("Bucket")
        if not bucket:
            return []
        out = []
        key = get("Key")
        if key is not None:
            out.append({"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"})
        out.append({"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"})
        return out
    if service == "sqs":
        url = get("QueueUrl")
        if url:
            parts = url.rstrip("/").split("/")
            if len(parts) >= 2:
                owner, name = parts[-2], parts[-1]
                return [{"accountId": owner, "type": "AWS::SQS::Queue",
                         "ARN": f"arn:aws:sqs:{region}:{owner}:{name}"}]
        return []
    if service == "sns":
        arn = get("TopicArn") or get("TargetArn")
        if arn and arn.startswith("arn:"):
            return [{"accountId": arn.split(":")[4], "type": "AWS::SNS::Topic", "ARN": arn}]
        return []
    if service == "kms":
        key = get("KeyId") or get("TargetKeyId")
        if isinstance(key, str) and key and not key.startswith("alias/") and ":alias/" not in key:
            arn = key if key.startswith("arn:") else f"arn:aws:kms:{region}:{account}:key/{key}"
            return [{"accountId": arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": arn}]
        return []
    if service == "iam":
        for member, kind, path in (("UserName", "User", "user"), ("RoleName", "Role", "role"),
                                   ("GroupName", "Group", "group")):
            name = get(member)
            if isinstance(name, str) and name:
                return [{"accountId": account, "type": f"AWS::IAM::{kind}",
                         "ARN": f"arn:aws:iam::{account}:{path}/{name}"}]
        arn = get("PolicyArn")
        if isinstance(arn, str) and arn:
            return [{"accountId": account, "type": "AWS::IAM::Policy", "ARN": arn}]
        return []
    if service == "lambda":
        name = get("FunctionName")
        if isinstance(name, str) and name:
            arn = name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{name}"
            return [{"accountId": account, "type": "AWS::Lambda::Function", "ARN": arn}]
        return []
    if service == "cloudtrail":
        name = get("Name") or get("TrailName")
        if isinstance(name, str) and name:
            arn = name if name.startswith("arn:") else f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"
            return [{"accountId": account, "type": "AWS::CloudTrail::Trail", "ARN": arn}]
    return []


def lookup_resources(resources: list[dict]) -> list[dict]:
    """LookupEvents' Resources: type and name (a bucket's or IAM entity's
    name, other resources' ARNs)."""
    out = []
    for r in resources:
        kind, arn = r["type"], r["ARN"]
        if kind == "AWS::S3::Bucket":
            name = arn[len("arn:aws:s3:::"):]
        elif kind.startswith("AWS::IAM::") and kind != "AWS::IAM::Policy":
            name = arn.rsplit("/", 1)[-1]
        else:
            name = arn
        out.append({"ResourceType": kind, "ResourceName": name})
    return out


# -- values ------------------------------------------------------------------

def aws_time_text(value) -> str:
    """Timestamps inside requestParameters / responseElements, as AWS's
    services write them there ("Oct 1, 2024, 12:00:00 PM")."""
    try:
        epoch = parse_timestamp(value)
    except Exception:
        return str(value)
    dt = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    hour = dt.hour % 12 or 12
    return f"{dt:%b} {dt.day}, {dt.year}, {hour}:{dt:%M:%S} {'AM' if dt.hour < 12 else 'PM'}"


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def shape_value(shape, value, s3: bool = False):
    """A stored value in CloudTrail's form, driven by its shape."""
    if value is None:
        return None
    if shape is None:
        return value
    kind = shape.type
    if kind == "structure":
        if not isinstance(value, dict):
            return value
        members = shape.members
        out = {}
        for name, v in value.items():
            if v is None or name.startswith("__"):
                continue
            member = members.get(name)
            if s3 and member is not None and member.location in ("querystring", "header"):
                key = member.wire_name or name
            else:
                key = lower_camel(name)
            out[key] = shape_value(member, v, s3)
        return out
    if kind == "list":
        if not isinstance(value, list):
            return value
        member = shape.member
        return [shape_value(member, v, s3) for v in value]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        inner = shape.value
        return {k: shape_value(inner, v, s3) for k, v in value.items()}
    if kind == "timestamp":
        return aws_time_text(value)
    return value


def request_parameters(op, params: dict | None):
    if not params:
        return None
    if op is None:
        return params
    if op.service.name == "s3":
        return _s3_request(op, params)
    shaped = shape_value(op.input, params)
    return shaped or None


def _s3_request(op, params: dict) -> dict:
    # S3 names the bucket and key its own way, and adds the Host it was
    # called at; other members appear under their query-string names.
    out: dict = {}
    if params.get("Bucket") is not None:
        out["bucketName"] = params["Bucket"]
    if params.get("__host__"):
        out["Host"] = params["__host__"]
    if params.get("Key") is not None:
        out["key"] = params["Key"]
    members = op.input.members if op.input is not None else {}
    for name, v in params.items():
        if name in ("Bucket", "Key") or name.startswith("__") or v is None:
            continue
        member = members.get(name)
        if member is None or member.location != "querystring":
            continue
        out[member.wire_name or name] = shape_value(member, v, True)
    return out


def response_elements(op, output):
    if not output:
        return None
    if op is None:
        return output
    if op.service.name == "s3":
        members = op.output.members if op.output is not None else {}
        out = {}
        for name, v in output.items():
            member = members.get(name)
            if member is not None and member.location == "header" and v is not None \
                    and (member.wire_name or "").lower().startswith("x-amz-"):
                out[member.wire_name] = v
        return out or None
    shaped = shape_value(op.output, output)
    return shaped or None


# -- identity ----------------------------------------------------------------

def user_identity(ident: dict) -> dict:
    kind = ident.get("t")
    by = ident.get("by")
    if kind == "AWSService":
        return {"type": "AWSService", "invokedBy": by}
    out = {"type": kind, "principalId": ident.get("id"), "arn": ident.get("arn"), "accountId": ident.get("acct")}
    if ident.get("key"):
        out["accessKeyId"] = ident["key"]
    if kind == "IAMUser" and ident.get("name"):
        out["userName"] = ident["name"]
    if "issued" in ident:
        context: dict = {}
        if kind == "AssumedRole" and ident.get("role"):
            role_arn, role_name = ident["role"]
            principal_id = (ident.get("id") or "").split(":", 1)[0]
            context["sessionIssuer"] = {"type": "Role", "principalId": principal_id, "arn": role_arn,
                                        "accountId": ident.get("acct"), "userName": role_name}
        elif kind == "FederatedUser" and ident.get("parent"):
            account = ident.get("acct")
            context["sessionIssuer"] = {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/{ident['parent']}",
                                        "accountId": account, "userName": ident["parent"]}
        if ident.get("srcid"):
            context["sourceIdentity"] = ident["srcid"]
        context["attributes"] = {
            "creationDate": iso8601(int(ident["issued"])) if ident.get("issued") is not None else None,
            "mfaAuthenticated": "true" if ident.get("mfa") else "false",
        }
        out["sessionContext"] = context
    if by:
        out["invokedBy"] = by
    return out


# -- the record ----------------------------------------------------------------

def shape(row, models) -> dict:
    """One stored record (a row unpack() made) as a CloudTrail record."""
    (_, event_id, time, account, region, service, name, read_only, category, _username, _key, identity,
     source_ip, user_agent, request_id, params, output, error_code, error_message, resources, shared_id) = row
    model = models.get(service)
    op = model.operation(_DONE_BY.get(name, name)) if model is not None else None
    record: dict = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": user_identity(identity),
        "eventTime": iso8601(int(time)),
        "eventSource": event_source(service, models),
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": source_ip,
        "userAgent": user_agent,
    }
    if error_code is not None:
        record["errorCode"] = error_code
        record["errorMessage"] = error_message
    record["requestParameters"] = request_parameters(op, params)
    record["responseElements"] = response_elements(op, output) if output is not None else None
    record["requestID"] = request_id
    record["eventID"] = dashed(event_id)
    record["readOnly"] = bool(read_only)
    found = resources or resources_of(service, name, params or {}, account, region)
    if found:
        record["resources"] = found
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = not category
    record["recipientAccountId"] = account
    if shared_id is not None:
        record["sharedEventID"] = dashed(shared_id)
    record["eventCategory"] = "Data" if category else "Management"
    return record
