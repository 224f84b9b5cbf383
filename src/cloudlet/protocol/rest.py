"""What rest-json and rest-xml share: routing a method and path to an
operation, and the members bound to the URI, query string, headers and
status code. Subclasses supply the body encoding."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from urllib.parse import unquote

import orjson

from cloudlet.errors import AwsError
from cloudlet.protocol.common import (
    ParseError, b64decode, b64encode, float_text, format_timestamp,
    parse_bool_text, parse_float_text, parse_int_text, parse_timestamp,
)
from cloudlet.protocol.http import HttpRequest, HttpResponse, SpooledBody, StreamBody
from cloudlet.protocol.model import RESPONSE_LOCATIONS, OperationModel, ServiceModel, Shape

_LABEL_RE = re.compile(r"\{([^}]+)\}")
# An output key a handler may set to answer with another HTTP status.
STATUS_KEY = "__status__"
# Query literals in a request URI that only disambiguate for clients
# (botocore adds x-id; other SDKs and raw HTTP callers do not).
_OPTIONAL_QUERY_LITERALS = {"x-id"}


class Route:
    """One operation's method + URI pattern. Operations that share a
    pattern (S3's PutObject, CopyObject, UploadPart and UploadPartCopy all
    PUT /{Bucket}/{Key+}) are told apart by their required query and header
    members (partNumber + uploadId, x-amz-copy-source), as the model states
    them: the most demanding route whose required members are all present
    wins."""

    __slots__ = ("op", "regex", "labels", "query", "score", "required_query", "required_headers")

    def __init__(self, op: OperationModel):
        self.op = op
        path, _, query = op.request_uri.partition("?")
        pattern = ["^"]
        labels = []
        pos = 0
        literal_chars = 0
        greedy = False
        for match in _LABEL_RE.finditer(path):
            literal = path[pos:match.start()]
            literal_chars += len(literal)
            pattern.append(re.escape(literal))
            name = match.group(1)
            if name.endswith("+"):
                labels.append(name[:-1])
                pattern.append("(.+)")
                greedy = True
            else:
                labels.append(name)
                pattern.append("([^/]+)")
            pos = match.end()
        tail = path[pos:]
        literal_chars += len(tail)
        if path != "/":
            # A trailing slash is optional either way ("/bucket" == "/bucket/").
            pattern.append(re.escape(tail.rstrip("/")) + "/?")
        else:
            pattern.append("/")
        pattern.append("$")
        self.regex = re.compile("".join(pattern), re.DOTALL)
        self.labels = labels
        self.query: dict[str, str | None] = {}
        for part in filter(None, query.split("&")):
            key, eq, value = part.partition("=")
            if key not in _OPTIONAL_QUERY_LITERALS:
                self.query[key] = value if eq else None
        self.required_query: tuple[str, ...] = ()
        self.required_headers: tuple[str, ...] = ()
        shape = op.input
        if shape is not None:
            required = set(shape.required)
            self.required_query = tuple(m.wire_name or n for n, m in shape.members.items()
                                        if n in required and m.location == "querystring"
                                        and (m.wire_name or n) not in self.query)
            self.required_headers = tuple((m.wire_name or n).lower() for n, m in shape.members.items()
                                          if n in required and m.location == "header")
        # (a deprecated operation sharing its pattern with its successor,
        # e.g. PutBucketNotification, goes last)
        self.score = (len(self.query), len(self.required_query) + len(self.required_headers),
                      not op.spec.get("deprecated", False), literal_chars, -len(labels), not greedy)

    def satisfied(self, request: HttpRequest) -> bool:
        """Whether the request carries every required query / header member."""
        query = request.query
        header = request.header
        return all(q in query for q in self.required_query) and all(header(h) is not None
                                                                    for h in self.required_headers)

    def match(self, raw_path: str, query: dict[str, str]) -> dict[str, str] | None:
        for key, value in self.query.items():
            got = query.get(key)
            if got is None or (value is not None and got != value):
                return None
        m = self.regex.match(raw_path)
        if m is None:
            return None
        return dict(zip(self.labels, m.groups()))


def routes_for(service: ServiceModel) -> dict[str, list[Route]]:
    routes = service.plans.get("rest_routes")
    if routes is None:
        routes = {}
        for name in service.operation_names:
            op = service.operation(name)
            routes.setdefault(op.method, []).append(Route(op))
        for lst in routes.values():
            lst.sort(key=lambda r: r.score, reverse=True)
        service.plans["rest_routes"] = routes
    return routes


def _candidates(service: ServiceModel, method: str, query: dict) -> list[Route]:
    """The routes of `method` whose literal query keys the request has (in
    route order), cached by the request's set of query keys: S3 has ~40
    PUT routes, most told apart by a literal such as ?tagging."""
    cache = service.plans.get("rest_candidates")
    if cache is None:
        cache = service.plans["rest_candidates"] = {}
    key = (method, frozenset(query))
    found = cache.get(key)
    if found is None:
        found = [r for r in routes_for(service).get(method, ()) if all(k in query for k in r.query)]
        if len(cache) > 4096:
            cache.clear()
        cache[key] = found
    return found


def _parse_plan(shape: Shape) -> tuple:
    """An input shape's members by where they travel, computed once per
    operation: (uri, querystring, header members by lower-cased wire name,
    prefixed header maps, whether any member is in the body)."""
    uri, query, headers, prefixed = [], [], [], []
    body = False
    for name, mshape in shape.members.items():
        loc = mshape.location
        wire = mshape.wire_name or name
        if loc == "uri":
            uri.append((name, mshape, wire))
        elif loc == "querystring":
            query.append((name, mshape, wire))
        elif loc == "header":
            headers.append((name, mshape, wire.lower()))
        elif loc == "headers":
            prefixed.append((name, (mshape.wire_name if mshape.wire_name is not None else name).lower()))
        elif loc is None:
            body = True
    by_wire = {wire: (name, mshape) for name, mshape, wire in headers}
    return tuple(uri), tuple(query), by_wire, tuple(prefixed), body


def _has_body_members(shape: Shape) -> bool:
    found = shape.model.plans.get(("body_members", shape.name))
    if found is None:
        found = shape.model.plans[("body_members", shape.name)] = any(
            m.location not in RESPONSE_LOCATIONS for m in shape.members.values())
    return found


def split_header_list(text: str) -> list[str]:
    """Split a list-valued header on the commas outside double quotes;
    quoted items are unquoted, bare items stripped."""
    items: list[str] = []
    buf: list[str] = []
    quoted = escaped = was_quoted = False
    for ch in text:
        if escaped:
            buf.append(ch)
            escaped = False
        elif quoted:
            if ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = was_quoted = True
            buf = [] if not "".join(buf).strip() else buf
        elif ch == ",":
            item = "".join(buf)
            items.append(item if was_quoted else item.strip())
            buf, was_quoted = [], False
        elif not (was_quoted and ch.isspace()):
            buf.append(ch)
    item = "".join(buf)
    items.append(item if was_quoted else item.strip())
    return items


class RestProtocol(ABC):
    name = "rest"
    codec = None  # set by subclasses

    # -- which operation ------------------------------------------------

    def route(self, service: ServiceModel, request: HttpRequest, raw_path: str | None = None):
        """(operation, labels) for the request, or None."""
        path = raw_path if raw_path is not None else request.raw_path
        memo = request.route_memo
        if memo is not None and memo[0] is service and memo[1] == path:
            return memo[2]  # (the router asked already, choosing the service)
        query = request.query
        found = None
        candidates = _candidates(service, request.method, query)
        # The first route whose required members are all present and whose
        # pattern matches (the cheap test first: S3's PutObject is tried
        # after UploadPartCopy, UploadPart and CopyObject, which need members
        # a plain PUT lacks)...
        for route in candidates:
            if route.satisfied(request):
                labels = route.match(path, query)
                if labels is not None:
                    found = (route.op, labels)
                    break
        else:
            # ...else the first whose pattern matches: validation will say
            # which required member is missing.
            for route in candidates:
                labels = route.match(path, query)
                if labels is not None:
                    found = (route.op, labels)
                    break
        request.route_memo = (service, path, found)
        return found

    def allowed_methods(self, service: ServiceModel, request: HttpRequest, raw_path: str | None = None) -> list[str]:
        path = raw_path if raw_path is not None else request.raw_path
        out = []
        for method, routes in routes_for(service).items():
            if any(r.match(path, request.query) is not None for r in routes):
                out.append(method)
        return out

    # -- request --------------------------------------------------------

    def parse(self, op: OperationModel, request: HttpRequest, labels: dict[str, str]) -> dict:
        shape = op.input
        if shape is None:
            return {}
        out: dict = {}
        plan = op.plans.get("rest_parse")
        if plan is None:
            plan = op.plans["rest_parse"] = _parse_plan(shape)
        uri, query_members, header_members, prefixed, has_body = plan
        try:
            for name, mshape, wire in uri:
                raw = labels.get(wire)
                if raw is not None:
                    out[name] = self._text_value(mshape, unquote(raw))
            if query_members and request.query_string:
                for name, mshape, wire in query_members:
                    value = self._query_value(mshape, wire, request)
                    if value is not None:
                        out[name] = value
            headers = request.headers
            if header_members:
                # (a request carries a few of the dozens of headers S3's
                # inputs name: look up what it has)
                for wire, text in headers.items():
                    member = header_members.get(wire)
                    if member is not None:
                        out[member[0]] = self._header_value(member[1], text)
            for name, prefix in prefixed:
                values = {}
                for hname, hvalue in headers.items():
                    if hname.startswith(prefix):
                        values[hname[len(prefix):]] = hvalue
                if values:
                    out[name] = values
            payload = shape.payload
            if payload:
                pshape = shape.members[payload]
                value = self._payload_value(pshape, request)
                if value is not None:
                    out[payload] = value
            elif request.body and has_body:
                out.update(self.parse_body(shape, request.body))
        except ParseError as exc:
            raise self.parse_error(exc) from None
        return out

    def parse_error(self, exc: ParseError) -> AwsError:
        return AwsError("SerializationException", exc.message, 400)

    @abstractmethod
    def parse_body(self, shape: Shape, body: bytes) -> dict:
        """The body members of an input structure."""

    @abstractmethod
    def parse_payload_structure(self, shape: Shape, body: bytes):
        """A structure (or document) bound to the whole body."""

    def _payload_value(self, pshape: Shape, request: HttpRequest):
        body = request.body
        t = pshape.type
        if t == "blob":
            return body if body else None  # bytes, or a SpooledBody the provider streams
        if isinstance(body, SpooledBody):
            body = body.read()
        if t == "string":
            return body.decode("utf-8", "replace") if body else None
        if not body:
            return None
        return self.parse_payload_structure(pshape, body)

    def _query_value(self, shape: Shape, wire: str, request: HttpRequest):
        if shape.type == "map":
            # A query-string map takes every parameter, the named ones too.
            multi = shape.value.type == "list"
            out: dict = {}
            for key, value in request.query_list:
                if multi:
                    out.setdefault(key, []).append(value)
                else:
                    out.setdefault(key, value)
            return out or None
        if shape.type == "list":
            values = [v for k, v in request.query_list if k == wire]
            if not values:
                return None
            return [self._text_value(shape.member, v) for v in values]
        value = request.query.get(wire)
        if value is None:
            return None
        return self._text_value(shape, value)

    @staticmethod
    def _text_value(shape: Shape, text: str):
        t = shape.type
        if t == "string":
            return text
        if t in ("integer", "long", "short", "byte"):
            return parse_int_text(text.strip())
        if t in ("float", "double"):
            return parse_float_text(text.strip())
        if t == "boolean":
            return parse_bool_text(text.strip().lower())
        if t == "timestamp":
            return parse_timestamp(text)
        if t == "blob":
            return b64decode(text)
        return text

    def _header_value(self, shape: Shape, text: str):
        t = shape.type
        if t == "string":
            if shape.json_value:
                try:
                    return orjson.loads(b64decode(text))
                except orjson.JSONDecodeError:
                    raise ParseError("Invalid JSON value in header") from None
            return text
        if t == "list":
            if not text.strip():
                return []
            member = shape.member
            items = split_header_list(text)
            if member.type == "timestamp":
                items = _rejoin_http_dates(items)
            return [self._text_value(member, item) for item in items]
        return self._text_value(shape, text.strip())

    # -- response -------------------------------------------------------

    def request_id_headers(self, service: ServiceModel | None, request_id: str) -> list[tuple[str, str]]:
        return [("x-amzn-RequestId", request_id)]

    def serialize(self, op: OperationModel, output: dict | None, request_id: str) -> HttpResponse:
        status = op.response_code
        headers = self.request_id_headers(op.service, request_id)
        body = b""
        shape = op.output
        output = output or {}
        if STATUS_KEY in output:
            # A status the model has no member for (S3's 206 Partial Content
            # for a ranged GetObject).
            output = dict(output)
            status = output.pop(STATUS_KEY)
        if shape is not None:
            status = self.write_located(shape, output, headers, status)
            payload = shape.payload
            if payload:
                value = output.get(payload)
                pshape = shape.members[payload]
                if value is not None:
                    if isinstance(value, StreamBody):
                        body = value  # sent piece by piece by the server
                        if not any(k.lower() == "content-length" for k, _ in headers):
                            headers.append(("Content-Length", str(value.length)))
                        self._default_content_type(headers, "application/octet-stream")
                    elif pshape.type == "blob":
                        body = value.encode() if isinstance(value, str) else bytes(value)
                        self._default_content_type(headers, "application/octet-stream")
                    elif pshape.type == "string":
                        body = value.encode()
                        self._default_content_type(headers, "text/plain")
                    else:
                        body = self.encode_payload_structure(op, pshape, payload, value)
                        self._default_content_type(headers, self.content_type)
            elif _has_body_members(shape):
                body = self.encode_body(op, shape, output)
                if body:
                    self._default_content_type(headers, self.content_type)
        return HttpResponse(status, headers, body)

    @staticmethod
    def _default_content_type(headers: list[tuple[str, str]], value: str) -> None:
        for k, _ in headers:
            if k.lower() == "content-type":
                return
        headers.append(("Content-Type", value))

    def write_located(self, shape: Shape, value: dict, headers: list, status: int) -> int:
        for name, item in value.items():
            if item is None:
                continue
            mshape = shape.members.get(name)
            if mshape is None or mshape.location not in RESPONSE_LOCATIONS:
                continue
            loc = mshape.location
            wire = mshape.wire_name if mshape.wire_name is not None else name
            if loc == "header":
                if mshape.type == "list" and not item:
                    continue
                headers.append((wire, self._header_text(mshape, item)))
            elif loc == "headers":
                for k, v in item.items():
                    headers.append((wire + k, str(v)))
            elif loc == "statusCode":
                status = int(item)
        return status

    def _header_text(self, shape: Shape, value) -> str:
        t = shape.type
        if t == "string":
            if shape.json_value:
                return b64encode(orjson.dumps(value))
            return value
        if t == "timestamp":
            return str(format_timestamp(value, shape.timestamp_format or "rfc822"))
        if t == "list":
            parts = []
            for item in value:
                text = self._header_text(shape.member, item)
                if shape.member.type == "string" and ("," in text or '"' in text):
                    text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
                parts.append(text)
            return ", ".join(parts)
        if t == "boolean":
            return "true" if value else "false"
        if t in ("float", "double"):
            return float_text(value)
        if t == "blob":
            return b64encode(value)
        return str(value)

    @abstractmethod
    def encode_body(self, op: OperationModel, shape: Shape, output: dict) -> bytes:
        """The body members of an output structure."""

    @abstractmethod
    def encode_payload_structure(self, op: OperationModel, shape: Shape, member: str, value) -> bytes:
        """A structure bound to the whole response body."""


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _rejoin_http_dates(items: list[str]) -> list[str]:
    """HTTP dates contain a comma ("Mon, 16 Dec 2019 ..."): glue the halves
    that a comma split pulled apart."""
    out: list[str] = []
    i = 0
    while i < len(items):
        item = items[i]
        if item in _WEEKDAYS and i + 1 < len(items):
            out.append(f"{item}, {items[i + 1]}")
            i += 2
        else:
            out.append(item)
            i += 1
    return out
