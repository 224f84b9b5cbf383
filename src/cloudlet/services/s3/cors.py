"""Cross-origin resource sharing as S3 answers it, from the bucket's CORS
configuration (PutBucketCors; the `cors` row of s3_bucket_configs: the
CORSRules as given).

S3 User Guide, "Using cross-origin resource sharing (CORS)": the first rule
that matches decides. A rule matches when the request's Origin matches one
of its AllowedOrigins (one `*` wildcard at most; `*` alone: any origin),
its method (a preflight's Access-Control-Request-Method) is one of its
AllowedMethods, and every header a preflight's Access-Control-Request-Headers
names matches one of its AllowedHeaders (case-insensitively, one `*` at
most).

- A preflight (`OPTIONS /bucket[/key]`, unauthenticated; "OPTIONS object"
  in the API reference) answers 200 with the rule's Access-Control-* headers,
  or S3's errors: 400 BadRequest without an Origin (or with a method S3
  does not know), 403 AccessForbidden when the bucket does not exist, has
  no CORS configuration or no rule allows the request.
- Any other request with an Origin a rule allows (the method, or an
  Access-Control-Request-Method it carries, and any
  Access-Control-Request-Headers) gets the same headers on its answer,
  error or not; otherwise none (the request itself is not refused: the
  browser is the one that enforces CORS).

A rule that allows any origin answers `Access-Control-Allow-Origin: *`;
one that names origins echoes the request's and adds
`Access-Control-Allow-Credentials: true`. Vary always names Origin and the
two request headers.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from cloudlet.protocol.http import HttpRequest, HttpResponse
from cloudlet.services.s3.common import s3_error

CORS = "cors"
METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")
_PATTERNS: dict[tuple[str, bool], re.Pattern] = {}


def _pattern(text: str, ignore_case: bool) -> re.Pattern:
    found = _PATTERNS.get((text, ignore_case))
    if found is None:
        if len(_PATTERNS) > 4096:
            _PATTERNS.clear()
        found = _PATTERNS[(text, ignore_case)] = re.compile(
            ".*".join(re.escape(piece) for piece in text.split("*")), re.IGNORECASE if ignore_case else 0)
    return found


def origin_allowed(allowed: list[str], origin: str) -> bool:
    for item in allowed:
        if item == "*" or item == origin or ("*" in item and _pattern(item, False).fullmatch(origin)):
            return True
    return False


def header_allowed(allowed: list[str], header: str) -> bool:
    header = header.lower()
    for item in allowed:
        if item == "*" or item.lower() == header or ("*" in item and _pattern(item, True).fullmatch(header)):
            return True
    return False


def requested_headers(request: HttpRequest) -> list[str]:
    text = request.header("access-control-request-headers")
    if not text:
        return []
    return [h.strip() for h in text.split(",") if h.strip()]


def match(rules: list[dict], origin: str, method: str, headers: list[str]) -> dict | None:
    """The first rule that allows this origin, method and headers."""
    for rule in rules:
        if method not in (rule.get("AllowedMethods") or []):
            continue
        if not origin_allowed(rule.get("AllowedOrigins") or [], origin):
            continue
        allowed_headers = rule.get("AllowedHeaders") or []
        if any(not header_allowed(allowed_headers, h) for h in headers):
            continue
        return rule
    return None


def rule_headers(rule: dict, origin: str, headers: list[str]) -> list[tuple[str, str]]:
    """The Access-Control-* headers a matching rule answers with."""
    wildcard = "*" in (rule.get("AllowedOrigins") or [])
    out = [("Access-Control-Allow-Origin", "*" if wildcard else origin)]
    if not wildcard:
        out.append(("Access-Control-Allow-Credentials", "true"))
    out.append(("Vary", VARY))
    out.append(("Access-Control-Allow-Methods", ", ".join(rule.get("AllowedMethods") or [])))
    if headers:
        out.append(("Access-Control-Allow-Headers", ", ".join(headers)))
    if rule.get("ExposeHeaders"):
        out.append(("Access-Control-Expose-Headers", ", ".join(rule["ExposeHeaders"])))
    if rule.get("MaxAgeSeconds") is not None:
        out.append(("Access-Control-Max-Age", str(rule["MaxAgeSeconds"])))
    return out


def split_path(path: str) -> tuple[str, str]:
    """(bucket, key) of a path-style path ("" when absent)."""
    path = path.split("?", 1)[0]
    bucket, _, key = path.lstrip("/").partition("/")
    return unquote(bucket), unquote(key)


def _forbidden(message: str, method: str, resource_type: str):
    return s3_error("AccessForbidden", message, 403, Method=method, ResourceType=resource_type)


class CorsOps:
    """Mixed into S3Service."""

    def preflight(self, request: HttpRequest, path: str, request_id: str) -> HttpResponse:
        """An OPTIONS request: S3's preflight answer (raises AwsError)."""
        bucket_name, key = split_path(path)
        origin = request.header("origin")
        if not origin:
            raise s3_error("BadRequest", "Insufficient information. Origin request header needed.", 400)
        method = request.header("access-control-request-method")
        if method is not None and method not in METHODS:
            raise s3_error("BadRequest", f"Invalid Access-Control-Request-Method: {method}", 400)
        bucket = self.find_bucket(bucket_name)
        if bucket is None:
            raise _forbidden("CORSResponse: Bucket not found", method or "OPTIONS", "BUCKET")
        rules = self.get_config(bucket.name, CORS)
        if not rules:
            raise _forbidden("CORSResponse: CORS is not enabled for this bucket.", method or "OPTIONS", "BUCKET")
        if method is None:
            raise s3_error("BadRequest", "Invalid Access-Control-Request-Method: null", 400)
        headers = requested_headers(request)
        rule = match(rules, origin, method, headers)
        if rule is None:
            raise _forbidden(NOT_ALLOWED, method, "OBJECT" if key else "BUCKET")
        from cloudlet.protocol.rest_xml import host_id

        out = rule_headers(rule, origin, headers)
        out += [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id))]
        return HttpResponse(200, out, b"")

    def cors_response(self, request: HttpRequest, path: str, response: HttpResponse) -> HttpResponse:
        """Add the CORS headers an actual request's Origin earns (any answer
        of S3 but a preflight's)."""
        origin = request.header("origin")
        if not origin or request.method == "OPTIONS":
            return response
        bucket_name, _ = split_path(path)
        if not bucket_name:
            return response
        rules = self.get_config(bucket_name, CORS) if self.find_bucket(bucket_name) is not None else None
        if not rules:
            return response
        headers = requested_headers(request)
        method = request.header("access-control-request-method") or request.method
        rule = match(rules, origin, method, headers)
        if rule is not None:
            response.headers.extend(rule_headers(rule, origin, headers))
        return response
