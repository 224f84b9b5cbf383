"""Kill the server process outright and start it again on the same data:
what it acknowledged is still there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import json

import boto3
import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data_dir: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "cloudlet", "serve", "--port", str(port),
                             "--data-dir", data_dir, "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cloudlet/health", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode())
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("cloudlet did not start")


def admin(port: int, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_virtual_clock_survives_sigkill(tmp_path):
    port = free_port()
    proc = start(str(tmp_path), port)
    try:
        admin(port, "POST", "/_cloudlet/clock", {"set": "2032-05-06T07:08:09Z"})
        admin(port, "POST", "/_cloudlet/clock", {"advance": 1.5})
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc = start(str(tmp_path), port)
    try:
        state = admin(port, "GET", "/_cloudlet/clock")
        assert state == {"now": "2032-05-06T07:08:10.500Z", "epoch": 1967440090.5, "virtual": True}
        sts = boto3.client("sts", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        assert sts.get_caller_identity()["Account"] == "000000000000"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)


def test_ephemeral_leaves_nothing_behind(tmp_path):
    port = free_port()
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "cloudlet", "serve", "--port", str(port), "--ephemeral",
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = admin(port, "GET", "/_cloudlet/health")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert health["storage"]["ephemeral"] is True
        assert health["storage"]["path"].startswith(str(tmp_path))
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert [p for p in tmp_path.iterdir() if p.name.startswith("cloudlet-")] == []
