"""Static website hosting: a bucket's website endpoint
(`bucket.s3-website.localhost:4566`, `bucket.s3-website-<region>...`,
`bucket.s3-website.<region>...`) serves it as a web site, as the S3 User
Guide ("Hosting a static website", "Website endpoints", "Configuring
redirects", "Configuring a custom error document") describes:

- GET and HEAD only, always anonymous: what a browser may read is what the
  bucket policy (or ACL) lets everyone GetObject; the public access block
  applies as it does to the API;
- a request for the root or a "folder/" gets the index document under it;
  a key with no object whose "key/" + index document exists is redirected
  there (302);
- RedirectAllRequestsTo sends every request to another host (301);
  routing rules redirect by key prefix before the lookup and by the error
  code after it; an object's x-amz-website-redirect-location redirects
  (301);
- errors are HTML pages; a 4xx answers the bucket's error document (with
  the error's status) when it is set and readable.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, unquote

from cloudlet.errors import AwsError
from cloudlet.gateway.auth import anonymous_principal
from cloudlet.protocol.http import HttpResponse
from cloudlet.protocol.rest_xml import host_id
from cloudlet.services.s3.bucketconfig import WEBSITE

_TITLES = {301: "301 Moved Permanently", 302: "302 Moved Temporarily", 403: "403 Forbidden",
           404: "404 Not Found", 405: "405 Method Not Allowed"}


class WebsiteOps:
    """Mixed into S3Service."""

    async def website(self, request, bucket_name: str, request_id: str) -> HttpResponse:
        head = request.method == "HEAD"
        if request.method not in ("GET", "HEAD"):
            return _page(405, "MethodNotAllowed", "The specified method is not allowed against this resource.",
                         request_id, head, Method=request.method, ResourceType="OBJECT")
        bucket = self.find_bucket(bucket_name)
        if bucket is None:
            return _page(404, "NoSuchBucket", "The specified bucket does not exist", request_id, head,
                         BucketName=bucket_name)
        config = self.get_config(bucket.name, WEBSITE)
        if config is None:
            return _page(404, "NoSuchWebsiteConfiguration", "The specified bucket does not have a website "
                                                            "configuration", request_id, head,
                         BucketName=bucket.name)
        everything = config.get("RedirectAllRequestsTo")
        if everything:
            protocol = everything.get("Protocol") or _scheme(request)
            return _redirect(301, f"{protocol}://{everything['HostName']}{request.raw_path}", request_id)
        requested = unquote(request.raw_path[1:])
        rule = _rule_for(config, requested, None)
        if rule is not None:
            return _redirect_by_rule(rule, requested, request, request_id)
        key = requested
        suffix = (config.get("IndexDocument") or {}).get("Suffix") or "index.html"
        if key == "" or key.endswith("/"):
            key += suffix
        try:
            return await self._site_object(request, bucket, key, request_id, head)
        except AwsError as err:
            if err.code == "NoSuchKey" and key != requested + suffix and not requested.endswith("/") \
                    and self._site_readable(request, bucket, f"{requested}/{suffix}"):
                # a "folder" asked for without its slash
                return _redirect(302, f"/{quote(requested)}/", request_id)
            return await self._site_error(request, bucket, config, requested, err, request_id, head)

    async def _site_object(self, request, bucket, key: str, request_id: str, head: bool) -> HttpResponse:
        """The object as an anonymous GetObject (or HeadObject) reads it."""
        from cloudlet.protocol import PROTOCOLS

        ctx, op, params = self._site_call(request, bucket, key, request_id, head)
        self.cloud.authorizer.check(ctx, self, op, params)
        version = self.latest(bucket.name, key)
        redirect = (version.headers.get("WebsiteRedirectLocation") if version is not None
                    and not version.delete_marker else None)
        if redirect:
            return _redirect(301, redirect, request_id)
        out = await self._read(ctx, params, head)
        return PROTOCOLS["rest-xml"].serialize(op, out, request_id)

    def _site_call(self, request, bucket, key: str, request_id: str, head: bool):
        """(context, operation, params) of an anonymous GetObject or
        HeadObject of `key`, with the request's Range and conditions."""
        from cloudlet.gateway.context import RequestContext
        from cloudlet.protocol import PROTOCOLS

        op = self.cloud.models.get("s3").operation("HeadObject" if head else "GetObject")
        params = PROTOCOLS["rest-xml"].parse(op, request, {"Bucket": bucket.name, "Key": quote(key)})
        params = {k: v for k, v in params.items() if k in _SITE_PARAMS}
        params["Bucket"], params["Key"] = bucket.name, key
        principal = anonymous_principal(self.cloud.auth.default_account)
        ctx = RequestContext(
            request_id=request_id, account_id=principal.account_id, region=bucket.region, principal=principal,
            service="s3", operation=op.name, protocol="rest-xml", request=request, cloud=self.cloud, op_model=op,
            user_agent=request.header("user-agent") or "", source_ip=request.client)
        ctx.extra["bucket_from_host"] = bucket.name
        return ctx, op, params

    def _site_readable(self, request, bucket, key: str) -> bool:
        version = self.latest(bucket.name, key)
        if version is None or version.delete_marker:
            return False
        ctx, op, params = self._site_call(request, bucket, key, "", True)
        try:
            self.cloud.authorizer.check(ctx, self, op, params)
        except AwsError:
            return False
        return True

    async def _site_error(self, request, bucket, config: dict, requested: str, err: AwsError, request_id: str,
                          head: bool) -> HttpResponse:
        rule = _rule_for(config, requested, err.status)
        if rule is not None:
            return _redirect_by_rule(rule, requested, request, request_id)
        fields = {"Key": requested} if err.code == "NoSuchKey" else {}
        document = (config.get("ErrorDocument") or {}).get("Key")
        if document and 400 <= err.status < 500:
            try:
                response = await self._site_object(request, bucket, document, request_id, head)
            except AwsError as doc_err:
                return _page(err.status, err.code, err.message, request_id, head, document_error=doc_err, **fields)
            if response.status == 200:
                response.status = err.status
                return response
        return _page(err.status, err.code, err.message, request_id, head, **fields)


# What a browser's GET can ask of the object (conditions, a range).
_SITE_PARAMS = frozenset({"IfMatch", "IfNoneMatch", "IfModifiedSince", "IfUnmodifiedSince", "Range"})


def _scheme(request) -> str:
    return "https" if (request.header("x-forwarded-proto") or "").lower() == "https" else "http"


def _rule_for(config: dict, key: str, status: int | None) -> dict | None:
    """The first routing rule whose condition fits: a key prefix, and an
    error code (rules with one apply only once that error happened)."""
    for rule in config.get("RoutingRules") or []:
        condition = rule.get("Condition") or {}
        code = condition.get("HttpErrorCodeReturnedEquals")
        if (code is None) != (status is None) or (code is not None and str(code) != str(status)):
            continue
        prefix = condition.get("KeyPrefixEquals")
        if prefix is not None and not key.startswith(prefix):
            continue
        return rule
    return None


def _redirect_by_rule(rule: dict, key: str, request, request_id: str) -> HttpResponse:
    redirect = rule.get("Redirect") or {}
    if redirect.get("ReplaceKeyWith") is not None:
        key = redirect["ReplaceKeyWith"]
    elif redirect.get("ReplaceKeyPrefixWith") is not None:
        prefix = (rule.get("Condition") or {}).get("KeyPrefixEquals") or ""
        key = redirect["ReplaceKeyPrefixWith"] + key[len(prefix):]
    host = redirect.get("HostName") or request.host
    protocol = redirect.get("Protocol") or _scheme(request)
    return _redirect(int(redirect.get("HttpRedirectCode") or 301), f"{protocol}://{host}/{quote(key)}", request_id)


def _redirect(status: int, location: str, request_id: str) -> HttpResponse:
    return HttpResponse(status, [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id)),
                                 ("Location", location), ("Content-Length", "0")], b"")


def _page(status: int, code: str, message: str, request_id: str, head: bool,
          document_error: AwsError | None = None, **fields) -> HttpResponse:
    """S3's HTML error page."""
    title = _TITLES.get(status, str(status))
    items = [("Code", code), ("Message", message), *fields.items(), ("RequestId", request_id),
             ("HostId", host_id(request_id))]
    lines = ["<html>", f"<head><title>{title}</title></head>", "<body>", f"<h1>{title}</h1>", "<ul>"]
    lines += [f"<li>{name}: {escape(str(value))}</li>" for name, value in items]
    lines.append("</ul>")
    if document_error is not None:
        lines += ["<h3>An Error Occurred While Attempting to Retrieve a Custom Error Document</h3>", "<ul>",
                  f"<li>Code: {document_error.code}</li>", f"<li>Message: {escape(document_error.message)}</li>",
                  "</ul>"]
    lines += ["<hr/>", "</body>", "</html>", ""]
    body = "\n".join(lines).encode()
    headers = [("x-amz-request-id", request_id), ("x-amz-id-2", host_id(request_id)),
               ("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
    if code == "MethodNotAllowed":
        headers.append(("Allow", "GET, HEAD"))
    return HttpResponse(status, headers, b"" if head else body)
