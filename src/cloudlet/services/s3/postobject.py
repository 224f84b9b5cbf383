"""Browser-based uploads: POST Object, an HTML form (multipart/form-data)
sent to the bucket's URL, authorized by a signed POST policy rather than a
signed request (S3 API reference "POST Object", "Browser-based uploads
using POST (AWS Signature Version 4)", "Creating a POST policy"; the
legacy Signature Version 2 form too).

The botocore model has no such operation: the gateway hands S3 a POST to a
bucket that matches none of its routes (Service.unrouted), and this module
answers it:

1. The request must be multipart/form-data (412 PreconditionFailed), the
   bucket must exist, and the form (formdata.py) must hold a part named
   `file` and, before it, a `key` field (InvalidArgument, S3's words).
   `${filename}` in any field is the file's name without its path.
2. Credentials: the SigV4 fields (x-amz-algorithm, x-amz-credential,
   x-amz-date, x-amz-signature) or the SigV2 ones (AWSAccessKeyId,
   signature), all or none, with `policy`. None: the upload is anonymous,
   and only a bucket that lets anyone write takes it. A key cloudlet issued
   is verified (HMAC of the policy text as sent: SignatureDoesNotMatch,
   InvalidAccessKeyId, session tokens) and acts as its user or role; any
   other key acts as the root user it names, unverified, as the gateway
   treats such keys (refused under strict auth). The credential's region
   must be the bucket's.
3. The policy (base64 JSON): its shape (InvalidPolicyDocument "Invalid
   Policy: ..."), its expiration on cloudlet's clock ("Policy expired."),
   each condition in order (eq, starts-with, content-length-range, and the
   {"field": "value"} short form; names in any case, values exactly:
   AccessDenied "Policy Condition failed: [...]", EntityTooSmall /
   EntityTooLarge), then every field but the file, the policy and the
   signature (and x-ignore-*) must be named by a condition ("Extra input
   fields").
4. The caller must be allowed s3:PutObject on the object (the authorizer,
   as for PutObject; s3:authType is POST), and the object is stored by
   PutObject itself, the form's fields being its headers (Content-Type,
   x-amz-meta-*, x-amz-server-side-encryption..., x-amz-storage-class,
   checksums, object lock; `acl` and `tagging` as S3 takes them): SSE,
   versioning, checksums and notifications (s3:ObjectCreated:Post) apply.
5. The answer: a 303 to success_action_redirect (bucket, key and etag added
   to its query), else success_action_status 200 or 201 (a PostResponse
   document), else 204; ETag, Location and PutObject's headers on all.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
from urllib.parse import quote, urlencode, urlsplit

from cloudlet.errors import AwsError
from cloudlet.gateway.auth import anonymous_principal, root_principal, token_error
from cloudlet.protocol.common import ParseError
from cloudlet.protocol.http import HttpRequest, HttpResponse, SpooledBody
from cloudlet.services.s3 import formdata, tagging
from cloudlet.services.s3.common import invalid_argument, malformed_xml, no_such_bucket, s3_error
from cloudlet.services.s3.cors import split_path

_ACCOUNT_KEY = re.compile(r"^\d{12}$")
_EXPIRATION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z$")
_DATE = re.compile(r"^\d{8}$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
SIGV4_FIELDS = (("x-amz-algorithm", "X-Amz-Algorithm"), ("x-amz-credential", "X-Amz-Credential"),
                ("x-amz-date", "X-Amz-Date"), ("x-amz-signature", "X-Amz-Signature"))
SIGV2_FIELDS = (("awsaccesskeyid", "AWSAccessKeyId"), ("signature", "Signature"))
# Fields no condition needs to name.
_EXEMPT = {"v4": frozenset({"x-amz-signature", "file", "policy"}),
           "v2": frozenset({"awsaccesskeyid", "signature", "file", "policy"})}
# Fields that are not PutObject headers (the rest are, as named, where
# PutObject's model binds a header of that name).
_NOT_HEADERS = frozenset({
    "key", "policy", "file", "bucket", "success_action_status", "success_action_redirect", "redirect", "acl",
    "tagging", "awsaccesskeyid", "signature", "x-amz-algorithm", "x-amz-credential", "x-amz-date",
    "x-amz-signature", "x-amz-security-token", "x-amz-checksum-algorithm", "content-length", "x-amz-acl",
    "x-amz-tagging", "x-amz-sdk-checksum-algorithm", "x-amz-expected-bucket-owner", "x-amz-request-payer",
    "x-amz-write-offset-bytes", "x-amz-content-sha256", "x-amz-decoded-content-length", "x-amz-trailer",
    "if-match", "if-none-match", "x-amz-copy-source"})


def _missing_field(name: str) -> AwsError:
    return invalid_argument(f"Bucket POST must contain a field named '{name}'.  If it is specified, please check "
                            "the order of the fields.", name, "")


def _invalid_policy(message: str) -> AwsError:
    return s3_error("InvalidPolicyDocument", f"Invalid Policy: {message}", 400)


def _policy_denied(message: str) -> AwsError:
    return s3_error("AccessDenied", f"Invalid according to Policy: {message}", 403)


# -- the policy document ------------------------------------------------------------

class Condition:
    """One condition of a POST policy, checked for shape when read."""

    __slots__ = ("op", "name", "value", "low", "text")

    def __init__(self, op: str, name, value, text: str):
        self.op = op          # eq | starts-with | content-length-range
        self.name = name      # "$key" (as written), or the range's minimum
        self.value = value    # the operand, or the range's maximum
        self.text = text      # how S3 quotes it when it fails
        self.low = name[1:].lower() if op != "content-length-range" and name.startswith("$") else None


def _quote_condition(items: list) -> str:
    return json.dumps(items, ensure_ascii=False)


def parse_condition(item) -> Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _invalid_policy("Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                                  "specified.")
        (name, value), = item.items()
        if value is None:
            raise _invalid_policy("Invalid JSON.")
        if not isinstance(value, str):
            raise _invalid_policy("Invalid Simple-Condition: value must be a string.")
        return Condition("eq", "$" + name, value, _quote_condition(["eq", "$" + name, value]))
    if not isinstance(item, list):
        raise _invalid_policy("Invalid condition test: must be a List or Object.")
    if not item:
        raise _invalid_policy("Invalid Condition: missing operation identifier.")
    op = item[0]
    if not isinstance(op, str):
        raise _invalid_policy("Invalid JSON.")
    low = op.lower()
    if low not in ("eq", "starts-with", "content-length-range"):
        raise _invalid_policy(f"Invalid Condition: unknown operation '{op}'.")
    if len(item) != 3:
        raise _invalid_policy(f"Invalid {op}: wrong number of arguments.")
    if low == "content-length-range":
        for bound in item[1:]:
            if isinstance(bound, bool) or not isinstance(bound, (int, str)):
                raise _invalid_policy("Invalid JSON.")
    elif not all(isinstance(x, str) for x in item[1:]):
        raise _invalid_policy("Invalid JSON.")
    return Condition(low, item[1], item[2], _quote_condition(item))


def parse_expiration(value) -> float:
    m = _EXPIRATION.match(value) if isinstance(value, str) else None
    if m is None:
        raise _invalid_policy(f"Invalid 'expiration' value: '{value}'")
    import calendar

    year, month, day, hh, mm, ss = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hh < 24 and mm < 60 and ss < 61):
        raise _invalid_policy(f"Invalid 'expiration' value: '{value}'")
    fraction = float(m.group(7)) if m.group(7) else 0.0
    return calendar.timegm((year, month, day, hh, mm, ss, 0, 0, 0)) + fraction


def decode_policy(text: str) -> tuple[float, list[Condition]]:
    """(expiration, conditions) of a base64 policy, or InvalidPolicyDocument."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _invalid_policy("invalid Base64 encoding.") from None
    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _invalid_policy("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise _invalid_policy("Invalid JSON.")
    for name in doc:
        if name not in ("expiration", "conditions"):
            raise _invalid_policy(f"Unexpected: '{name.lower()}'")
    if "expiration" not in doc:
        raise _invalid_policy("Policy missing expiration.")
    if "conditions" not in doc:
        raise _invalid_policy("Policy missing conditions.")
    expiration = parse_expiration(doc["expiration"])
    if not isinstance(doc["conditions"], list):
        raise _invalid_policy("Invalid 'conditions' value: must be a List.")
    return expiration, [parse_condition(item) for item in doc["conditions"]]


def _no_constant(name: str):
    raise ValueError(name)


def check_conditions(conditions: list[Condition], value_of, size: int) -> None:
    """Each condition in order; `value_of(name)`: a field's value (lower-case
    name; None when the form has no such field)."""
    for c in conditions:
        if c.op == "content-length-range":
            try:
                low, high = int(c.name), int(c.value)
            except ValueError:
                raise _policy_denied(f"Policy Condition failed: {c.text}") from None
            if size < low:
                raise s3_error("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size", 400,
                               ProposedSize=size, MinSizeAllowed=low)
            if size > high:
                raise s3_error("EntityTooLarge", "Your proposed upload exceeds the maximum allowed size", 400,
                               ProposedSize=size, MaxSizeAllowed=high)
            continue
        value = value_of(c.low) if c.low is not None else None
        if value is None:
            ok = False
        elif c.op == "eq":
            ok = value == c.value
        elif c.low == "content-type" and "," in value:
            # A list of types: each must pass.
            ok = all(item.strip().startswith(c.value) for item in value.split(","))
        else:
            ok = value.startswith(c.value)
        if not ok:
            raise _policy_denied(f"Policy Condition failed: {c.text}")


def check_coverage(conditions: list[Condition], fields: list[tuple[str, str]], kind: str) -> None:
    """Every field must be named by a condition, but the exempt ones."""
    named = {c.low for c in conditions if c.low is not None}
    exempt = _EXEMPT[kind]
    extra: list[str] = []
    for name, _ in fields:
        low = name.lower()
        if low in named or low in exempt or low.startswith("x-ignore-") or name in extra:
            continue
        extra.append(name)
    if extra:
        raise _policy_denied("Extra input fields: " + ", ".join(extra))


# -- signatures ---------------------------------------------------------------------

def sigv4_signature(secret: str, date: str, region: str, service: str, policy: str) -> str:
    from cloudlet.gateway.sigv4 import sign, signing_key

    return sign(signing_key(secret, date, region, service), policy)


def sigv2_signature(secret: str, policy: str) -> str:
    return base64.b64encode(hmac.digest(secret.encode(), policy.encode(), hashlib.sha1)).decode()


def _signature_mismatch(access_key: str, policy: str, provided: str) -> AwsError:
    from cloudlet.gateway.sigv4 import SigV4Error, auth_error

    return auth_error(SigV4Error("signature_mismatch", "", {
        "AWSAccessKeyId": access_key, "StringToSign": policy, "SignatureProvided": provided}),
        signing_name="s3", protocol="rest-xml")


def _credential_error(message: str, credential: str, **extra) -> AwsError:
    return s3_error("InvalidArgument", message, 400, ArgumentName="X-Amz-Credential", ArgumentValue=credential,
                    **extra)


# -- the upload ---------------------------------------------------------------------

class PostObjectOps:
    """Mixed into S3Service."""

    async def post_object(self, request: HttpRequest, path: str, request_id: str) -> HttpResponse:
        bucket_name, _ = split_path(path)
        content_type = request.content_type
        if content_type.split(";", 1)[0].strip().lower() != "multipart/form-data":
            raise s3_error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                           412, Condition="Bucket POST must be of the enclosure-type multipart/form-data")
        bucket = self.find_bucket(bucket_name)
        if bucket is None:
            raise no_such_bucket(bucket_name)
        body = request.body
        if isinstance(body, SpooledBody):
            form = await asyncio.to_thread(formdata.parse, body, content_type)
        else:
            form = formdata.parse(body, content_type)
        if not form.has_file:
            raise invalid_argument("POST requires exactly one file upload per request.", "file", "0")
        if form.filename is not None:
            filename = formdata.base_name(form.filename)
            form.fields = [(k, v.replace("${filename}", filename)) for k, v in form.fields]
        key = form.get("key")
        if not key:
            raise _missing_field("key")
        principal, kind, access_key = self._post_principal(form, bucket)
        if kind is not None:
            expiration, conditions = decode_policy(form.get("policy"))
            if self.clock.now() > expiration:
                raise _policy_denied("Policy expired.")
            values = {"bucket": bucket.name}
            check_conditions(conditions, lambda name: values[name] if name in values else form.get(name),
                             form.file_size)
            check_coverage(conditions, form.fields, kind)
        return await self._store_post(request, path, request_id, bucket, key, form, principal, kind, access_key)

    def _post_principal(self, form, bucket):
        """(principal, "v4" | "v2" | None, access key) of a form's credentials."""
        v4 = any(form.get(name) is not None for name, _ in SIGV4_FIELDS)
        v2 = not v4 and any(form.get(name) is not None for name, _ in SIGV2_FIELDS)
        if not v4 and not v2:
            return anonymous_principal(self.cloud.auth.default_account), None, None
        for name, canonical in (SIGV4_FIELDS if v4 else SIGV2_FIELDS):
            if form.get(name) is None:
                raise _missing_field(canonical)
        policy = form.get("policy")
        if policy is None:
            raise _missing_field("Policy")
        if v4:
            algorithm = form.get("x-amz-algorithm")
            if algorithm != "AWS4-HMAC-SHA256":
                raise s3_error("InvalidArgument", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"', 400,
                               ArgumentName="X-Amz-Algorithm", ArgumentValue=algorithm)
            credential = form.get("x-amz-credential")
            parts = credential.split("/")
            if len(parts) != 5 or parts[4] != "aws4_request":
                raise _credential_error('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/'
                                        'SERVICE/aws4_request".', credential)
            access_key, date, region, service = parts[:4]
            if not access_key:
                raise _credential_error("a non-empty Access Key (AKID) must be provided in the credential.",
                                        credential)
            if not _DATE.match(date):
                raise _credential_error(f'incorrect date format "{date}". This date in the credential must be in '
                                        'the format "yyyyMMdd".', credential)
            if region != bucket.region:
                raise _credential_error(f"the region '{region}' is wrong; expecting '{bucket.region}'", credential,
                                        Region=bucket.region)
            if service != "s3":
                raise _credential_error(f'incorrect service "{service}". This endpoint belongs to "s3".', credential)
            amz_date = form.get("x-amz-date")
            from cloudlet.gateway.sigv4 import parse_amz_date

            if parse_amz_date(amz_date) is None:
                raise s3_error("InvalidArgument", "X-Amz-Date must be formated via ISO8601 Long format", 400,
                               ArgumentName="X-Amz-Date", ArgumentValue=amz_date)
            provided = form.get("x-amz-signature")
        else:
            access_key = form.get("awsaccesskeyid")
            provided = form.get("signature")
        auth = self.cloud.auth
        issued = auth.issued.lookup(access_key) if auth.issued is not None else None
        if issued is None:
            if auth.strict and access_key != "test" and not _ACCOUNT_KEY.match(access_key):
                raise s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our "
                               "records.", 403, AWSAccessKeyId=access_key)
            # A key cloudlet never issued: its root user, unverified (no secret).
            account = access_key if _ACCOUNT_KEY.match(access_key) else auth.default_account
            return root_principal(account), "v4" if v4 else "v2", access_key
        if not issued.active:
            raise s3_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                           403, AWSAccessKeyId=access_key)
        if v4:
            expected = sigv4_signature(issued.secret, date, region, service, policy)
            good = hmac.compare_digest(expected, provided.lower())
        else:
            good = hmac.compare_digest(sigv2_signature(issued.secret, policy), provided)
        if not good:
            raise _signature_mismatch(access_key, policy, provided)
        if issued.session_token is not None:
            token = form.get("x-amz-security-token")
            if not token:
                raise token_error("invalid", "s3", "rest-xml")
            if token != issued.session_token:
                raise token_error("bad_token", "s3", "rest-xml")
            if self.clock.now() >= issued.expires:
                raise token_error("expired", "s3", "rest-xml")
        principal = issued.principal
        if principal.attributes.get("key_last_used_stale"):
            self.cloud.note_key_used(access_key, "s3", bucket.region)
        return principal, "v4" if v4 else "v2", access_key

    def _post_params(self, put_op, bucket, key: str, form) -> dict:
        """PutObject's input from the form: its fields as PutObject's
        headers, read by the model as the gateway reads a PUT's."""
        from cloudlet.protocol import PROTOCOLS

        headers = []
        for name, value in form.fields:
            low = name.lower()
            if low not in _NOT_HEADERS and not low.startswith("x-ignore-"):
                if _CONTROL.search(value) or _CONTROL.search(name):
                    # (a form can say what no header can; answering with it
                    # later would break the HTTP response)
                    raise invalid_argument("Form fields sent as headers cannot contain control characters.",
                                           name, value)
                headers.append((name, value))
        acl = form.get("acl")
        if acl is not None:
            headers.append(("x-amz-acl", acl))
        algorithm = form.get("x-amz-checksum-algorithm")
        if algorithm is not None:
            headers.append(("x-amz-sdk-checksum-algorithm", algorithm))
        fake = HttpRequest("PUT", "/", headers=headers, body=form.file if form.file is not None else b"")
        params = PROTOCOLS["rest-xml"].parse(put_op, fake, {})
        params["Bucket"], params["Key"] = bucket.name, key
        text = form.get("tagging")
        if text:
            params["Tagging"] = urlencode(self._post_tags(put_op, text))
        return params

    @staticmethod
    def _post_tags(put_op, text: str) -> dict:
        """The `tagging` field: a <Tagging> document (another root element
        is an empty tag set, as S3 takes it)."""
        from cloudlet.protocol import PROTOCOLS

        shape = put_op.service.operation("PutObjectTagging").input.members["Tagging"]
        try:
            value = PROTOCOLS["rest-xml"].parse_payload_structure(shape, text.encode("utf-8"))
        except ParseError:
            raise malformed_xml() from None
        return tagging.from_tag_set((value or {}).get("TagSet"))

    async def _store_post(self, request, path, request_id, bucket, key, form, principal, kind, access_key):
        from cloudlet.gateway.context import RequestContext
        from cloudlet.protocol import PROTOCOLS

        model = self.cloud.models.get("s3")
        put_op = model.operation("PutObject")
        params = self._post_params(put_op, bucket, key, form)
        ctx = RequestContext(
            request_id=request_id, account_id=principal.account_id, region=bucket.region, principal=principal,
            service="s3", operation="PutObject", protocol="rest-xml", request=request, cloud=self.cloud,
            op_model=put_op, access_key=access_key, user_agent=request.header("user-agent") or "",
            source_ip=request.client)
        virtual = path != request.raw_path
        if virtual:
            ctx.extra["bucket_from_host"] = bucket.name
        if kind is not None:
            ctx.extra["s3_post"] = "AWS4-HMAC-SHA256" if kind == "v4" else "AWS"
        try:
            self.check_input(put_op, params, request)
            self.cloud.authorizer.check(ctx, self, put_op, params)
            out = await self.PutObject(ctx, params, event="ObjectCreated:Post")
        except AwsError as err:
            self._record_post(ctx, request, params, None, err)
            raise
        self._record_post(ctx, request, params, out, None)
        response = PROTOCOLS["rest-xml"].serialize(put_op, out, request_id)
        etag = out["ETag"]
        scheme = "https" if (request.header("x-forwarded-proto") or "").lower() == "https" else "http"
        host = request.host or "s3.amazonaws.com"
        where = quote(key, safe="")
        location = f"{scheme}://{host}/{where}" if virtual else f"{scheme}://{host}/{quote(bucket.name)}/{where}"
        redirect = form.get("success_action_redirect") or form.get("redirect")
        if redirect and _absolute_url(redirect):
            query = urlencode([("bucket", bucket.name), ("key", key), ("etag", etag)])
            response.status = 303
            response.headers.append(("Location", redirect + ("&" if "?" in redirect else "?") + query))
            return response
        response.headers.append(("Location", location))
        status = (form.get("success_action_status") or "").strip()
        if status == "201":
            response.status = 201
            response.headers.append(("Content-Type", "application/xml"))
            response.body = ('<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                             f"<Location>{_text(location)}</Location><Bucket>{_text(bucket.name)}</Bucket>"
                             f"<Key>{_text(key)}</Key><ETag>{_text(etag)}</ETag></PostResponse>").encode()
        else:
            response.status = 200 if status == "200" else 204
        return response


    def _record_post(self, ctx, request, params, out, err) -> None:
        """CloudTrail: a browser POST upload is the data event PostObject
        (no model operation; PutObject's parameters), failed or not."""
        recorder = self.cloud.gateway.recorder
        if recorder.enabled:
            recorder.record(ctx.op_model, ctx.principal, ctx.region, params, out, err, ctx.request_id,
                            ctx.source_ip, ctx.user_agent, ctx.access_key, host=request.header("host"),
                            owner=ctx.extra.get("resource_owner"), name="PostObject")


def _absolute_url(text: str) -> bool:
    if _CONTROL.search(text):
        return False  # (S3 acts as if a URL it cannot interpret were absent)
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _text(value: str) -> str:
    """XML character data (PostResponse is not in botocore's model: S3's
    document, written as S3 writes it)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
