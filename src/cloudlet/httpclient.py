"""A small asynchronous HTTP/1.1 client for cloudlet's outbound calls (SNS
HTTP/S deliveries, EventBridge API destinations and their OAuth tokens).

One request per connection (Connection: close): deliveries go to many
endpoints, rarely many to one, and a fresh connection per attempt is what
a retry needs anyway. HTTPS certificates are not verified: local endpoints
use self-signed certificates, and cloudlet's job is to reach them.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

_INSECURE = ssl.create_default_context()
_INSECURE.check_hostname = False
_INSECURE.verify_mode = ssl.CERT_NONE
MAX_RESPONSE = 1 << 20  # bytes of a response body kept (SNS logs up to a point, never all)


class HttpError(Exception):
    """The request never got a response (refused, reset, timed out, bad URL)."""


@dataclass
class HttpResult:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


async def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 15.0) -> HttpResult:
    return await request("POST", url, body, headers, timeout)


async def request(method: str, url: str, body: bytes, headers: dict[str, str], timeout: float = 15.0) -> HttpResult:
    try:
        return await asyncio.wait_for(_request(method, url, body, headers), timeout)
    except asyncio.TimeoutError:
        raise HttpError(f"no response within {timeout:g} seconds") from None
    except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
        raise HttpError(str(exc) or type(exc).__name__) from None


async def _request(method: str, url: str, body: bytes, headers: dict[str, str]) -> HttpResult:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url}")
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    reader, writer = await asyncio.open_connection(parts.hostname, port, ssl=_INSECURE if secure else None,
                                                   server_hostname=parts.hostname if secure else None)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}",
                 "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()
        status_line = await reader.readline()
        pieces = status_line.decode("latin-1").split(" ", 2)
        if len(pieces) < 2 or not pieces[0].startswith("HTTP/") or not pieces[1].isdigit():
            raise ValueError(f"not an HTTP response: {status_line[:80]!r}")
        response_headers: dict[str, str] = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            response_headers[name.strip().lower()] = value.strip()
        payload = b"" if method == "HEAD" else await _read_body(reader, response_headers)
        return HttpResult(int(pieces[1]), response_headers, payload)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (OSError, ssl.SSLError):
            pass


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = bytearray()
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readline()
                return bytes(out[:MAX_RESPONSE])
            chunk = await reader.readexactly(size + 2)
            if len(out) < MAX_RESPONSE:
                out += chunk[:-2]
    length = headers.get("content-length")
    if length is not None and length.isdigit():
        return (await reader.readexactly(int(length)))[:MAX_RESPONSE]
    return await reader.read(MAX_RESPONSE)
