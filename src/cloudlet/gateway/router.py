"""Which service and which protocol a request is for.

In order: X-Amz-Target (JSON protocols), the RPC v2 CBOR path, then the
SigV4 signing name (header or presigned query), then the Host name
(`sqs.us-east-1.amazonaws.com`, `bucket.s3.localhost`), and for unsigned
requests with no telling host, S3 (the one service anonymous callers use).
Among services sharing a signing name, the request's shape decides (a form
with Action= goes to the query-protocol one).

S3 virtual-hosted style (`bucket.s3.localhost.localstack.cloud`,
`bucket.localhost`) is turned into path style here, so S3 routes one way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudlet.gateway.auth import Credential
from cloudlet.protocol import PROTOCOLS
from cloudlet.protocol.catalog import Catalog, CatalogEntry
from cloudlet.protocol.http import CBOR_PATH, HttpRequest

_JSON_PROTOCOLS = ("json", "rest-json", "smithy-rpc-v2-cbor")
# Host names that mean "this machine" and carry no service or bucket.
_LOCAL_SUFFIXES = (".localhost.localstack.cloud", ".localhost", ".amazonaws.com", ".amazonaws.com.cn")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")


@dataclass(slots=True)
class RouteResult:
    entry: CatalogEntry | None
    protocol: str
    # For S3 virtual-hosted requests: the path-style path to route on.
    raw_path: str | None = None
    bucket_from_host: str | None = None
    # A bucket's website endpoint (bucket.s3-website[-.]region...): not the
    # API; S3 answers it as a static web site (services/s3/website.py).
    website: bool = False


def _is_form(request: HttpRequest) -> bool:
    ct = request.content_type
    if request.method == "POST" and "x-www-form-urlencoded" in ct:
        return True
    if request.method == "GET" and "Action=" in request.query_string:
        return True
    return False


def guess_protocol(request: HttpRequest) -> str:
    """The protocol a request looks like, for answering an error about it."""
    if request.header("x-amz-target"):
        return "json"
    if CBOR_PATH.match(request.path) and ("cbor" in request.content_type or request.header("smithy-protocol")):
        return "smithy-rpc-v2-cbor"
    if _is_form(request) or "Action=" in request.query_string:
        return "query"
    if "json" in request.content_type:
        return "rest-json"
    return "rest-xml"


def _is_website_host(host: str) -> bool:
    """bucket.s3-website.<region>..., bucket.s3-website-<region>..., or
    bucket.s3-website.localhost (the website endpoints' names): the label
    that names S3 (as Router._from_host finds it) is s3-website."""
    name = host.rsplit(":", 1)[0].lower() if host else ""
    for label in name.split("."):
        if label == "s3" or label.startswith("s3-"):
            return label == "s3-website" or label.startswith("s3-website-")
    return False


class Router:
    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        # Decisions that depend only on request traits which repeat from
        # call to call (target, signing name, host, form or not).
        self._cache: dict[tuple, RouteResult] = {}
        self._sole: dict[str, bool] = {}
        # REST services sharing a signing name, in the order they are tried.
        self._rest: dict[tuple, list] = {}

    def route(self, request: HttpRequest, cred: Credential | None) -> RouteResult:
        target = request.header("x-amz-target")
        key = None
        if target:
            key = ("t", target.rpartition(".")[0], cred.service if cred is not None else None)
        elif (cred is not None and cred.service and self._sole_service(cred.service)
              and not request.header("smithy-protocol") and "cbor" not in request.content_type):
            # One service behind this signing name: the choice depends only on
            # whether the body is a form.
            key = ("s", cred.service, _is_form(request))
        if key is not None:
            found = self._cache.get(key)
            if found is None:
                found = self._route(request, cred)
                if len(self._cache) < 4096:
                    self._cache[key] = found
            return found
        return self._route(request, cred)

    def _by_action(self, form: dict) -> CatalogEntry | None:
        version, action = form.get("Version"), form.get("Action")
        if not version or not action:
            return None
        for entry in self.catalog.by_api_version(version):
            if entry.protocol in ("query", "ec2") or entry.query_compatible:
                model = self.catalog.registry.get(entry.name)
                if model is not None and model.operation(action) is not None:
                    return entry
        return None

    def _sole_service(self, signing_name: str) -> bool:
        """True if exactly one service, other than S3, signs with this name."""
        sole = self._sole.get(signing_name)
        if sole is None:
            entries = self.catalog.by_signing_name(signing_name)
            sole = self._sole[signing_name] = len(entries) == 1 and entries[0].signing_name != "s3"
        return sole

    def _route(self, request: HttpRequest, cred: Credential | None) -> RouteResult:
        headers = request.headers
        target = headers.get("x-amz-target")
        if target:
            prefix = target.rpartition(".")[0]
            entry = self.catalog.by_target_prefix(prefix)
            if entry is None and cred is not None and cred.service:
                entry = next((e for e in self.catalog.by_signing_name(cred.service)
                              if e.protocol in _JSON_PROTOCOLS), None)
            return RouteResult(entry, "json")

        m = CBOR_PATH.match(request.path)
        if m and ("cbor" in request.content_type or headers.get("smithy-protocol")):
            return RouteResult(self.catalog.by_target_prefix(m.group(1)), "smithy-rpc-v2-cbor")

        candidates: list[CatalogEntry] = []
        if cred is not None and cred.service:
            candidates = self.catalog.by_signing_name(cred.service)
        host_service, host_bucket = self._from_host(request.host)
        if not candidates and host_service:
            candidates = self.catalog.by_endpoint_prefix(host_service) or self.catalog.by_signing_name(host_service)
        form = _is_form(request)
        if not candidates and form:
            # Unsigned query calls (AssumeRoleWithWebIdentity) carry no
            # signing name: Action and Version name the service.
            entry = self._by_action(request.form())
            if entry is None:
                return RouteResult(None, "query")
            return RouteResult(entry, "query")
        if not candidates:
            candidates = self.catalog.by_signing_name("s3")

        entry = self._choose(candidates, form, request)
        if entry is None:
            return RouteResult(None, guess_protocol(request))
        protocol = entry.protocol
        if protocol in ("query", "ec2"):
            return RouteResult(entry, protocol)
        if form and entry.query_compatible:
            # A JSON service that still answers its old query protocol (SQS).
            return RouteResult(entry, "query")
        if entry.signing_name == "s3" and host_bucket:
            path = "/" + host_bucket + (request.raw_path if request.raw_path != "/" else "/")
            return RouteResult(entry, protocol, raw_path=path, bucket_from_host=host_bucket,
                               website=_is_website_host(request.host))
        return RouteResult(entry, protocol)

    def _choose(self, candidates: list[CatalogEntry], form: bool, request: HttpRequest) -> CatalogEntry | None:
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        if form:
            for e in candidates:
                if e.protocol in ("query", "ec2") or e.query_compatible:
                    return e
        key = tuple(e.name for e in candidates)
        rest = self._rest.get(key)
        if rest is None:
            # The service whose endpoint prefix is its signing name first (s3
            # before s3control), then the first whose routes fit the request.
            ordered = sorted((e for e in candidates if e.protocol in ("rest-json", "rest-xml")),
                             key=lambda e: e.endpoint_prefix != e.signing_name)
            rest = self._rest[key] = [(e, self.catalog.registry.get(e.name), PROTOCOLS[e.protocol])
                                      for e in ordered]
        for e, model, protocol in rest:
            if model is not None and protocol.route(model, request) is not None:
                return e
        return rest[0][0] if rest else candidates[0]

    @staticmethod
    def _from_host(host: str) -> tuple[str | None, str | None]:
        """(service endpoint prefix, S3 bucket) named by a Host header."""
        name = host.rsplit(":", 1)[0].lower() if host and not host.startswith("[") else ""
        if not name or name in ("localhost", "127.0.0.1") or name.replace(".", "").isdigit():
            return None, None
        for suffix in _LOCAL_SUFFIXES:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
        else:
            return None, None
        labels = name.split(".") if name else []
        if not labels:
            return None, None
        # bucket.s3[.region] / bucket.s3-region / s3[.region]
        for i, label in enumerate(labels):
            if label == "s3" or label.startswith("s3-") or label == "s3-website":
                bucket = ".".join(labels[:i]) or None
                return "s3", bucket
        if len(labels) >= 2 and _REGION.match(labels[1]):
            return labels[0], None
        if len(labels) == 1:
            # "bucket.localhost": a bucket, unless it names a service.
            return None, labels[0]
        return labels[0], None
