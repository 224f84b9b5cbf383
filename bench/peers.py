"""Start cloudlet and its peers (ministack, moto from PyPI) for a benchmark.

The peers are installed once into a virtualenv in the temp directory
(`$TMPDIR/cloudlet-bench-peers`), never into the project's environment.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

PEERS_VENV = os.path.join(tempfile.gettempdir(), "cloudlet-bench-peers")
PEER_PACKAGES = ["ministack", "moto[server]"]


def ensure_peers() -> str:
    python = os.path.join(PEERS_VENV, "bin", "python")
    if not os.path.exists(os.path.join(PEERS_VENV, ".ready")):
        subprocess.run([sys.executable, "-m", "venv", PEERS_VENV], check=True)
        subprocess.run([python, "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
        open(os.path.join(PEERS_VENV, ".ready"), "w").close()
    return python


def peer_versions() -> dict[str, str]:
    python = ensure_peers()
    out = {}
    for name in ("ministack", "moto"):
        proc = subprocess.run([python, "-m", "pip", "show", name], capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            if line.startswith("Version:"):
                out[name] = line.split(":", 1)[1].strip()
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    port: int
    proc: subprocess.Popen | None = None
    stdin: bytes | None = None  # written to the server's stdin at start

    def start(self) -> "Server":
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     stdin=subprocess.PIPE if self.stdin is not None else None)
        if self.stdin is not None:
            self.proc.stdin.write(self.stdin)
            self.proc.stdin.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(10)
        self.proc = None


def server(name: str, port: int | None = None, tmpdir: str | None = None) -> Server:
    port = port or free_port()
    env = dict(os.environ)
    if name == "cloudlet":
        cmd = [sys.executable, "-m", "cloudlet", "serve", "--port", str(port), "--log-level", "warning"]
        cmd += ["--data-dir", tmpdir] if tmpdir else ["--ephemeral"]
        return Server(name, cmd, env, port)
    python = ensure_peers()
    if name == "ministack":
        env.update(GATEWAY_PORT=str(port), BIND_HOST="127.0.0.1", LOG_LEVEL="ERROR")
        return Server(name, [python, "-m", "ministack"], env, port)
    if name == "moto":
        return Server(name, [os.path.join(PEERS_VENV, "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                      env, port)
    raise ValueError(name)


def null_server(body: bytes, port: int | None = None) -> Server:
    """bench/nullserver.py: answers every request with 200 and `body`,
    doing no work (the floor of a benchmark at one connection)."""
    port = port or free_port()
    here = os.path.dirname(os.path.abspath(__file__))
    return Server("null", [sys.executable, os.path.join(here, "nullserver.py"), str(port)], dict(os.environ),
                  port, stdin=body)


def wait_listening(port: int, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"nothing listening on port {port} within {timeout}s") from None
            time.sleep(0.01)


def sts_request(port: int) -> bytes:
    """A signed STS GetCallerIdentity request, as raw HTTP/1.1 bytes."""
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    req = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                     headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(Credentials("test", "test"), "sts", "us-east-1").add_auth(req)
    lines = ["POST / HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def wait_ready(port: int, request: bytes, timeout: float = 60.0, poll: float = 0.002) -> float:
    """Seconds until `request` gets a 200 answer."""
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(request)
                data = s.recv(65536)
                if data.startswith(b"HTTP/1.1 200"):
                    return time.perf_counter() - start
        except OSError:
            pass
        time.sleep(poll)
    raise TimeoutError(f"no 200 on port {port} within {timeout}s")
