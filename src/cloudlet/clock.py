"""The clock: cloudlet's only source of time.

Real by default. Once moved (`advance` / `set`, or started virtual) it is
virtual: it stands still between moves, so a test decides exactly when a
visibility timeout lapses or an alarm period closes. Everything that waits
(`sleep_until`) wakes when the clock moves past its deadline, in either mode.
The virtual setting is persisted by the app, so a restart keeps the time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable


class Clock:
    def __init__(self, virtual_at: float | None = None):
        self._virtual: float | None = virtual_at
        self._changed: asyncio.Event | None = None
        self._listeners: list[Callable[[], None]] = []

    # -- reading --------------------------------------------------------

    def now(self) -> float:
        """Epoch seconds on cloudlet's clock."""
        v = self._virtual
        return time.time() if v is None else v

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    @property
    def virtual(self) -> bool:
        return self._virtual is not None

    @staticmethod
    def wall() -> float:
        """Real time, for what must not follow the virtual clock (leases
        between nodes, request latency)."""
        return time.time()

    # -- moving ---------------------------------------------------------

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        self._virtual = self.now() + seconds
        self._notify()
        return self._virtual

    def set(self, epoch: float) -> float:
        self._virtual = float(epoch)
        self._notify()
        return self._virtual

    def use_real_time(self) -> None:
        self._virtual = None
        self._notify()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _notify(self) -> None:
        event = self._changed
        if event is not None:
            self._changed = asyncio.Event()
            event.set()
        for listener in self._listeners:
            listener()

    # -- waiting --------------------------------------------------------

    def _event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    async def sleep_until(self, deadline: float, max_real_wait: float | None = None) -> bool:
        """Wait until the clock reads `deadline` or later. Returns False if
        `max_real_wait` real seconds passed first."""
        started = time.monotonic()
        while True:
            now = self.now()
            if now >= deadline:
                return True
            event = self._event()
            timeout = None if self.virtual else deadline - now
            if max_real_wait is not None:
                left = max_real_wait - (time.monotonic() - started)
                if left <= 0:
                    return False
                timeout = left if timeout is None else min(timeout, left)
            try:
                await asyncio.wait_for(event.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def sleep(self, seconds: float) -> None:
        await self.sleep_until(self.now() + seconds)

    async def changed(self) -> None:
        """Wait for the next move of the clock."""
        await self._event().wait()
