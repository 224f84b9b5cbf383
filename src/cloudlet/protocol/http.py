"""The plain HTTP request and response the protocol layer works on.

Kept free of any server framework so the protocol layer can be driven by the
ASGI gateway, by the internal dispatcher and by the conformance tests alike.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus

# /service/{Service}/operation/{Operation}: the RPC v2 CBOR request path.
CBOR_PATH = re.compile(r"^(?:/.*)?/service/([^/]+)/operation/([^/?]+)$")


def parse_form(text: str) -> list[tuple[str, str]]:
    """application/x-www-form-urlencoded pairs; the fast path skips
    unquoting for the common plain pieces."""
    out = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "%" in name or "+" in name:
            name = unquote_plus(name)
        if "%" in value or "+" in value:
            value = unquote_plus(value)
        out.append((name, value))
    return out


class HttpRequest:
    """One request. Derived views (lower-cased headers, decoded path, query
    pairs) are computed on first use: on the hot path most are never needed."""

    __slots__ = ("method", "raw_path", "query_string", "body", "client", "_raw_headers", "_raw_map",
                 "_header_list", "_headers", "_path", "_query_list", "_query", "_form", "route_memo")

    def __init__(
        self,
        method: str,
        raw_path: str,
        query_string: str = "",
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
        body: bytes = b"",
        client: str = "127.0.0.1",
        raw_headers: list[tuple[bytes, bytes]] | None = None,
    ):
        self.method = method.upper()
        # The path as sent, still percent-encoded: REST labels are decoded
        # one by one so that an encoded "/" inside a label stays in it.
        self.raw_path = raw_path or "/"
        self.query_string = query_string
        if isinstance(headers, dict):
            headers = list(headers.items())
        # ASGI hands over (bytes, bytes) pairs with lower-cased names; they
        # are decoded only when asked for.
        self._raw_headers = raw_headers
        self._header_list = headers if raw_headers is None else None
        self.body = body
        self.client = client
        self.route_memo = None  # (service, path, (operation, labels)): the gateway routes twice
        self._raw_map = None
        self._headers = self._path = self._query_list = self._query = self._form = None

    def header(self, name: str) -> str | None:
        """One header by lower-case name, decoding only that one."""
        if self._headers is not None or self._raw_headers is None:
            return self.headers.get(name)
        raw = self._raw_map
        if raw is None:
            raw = self._raw_map = {}
            for k, v in self._raw_headers:
                raw[k] = raw[k] + b"," + v if k in raw else v
        value = raw.get(name.encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    @property
    def header_list(self) -> list[tuple[str, str]]:
        """The headers as sent, in order (names as the transport gave them)."""
        if self._header_list is None:
            raw = self._raw_headers or ()
            self._header_list = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in raw]
        return self._header_list

    def add_header(self, name: str, value: str) -> None:
        self.header_list.append((name, value))
        self._raw_headers = self._raw_map = self._headers = None

    def set_header(self, name: str, value: str | None) -> None:
        """Replace (None: remove) every header of that name."""
        lname = name.lower()
        self._header_list = [(k, v) for k, v in self.header_list if k.lower() != lname]
        if value is not None:
            self._header_list.append((lname, value))
        self._raw_headers = self._raw_map = self._headers = None

    @property
    def headers(self) -> dict[str, str]:
        """Lower-cased header names; repeated headers joined with ','."""
        out = self._headers
        if out is None:
            out = {}
            if self._header_list is None and self._raw_headers is not None:
                pairs = ((k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw_headers)
            else:
                pairs = ((k.lower(), v) for k, v in self.header_list)
            for key, value in pairs:
                if key in out:
                    out[key] = out[key] + "," + value
                else:
                    out[key] = value
            self._headers = out
        return out

    @property
    def path(self) -> str:
        if self._path is None:
            self._path = unquote(self.raw_path)
        return self._path

    @property
    def query_list(self) -> list[tuple[str, str]]:
        if self._query_list is None:
            self._query_list = parse_form(self.query_string) if self.query_string else []
        return self._query_list

    @property
    def query(self) -> dict[str, str]:
        """First value of each query parameter."""
        if self._query is None:
            out: dict[str, str] = {}
            for k, v in self.query_list:
                out.setdefault(k, v)
            self._query = out
        return self._query

    @property
    def content_type(self) -> str:
        return self.header("content-type") or ""

    @property
    def host(self) -> str:
        return self.header("host") or ""

    def form(self) -> dict[str, str]:
        """Query-protocol parameters: the urlencoded body of a POST, else the
        query string (GET requests, presigned URLs)."""
        if self._form is not None:
            return self._form
        params: dict[str, str] = {}
        if self.query_string:
            params.update(self.query_list)
        if self.body and "x-www-form-urlencoded" in self.content_type:
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                from cloudlet.errors import AwsError

                raise AwsError("MalformedQueryString", "The request body is not valid UTF-8.", 400) from None
            params.update(parse_form(text))
        self._form = params
        return params


class HttpResponse:
    __slots__ = ("status", "headers", "body", "wait_for_commit")

    def __init__(self, status: int = 200, headers: list[tuple[str, str]] | None = None, body: bytes = b""):
        self.status = status
        self.headers: list[tuple[str, str]] = headers if headers is not None else []
        self.body = body
        # False when the only writes pending are bookkeeping (a CloudTrail
        # record of a read): the answer need not wait for their commit.
        self.wait_for_commit = True

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.body[:200]!r}>"


class SpooledBody:
    """A request body too large to hold in memory, in a file the server
    wrote as it arrived (deleted once the request is answered). Consumers
    stream it with `chunks()`; `read()` is for the small ones."""

    __slots__ = ("path", "size")

    def __init__(self, path: str, size: int):
        self.path = path
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return self.size > 0

    def chunks(self, size: int = 1 << 20):
        with open(self.path, "rb") as fh:
            while True:
                chunk = fh.read(size)
                if not chunk:
                    return
                yield chunk

    def read(self) -> bytes:
        with open(self.path, "rb") as fh:
            return fh.read()

    def discard(self) -> None:
        import os

        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def __repr__(self) -> str:
        return f"<SpooledBody {self.size} bytes>"


class StreamBody:
    """A response body sent piece by piece (an S3 object): `length` bytes
    from the iterator `chunks`; `close()` runs after the last piece is sent
    or the client went away."""

    __slots__ = ("length", "chunks", "_close")

    def __init__(self, length: int, chunks, close=None):
        self.length = length
        self.chunks = chunks
        self._close = close

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, item):  # (repr and logs slice bodies)
        return b""

    def close(self) -> None:
        close, self._close = self._close, None
        if close is not None:
            close()
        closer = getattr(self.chunks, "close", None)
        if closer is not None:
            closer()
