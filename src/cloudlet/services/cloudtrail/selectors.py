"""Event selectors: which events a trail logs (`matches`), and the
validation PutEventSelectors applies (`check_basic`, `check_advanced`).

Basic selectors (EventSelectors): an event is logged when some selector
takes it: its ReadWriteType admits the event's readOnly; a management
event needs IncludeManagementEvents (default true) and an event source not
in ExcludeManagementEventSources; a data event needs a DataResources entry
of its resource type whose values cover its resource (S3: an ARN prefix,
"arn:aws:s3" for every bucket; Lambda and DynamoDB: an exact ARN, or the
service's bare prefix for all).

Advanced selectors: an event is logged when some selector matches; a
selector matches when each of its field selectors does; a field selector
matches when every operator it uses holds (Equals / StartsWith / EndsWith:
some value matches; NotEquals / NotStartsWith / NotEndsWith: no value
does). resources.ARN is compared with the ARNs of the event's resources of
the selector's resources.type.

A trail with advanced selectors ignores basic ones (AWS keeps one kind).
"""

from __future__ import annotations

import re

from cloudlet.errors import AwsError

BASIC_TYPES = ("AWS::S3::Object", "AWS::Lambda::Function", "AWS::DynamoDB::Table")
FIELDS = ("eventCategory", "eventSource", "eventName", "eventType", "readOnly", "resources.type",
          "resources.ARN", "userIdentity.arn", "errorCode", "sessionCredentialFromConsole", "vpcEndpointId",
          "eventTypeName")
CATEGORIES = ("Management", "Data", "NetworkActivity", "ConfigurationItem", "Evidence", "ActivityAuditLog",
              "Insight")
OPERATORS = ("Equals", "StartsWith", "EndsWith", "NotEquals", "NotStartsWith", "NotEndsWith")
# Data event resource types cloudlet produces events for (others are accepted
# and stored, and match nothing yet).
DATA_TYPES = ("AWS::S3::Object", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::Lambda::Function",
              "AWS::DynamoDB::Table", "AWS::S3::AccessPoint", "AWS::S3Express::Object", "AWS::KMS::Key",
              "AWS::CloudTrail::Channel", "AWS::S3ObjectLambda::AccessPoint", "AWS::SNS::PlatformEndpoint",
              "AWS::Lambda::Function", "AWS::SecretsManager::Secret", "AWS::DynamoDB::Stream")
_ARN = re.compile(r"^arn:[a-z-]+:[a-z0-9-]+:")


def _get(trail, attr: str, key: str):
    if isinstance(trail, dict):
        return trail.get(key)
    return getattr(trail, attr, None)


def matches(trail, record: dict) -> bool:
    """Whether `trail` (an object with `event_selectors` and
    `advanced_event_selectors`, or a dict with the API's EventSelectors /
    AdvancedEventSelectors) logs the CloudTrail `record`."""
    advanced = _get(trail, "advanced_event_selectors", "AdvancedEventSelectors")
    if advanced:
        return any(_advanced_matches(selector, record) for selector in advanced)
    basic = _get(trail, "event_selectors", "EventSelectors")
    if basic is None:
        basic = [{"ReadWriteType": "All", "IncludeManagementEvents": True}]
    return any(_basic_matches(selector, record) for selector in basic)


# -- basic -----------------------------------------------------------------

def _basic_matches(selector: dict, record: dict) -> bool:
    rw = selector.get("ReadWriteType") or "All"
    read_only = bool(record.get("readOnly"))
    if (rw == "ReadOnly" and not read_only) or (rw == "WriteOnly" and read_only):
        return False
    if record.get("eventCategory") == "Management":
        if not selector.get("IncludeManagementEvents", True):
            return False
        return record.get("eventSource") not in (selector.get("ExcludeManagementEventSources") or ())
    if record.get("eventCategory") != "Data":
        return False
    resources = record.get("resources") or []
    for data in selector.get("DataResources") or ():
        kind = data.get("Type")
        for value in data.get("Values") or ():
            for arn in _arns_of_type(resources, kind):
                if _basic_value_covers(kind, value, arn):
                    return True
    return False


def _basic_value_covers(kind: str, value: str, arn: str) -> bool:
    if kind == "AWS::S3::Object":
        if value in ("arn:aws:s3", "arn:aws:s3:::", "arn:aws:s3:::*"):
            return True
        return arn.startswith(value)
    if kind == "AWS::Lambda::Function":
        return value in ("arn:aws:lambda", "arn:aws:lambda:*") or arn == value
    if kind == "AWS::DynamoDB::Table":
        return value in ("arn:aws:dynamodb", "arn:aws:dynamodb:*") or arn == value
    return arn == value


def _arns_of_type(resources: list, kind: str | None) -> list[str]:
    arns = [r.get("ARN") or "" for r in resources if kind is None or r.get("type") == kind]
    if not arns and kind == "AWS::S3::Object":
        # A bucket-level data event (ListObjects): its bucket, as the prefix
        # of every object in it.
        arns = [(r.get("ARN") or "") + "/" for r in resources if r.get("type") == "AWS::S3::Bucket"]
    return arns


# -- advanced --------------------------------------------------------------

def _advanced_matches(selector: dict, record: dict) -> bool:
    fields = selector.get("FieldSelectors") or []
    kinds = None
    for field in fields:
        if field.get("Field") == "resources.type":
            kinds = field.get("Equals") or None
    for field in fields:
        name = field.get("Field")
        if name == "resources.ARN":
            resources = record.get("resources") or []
            arns = []
            for kind in (kinds or [None]):
                arns.extend(_arns_of_type(resources, kind))
            if not any(_field_holds(field, arn) for arn in arns):
                return False
            continue
        if name == "resources.type":
            types = [r.get("type") for r in record.get("resources") or ()]
            if not any(_field_holds(field, t) for t in types):
                return False
            continue
        value = _record_field(record, name)
        if not _field_holds(field, value):
            return False
    return True


def _record_field(record: dict, name: str):
    if name == "readOnly":
        return "true" if record.get("readOnly") else "false"
    if name == "userIdentity.arn":
        return (record.get("userIdentity") or {}).get("arn")
    if name == "sessionCredentialFromConsole":
        return "false"
    return record.get(name)


def _field_holds(field: dict, value) -> bool:
    if value is None:
        value = ""
    value = str(value)
    for op in OPERATORS:
        values = field.get(op)
        if not values:
            continue
        if op == "Equals" and value not in values:
            return False
        if op == "StartsWith" and not any(value.startswith(v) for v in values):
            return False
        if op == "EndsWith" and not any(value.endswith(v) for v in values):
            return False
        if op == "NotEquals" and value in values:
            return False
        if op == "NotStartsWith" and any(value.startswith(v) for v in values):
            return False
        if op == "NotEndsWith" and any(value.endswith(v) for v in values):
            return False
    return True


def referenced_fields(trail) -> frozenset[str]:
    """The record fields a trail's selectors can look at: its decision for
    an event depends on these only (the recorder caches decisions by
    them). "resources" stands for the resources' types and ARNs."""
    advanced = _get(trail, "advanced_event_selectors", "AdvancedEventSelectors")
    if advanced:
        out = set()
        for selector in advanced:
            for field in selector.get("FieldSelectors") or ():
                name = field.get("Field")
                out.add("resources" if name in ("resources.type", "resources.ARN") else name)
        return frozenset(out)
    fields = {"readOnly", "eventCategory", "eventSource"}
    basic = _get(trail, "event_selectors", "EventSelectors")
    if basic is None or any(selector.get("DataResources") for selector in basic):
        fields.add("resources")
    return frozenset(fields)


def wants_data(trail) -> bool:
    """Whether a trail's selectors can select any data event at all."""
    advanced = _get(trail, "advanced_event_selectors", "AdvancedEventSelectors")
    if advanced:
        for selector in advanced:
            for field in selector.get("FieldSelectors") or ():
                if field.get("Field") == "eventCategory" and "Data" in (field.get("Equals") or ()):
                    return True
        return False
    basic = _get(trail, "event_selectors", "EventSelectors") or ()
    return any(selector.get("DataResources") for selector in basic)


# -- validation ------------------------------------------------------------

def _invalid(message: str) -> AwsError:
    return AwsError("InvalidEventSelectorsException", message, 400)


def check_basic(selectors: list) -> None:
    if len(selectors) > 5:
        raise _invalid("You have exceeded the maximum of 5 event selectors. Reduce the number of event "
                       "selectors and try again.")
    total = 0
    for selector in selectors:
        for data in selector.get("DataResources") or ():
            kind = data.get("Type")
            if kind not in BASIC_TYPES:
                raise _invalid(f"Invalid data resource type: {kind}. Use advanced event selectors for "
                               "resource types other than AWS::S3::Object, AWS::Lambda::Function and "
                               "AWS::DynamoDB::Table.")
            values = data.get("Values") or []
            total += len(values)
            for value in values:
                if not _basic_value_ok(kind, value):
                    raise _invalid(f"Value {value} for parameter DataResources.Values is invalid.")
        for source in selector.get("ExcludeManagementEventSources") or ():
            if source not in ("kms.amazonaws.com", "rdsdata.amazonaws.com"):
                raise _invalid(f"Value {source} for parameter ExcludeManagementEventSources is invalid.")
    if total > 250:
        raise _invalid("You have exceeded the maximum of 250 data resources. Reduce the number of data "
                       "resources and try again.")


def _basic_value_ok(kind: str, value: str) -> bool:
    if kind == "AWS::S3::Object":
        if value in ("arn:aws:s3", "arn:aws:s3:::"):
            return True
        if not value.startswith("arn:aws:s3:::"):
            return False
        bucket = value[len("arn:aws:s3:::"):].split("/", 1)
        return len(bucket) == 2 and bool(bucket[0])  # a bucket, then "/" and an optional prefix
    if kind == "AWS::Lambda::Function":
        return value == "arn:aws:lambda" or value.startswith("arn:aws:lambda:")
    return value == "arn:aws:dynamodb" or value.startswith("arn:aws:dynamodb:")


def check_advanced(selectors: list) -> None:
    conditions = 0
    for selector in selectors:
        fields = selector.get("FieldSelectors") or []
        seen: set = set()
        category = None
        kinds = None
        for field in fields:
            name = field.get("Field")
            if name not in FIELDS:
                raise _invalid(f"Invalid field name: {name}. Valid field names are {', '.join(FIELDS[:10])}.")
            if name in seen:
                raise _invalid(f"Duplicate field {name} in an advanced event selector. Each field can be "
                               "used only once in an advanced event selector.")
            seen.add(name)
            used = [op for op in OPERATORS if field.get(op) is not None]
            if not used:
                raise _invalid(f"Field {name} must use at least one operator.")
            for op in used:
                if not field[op]:
                    raise _invalid(f"Operator {op} for field {name} must have at least one value.")
                conditions += len(field[op])
            if name in ("eventCategory", "readOnly", "resources.type") and used != ["Equals"]:
                raise _invalid(f"Field {name} only supports the Equals operator.")
            if name == "eventCategory":
                values = field["Equals"]
                if len(values) != 1 or values[0] not in CATEGORIES:
                    raise _invalid(f"Invalid value for eventCategory: {', '.join(values)}. Valid values are "
                                   "Management, Data, NetworkActivity.")
                category = values[0]
            elif name == "readOnly":
                if len(field["Equals"]) != 1 or field["Equals"][0] not in ("true", "false"):
                    raise _invalid("Invalid value for readOnly. Valid values are true and false.")
            elif name == "resources.type":
                if len(field["Equals"]) != 1:
                    raise _invalid("Field resources.type must have exactly one value.")
                kinds = field["Equals"][0]
                if not kinds.startswith("AWS::"):
                    raise _invalid(f"Invalid value for resources.type: {kinds}.")
            elif name == "resources.ARN":
                for op in used:
                    for value in field[op]:
                        if op in ("Equals", "NotEquals", "StartsWith", "NotStartsWith") and \
                                not _ARN.match(value) and value not in ("arn:aws:s3", "arn:aws:s3:::"):
                            raise _invalid(f"Value {value} for parameter resources.ARN is invalid.")
        if category is None:
            raise _invalid("Each advanced event selector must have a field selector for eventCategory.")
        if category == "Data" and kinds is None:
            raise _invalid("Advanced event selectors for data events must have a field selector for "
                           "resources.type.")
        if category == "Management":
            extra = seen - {"eventCategory", "readOnly", "eventSource"}
            if extra:
                raise _invalid(f"Invalid field {sorted(extra)[0]} for management events. Management event "
                               "selectors can only use eventCategory, readOnly and eventSource.")
    if len(selectors) > 500 or conditions > 500:
        raise _invalid("You have exceeded the maximum of 500 conditions in advanced event selectors.")
