"""Run cloudlet inside the current process, on a free port, for tests.

    server = CloudletServer().start()
    sqs = server.client("sqs")
    server.clock.advance(60)
    server.reset()
    server.stop()

The server runs its own event loop on a background thread; clients talk to
it over real HTTP, exactly as they would to `cloudlet serve`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import tempfile
import threading
import urllib.request

from cloudlet.config import Settings

DEFAULT_REGION = "us-east-1"


class ClockControl:
    """The server's clock, seen from a test."""

    def __init__(self, server: "CloudletServer"):
        self._server = server

    def now(self) -> float:
        return self._server.admin("GET", "/_cloudlet/clock")["epoch"]

    def advance(self, seconds: float) -> dict:
        """Move the (virtual) clock forward; jobs that fall due run before
        this returns."""
        return self._server.admin("POST", "/_cloudlet/clock", {"advance": seconds})

    def set(self, when) -> dict:
        """Set the clock to an ISO 8601 time or epoch seconds."""
        return self._server.admin("POST", "/_cloudlet/clock", {"set": when})

    def freeze(self) -> dict:
        """Stop the clock at the current time."""
        return self.advance(0)

    def real(self) -> dict:
        return self._server.admin("POST", "/_cloudlet/clock", {"real": True})


class CloudletServer:
    def __init__(self, data_dir: str | None = None, *, virtual_clock: bool = False,
                 host: str = "127.0.0.1", port: int = 0, log_level: str = "warning", **settings):
        self._tmp = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="cloudlet-test-")
            data_dir = self._tmp.name
        self.settings = Settings(host=host, port=port, data_dir=data_dir, log_level=log_level,
                                 virtual_clock=virtual_clock, **settings)
        self.clock = ClockControl(self)
        self._thread: threading.Thread | None = None
        self._server = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.app = None
        self.port = port

    @property
    def endpoint(self) -> str:
        return f"http://{self.settings.host}:{self.port}"

    @property
    def cloud(self):
        """The Cloudlet object (for white-box tests of its parts)."""
        return self.app.cloud

    def start(self) -> "CloudletServer":
        import uvicorn

        from cloudlet.app import create_app
        from cloudlet.httpserver import http_protocol

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.port))
        self.port = sock.getsockname()[1]
        self.settings.port = self.port
        self.app = create_app(self.settings)
        config = uvicorn.Config(self.app, log_level=self.settings.log_level, access_log=False,
                                lifespan="on", server_header=False, proxy_headers=False, loop="asyncio",
                                http=http_protocol(self.settings))
        self._server = uvicorn.Server(config)
        ready = threading.Event()
        failed: list[BaseException] = []

        def run():
            try:
                import uvloop

                loop = uvloop.new_event_loop()
            except ImportError:  # pragma: no cover
                loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)

            async def serve():
                task = loop.create_task(self._server.serve(sockets=[sock]))
                while not self._server.started and not task.done():
                    await asyncio.sleep(0.005)
                ready.set()
                await task

            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # pragma: no cover - surfaced to start()
                failed.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="cloudlet-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failed or not self._server.started:
            raise RuntimeError(f"cloudlet did not start: {failed[0] if failed else 'timeout'}")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> "CloudletServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- helpers --------------------------------------------------------

    def admin(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.endpoint + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"{}")

    def reset(self, service: str | None = None) -> dict:
        return self.admin("POST", "/_cloudlet/reset" + (f"?service={service}" if service else ""))

    def health(self) -> dict:
        return self.admin("GET", "/_cloudlet/health")

    def client(self, service: str, region: str = DEFAULT_REGION, *, access_key: str = "test",
               secret_key: str = "test", session_token: str | None = None, **config):
        """A boto3 client pointed at this server."""
        import boto3
        from botocore.config import Config

        cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, **config)
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                            aws_session_token=session_token, config=cfg)
