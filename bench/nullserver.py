"""A server that does no work: every request gets the same canned answer.

It measures the floor under every benchmark at one connection: the load
generator, the kernel's loopback and an HTTP parser on uvloop (the stack
cloudlet's own server stands on) with nothing behind them. At one connection
a client waits for each answer, so no server can go faster than this; a
target such as "3x a peer" at one connection is only reachable if the peer
is at most a third as fast as this floor.

    python bench/nullserver.py PORT < answer-body   (answers 200 with it)
"""

from __future__ import annotations

import asyncio
import sys

import httptools

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


def answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\n"
            b"content-length: %d\r\n\r\n" % len(body)) + body


class NullProtocol(asyncio.Protocol):
    reply = b""

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.transport.write(self.reply)


async def serve(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(NullProtocol, "127.0.0.1", port)
    await server.serve_forever()


def main() -> None:
    NullProtocol.reply = answer(sys.stdin.buffer.read())
    port = int(sys.argv[1])
    if uvloop is not None:
        uvloop.run(serve(port))
    else:  # pragma: no cover
        asyncio.run(serve(port))


if __name__ == "__main__":
    main()
