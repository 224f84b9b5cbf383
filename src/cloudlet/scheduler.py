"""Background jobs on cloudlet's clock.

A job runs every N seconds of clock time, or once at a given clock time.
Before running, a node takes the job's lease in storage, so that when
several nodes share one database each run happens on exactly one of them.
Leases expire by real time (the virtual clock may stand still).

When the clock is moved through the admin API, `run_due()` runs everything
that became due before the call returns, so a test that advances time sees
the effects at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import uuid
from typing import Any, Awaitable, Callable

from cloudlet.clock import Clock
from cloudlet.storage import Storage

log = logging.getLogger("cloudlet.scheduler")

JobFn = Callable[[float], Any | Awaitable[Any]]
LEASE_SECONDS = 30.0


class Job:
    __slots__ = ("name", "fn", "interval", "next_run", "lock", "once")

    def __init__(self, name: str, fn: JobFn, interval: float | None, next_run: float):
        self.name = name
        self.fn = fn
        self.interval = interval
        self.next_run = next_run
        self.once = interval is None
        self.lock = asyncio.Lock()


class Scheduler:
    def __init__(self, clock: Clock, storage: Storage, node_id: str | None = None):
        self.clock = clock
        self.storage = storage
        self.node_id = node_id or uuid.uuid4().hex
        self._jobs: dict[str, Job] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    # -- registering ----------------------------------------------------

    def every(self, name: str, seconds: float, fn: JobFn, first_run: float | None = None) -> None:
        """Run `fn(now)` every `seconds` of clock time."""
        start = first_run if first_run is not None else self.clock.now() + seconds
        self._jobs[name] = Job(name, fn, seconds, start)
        self._wake.set()

    def at(self, name: str, when: float, fn: JobFn) -> None:
        """Run `fn(now)` once, when the clock reads `when` (re-registering a
        name moves it earlier; registering it while it runs queues another
        run rather than being lost when the running one finishes)."""
        job = self._jobs.get(name)
        if job is not None and job.once and not job.lock.locked():
            job.next_run = min(job.next_run, when)
            job.fn = fn
        else:
            self._jobs[name] = Job(name, fn, None, when)
        self._wake.set()

    def cancel(self, name: str) -> None:
        self._jobs.pop(name, None)

    @property
    def jobs(self) -> list[str]:
        return sorted(self._jobs)

    # -- running --------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="cloudlet-scheduler")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        # A process that stops cleanly hands its jobs on at once (a killed
        # one's leases lapse after LEASE_SECONDS).
        with self.storage.tx():
            self.storage.execute("DELETE FROM _leases WHERE owner = ?", (self.node_id,))
        await self.storage.flush()

    def _clock_moved(self) -> None:
        # A clock set back (a reset, a test setting an earlier time) must not
        # leave periodic jobs waiting for a time that is now far away.
        now = self.clock.now()
        for job in self._jobs.values():
            if not job.once and job.next_run > now + job.interval:
                job.next_run = now + job.interval
        self._wake.set()

    async def _loop(self) -> None:
        self.clock.on_change(self._clock_moved)
        while not self._stopping:
            await self.run_due()
            next_run = min((j.next_run for j in self._jobs.values()), default=math.inf)
            self._wake.clear()
            # A virtual clock only moves when told to, and telling it wakes
            # us; a real one is slept on (at most a minute at a time).
            timeout = None if self.clock.virtual else min(60.0, max(0.0, next_run - self.clock.now()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    def due(self) -> bool:
        """Whether some job is due now."""
        now = self.clock.now()
        return any(job.next_run <= now for job in self._jobs.values())

    async def run_due(self) -> int:
        """Run every job that is due now; returns how many ran."""
        ran = 0
        now = self.clock.now()
        for job in sorted(self._jobs.values(), key=lambda j: j.next_run):
            if job.next_run > now:
                continue
            async with job.lock:
                if job.next_run > self.clock.now():
                    continue  # another caller just ran it
                if not self._take_lease(job.name):
                    if job.once:
                        job.next_run = now + 1.0  # another node holds it: try again, never drop it
                    else:
                        self._reschedule(job)
                    continue
                try:
                    result = job.fn(self.clock.now())
                    if inspect.isawaitable(result):
                        await result
                    await self.storage.flush()
                except Exception:
                    log.exception("job %s failed", job.name)
                ran += 1
                self._reschedule(job)
        return ran

    def _reschedule(self, job: Job) -> None:
        if job.once:
            job.next_run = math.inf  # a concurrent run_due holding a stale list skips it
            if self._jobs.get(job.name) is job:
                del self._jobs[job.name]
        else:
            # After a jump of the clock, run once and resume the cadence from
            # now; jobs that must account for every period do so themselves.
            now = self.clock.now()
            job.next_run += job.interval
            if job.next_run <= now:
                job.next_run = now + job.interval

    def _take_lease(self, name: str) -> bool:
        wall = self.clock.wall()
        cur = self.storage.execute(
            "INSERT INTO _leases (job, owner, expires) VALUES (?, ?, ?) "
            "ON CONFLICT(job) DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
            "WHERE _leases.expires < ? OR _leases.owner = ?",
            (name, self.node_id, wall + LEASE_SECONDS, wall, self.node_id))
        return cur.rowcount > 0
