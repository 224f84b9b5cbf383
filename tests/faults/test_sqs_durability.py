"""SQS under SIGKILL: clients send and consume while the server is killed
outright; after a restart on the same data, every acknowledged send is still
in the queue or was deleted with an acknowledged delete, and no message whose
delete was acknowledged comes back."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOAD_SECONDS = 1.5
# One attempt per call: a retried send could store a message twice, and a
# client must learn of the kill at once. (botocore's `max_attempts` counts
# retries, so `max_attempts: 1` would still allow one.)
NO_RETRIES = Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(data_dir: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "cloudlet", "serve", "--port", str(port),
                             "--data-dir", data_dir, "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_cloudlet/health", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"cloudlet exited with {proc.returncode}")
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("cloudlet did not start")


def sqs_client(port: int):
    return boto3.client("sqs", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=NO_RETRIES)


class Ledger:
    """What the clients did, as they saw it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempted: set[str] = set()          # bodies of every send issued
        self.sent: dict[str, str] = {}            # acknowledged: body -> MessageId
        self.delete_attempted: set[str] = set()   # bodies whose delete was issued
        self.deleted: set[str] = set()            # bodies whose delete was acknowledged
        self.delete_failures: list = []           # Failed entries of acknowledged batch deletes
        self.unexpected: list[str] = []           # errors before the kill


def sender(client, url: str, tag: str, batch: bool, ledger: Ledger, stop: threading.Event,
           killed: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        bodies = [f"{tag}-{n + i}" for i in range(10 if batch else 1)]
        n += len(bodies)
        with ledger.lock:
            ledger.attempted.update(bodies)
        try:
            if batch:
                out = client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b}
                                                                       for i, b in enumerate(bodies)])
                acked = {bodies[int(e["Id"])]: e["MessageId"] for e in out.get("Successful", [])}
                if out.get("Failed"):
                    with ledger.lock:
                        ledger.unexpected.append(f"send batch failures: {out['Failed']}")
            else:
                out = client.send_message(QueueUrl=url, MessageBody=bodies[0])
                acked = {bodies[0]: out["MessageId"]}
        except (BotoCoreError, ClientError) as exc:  # the kill: connection refused / reset
            if not killed.is_set():
                with ledger.lock:
                    ledger.unexpected.append(f"{tag}: {exc!r}")
            return
        with ledger.lock:
            ledger.sent.update(acked)


def consumer(client, url: str, batch_delete: bool, ledger: Ledger, stop: threading.Event,
             killed: threading.Event) -> None:
    while not stop.is_set():
        try:
            messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        except (BotoCoreError, ClientError) as exc:
            if not killed.is_set():
                with ledger.lock:
                    ledger.unexpected.append(f"receive: {exc!r}")
            return
        if not messages:
            continue
        by_id = {str(i): m["Body"] for i, m in enumerate(messages)}
        with ledger.lock:
            ledger.delete_attempted.update(by_id.values())
        try:
            if batch_delete:
                out = client.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
                with ledger.lock:
                    ledger.deleted.update(by_id[e["Id"]] for e in out.get("Successful", []))
                    ledger.delete_failures += out.get("Failed", [])
            else:
                for i, m in enumerate(messages):
                    client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                    with ledger.lock:
                        ledger.deleted.add(by_id[str(i)])
        except (BotoCoreError, ClientError) as exc:
            if not killed.is_set():
                with ledger.lock:
                    ledger.unexpected.append(f"delete: {exc!r}")
            return


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_acknowledged_sends_and_deletes_survive_sigkill(tmp_path):
    port = free_port()
    proc = start(str(tmp_path), port)
    try:
        setup = sqs_client(port)
        url = setup.create_queue(QueueName="durable")["QueueUrl"]
        # Something is waiting before the consumers start.
        setup.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"seed-{i}"}
                                                        for i in range(10)])
        ledger = Ledger()
        ledger.attempted.update(f"seed-{i}" for i in range(10))
        ledger.sent.update({f"seed-{i}": "" for i in range(10)})
        stop, killed = threading.Event(), threading.Event()
        threads = [threading.Thread(target=sender, args=(sqs_client(port), url, f"single{k}", False, ledger,
                                                         stop, killed)) for k in range(2)]
        threads += [threading.Thread(target=sender, args=(sqs_client(port), url, f"batch{k}", True, ledger,
                                                          stop, killed)) for k in range(2)]
        threads += [threading.Thread(target=consumer, args=(sqs_client(port), url, k != 2, ledger, stop, killed))
                    for k in range(3)]
        for t in threads:
            t.start()
        time.sleep(LOAD_SECONDS)
        # Mid-load: every thread is between a request and its answer or about to send.
        killed.set()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        stop.set()
        for t in threads:
            t.join(15)
        assert not any(t.is_alive() for t in threads)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)

    assert ledger.unexpected == []
    assert ledger.delete_failures == []
    # The load did something worth checking.
    assert len(ledger.sent) > 100 and len(ledger.deleted) > 50, (len(ledger.sent), len(ledger.deleted))

    proc = start(str(tmp_path), port)
    try:
        # Messages in flight at the kill are invisible for 30 s: move the
        # (now virtual, standing) clock past that instead of waiting.
        req = urllib.request.Request(f"http://127.0.0.1:{port}/_cloudlet/clock", method="POST",
                                     data=json.dumps({"advance": 120}).encode())
        urllib.request.urlopen(req, timeout=10).read()
        client = sqs_client(port)
        drained: dict[str, list[str]] = {}
        while True:
            messages = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                break
            for m in messages:
                drained.setdefault(m["Body"], []).append(m["MessageId"])
            out = client.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            assert out.get("Failed", []) == []
        attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)

    print(f"sends attempted {len(ledger.attempted)}, acknowledged {len(ledger.sent)}; deletes attempted "
          f"{len(ledger.delete_attempted)}, acknowledged {len(ledger.deleted)}; left after restart {len(drained)} "
          f"(of them sent unacknowledged {len(set(drained) - set(ledger.sent))}, delete unacknowledged "
          f"{len(set(drained) & ledger.delete_attempted)})")
    # The clock stands still, so each message was received once.
    assert {body: ids for body, ids in drained.items() if len(ids) > 1} == {}
    # Nothing that was never sent.
    assert set(drained) - ledger.attempted == set()
    # No acknowledged send lost: still there, or deleted (or a delete was in
    # flight at the kill, which may have been applied).
    lost = set(ledger.sent) - set(drained) - ledger.deleted - ledger.delete_attempted
    assert lost == set()
    # No acknowledged delete undone.
    assert set(drained) & ledger.deleted == set()
    # A message that survived is the one the send acknowledged.
    changed = {b: (ledger.sent[b], ids[0]) for b, ids in drained.items()
               if ledger.sent.get(b) and ledger.sent[b] != ids[0]}
    assert changed == {}
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
