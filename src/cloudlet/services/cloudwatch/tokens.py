"""CloudWatch's NextToken values: opaque to clients, a position (an id, a
name, a count) to cloudlet. A token that does not decode is AWS's
InvalidNextToken."""

from __future__ import annotations

import base64

from cloudlet.errors import AwsError


def encode(position) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def decode(token: str, kind=str, code: str = "InvalidNextToken",
           message: str = "The service cannot complete the request."):
    """The position a token holds, as `kind` (str or int)."""
    try:
        return kind(base64.urlsafe_b64decode(token.encode()).decode())
    except Exception:
        raise AwsError(code, message) from None
