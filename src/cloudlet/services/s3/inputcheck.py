"""S3's answer to a request the model says is malformed. S3 never sends
ValidationException: a body that breaks the schema (a required element
missing, a value outside its enumeration) is MalformedXML, a required body
that is missing is MissingRequestBodyError; headers and query parameters
are the handlers' to judge, each with its own error (InvalidArgument,
InvalidStorageClass, InvalidLocationConstraint, ...)."""

from __future__ import annotations

from cloudlet.protocol.validate import violations
from cloudlet.services.s3.common import malformed_xml, s3_error

# Enumerations S3 answers for with a specific error of its own (the
# handler's): a location constraint, notification event names and filter
# rule names (which S3 takes in any case).
_HANDLER_ENUMS = {("CreateBucket", "locationConstraint")}
_HANDLER_ENUM_OPS = {"PutBucketNotificationConfiguration"}


def check_input(op, params: dict, request=None) -> None:
    shape = op.input
    if shape is None or not shape.payload:
        return
    name = shape.payload
    member = shape.members[name]
    value = params.get(name)
    if value is None:
        if name in shape.required and member.type == "structure":
            raise s3_error("MissingRequestBodyError", "Request Body is empty", 400)
        return
    if member.type != "structure" or not isinstance(value, dict):
        return
    found = [v for v in violations(member, value) if (op.name, v.path) not in _HANDLER_ENUMS
             and not (op.name in _HANDLER_ENUM_OPS and v.constraint.startswith("Member must satisfy enum"))]
    if found:
        raise malformed_xml()
