"""cloudlet's HTTP/1.1 server: an asyncio protocol over httptools that
builds `HttpRequest`s straight from the parser's callbacks and writes the
`HttpResponse` itself, with no ASGI scope or messages per request.

uvicorn still runs the server (sockets, lifespan start-up and shutdown,
signals, graceful shutdown, the once-a-second `date` header): it is given
this class as its protocol, `uvicorn.Config(app, http=HttpProtocol)`, and
makes one per connection with (config, server_state, app_state, _loop).
`app` is the `AsgiApp`; its lifespan starts the cloud and its `cloud`
answers the requests. `CLOUDLET_HTTP=asgi` serves through uvicorn's own
protocol and `AsgiApp` instead (as any ASGI server would).

Per connection: requests are parsed as bytes arrive; a request is answered
once its whole body is in (as AsgiApp does: bytes, or a `SpooledBody` file
past SPOOL_BYTES, written as it arrives); pipelined requests wait in order
(reading pauses while one waits); `Expect: 100-continue` is answered when
the request is next in line; keep-alive per HTTP/1.1 (and HTTP/1.0 with
`Connection: keep-alive`); a malformed request gets 400 and the connection
closes; an idle connection closes after `timeout_keep_alive`.
"""

from __future__ import annotations

import asyncio
import http
import logging
import os
import re
import types
from collections import deque

import httptools

from cloudlet.app import SMALL_STREAM, SPOOL_BYTES, respond
from cloudlet.protocol.http import HttpRequest, HttpResponse, SpooledBody, StreamBody

log = logging.getLogger("cloudlet")


def _status_line(code: int) -> str:
    try:
        phrase = http.HTTPStatus(code).phrase
    except ValueError:
        phrase = ""
    return f"HTTP/1.1 {code} {phrase}\r\n"


STATUS_LINES = {code: _status_line(code) for code in range(100, 600)}
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# Control characters other than tab, CR and LF (those are counted): not
# allowed in a header (uvicorn refused them too).
_BAD_HEADER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Bodies up to this size are appended to the head for one write.
_JOIN_BODY = 64 * 1024

_defaults = (None, "")


def _default_headers(server_state) -> str:
    """uvicorn's default headers (`date`, refreshed each second by its main
    loop; `server` is off), as the text of header lines."""
    global _defaults
    current = server_state.default_headers
    if _defaults[0] is not current:
        text = "".join(f"{k.decode('latin-1')}: {v.decode('latin-1')}\r\n" for k, v in current)
        _defaults = (current, text)
    return _defaults[1]


def _find_cloud(config):
    app = config.app if not isinstance(config.app, str) else config.loaded_app
    while app is not None and not hasattr(app, "cloud"):
        app = getattr(app, "app", None)
    if app is None:
        raise RuntimeError("cloudlet.httpserver.HttpProtocol serves only cloudlet's AsgiApp")
    return app.cloud


@types.coroutine
def _resume(coro, awaiting):
    """Drive `coro`, already started and suspended on `awaiting` (what it
    yielded: a future, or None for a bare yield), inside the task that
    awaits this: hand `awaiting` to the task, then delegate."""
    try:
        yield awaiting
    except BaseException as exc:  # the task was cancelled while waiting
        try:
            awaiting = coro.throw(exc)
        except StopIteration as stop:
            return stop.value
        return (yield from _resume(coro, awaiting))
    return (yield from coro)


async def _go_on(coro, awaiting):
    return await _resume(coro, awaiting)


class _Pending:
    """A request whose answer is still to be written."""

    __slots__ = ("request", "keep_alive", "http10", "head")

    def __init__(self, request: HttpRequest, keep_alive: bool, http10: bool, head: bool):
        self.request = request
        self.keep_alive = keep_alive
        self.http10 = http10
        self.head = head


class HttpProtocol(asyncio.Protocol):
    def __init__(self, config, server_state, app_state=None, _loop=None):
        if not config.loaded:
            config.load()
        self.cloud = _find_cloud(config)
        self.loop = _loop or asyncio.get_event_loop()
        self.server_state = server_state
        self.connections = server_state.connections
        self.tasks = server_state.tasks
        self.timeout_keep_alive = config.timeout_keep_alive
        self.parser = httptools.HttpRequestParser(self)
        try:
            # Parse (and ignore) what follows a `Connection: close` request.
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        except AttributeError:  # pragma: no cover - httptools < 0.6.3
            pass
        self.transport = None
        self.client = "127.0.0.1"
        self.queue: deque[_Pending] = deque()
        self.busy = False  # a task is answering (the queue's head is out)
        self.lost = False
        self.closing = False  # answer what is under way, then close
        self.bad = False  # malformed input: 400 once the answers before it are out
        self.no_more = False  # a request asked to close: read no further
        self.read_paused = False
        self.write_paused = False
        self.drain_waiter: asyncio.Future | None = None
        self.idle_timer = None
        self.idle = False  # waiting for a request, since idle_since
        self.idle_since = 0.0
        # The request being parsed.
        self.url = b""
        self.headers: list = []
        self.expect = False
        self.continue_due = False
        self.chunks: list = []
        self.size = 0
        self.spool = None
        self.spool_path = None
        self.keep_alive = True
        self.http10 = False
        self.method = "GET"

    # -- transport events -------------------------------------------------

    def connection_made(self, transport) -> None:
        self.connections.add(self)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and peer:
            self.client = peer[0]
        self._arm_idle()

    def connection_lost(self, exc) -> None:
        self.connections.discard(self)
        self.lost = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None
        self._drop_spool()
        while self.queue:
            body = self.queue.popleft().request.body
            if isinstance(body, SpooledBody):
                body.discard()
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self):
        """The client is done sending: answer what it sent, then close."""
        self.no_more = True
        if self.busy:
            return True  # keep the transport open for the answers under way
        return None

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiter = self.drain_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.idle = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade / CONNECT request: cloudlet speaks only HTTP/1.1.
            # What was complete is answered; then the connection closes.
            self.no_more = True
            self._pause_reading()
            if not self.busy:
                self.transport.close()
        except httptools.HttpParserError as exc:
            cause = exc.__context__
            if isinstance(exc, httptools.HttpParserCallbackError) and cause is not None \
                    and not isinstance(cause, httptools.HttpParserError):
                log.error("reading a request failed", exc_info=cause)
            self._drop_spool()
            self.bad = True
            self.no_more = True
            self._pause_reading()
            if not self.busy:
                self._send_400()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close once the answer under way is out."""
        if self.busy:
            self.closing = True
        elif self.transport is not None:
            self.transport.close()

    # -- parser callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.expect = False
        self.chunks = []
        self.size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        self.method = parser.get_method().decode("latin-1")
        self.keep_alive = parser.should_keep_alive()
        self.http10 = parser.get_http_version() == "1.0"
        if self.expect and not self.no_more:
            if self.busy or self.queue:
                self.continue_due = True  # sent when this request is next in line
            else:
                self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self.spool is not None:
            self.spool.write(body)
        elif self.size + len(body) > SPOOL_BYTES:
            self.spool_path, self.spool = self.cloud.blobs.spool_file()
            self.spool.writelines(self.chunks)
            self.spool.write(body)
            self.chunks = []
        else:
            self.chunks.append(body)
        self.size += len(body)

    def on_message_complete(self) -> None:
        self.continue_due = False
        if self.no_more:
            self._drop_spool()
            return
        if self.spool is not None:
            self.spool.close()
            body = SpooledBody(self.spool_path, self.size)
            self.spool = self.spool_path = None
        else:
            chunks = self.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        url = self.url
        if url[:1] == b"/" and b"#" not in url:
            path, _, query = url.partition(b"?")
        else:
            parsed = httptools.parse_url(url)
            path, query = parsed.path or b"", parsed.query or b""
        request = HttpRequest(self.method, path.decode("latin-1"), query.decode("latin-1"), None, body,
                              self.client, raw_headers=self.headers)
        pending = _Pending(request, self.keep_alive, self.http10, self.method == "HEAD")
        if not self.keep_alive:
            self.no_more = True
        if self.busy:
            self.queue.append(pending)
            self._pause_reading()
        else:
            self._start(pending)

    def _start(self, pending: _Pending) -> None:
        """Answer at once, up to the first await that suspends; only then
        is a task made to go on (most reads never suspend: no task, no
        wait for the next loop iteration)."""
        self.busy = True
        coro = self._run(pending)
        try:
            awaiting = coro.send(None)
        except StopIteration:
            return
        except BaseException:  # pragma: no cover - _run catches what answering raises
            log.exception("answering a request failed")
            self.busy = False
            self.transport.close()
            return
        task = self.loop.create_task(_go_on(coro, awaiting))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- answering --------------------------------------------------------

    async def _run(self, pending: _Pending) -> None:
        """Answer `pending`, then the requests queued behind it, in order."""
        try:
            while True:
                await self._answer(pending)
                self.server_state.total_requests += 1
                if self.lost or self.transport.is_closing() or not self.queue:
                    break
                pending = self.queue.popleft()
        except Exception:
            log.exception("writing an answer failed")
            self.transport.close()
        finally:
            self.busy = False
        if self.lost or self.transport.is_closing():
            return
        if self.bad:
            self._send_400()
        elif self.closing or self.no_more:
            self.transport.close()
        else:
            self._resume_reading()
            if self.continue_due:
                self.continue_due = False
                self.transport.write(CONTINUE)
            self._arm_idle()

    async def _answer(self, pending: _Pending) -> None:
        request = pending.request
        body = request.body
        try:
            response = await respond(self.cloud, request)
        except Exception:
            log.exception("answering %s %s failed", request.method, request.raw_path)
            response = HttpResponse(500, [("content-type", "text/plain; charset=utf-8"), ("connection", "close")],
                                    b"Internal Server Error")
        finally:
            if isinstance(body, SpooledBody):
                body.discard()
        payload = response.body
        if self.lost:
            if isinstance(payload, StreamBody):
                payload.close()
            return
        keep_alive = pending.keep_alive and not self.closing
        if isinstance(payload, StreamBody) and payload.length <= SMALL_STREAM:
            # A small object in one write.
            try:
                payload = b"".join(payload.chunks) if not pending.head else b""
            finally:
                response.body.close()
        status = response.status
        lines = []
        has_length = False
        for k, v in response.headers:
            k = k.lower()
            if k == "content-length":
                has_length = True
            elif k == "connection" and "close" in v.lower():
                keep_alive = False
                continue
            lines.append(f"{k}: {v}\r\n")
        if not has_length and status != 204 and status != 304:
            lines.append(f"content-length: {len(payload)}\r\n")
        headers = "".join(lines)
        n = len(lines)
        if headers.count("\n") != n or headers.count("\r") != n or _BAD_HEADER.search(headers):
            # A value with a line break would split the response.
            log.error("a response header holds a line break or control character: %r", response.headers)
            if isinstance(payload, StreamBody):
                payload.close()
            self.transport.write(STATUS_LINES[500].encode() + b"content-type: text/plain; charset=utf-8\r\n"
                                 b"content-length: 21\r\nconnection: close\r\n\r\nInternal Server Error")
            self.transport.close()
            return
        if not keep_alive:
            tail = "connection: close\r\n\r\n"
        elif pending.http10:
            tail = "connection: keep-alive\r\n\r\n"
        else:
            tail = "\r\n"
        text = (STATUS_LINES.get(status) or _status_line(status)) + _default_headers(self.server_state) + headers + tail
        head = text.encode("latin-1", "replace")
        transport = self.transport
        if not isinstance(payload, StreamBody):
            if pending.head or status == 204 or status == 304 or not payload:
                transport.write(head)
            elif len(payload) <= _JOIN_BODY:
                transport.write(head + payload)
            else:
                transport.write(head)
                transport.write(payload)
        else:
            try:
                transport.write(head)
                if not pending.head:
                    for chunk in payload.chunks:
                        if self.lost:
                            break
                        transport.write(chunk if type(chunk) is bytes else bytes(chunk))
                        if self.write_paused:
                            await self._drain()
            except Exception:
                # The status line is gone: all that is left is to cut the
                # connection short, which the client sees as a short body.
                log.exception("streaming a response body failed")
                transport.close()
                return
            finally:
                payload.close()
        if not keep_alive:
            self.no_more = True
            transport.close()

    async def _drain(self) -> None:
        if self.lost or not self.write_paused:
            return
        waiter = self.drain_waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self.drain_waiter = None

    # -- helpers ----------------------------------------------------------

    def _send_400(self) -> None:
        msg = b"Invalid HTTP request received."
        head = (STATUS_LINES[400] + _default_headers(self.server_state) + "content-type: text/plain; charset=utf-8\r\n"
                f"content-length: {len(msg)}\r\nconnection: close\r\n\r\n")
        self.transport.write(head.encode("latin-1") + msg)
        self.transport.close()

    def _drop_spool(self) -> None:
        spool, path = self.spool, self.spool_path
        self.spool = self.spool_path = None
        if spool is not None:
            spool.close()
            try:
                os.remove(path)
            except FileNotFoundError:
                pass

    def _pause_reading(self) -> None:
        if not self.read_paused and not self.lost:
            self.read_paused = True
            self.transport.pause_reading()

    def _resume_reading(self) -> None:
        if self.read_paused and not self.lost:
            self.read_paused = False
            self.transport.resume_reading()

    def _arm_idle(self) -> None:
        """The connection waits for a request from now on. One timer per
        connection, re-armed only when it fires early (no timer per request)."""
        self.idle = True
        self.idle_since = self.loop.time()
        if self.idle_timer is None and self.timeout_keep_alive:
            self.idle_timer = self.loop.call_later(self.timeout_keep_alive, self._idle)

    def _idle(self) -> None:
        self.idle_timer = None
        if not self.idle or self.busy or self.transport.is_closing():
            return  # re-armed once the connection is idle again
        left = self.idle_since + self.timeout_keep_alive - self.loop.time()
        if left > 0.001:
            self.idle_timer = self.loop.call_later(left, self._idle)
        else:
            self.transport.close()


def http_protocol(settings) -> type[asyncio.Protocol] | str:
    """What to give uvicorn.Config(http=...): this module's protocol, or
    uvicorn's own ("httptools") with CLOUDLET_HTTP=asgi."""
    mode = getattr(settings, "http", "native")
    if mode == "asgi":
        return "httptools"
    if mode != "native":
        raise ValueError(f"CLOUDLET_HTTP must be 'native' or 'asgi', not {mode!r}")
    return HttpProtocol
