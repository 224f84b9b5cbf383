"""Helpers shared by the SNS tests: queues SNS may deliver to, a local
HTTP endpoint that records what SNS POSTs, and the outbox."""

from __future__ import annotations

import json
import queue
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ACCOUNT = "000000000000"


def queue_for_topic(sqs, name: str, topic_arn: str | None, *, fifo: bool = False, allow: bool = True,
                    attributes: dict | None = None) -> tuple[str, str]:
    """(url, arn) of a new queue whose policy lets `topic_arn` deliver (as
    the SNS guide's policy does) unless allow=False."""
    attrs = dict(attributes or {})
    if fifo:
        attrs["FifoQueue"] = "true"
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    if allow and topic_arn:
        policy = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}}]}
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    return url, arn


def receive_all(sqs, url: str, **kwargs) -> list[dict]:
    """Every visible message, deleted as read."""
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **kwargs)
        messages = got.get("Messages", [])
        if not messages:
            return out
        out.extend(messages)
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def fetch(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, resp.read()


class Endpoint:
    """A real HTTP server in a thread: records every POST and answers the
    status at the head of `statuses` (200 once they run out)."""

    def __init__(self):
        self.requests: queue.Queue = queue.Queue()
        self.statuses: list[int] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.put({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                    "body": body.decode()})
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sns"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def next(self, timeout: float = 10.0) -> dict:
        """The next request SNS made (waits on the delivery, not a sleep)."""
        return self.requests.get(timeout=timeout)

    def pending(self) -> int:
        return self.requests.qsize()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def outbox(cloudlet, **query) -> list[dict]:
    path = "/_cloudlet/sns/messages"
    if query:
        path += "?" + "&".join(f"{k}={urllib.request.quote(v, safe='')}" for k, v in query.items())
    return cloudlet.admin("GET", path)["messages"]
