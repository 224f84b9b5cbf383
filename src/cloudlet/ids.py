"""Random identifiers (request ids, message ids, event ids).

They need to be unique, not secret: a generator seeded from the OS spares a
getrandom() system call per id (a few microseconds each in the server,
where system calls are dear). A forked child seeds its own."""

from __future__ import annotations

import os
import random

_generator = random.Random(os.urandom(32))
bits = _generator.getrandbits
os.register_at_fork(after_in_child=lambda: _generator.seed(os.urandom(32)))

_V4_MASK = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_V4_BITS = (0x4 << 76) | (0x2 << 62)


def uuid4_hex() -> str:
    """A random version-4 UUID as 32 hex digits, no dashes."""
    return "%032x" % (bits(128) & _V4_MASK | _V4_BITS)


def uuid4() -> str:
    """A random version-4 UUID in its usual form."""
    h = uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
