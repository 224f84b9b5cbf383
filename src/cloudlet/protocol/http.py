"""The plain HTTP request and response the protocol layer works on.

Kept free of any server framework so the protocol layer can be driven by the
ASGI gateway, by the internal dispatcher and by the conformance tests alike.
"""

from __future__ import annotations

from functools import cached_property
from urllib.parse import parse_qsl, unquote


class HttpRequest:
    __slots__ = ("method", "raw_path", "query_string", "header_list", "body", "client", "__dict__")

    def __init__(
        self,
        method: str,
        raw_path: str,
        query_string: str = "",
        headers: list[tuple[str, str]] | dict[str, str] | None = None,
        body: bytes = b"",
        client: str = "127.0.0.1",
    ):
        self.method = method.upper()
        # The path as sent, still percent-encoded: REST labels are decoded
        # one by one so that an encoded "/" inside a label stays in it.
        self.raw_path = raw_path or "/"
        self.query_string = query_string
        if isinstance(headers, dict):
            headers = list(headers.items())
        self.header_list: list[tuple[str, str]] = headers or []
        self.body = body
        self.client = client

    @cached_property
    def headers(self) -> dict[str, str]:
        """Lower-cased header names; repeated headers joined with ','."""
        out: dict[str, str] = {}
        for name, value in self.header_list:
            key = name.lower()
            if key in out:
                out[key] = out[key] + "," + value
            else:
                out[key] = value
        return out

    @cached_property
    def path(self) -> str:
        return unquote(self.raw_path)

    @cached_property
    def query_list(self) -> list[tuple[str, str]]:
        if not self.query_string:
            return []
        return parse_qsl(self.query_string, keep_blank_values=True)

    @cached_property
    def query(self) -> dict[str, str]:
        """First value of each query parameter."""
        out: dict[str, str] = {}
        for k, v in self.query_list:
            out.setdefault(k, v)
        return out

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @cached_property
    def host(self) -> str:
        return self.headers.get("host", "")

    def form(self) -> dict[str, str]:
        """Query-protocol parameters: the urlencoded body of a POST, else the
        query string (GET requests, presigned URLs)."""
        params: dict[str, str] = {}
        if self.query_string:
            params.update(parse_qsl(self.query_string, keep_blank_values=True))
        if self.body and "x-www-form-urlencoded" in self.content_type:
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                from cloudlet.errors import AwsError

                raise AwsError("MalformedQueryString", "The request body is not valid UTF-8.", 400) from None
            params.update(parse_qsl(text, keep_blank_values=True))
        return params


class HttpResponse:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int = 200, headers: list[tuple[str, str]] | None = None, body: bytes = b""):
        self.status = status
        self.headers: list[tuple[str, str]] = headers if headers is not None else []
        self.body = body

    def header(self, name: str) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status} {self.body[:200]!r}>"
