"""AwsError: the one exception a request handler raises to answer an error.

A handler raises `AwsError(code, message)` with the code AWS documents (for a
modeled error, the exception shape's name). The protocol serializer looks the
code up in the service model to find the HTTP status, the fault side and, for
query-compatible services, the code the query protocol uses; arguments given
here win over the model.
"""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    __slots__ = ("code", "message", "status", "sender_fault", "fields", "headers")

    def __init__(
        self,
        code: str,
        message: str = "",
        status: int | None = None,
        *,
        sender_fault: bool | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.status = status
        self.sender_fault = sender_fault
        # Extra members of the error shape (e.g. S3's BucketName, Key).
        self.fields = fields or {}
        # Extra response headers (e.g. S3's x-amz-delete-marker on a 404).
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"AwsError({self.code!r}, {self.message!r})"


# The errors common to every AWS API (the "Common Errors" page of each API
# reference), with their statuses.
def internal_failure(request_id: str) -> AwsError:
    return AwsError(
        "InternalFailure",
        f"The request processing has failed because of an unknown error, exception or failure. (Request ID: {request_id})",
        500,
        sender_fault=False,
    )


def invalid_action(action: str) -> AwsError:
    return AwsError("InvalidAction", f"The action {action} is not valid for this web service.", 400)


def missing_action() -> AwsError:
    return AwsError("MissingAction", "The request must contain the parameter Action.", 400)


def unknown_operation(message: str = "") -> AwsError:
    return AwsError("UnknownOperationException", message, 400)


def serialization_error(message: str) -> AwsError:
    return AwsError("SerializationException", message, 400)
