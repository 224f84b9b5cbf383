"""Raw HTTP against a running cloudlet, signed with SigV4 like an SDK would,
for tests that must send what no SDK sends."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

CREDS = Credentials("test", "test")


class Response:
    def __init__(self, status: int, headers: dict[str, str], body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.body[:300]!r}>"


def send(endpoint: str, method: str, path: str, *, body: bytes = b"", headers: dict | None = None,
         service: str | None = None, region: str = "us-east-1") -> Response:
    """Send one request; sign it for `service` if given."""
    headers = dict(headers or {})
    url = endpoint + path
    if service:
        req = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(CREDS, service, region).add_auth(req)
        headers = dict(req.headers.items())
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()
