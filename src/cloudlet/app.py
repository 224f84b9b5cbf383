"""Builds one cloud (storage, clock, models, services, scheduler), the
function that answers one request (`respond`), and the ASGI application
that serves it (cloudlet's own server, httpserver.py, calls `respond`
directly)."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from urllib.parse import quote

from cloudlet.clock import Clock
from cloudlet.config import Settings
from cloudlet.gateway.admin import Admin
from cloudlet.gateway.auth import Authenticator
from cloudlet.gateway.authorize import Authorizer
from cloudlet.gateway.identity import IssuedKeys
from cloudlet.gateway.dispatch import Gateway
from cloudlet.protocol.catalog import Catalog
from cloudlet.protocol.http import HttpRequest, SpooledBody, StreamBody
from cloudlet.protocol.model import ModelRegistry
from cloudlet.scheduler import Scheduler
from cloudlet.services import load_service_class
from cloudlet.services.base import Service
from cloudlet.storage import BlobStore, Storage

log = logging.getLogger("cloudlet")

_CLOCK_KEY = "clock.virtual"
# Request bodies larger than this are written to a file as they arrive.
SPOOL_BYTES = 1 << 20
# Streamed response bodies up to this size are sent in one message.
SMALL_STREAM = 256 * 1024


class Cloudlet:
    """One cloud. Everything it remembers is in `storage` and `blobs`."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # Requests being handled (started, not yet answered); see alone().
        self.in_flight = 0
        if settings.ephemeral:
            import tempfile

            self.data_dir = tempfile.mkdtemp(prefix="cloudlet-")
        else:
            self.data_dir = os.path.abspath(settings.data_dir)
            os.makedirs(self.data_dir, exist_ok=True)
        self.storage = Storage(os.path.join(self.data_dir, "cloudlet.db"), synchronous=settings.sync)
        self.blobs = BlobStore(os.path.join(self.data_dir, "blobs"), fsync=settings.sync == "FULL")
        saved = self.storage.get_meta(_CLOCK_KEY)
        if saved is not None:
            self.clock = Clock(float(saved))
        elif settings.virtual_clock:
            self.clock = Clock(Clock.wall())
            self.storage.set_meta(_CLOCK_KEY, repr(self.clock.now()))
        else:
            self.clock = Clock()
        self.models = ModelRegistry()
        self.catalog = Catalog(self.models)
        self.auth = Authenticator(settings.account_id, strict=settings.strict_auth, clock=self.clock)
        self.auth.issued = IssuedKeys(self)
        self.authorizer = Authorizer(self, settings.iam_mode)
        self.scheduler = Scheduler(self.clock, self.storage)
        self.gateway = Gateway(self)
        self.admin = Admin(self)
        self._services: dict[str, Service] = {}
        # Where services send their AWS/* metrics:
        # fn(account, region, namespace, name, dimensions, value, unit),
        # buffered per minute and written to CloudWatch's tables by a job.
        from cloudlet.services.cloudwatch.sink import MetricsSink

        self.metrics = MetricsSink(self)
        # EventBridge sets this when it starts (the recorder's CloudTrail events).
        self.eventbridge_sink = None

    def alone(self) -> bool:
        """Whether the request being handled is the only one, and no
        concurrency was seen lately: work that could go to another thread
        (to leave the loop to other requests) is then cheaper done here."""
        return self.in_flight <= 1 and not self.storage.grouping

    # -- services -------------------------------------------------------

    def running_service(self, name: str) -> Service | None:
        """A provider already started (None if it is not: a hook that has
        nothing to do for a service nobody has used calls this)."""
        return self._services.get(name)

    def service(self, name: str) -> Service | None:
        """The provider of a service, started on first use; None if cloudlet
        does not implement it."""
        svc = self._services.get(name)
        if svc is None:
            cls = load_service_class(name)
            if cls is None:
                return None
            if cls.model_patch:
                self.models.add_patch(cls.model_name, cls.model_patch)
            svc = cls(self)
            self.storage.migrate(name, cls.migrations)
            self._services[name] = svc
            svc.start()
        return svc

    def note_key_used(self, key: str, signing_name: str, region: str) -> None:
        """Last-used data of an IAM access key (written at most once a minute)."""
        self.service("iam").note_key_used(key, signing_name, region)

    def running_services(self) -> list[str]:
        return sorted(self._services)

    async def settle(self) -> None:
        """Wait for work services have under way in the background (SNS
        HTTP deliveries), so an admin clock move answers with its effects."""
        for svc in list(self._services.values()):
            settle = getattr(svc, "settle", None)
            if settle is not None:
                await settle()

    def resume_services(self) -> None:
        """Start the services with background work left in storage (HTTP/S
        deliveries to retry), so a restart resumes it without waiting for
        the service's next request."""
        from cloudlet.services import RESUMABLE

        for name in RESUMABLE:
            if self.storage.scalar("SELECT version FROM _schema WHERE namespace = ?", (name,)):
                self.service(name)

    def reset(self, service: str | None = None) -> None:
        if service in (None, "cloudtrail"):
            self.gateway.recorder.discard()
        if service in (None, "cloudwatch"):
            self.metrics.reset()
        if service is None:
            self.storage.reset()
            self.blobs.clear()
            for svc in self._services.values():
                svc.reset()
            self.set_clock(None)
        else:
            self.storage.reset(service)
            svc = self._services.get(service)
            if svc is not None:
                svc.reset()

    # -- clock ----------------------------------------------------------

    def set_clock(self, epoch: float | None) -> None:
        """Move the virtual clock to `epoch`, or back to real time (None)."""
        if epoch is None:
            if self.clock.virtual:
                self.clock.use_real_time()
            self.storage.set_meta(_CLOCK_KEY, None)
        else:
            self.clock.set(epoch)
            self.storage.set_meta(_CLOCK_KEY, repr(epoch))

    # -- lifecycle ------------------------------------------------------

    async def startup(self) -> None:
        # Reading every model's routing facts takes most of a second the
        # first time; do it off the loop so the first request is not late.
        threading.Thread(target=self.catalog.warm, name="cloudlet-catalog", daemon=True).start()
        self.scheduler.start()
        self.metrics.start()
        asyncio.get_running_loop().call_soon(self.resume_services)

    async def shutdown(self) -> None:
        await self.scheduler.stop()
        await self.settle()
        self.gateway.recorder.write_batch()
        self.metrics.flush()
        for svc in list(self._services.values()):
            try:
                svc.stop()  # write what a service keeps only in memory
            except Exception:
                log.exception("stopping %s failed", svc.model_name)
        await self.storage.flush()
        self.storage.close()
        if self.settings.ephemeral:
            import shutil

            shutil.rmtree(self.data_dir, ignore_errors=True)


class AsgiApp:
    """The ASGI callable: admin paths to the admin API, the rest to the
    gateway."""

    def __init__(self, cloud: Cloudlet):
        self.cloud = cloud
        self._started = False

    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:  # pragma: no cover - reported to the server
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def startup(self) -> None:
        if not self._started:
            self._started = True
            await self.cloud.startup()

    async def shutdown(self) -> None:
        if self._started:
            self._started = False
            await self.cloud.shutdown()

    async def _http(self, scope, receive, send):
        body = await self._read_body(scope, receive)
        if body is None:
            return  # the client went away
        try:
            response = await self._respond(scope, body)
        finally:
            if isinstance(body, SpooledBody):
                body.discard()
        out_headers = []
        has_length = False
        for k, v in response.headers:
            if k.lower() == "content-length":
                has_length = True
            out_headers.append((k.encode("latin-1"), v.encode("latin-1", "replace")))
        payload = response.body
        if isinstance(payload, StreamBody) and payload.length <= SMALL_STREAM:
            # A small object in one send: each ASGI message costs more than
            # joining its pieces.
            try:
                payload = b"".join(payload.chunks) if scope["method"] != "HEAD" else b""
            finally:
                response.body.close()
        if not has_length and response.status not in (204, 304):
            out_headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": response.status, "headers": out_headers})
        if not isinstance(payload, StreamBody):
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else payload})
            return
        try:
            if scope["method"] != "HEAD":
                for chunk in payload.chunks:
                    await send({"type": "http.response.body", "body": bytes(chunk), "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        except Exception:
            # The status line is gone: all that is left is to cut the
            # connection short, which the client sees as a short body.
            log.exception("streaming a response body failed")
            raise
        finally:
            payload.close()

    async def _read_body(self, scope, receive):
        """The request body: bytes, or a SpooledBody once it outgrows
        SPOOL_BYTES (an S3 upload never sits in memory). None if the
        client disconnected."""
        chunks: list = []
        size = 0
        spool = None
        path = None
        more = True
        try:
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    if spool is not None:
                        spool.close()
                        os.remove(path)
                    return None
                chunk = message.get("body", b"")
                if chunk:
                    if spool is None and size + len(chunk) > SPOOL_BYTES:
                        path, spool = self.cloud.blobs.spool_file()
                        spool.writelines(chunks)
                        chunks = []
                    if spool is not None:
                        spool.write(chunk)
                    else:
                        chunks.append(chunk)
                    size += len(chunk)
                more = message.get("more_body", False)
        except BaseException:
            if spool is not None:
                spool.close()
                os.remove(path)
            raise
        if spool is not None:
            spool.close()
            return SpooledBody(path, size)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _respond(self, scope, body):
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope.get("path", "/"))
        path = path.split("?", 1)[0]
        client = scope.get("client")
        request = HttpRequest(scope["method"], path, scope.get("query_string", b"").decode("latin-1"),
                              None, body, client[0] if client else "127.0.0.1", raw_headers=scope["headers"])
        return await respond(self.cloud, request)


async def respond(cloud: Cloudlet, request: HttpRequest):
    """The answer to one request, whichever server read it (AsgiApp, or
    httpserver.HttpProtocol): admin paths to the admin API, the rest to the
    gateway; returned only once what the request wrote is committed."""
    if request.raw_path.startswith("/_cloudlet/"):
        if isinstance(request.body, SpooledBody):
            request.body = request.body.read()
        response = await cloud.admin.handle(request)
    else:
        cloud.in_flight += 1
        try:
            response = await cloud.gateway.handle(request)
        finally:
            cloud.in_flight -= 1
    storage = cloud.storage
    if storage.pending and response.wait_for_commit:
        # Answer only once what this request wrote is committed.
        try:
            await storage.flush()
        except Exception:
            log.exception("commit failed")
            response = cloud.gateway.commit_failed(request)
    return response


def create_app(settings: Settings | None = None) -> AsgiApp:
    return AsgiApp(Cloudlet(settings or Settings()))
