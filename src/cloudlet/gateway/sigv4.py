"""Signature Version 4: verifying a signed request, as AWS does.

`verify(request, cred, secret_key, wall_now=..., clock_now=...)` rebuilds the
canonical request from what arrived on the wire, signs it with the key
derived from the secret, and compares. It raises `SigV4Error` (a `kind`
naming what is wrong, AWS's message, and the diagnostic details S3 echoes);
`auth_error(err, signing_name=..., protocol=...)` turns that into the
`AwsError` the service family answers with. Streaming bodies (aws-chunked,
signed chunks, trailing checksums) are decoded by `cloudlet.gateway.chunked`
and the request's body replaced by the payload.

The canonical request follows the client side exactly (botocore's
`SigV4Auth` / `S3SigV4Auth`):
- URI: S3 signs the path as sent; every other service removes dot segments
  and empty segments and percent-encodes the (already encoded) path again.
- query: every pair, each name and value URI-encoded (RFC 3986 unreserved
  characters left as they are), sorted; a presigned URL's X-Amz-Signature is
  left out.
- headers: the SignedHeaders, each value trimmed with its runs of blanks
  collapsed, repeated headers joined with ",".
- payload: `x-amz-content-sha256` as sent when present (a hash,
  UNSIGNED-PAYLOAD or a STREAMING-* name), else the SHA-256 of the body;
  an S3 presigned URL signs UNSIGNED-PAYLOAD unless it names a hash.

Only when the signature does not match are a few other spellings of the same
request tried (a path or query a client encoded differently from the
canonical form, the raw Date header as the timestamp), so the common case
pays for exactly one HMAC.

Time: the request's own time is held against `wall_now` (clients sign with
the real clock even while cloudlet's clock is virtual), a presigned URL's
expiry against `clock_now` (cloudlet's clock, so a test can move it past).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_tz
from urllib.parse import quote, unquote_to_bytes

from cloudlet.errors import AwsError
from cloudlet.gateway.auth import Credential
from cloudlet.protocol.http import HttpRequest, SpooledBody

ALGORITHM = "AWS4-HMAC-SHA256"
ECDSA_ALGORITHM = "AWS4-ECDSA-P256-SHA256"
TERMINATOR = "aws4_request"
MAX_SKEW = 900              # seconds: a request's time may be this far from the server's
MAX_EXPIRES = 604800        # seconds: a presigned URL lives a week at most
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_ECDSA = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"
STREAMING_ECDSA_TRAILER = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"

# payload hash -> (payload mode, chunks signed, trailer expected)
_STREAMING = {
    STREAMING_SIGNED: ("streaming-signed", True, False),
    STREAMING_SIGNED_TRAILER: ("streaming-signed-trailer", True, True),
    STREAMING_UNSIGNED_TRAILER: ("streaming-unsigned-trailer", False, True),
}

# Signing names whose requests are signed the way S3's are (path as sent,
# x-amz-content-sha256 required) and whose errors are S3's.
S3_SIGNING_NAMES = frozenset({"s3", "s3-object-lambda", "s3-outposts", "s3express"})

_HEX = frozenset("0123456789abcdefABCDEF")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PATH_SAFE = _UNRESERVED | {"/"}


class SigV4Error(Exception):
    """Why a SigV4 signature was refused.

    kind     what is wrong (see `auth_error` for every kind and its answer)
    message  the text AWS's query and JSON services give for it
    details  what the answer names: S3's StringToSign / CanonicalRequest /
             SignatureProvided / AWSAccessKeyId, the times of a skew, ...
    """

    __slots__ = ("details", "kind", "message")

    def __init__(self, kind: str, message: str, details: dict | None = None):
        super().__init__(kind, message)
        self.kind = kind
        self.message = message
        self.details = details if details is not None else {}

    def __repr__(self) -> str:
        return f"SigV4Error({self.kind!r}, {self.message!r})"


@dataclass(slots=True)
class Verified:
    """A request whose signature checked out."""
    signature: str
    # The signature that starts a streaming body's chain of chunk
    # signatures (the request's own signature); "" when not streaming signed.
    seed_signature: str
    payload_mode: str   # signed | unsigned | streaming-signed | streaming-unsigned-trailer | streaming-signed-trailer
    # Trailing headers of an aws-chunked body (x-amz-checksum-crc32 ...),
    # lower-case names; x-amz-trailer-signature is not among them.
    trailers: dict[str, str] = field(default_factory=dict)
    access_key: str = ""
    region: str = ""
    service: str = ""
    amz_date: str = ""          # the request time, ISO 8601 basic (20130524T000000Z)
    presigned: bool = False
    security_token: str | None = None
    payload_hash: str = ""      # what the canonical request named as the payload
    # For a streaming body: the decoded length, and the body's Content-Encoding
    # with "aws-chunked" taken out (None when nothing is left).
    decoded_length: int | None = None
    content_encoding: str | None = None


# -- signing keys ----------------------------------------------------------

_KEYS: dict[tuple[str, str, str, str], bytes] = {}
_MAX_KEYS = 4096


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
    Derived keys are cached: one serves every request of that day."""
    k = (secret_key, date, region, service)
    key = _KEYS.get(k)
    if key is None:
        digest = hmac.digest
        key = digest(("AWS4" + secret_key).encode(), date.encode(), "sha256")
        key = digest(key, region.encode(), "sha256")
        key = digest(key, service.encode(), "sha256")
        key = digest(key, b"aws4_request", "sha256")
        if len(_KEYS) >= _MAX_KEYS:
            _KEYS.clear()
        _KEYS[k] = key
    return key


def sign(key: bytes, string_to_sign: str) -> str:
    return hmac.digest(key, string_to_sign.encode(), "sha256").hex()


# -- times -----------------------------------------------------------------

_DATES: dict[str, float] = {}


def parse_amz_date(value: str) -> float | None:
    """Epoch seconds of an ISO 8601 basic timestamp (20130524T000000Z), or None."""
    t = _DATES.get(value)
    if t is not None:
        return t
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not digits.isdigit() or not digits.isascii():
        return None
    try:
        t = datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]),
                     int(value[11:13]), int(value[13:15]), tzinfo=UTC).timestamp()
    except ValueError:
        return None
    if len(_DATES) > 256:
        _DATES.clear()
    _DATES[value] = t
    return t


def _parse_http_date(value: str) -> float | None:
    """The Date header: RFC 1123 (what botocore sends), or ISO 8601 basic."""
    t = parse_amz_date(value)
    if t is not None:
        return t
    parts = parsedate_tz(value)
    if parts is None:
        return None
    try:
        dt = datetime(*parts[:6], tzinfo=UTC)
    except ValueError:
        return None
    return dt.timestamp() - (parts[9] or 0)


def amz_date(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y%m%dT%H%M%SZ")


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- the canonical request -------------------------------------------------

def _to_bytes(text: str) -> bytes:
    # The ASGI app decodes the raw path and query as latin-1: encoding back
    # gives the bytes that were sent.
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 dot-segment removal with empty segments dropped, as AWS's
    services (and botocore's signer) normalize a path."""
    if not path:
        return "/"
    out: list[str] = []
    for seg in path.split("/"):
        if not seg or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
        else:
            out.append(seg)
    result = "/".join(out)
    if path[0] == "/":
        result = "/" + result
    if path[-1] == "/" and out:
        result += "/"
    return result


def canonical_uri(raw_path: str, s3: bool) -> str:
    if not raw_path or raw_path == "/":
        return "/"
    if s3:
        return raw_path
    path = _remove_dot_segments(raw_path)
    if _PATH_SAFE.issuperset(path):
        return path
    return quote(_to_bytes(path), safe="/~")


def _s3_uri_variant(raw_path: str) -> str:
    """The path each of whose segments is decoded and encoded again: what a
    client that signs the canonical form but sends another spelling of it
    (an unencoded ' or !, lower-case escapes) signed."""
    return "/".join(quote(unquote_to_bytes(_to_bytes(seg)), safe="~") for seg in raw_path.split("/"))


# A query component already in canonical form: unreserved characters and
# upper-case escapes. Kept as sent (botocore sends nothing else).
_CANONICAL_COMPONENT = re.compile(r"(?:[A-Za-z0-9\-._~]|%[0-9A-F]{2})*").fullmatch
_CANONICAL_QUERY = re.compile(r"(?:[A-Za-z0-9\-._~=&]|%[0-9A-F]{2})*").fullmatch


def _canonical_component(text: str, mode: int = 0) -> str:
    """mode 0: kept when already canonical, else decoded and encoded again;
    1: always decoded and encoded again; 2: as 1 with "+" read as a space."""
    if mode == 0 and _CANONICAL_COMPONENT(text):
        return text
    raw = _to_bytes(text)
    if mode == 2:
        raw = raw.replace(b"+", b" ")
    return quote(unquote_to_bytes(raw), safe="-_.~")


def canonical_query(query_string: str, presigned: bool = False, mode: int = 0) -> str:
    """The canonical query string: every name=value pair (a presigned URL's
    X-Amz-Signature left out), each side URI-encoded, sorted."""
    if not query_string:
        return ""
    pairs = []
    # Every piece already canonical (only a second "=" in a value is not).
    canonical = mode == 0 and _CANONICAL_QUERY(query_string) is not None
    for piece in query_string.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if presigned and name == "X-Amz-Signature":
            continue
        if canonical and "=" not in value:
            pairs.append((name, value))
        else:
            pairs.append((_canonical_component(name, mode), _canonical_component(value, mode)))
    if len(pairs) > 1:
        pairs.sort()
    return "&".join([f"{k}={v}" for k, v in pairs])


def _trim(value: str) -> str:
    if "  " in value or "\t" in value or value[:1] == " " or value[-1:] == " ":
        return " ".join(value.split())
    return value


def canonical_headers(headers: dict[str, str], signed: list[str]) -> str:
    """headers: lower-case names (HttpRequest.headers), repeats joined with ","."""
    get = headers.get
    lines = []
    for name in signed:
        value = get(name) or get(name.lower())
        lines.append(f"{name}:{_trim(value) if value else ''}\n")
    return "".join(lines)


def _canonical_headers_each(request: HttpRequest, signed: list[str]) -> str:
    """Canonical headers from the header lines one by one: each value of a
    repeated header trimmed on its own before they are joined with ","."""
    values: dict[str, list[str]] = {}
    for k, v in request.header_list:
        values.setdefault(k.lower(), []).append(v)
    return "".join(f"{name}:{','.join(' '.join(v.split()) for v in values.get(name.lower(), ()))}\n"
                   for name in signed)


def _string_to_sign(amz: str, scope: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{amz}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8', 'surrogateescape')).hexdigest()}"


# -- the Authorization header ----------------------------------------------

def parse_authorization(value: str) -> dict[str, str]:
    """The parts of an `Authorization: AWS4-HMAC-SHA256 ...` header, read
    strictly: {"algorithm", "Credential", "SignedHeaders", "Signature"}.
    Raises SigV4Error("malformed" | "incomplete_signature") with AWS's text."""
    algorithm, _, rest = value.strip().partition(" ")
    out = {"algorithm": algorithm}
    for token in rest.replace(",", " ").split():
        name, eq, val = token.partition("=")
        if not eq:
            raise SigV4Error(
                "malformed",
                f"'{token}' not a valid key=value pair (missing equal-sign) in Authorization header: '{value}'.",
                {"authorization": value, "token": token})
        out[name] = val
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not out.get(p)]
    if missing:
        raise _incomplete(value, missing, date_missing=False)
    return out


def authorization_error(value: str) -> SigV4Error:
    """The SigV4Error for an Authorization header that `parse_credential`
    could not read (for `auth_error` to answer in the service's words)."""
    text = value.strip()
    algorithm = text.partition(" ")[0]
    if algorithm != ALGORITHM:
        # SigV4a (AWS4-ECDSA-P256-SHA256) included: cloudlet does not verify it.
        return SigV4Error("unsupported_algorithm", f"Unsupported AWS 'algorithm': '{algorithm}'.",
                          {"authorization": value, "algorithm": algorithm})
    try:
        parts = parse_authorization(text)
    except SigV4Error as err:
        return err
    credential = parts["Credential"]
    return SigV4Error(
        "bad_credential",
        "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
        f"got '{credential}'", {"authorization": value, "credential": credential})


def _incomplete(authorization: str, missing: list[str], date_missing: bool) -> SigV4Error:
    text = "".join(f"Authorization header requires '{p}' parameter. " for p in missing)
    if date_missing:
        text += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
    return SigV4Error("incomplete_signature" if missing else "missing_date", f"{text}Authorization={authorization}",
                      {"authorization": authorization, "missing": missing, "date_missing": date_missing})


# -- verification ----------------------------------------------------------

def verify(request: HttpRequest, cred: Credential, secret_key: str, *, wall_now: float, clock_now: float,
           session_token_required: bool = False, region: str | None = None, service: str | None = None,
           max_skew: float = MAX_SKEW) -> Verified:
    """Check a SigV4-signed request (Authorization header or presigned URL).

    region / service: when given, the credential scope must name them.
    session_token_required: the key is a temporary one, which is only valid
    with its X-Amz-Security-Token.
    """
    if cred.kind == "sigv4":
        return _verify_header(request, cred, secret_key, wall_now, session_token_required, region, service,
                              max_skew)
    if cred.kind == "sigv4-query":
        return _verify_query(request, cred, secret_key, wall_now, clock_now, session_token_required, region,
                             service, max_skew)
    raise SigV4Error("unsupported_signature_version",
                     "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
                     {"kind": cred.kind})


def _verify_header(request, cred, secret_key, wall_now, token_required, region, service, max_skew) -> Verified:
    # One decoded header dict serves every lookup (cheaper than decoding
    # header by header once a request's signed headers are read).
    header = request.headers.get
    authorization = header("authorization") or ""
    s3 = cred.service in S3_SIGNING_NAMES
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise authorization_error(authorization)
    if s3 and "X-Amz-Algorithm=" in request.query_string:
        raise SigV4Error("multiple_auth",
                         "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature "
                         "query string parameter or the Authorization header should be specified",
                         {"authorization": authorization})

    payload_hash = header("x-amz-content-sha256")
    if s3:
        # S3 reads its payload header first, then the date (measured order).
        _check_payload_header(payload_hash)

    # The request time: X-Amz-Date, else Date.
    date_value = header("x-amz-date")
    from_date_header = False
    if date_value is None:
        date_value = header("date")
        from_date_header = date_value is not None
    missing = [p for p, v in (("Credential", cred.access_key), ("Signature", cred.signature),
                              ("SignedHeaders", cred.signed_headers)) if not v]
    if date_value is None:
        if s3:
            raise SigV4Error("missing_date", "AWS authentication requires a valid Date or x-amz-date header",
                             {"authorization": authorization})
        raise _incomplete(authorization, missing, date_missing=True)
    if missing and not s3:
        raise _incomplete(authorization, missing, date_missing=False)
    request_time = _parse_http_date(date_value) if from_date_header else parse_amz_date(date_value)
    if request_time is None:
        raise SigV4Error("bad_date",
                         f"Date must be in ISO-8601 'basic format'. Got '{date_value}'. "
                         "See http://en.wikipedia.org/wiki/ISO_8601",
                         {"value": date_value, "authorization": authorization})
    amz = date_value if not from_date_header else amz_date(request_time)
    if abs(request_time - wall_now) > max_skew:
        raise _skewed(amz, date_value, wall_now, max_skew)
    if missing:
        # S3 checks the three components after the date and the skew.
        raise _incomplete(authorization, missing, date_missing=False)

    _check_scope(cred, amz, region, service, presigned=False)
    signed = cred.signed_headers
    if s3:
        _check_unsigned(request, signed)
    elif "host" not in signed:
        raise SigV4Error("host_not_signed", "'Host' must be a 'SignedHeader' in the AWS Authorization.")

    token = header("x-amz-security-token")
    if token_required and not token:
        raise _missing_token(cred)

    if payload_hash is None:
        payload_hash = body_sha256(request.body)
        body_hash = payload_hash
    else:
        body_hash = None
    scope = f"{cred.date}/{cred.region}/{cred.service}/{TERMINATOR}"
    key = signing_key(secret_key, cred.date, cred.region, cred.service)
    signature, canonical = _check_signature(request, cred, key, scope, amz, payload_hash, s3, presigned=False,
                                            raw_date=date_value if from_date_header else None)

    verified = Verified(signature=signature, seed_signature="", payload_mode="signed", access_key=cred.access_key,
                        region=cred.region, service=cred.service, amz_date=amz, security_token=token,
                        payload_hash=payload_hash)
    _check_payload(request, verified, key, scope, body_hash, canonical)
    return verified


def _verify_query(request, cred, secret_key, wall_now, clock_now, token_required, region, service,
                  max_skew) -> Verified:
    q = request.query
    s3 = cred.service in S3_SIGNING_NAMES
    algorithm = q.get("X-Amz-Algorithm")
    if algorithm != ALGORITHM:
        raise SigV4Error("presign_bad_algorithm", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
                         {"algorithm": algorithm})
    required = ("X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders") + (
        ("X-Amz-Expires",) if s3 else ())
    if any(not q.get(p) for p in required):
        raise SigV4Error("presign_missing_params",
                         "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                         "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
                         {"missing": [p for p in required if not q.get(p)]})
    amz = q["X-Amz-Date"]
    request_time = parse_amz_date(amz)
    if request_time is None:
        raise SigV4Error("presign_bad_date",
                         "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"", {"value": amz})
    expires_text = q.get("X-Amz-Expires")
    if expires_text is None:
        expires = MAX_SKEW          # outside S3 a presigned request lives 15 minutes
    else:
        expires = _parse_expires(expires_text)
    expires_at = request_time + expires
    if request_time - wall_now > max_skew:
        raise SigV4Error("presign_not_yet_valid", "Request is not yet valid",
                         {"amz_date": amz, "request_time": request_time, "expires_at": expires_at,
                          "server_time": wall_now, "skew_message": _skew_message(amz, wall_now, max_skew, False)})
    if clock_now > expires_at:
        raise SigV4Error("presign_expired", "Request has expired",
                         {"amz_date": amz, "expires": expires_text if expires_text is not None else str(expires),
                          "expires_at": expires_at, "server_time": clock_now})

    _check_scope(cred, amz, region, service, presigned=True)
    signed = cred.signed_headers
    if s3:
        _check_unsigned(request, signed)
    elif "host" not in signed:
        raise SigV4Error("host_not_signed", "'Host' must be a 'SignedHeader' in the AWS Authorization.")

    token = q.get("X-Amz-Security-Token")
    if token_required and not token:
        raise _missing_token(cred)

    body_hash = None
    if s3:
        payload_hash = request.headers.get("x-amz-content-sha256") or q.get("X-Amz-Content-Sha256") or \
            UNSIGNED_PAYLOAD
        if payload_hash != UNSIGNED_PAYLOAD:
            _check_payload_header(payload_hash)
    else:
        # botocore's SigV4QueryAuth signs the body's hash (the empty body's
        # for a GET): only S3's presigned URLs sign UNSIGNED-PAYLOAD.
        payload_hash = request.headers.get("x-amz-content-sha256") or q.get("X-Amz-Content-Sha256")
        if payload_hash is None:
            payload_hash = body_hash = body_sha256(request.body)
    scope = f"{cred.date}/{cred.region}/{cred.service}/{TERMINATOR}"
    key = signing_key(secret_key, cred.date, cred.region, cred.service)
    signature, canonical = _check_signature(request, cred, key, scope, amz, payload_hash, s3, presigned=True)
    verified = Verified(signature=signature, seed_signature="", payload_mode="unsigned" if payload_hash ==
                        UNSIGNED_PAYLOAD else "signed", access_key=cred.access_key, region=cred.region,
                        service=cred.service, amz_date=amz, presigned=True, security_token=token,
                        payload_hash=payload_hash)
    _check_payload(request, verified, key, scope, body_hash, canonical)
    return verified


def _parse_expires(text: str) -> int:
    sign = -1 if text[:1] == "-" else 1
    digits = text[1:] if text[:1] in "+-" else text
    if not digits.isdigit() or not digits.isascii() or len(digits.lstrip("0")) > 19:
        raise SigV4Error("presign_bad_expires", "X-Amz-Expires should be a number", {"value": text})
    value = sign * int(digits)
    if value < 0:
        raise SigV4Error("presign_bad_expires", "X-Amz-Expires must be non-negative", {"value": text})
    if value > MAX_EXPIRES:
        raise SigV4Error("presign_bad_expires",
                         "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires "
                         "must be less than 604800 seconds", {"value": text})
    return value


def _skew_message(amz: str, now: float, max_skew: float, earlier: bool) -> str:
    minutes = int(max_skew // 60)
    if earlier:
        return (f"Signature expired: {amz} is now earlier than {amz_date(now - max_skew)} "
                f"({amz_date(now)} - {minutes} min.)")
    return (f"Signature not yet current: {amz} is still later than {amz_date(now + max_skew)} "
            f"({amz_date(now)} + {minutes} min.)")


def _skewed(amz: str, sent: str, now: float, max_skew: float) -> SigV4Error:
    earlier = (parse_amz_date(amz) or 0) < now
    return SigV4Error("request_too_skewed", _skew_message(amz, now, max_skew, earlier),
                      {"amz_date": amz, "request_time": sent, "server_time": now,
                       "max_skew_ms": int(max_skew * 1000), "earlier": earlier})


def _missing_token(cred: Credential) -> SigV4Error:
    return SigV4Error("missing_security_token", "The security token included in the request is invalid.",
                      {"AWSAccessKeyId": cred.access_key})


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and _HEX.issuperset(value)


_PAYLOAD_NAMES = (UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_TRAILER, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER,
                  STREAMING_ECDSA, STREAMING_ECDSA_TRAILER)


def _check_payload_header(value: str | None) -> None:
    """S3 requires x-amz-content-sha256 with a SigV4 header, and one of its
    names or a hash in it."""
    if value is None:
        raise SigV4Error("missing_content_sha", "Missing required header for this request: x-amz-content-sha256")
    if value in _PAYLOAD_NAMES or _is_sha256(value):
        return
    raise SigV4Error("bad_content_sha",
                     "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                     "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                     "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
                     "or a valid sha256 value.", {"value": value})


def _check_scope(cred: Credential, amz: str, region: str | None, service: str | None, presigned: bool) -> None:
    """The credential scope: its date's format, the region and service (when
    the caller names the expected ones) and that its date is the request's.
    Every problem is named, in AWS's order. (parse_credential has already
    refused a scope that is not five parts ending in aws4_request.)"""
    problems = []
    date = cred.date or ""
    if len(date) != 8 or not date.isdigit():
        problems.append(("date_format", date, "yyyyMMdd"))
    if region is not None and cred.region != region:
        problems.append(("region", cred.region or "", region))
    if service is not None and cred.service != service:
        problems.append(("service", cred.service or "", service))
    if date != amz[:8] and not any(p[0] == "date_format" for p in problems):
        problems.append(("date", date, amz[:8]))
    if not problems:
        return
    pieces = []
    for what, got, want in problems:
        if what == "region":
            pieces.append(f"Credential should be scoped to a valid region, not '{got}'. ")
        elif what == "service":
            pieces.append(f"Credential should be scoped to correct service: '{want}'. ")
        else:
            pieces.append("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
                          f"HTTP: '{got}' != '{want}', from '{amz}'. ")
    raise SigV4Error("bad_scope", "".join(pieces),
                     {"problems": problems, "amz_date": amz, "presigned": presigned,
                      "credential": f"{cred.access_key}/{date}/{cred.region}/{cred.service}/{TERMINATOR}"})


def _check_unsigned(request: HttpRequest, signed: list[str]) -> None:
    """S3 refuses a request carrying Host, Content-MD5 or an x-amz-* header
    (but x-amz-content-sha256) that is not signed."""
    signed_set = set(signed)
    unsigned = [name for name in request.headers
                if name not in signed_set and (name.startswith("x-amz-") and name != "x-amz-content-sha256"
                                               or name in ("host", "content-md5"))]
    if unsigned:
        raise SigV4Error("headers_not_signed", "There were headers present in the request which were not signed",
                         {"HeadersNotSigned": ", ".join(_java_hash_set_order(sorted(unsigned)))})


def _java_hash_set_order(names: list[str]) -> list[str]:
    """The order a java.util.HashSet holding names (added in that order)
    iterates them: S3 lists HeadersNotSigned in it."""
    capacity = 16
    while len(names) > capacity * 3 // 4:
        capacity *= 2

    def bucket(name: str) -> int:
        h = 0
        for ch in name:     # header names are ASCII: one UTF-16 unit each
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        return (h ^ (h >> 16)) & (capacity - 1)

    return [n for _, _, n in sorted((bucket(n), i, n) for i, n in enumerate(names))]


def _check_signature(request: HttpRequest, cred: Credential, key: bytes, scope: str, amz: str,
                     payload_hash: str, s3: bool, presigned: bool, raw_date: str | None = None) -> tuple[str, str]:
    """(signature, canonical request) when the signature matches."""
    provided = cred.signature
    signed = cred.signed_headers
    uri = canonical_uri(request.raw_path, s3)
    query = canonical_query(request.query_string, presigned)
    signed_line = ";".join(signed)
    headers = canonical_headers(request.headers, signed)
    canonical = f"{request.method}\n{uri}\n{query}\n{headers}\n{signed_line}\n{payload_hash}"
    string_to_sign = _string_to_sign(amz, scope, canonical)
    if hmac.compare_digest(sign(key, string_to_sign), provided):
        return provided, canonical

    # The same request spelt another way by a client that is not botocore.
    uris = [uri]
    if s3 and request.raw_path not in ("", "/"):
        alt = _s3_uri_variant(request.raw_path)
        if alt != uri:
            uris.append(alt)
    queries = [query]
    if "%" in request.query_string:
        normalized = canonical_query(request.query_string, presigned, mode=1)
        if normalized != query:
            queries.append(normalized)
    if "+" in request.query_string:
        queries.append(canonical_query(request.query_string, presigned, mode=2))
    header_blocks = [headers]
    alt_headers = _canonical_headers_each(request, signed)
    if alt_headers != headers:
        header_blocks.append(alt_headers)
    dates = [amz] + ([raw_date] if raw_date else [])
    for u in uris:
        for qs in queries:
            for hb in header_blocks:
                for d in dates:
                    if u is uri and qs is query and hb is headers and d is amz:
                        continue
                    c = f"{request.method}\n{u}\n{qs}\n{hb}\n{signed_line}\n{payload_hash}"
                    if hmac.compare_digest(sign(key, _string_to_sign(d, scope, c)), provided):
                        return provided, c

    raise SigV4Error(
        "signature_mismatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
        "Access Key and signing method. Consult the service documentation for details.",
        {"AWSAccessKeyId": cred.access_key, "StringToSign": string_to_sign, "SignatureProvided": provided,
         "CanonicalRequest": canonical})


def _check_payload(request: HttpRequest, verified: Verified, key: bytes, scope: str, body_hash: str | None,
                   canonical: str) -> None:
    """After the signature: the body against the hash it was signed with, or
    a streaming body decoded and its chunk signatures checked."""
    payload_hash = verified.payload_hash
    if payload_hash == UNSIGNED_PAYLOAD:
        verified.payload_mode = "unsigned"
        return
    if payload_hash.startswith("STREAMING-"):
        mode = _STREAMING.get(payload_hash)
        if mode is None:
            if payload_hash in (STREAMING_ECDSA, STREAMING_ECDSA_TRAILER):
                raise SigV4Error("unsupported_streaming",
                                 f"cloudlet does not verify {payload_hash} (SigV4a) streaming uploads.",
                                 {"value": payload_hash})
            raise SigV4Error("bad_content_sha", "x-amz-content-sha256 is not a payload hash cloudlet knows.",
                             {"value": payload_hash})
        _decode_streaming(request, verified, key, scope, canonical, *mode)
        return
    if body_hash is None:
        body_hash = body_sha256(request.body)
        if not hmac.compare_digest(body_hash, payload_hash.lower()):
            raise SigV4Error("content_sha_mismatch",
                             "The provided 'x-amz-content-sha256' header does not match what was computed.",
                             {"ClientComputedContentSHA256": payload_hash, "S3ComputedContentSHA256": body_hash})


def body_sha256(body) -> str:
    """The hex SHA-256 of a body in memory or spooled to a file."""
    if isinstance(body, SpooledBody):
        h = hashlib.sha256()
        for chunk in body.chunks():
            h.update(chunk)
        return h.hexdigest()
    return hashlib.sha256(body).hexdigest()


def _decode_streaming(request: HttpRequest, verified: Verified, key: bytes, scope: str, canonical: str, mode: str,
                      signed: bool, trailer: bool, check: bool = True) -> None:
    from cloudlet.gateway import chunked

    header = request.headers.get
    decoded_length = header("x-amz-decoded-content-length")
    expected = None
    if decoded_length is not None:
        if not decoded_length.isdigit():
            raise SigV4Error("decoded_length_mismatch",
                             "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                             {"value": decoded_length})
        expected = int(decoded_length)
    declared = header("x-amz-trailer")
    options = dict(signed=signed, trailer=trailer, signing_key=key if signed and check else None,
                   amz_date=verified.amz_date, scope=scope, seed_signature=verified.signature,
                   decoded_length=expected, access_key=verified.access_key, canonical_request=canonical,
                   declared_trailers=[t.strip().lower() for t in declared.split(",") if t.strip()]
                   if declared else None)
    body = request.body
    if isinstance(body, SpooledBody):
        # Decoded file to file; the decoded spool goes with the raw one.
        out_path = body.path + ".payload"
        try:
            with open(body.path, "rb") as fh, open(out_path, "wb") as out:
                trailers, length = chunked.decode_file(fh, out.write, **options)
        except BaseException:
            SpooledBody(out_path, 0).discard()
            raise
        body.discard()
        body.path, body.size = out_path, length  # the app discards the body it made, wherever it now is
        request.body = body
    else:
        result = chunked.decode(body, **options)
        request.body = result.data
        trailers, length = result.trailers, len(result.data)
    verified.payload_mode = mode
    verified.seed_signature = verified.signature if signed and check else ""
    verified.trailers = trailers
    verified.decoded_length = length
    encoding = header("content-encoding")
    if encoding is not None:
        rest = [e.strip() for e in encoding.split(",") if e.strip() and e.strip().lower() != "aws-chunked"]
        verified.content_encoding = ", ".join(rest) if rest else None


def decode_payload(request: HttpRequest) -> Verified | None:
    """For a request whose signature is not verified (a key cloudlet did not
    issue): an aws-chunked body decoded all the same, its chunk and trailer
    signatures not checked, so the service sees the payload and the trailing
    checksums. None when the body is not a streaming one. Raises SigV4Error
    for a body that is not well formed (incomplete_body, malformed_chunk,
    malformed_trailer, decoded_length_mismatch)."""
    payload_hash = request.headers.get("x-amz-content-sha256")
    mode = _STREAMING.get(payload_hash) if payload_hash is not None else None
    if mode is None:
        return None
    verified = Verified(signature="", seed_signature="", payload_mode=mode[0], payload_hash=payload_hash)
    _decode_streaming(request, verified, b"", "", "", *mode, check=False)
    return verified


# -- errors per service family ----------------------------------------------

_S3_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.")
_S3_MALFORMED = "The authorization header is malformed; "
_S3_QUERY_CREDENTIAL = "Error parsing the X-Amz-Credential parameter; "
_S3_CREDENTIAL_FORMAT = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
_TOKEN_INVALID = "The security token included in the request is invalid."


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8", "surrogateescape"))


def auth_error(err: SigV4Error, *, signing_name: str, protocol: str) -> AwsError:
    """The error AWS answers a refused signature with, in the words of the
    service family: S3 (its own codes, with the diagnostics in the body),
    query services (STS, IAM, SNS, SQS's query API, CloudWatch), EC2, JSON
    services (awsJson and CBOR: SQS, KMS, Logs, Events, ...) and REST-JSON
    services (Lambda, API Gateway-fronted APIs)."""
    if signing_name in S3_SIGNING_NAMES:
        return _s3_error(err)
    return _service_error(err, protocol)


def _s3_error(err: SigV4Error) -> AwsError:
    kind, d = err.kind, err.details
    if kind in ("signature_mismatch", "chunk_signature_mismatch", "trailer_signature_mismatch"):
        fields = {"AWSAccessKeyId": d.get("AWSAccessKeyId", ""), "StringToSign": d.get("StringToSign", ""),
                  "SignatureProvided": d.get("SignatureProvided", ""),
                  "StringToSignBytes": _hex_bytes(d.get("StringToSign", ""))}
        if d.get("CanonicalRequest"):
            fields["CanonicalRequest"] = d["CanonicalRequest"]
            fields["CanonicalRequestBytes"] = _hex_bytes(d["CanonicalRequest"])
        return AwsError("SignatureDoesNotMatch", _S3_MISMATCH, 403, fields=fields)
    if kind == "request_too_skewed":
        return AwsError("RequestTimeTooSkewed",
                        "The difference between the request time and the current time is too large.", 403,
                        fields={"RequestTime": d["request_time"], "ServerTime": iso_time(d["server_time"]),
                                "MaxAllowedSkewMilliseconds": str(d["max_skew_ms"])})
    if kind == "presign_expired":
        return AwsError("AccessDenied", "Request has expired", 403,
                        fields={"X-Amz-Expires": d["expires"], "Expires": iso_time(d["expires_at"]),
                                "ServerTime": iso_time(d["server_time"])})
    if kind == "presign_not_yet_valid":
        return AwsError("AccessDenied", "Request is not yet valid", 403,
                        fields={"X-Amz-Date": str(int(d["request_time"] * 1000)),
                                "Expires": iso_time(d["expires_at"]), "ServerTime": iso_time(d["server_time"])})
    if kind in ("presign_missing_params", "presign_bad_algorithm", "presign_bad_date", "presign_bad_expires"):
        return AwsError("AuthorizationQueryParametersError", err.message, 400)
    if kind in ("incomplete_signature", "malformed"):
        return AwsError("AuthorizationHeaderMalformed", _S3_MALFORMED + "the authorization header requires three "
                        "components: Credential, SignedHeaders, and Signature.", 400)
    if kind == "bad_credential":
        return AwsError("AuthorizationHeaderMalformed", _S3_MALFORMED + _S3_CREDENTIAL_FORMAT, 400)
    if kind == "bad_scope":
        return _s3_scope_error(d)
    if kind in ("missing_date", "bad_date"):
        return AwsError("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403)
    if kind == "missing_content_sha":
        return AwsError("InvalidRequest", err.message, 400)
    if kind == "bad_content_sha":
        return AwsError("InvalidArgument", err.message, 400,
                        fields={"ArgumentName": "x-amz-content-sha256", "ArgumentValue": d.get("value", "")})
    if kind == "multiple_auth":
        return AwsError("InvalidArgument", err.message, 400,
                        fields={"ArgumentName": "Authorization", "ArgumentValue": d.get("authorization", "")})
    if kind == "headers_not_signed":
        return AwsError("AccessDenied", err.message, 403, fields={"HeadersNotSigned": d["HeadersNotSigned"]})
    if kind == "content_sha_mismatch":
        return AwsError("XAmzContentSHA256Mismatch", err.message, 400,
                        fields={"ClientComputedContentSHA256": d["ClientComputedContentSHA256"],
                                "S3ComputedContentSHA256": d["S3ComputedContentSHA256"]})
    if kind in ("incomplete_body", "malformed_chunk"):
        return AwsError("IncompleteBody", "The request body terminated unexpectedly", 400)
    if kind == "decoded_length_mismatch":
        return AwsError("IncompleteBody",
                        "You did not provide the number of bytes specified by the Content-Length HTTP header.", 400)
    if kind == "malformed_trailer":
        return AwsError("MalformedTrailerError", "The request contained trailing data that was not well-formed or "
                        "did not conform to our published schema.", 400)
    if kind == "missing_security_token":
        return AwsError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                        403, fields={"AWSAccessKeyId": d.get("AWSAccessKeyId", "")})
    if kind == "unsupported_algorithm" and not d.get("algorithm", "").startswith("AWS4-"):
        # Not an AWS scheme at all ("Bearer ...", garbage).
        return AwsError("InvalidArgument", "Unsupported Authorization Type", 400,
                        fields={"ArgumentName": "Authorization", "ArgumentValue": d.get("authorization", "")})
    if kind in ("unsupported_algorithm", "unsupported_streaming", "unsupported_signature_version"):
        # SigV4a and the like: AWS schemes cloudlet does not verify.
        return AwsError("NotImplemented", "A header you provided implies functionality that is not implemented",
                        501, sender_fault=False)
    return AwsError("SignatureDoesNotMatch", _S3_MISMATCH, 403)


def _s3_scope_error(d: dict) -> AwsError:
    what, got, want = d["problems"][0]
    presigned = d.get("presigned")
    prefix = _S3_QUERY_CREDENTIAL if presigned else _S3_MALFORMED
    code = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
    fields = None
    if what == "date_format":
        text = f'incorrect date format "{got}". This date in the credential must be in the format "yyyyMMdd".'
    elif what == "region":
        text = f"the region '{got}' is wrong; expecting '{want}'" if got else \
            "a non-empty region must be provided in the credential."
        fields = {"Region": want} if got else None
    elif what == "service":
        text = f'incorrect service "{got}". This endpoint belongs to "{want}".'
    else:
        if presigned:
            return AwsError(code, f'Invalid credential date "{got}". This date is not the same as X-Amz-Date: '
                            f'"{want}".', 400)
        text = "Invalid credential date. Date is not the same as X-Amz-Date."
    return AwsError(code, prefix + text, 400, fields=fields)


# (code, status) of each answer outside S3, per protocol family.
_FAMILIES = {
    #            mismatch                          incomplete                          token
    "query": (("SignatureDoesNotMatch", 403), ("IncompleteSignature", 400), ("InvalidClientTokenId", 403)),
    "json": (("InvalidSignatureException", 400), ("IncompleteSignatureException", 400),
             ("UnrecognizedClientException", 400)),
    "rest-json": (("InvalidSignatureException", 403), ("IncompleteSignatureException", 403),
                  ("UnrecognizedClientException", 403)),
}
_FAMILY_OF = {"query": "query", "ec2": "query", "rest-xml": "query", "json": "json",
              "smithy-rpc-v2-cbor": "json", "rest-json": "rest-json"}
_SERVICE_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your "
                     "AWS Secret Access Key and signing method. Consult the service documentation for details.")


def _service_error(err: SigV4Error, protocol: str) -> AwsError:
    family = _FAMILY_OF.get(protocol, "query")
    (mismatch, mismatch_status), (incomplete, incomplete_status), (token, token_status) = _FAMILIES[family]
    kind, d = err.kind, err.details
    if kind == "request_too_skewed":
        if protocol == "ec2":
            return AwsError("RequestExpired", "Request has expired.", 400)
        return AwsError(mismatch, err.message, mismatch_status)
    if kind == "presign_expired":
        return AwsError("RequestExpired", "Request has expired.", 400)
    if kind == "presign_not_yet_valid":
        return AwsError(mismatch, d["skew_message"], mismatch_status)
    if kind in ("bad_scope", "host_not_signed"):
        return AwsError(mismatch, err.message, mismatch_status)
    if kind in ("incomplete_signature", "malformed", "missing_date", "bad_date", "bad_credential",
                "unsupported_algorithm", "unsupported_signature_version", "presign_missing_params",
                "presign_bad_algorithm", "presign_bad_date", "presign_bad_expires"):
        return AwsError(incomplete, err.message, incomplete_status)
    if kind == "missing_security_token":
        return AwsError(token, _TOKEN_INVALID, token_status)
    # signature_mismatch, content_sha_mismatch and the streaming kinds: the
    # signature (which covers the body) does not match.
    return AwsError(mismatch, _SERVICE_MISMATCH, mismatch_status)
