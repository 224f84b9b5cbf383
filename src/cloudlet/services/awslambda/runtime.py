"""Run a Lambda function for real, one fresh process per invocation.

Python runtimes (python3.x) run bootstrap.py on an interpreter, Node.js ones
(nodejs18.x, nodejs20.x, nodejs22.x) run bootstrap.js on the machine's node,
whatever its version. Both speak the same protocol to this module: framed
log records on the output pipe, the result in a file.

Every invocation is a cold start: a new process runs the bootstrap, which
loads the handler (Lambda's init phase) and calls it once (the invoke
phase). So module-level code runs on every invocation, its output comes before
START as in Lambda, and REPORT carries an Init Duration every time.

What Lambda does around the runtime is done here, in its words:
  - the init phase may take 10 s, apart from the function's timeout; when it
    fails or overruns, Lambda logs INIT_REPORT and runs init again inside the
    invocation (a "suppressed init"), this time counted against the timeout;
  - past the timeout the process group is killed: Sandbox.Timedout;
  - a process that dies without answering is Runtime.ExitError;
  - START / END / REPORT lines, billed duration rounded up to the millisecond
    and including a cold start's init (Lambda bills INIT since August 2025).

Not emulated: INIT_START (there is no runtime version to name), XRAY lines,
the memory limit (Max Memory Used is measured, never enforced; node's heap
is sized from it as Lambda's bootstrap does), the JSON log format, layers
(/opt) and the AWS SDK Lambda bundles with Node.js. The child sees only the
environment built here, never cloudlet's own.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

BOOTSTRAP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bootstrap.py")
BOOTSTRAP_JS = os.path.join(os.path.dirname(BOOTSTRAP), "bootstrap.js")
INIT_LIMIT_S = 10.0
# Output still in the pipe once the process group is gone is read for this
# long at most (a daemon that left the group can hold the pipe open forever).
DRAIN_S = 0.5


@dataclass
class Invocation:
    code_dir: str            # the function's unzipped code: LAMBDA_TASK_ROOT, cwd, first on sys.path
    handler: str             # "module.function" or "package/module.function"
    payload: bytes           # the event as JSON; b"" is {} (Invoke without a payload)
    env: dict[str, str]      # credentials, AWS_REGION, the function's variables...; wins over ours
    request_id: str
    function_name: str
    function_arn: str
    memory_mb: int
    timeout_s: float
    log_group: str
    log_stream: str
    version: str = "$LATEST"
    client_context: str | None = None   # base64 JSON, as Invoke's ClientContext
    runtime: str = "python3.12"          # "python3.x" or "nodejs18.x" / "nodejs20.x" / "nodejs22.x"


@dataclass
class Result:
    payload: bytes            # what Invoke returns: the handler's value as JSON, or the error document
    error_type: str | None    # None on success, else "Unhandled" (Invoke's X-Amz-Function-Error)
    log_lines: list[str]      # the invocation's CloudWatch events, in order (no trailing newline)
    duration_ms: float
    timed_out: bool


@dataclass
class _Run:
    """One process: what it printed and how it ended."""

    init_lines: list[str]         # before the end of init
    lines: list[str]              # after it
    init_ms: float | None         # None when init did not complete
    elapsed_ms: float             # spawn to end
    outcome: str                  # ok | error | init_error | init_timeout | timeout | exit
    body: bytes                   # result or error document, from the child
    lambda_error: str | None      # the errorType Lambda names in its reports
    duration_ms: float | None     # the handler's, measured by the child
    rss_kb: int | None
    exit_reason: str | None = None


def node_available() -> bool:
    """Whether the Node.js runtimes can run: a node on PATH."""
    return shutil.which("node") is not None


def _environment(inv: Invocation) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "_HANDLER": inv.handler,
        "LAMBDA_TASK_ROOT": inv.code_dir,
        "LAMBDA_RUNTIME_DIR": os.path.dirname(BOOTSTRAP),
        "AWS_LAMBDA_FUNCTION_NAME": inv.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(inv.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": inv.version,
        "AWS_LAMBDA_LOG_GROUP_NAME": inv.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": inv.log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }
    env.update(inv.env)
    if "AWS_REGION" in env:  # Lambda sets both
        env.setdefault("AWS_DEFAULT_REGION", env["AWS_REGION"])
    return env


def _node_command(inv: Invocation, env: dict[str, str]) -> list[str]:
    """What Lambda's /var/runtime/bootstrap does for Node.js: NODE_PATH when
    the function sets none (the layers' and the runtime's directories have no
    counterpart here, the code's node_modules stands for them), the heap
    sized from the memory setting, and node on the runtime's entry point."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError(f"{inv.runtime} functions need node, and there is none on PATH")
    env.setdefault("AWS_EXECUTION_ENV", f"AWS_Lambda_{inv.runtime}")
    if not env.get("NODE_PATH"):
        env["NODE_PATH"] = os.pathsep.join([os.path.join(inv.code_dir, "node_modules"), inv.code_dir])
    new_space = inv.memory_mb // 10
    return [node, "--expose-gc", "--max-http-header-size", "81920",
            f"--max-semi-space-size={max(new_space // 2, 1)}",
            f"--max-old-space-size={max(inv.memory_mb - new_space, 16)}", BOOTSTRAP_JS]


class _LogParser:
    """Splits the child's pipe into CloudWatch events. Raw output is cut at
    newlines, a frame (token, kind, 8 hex digits of length, text) is one event
    however many lines it holds, as Lambda keeps stdout and its runtime's
    framed records apart: a frame between a print's text and its newline does
    not cut the line. Kind I marks the end of init, E the end."""

    def __init__(self, token: bytes):
        self.token = token
        self.head = len(token) + 9
        self.buf = bytearray()
        self.pending = bytearray()  # raw output after the last newline
        self.init_lines: list[str] = []
        self.lines: list[str] = []
        self.init_at: float | None = None
        self.init_done = asyncio.Event()
        self.ended = asyncio.Event()

    def _out(self) -> list[str]:
        return self.lines if self.init_at is not None else self.init_lines

    def _raw(self, data: bytes) -> None:
        self.pending += data
        j = self.pending.rfind(b"\n")
        if j >= 0:
            self._out().extend(self.pending[:j].decode("utf-8", "replace").split("\n"))
            del self.pending[:j + 1]

    def _held(self) -> int:
        """How many bytes at the end of buf could begin a token."""
        for k in range(min(len(self.token) - 1, len(self.buf)), 0, -1):
            if self.buf.endswith(self.token[:k]):
                return k
        return 0

    def feed(self, data: bytes) -> None:
        self.buf += data
        t = len(self.token)
        while True:
            i = self.buf.find(self.token)
            if i < 0:
                n = len(self.buf) - self._held()
                self._raw(self.buf[:n])
                del self.buf[:n]
                return
            if i:
                self._raw(self.buf[:i])
                del self.buf[:i]
            if len(self.buf) < self.head:
                return
            kind, size = self.buf[t:t + 1], int(self.buf[t + 1:self.head], 16)
            if len(self.buf) < self.head + size:
                return
            text = self.buf[self.head:self.head + size].decode("utf-8", "replace")
            del self.buf[:self.head + size]
            if kind == b"L":
                self._out().append(text.removesuffix("\n"))
            elif kind == b"I":
                self.init_at = time.perf_counter()
                self.init_done.set()
            elif kind == b"E":
                self.ended.set()

    def close(self) -> None:
        """End of output: a frame cut short by a kill keeps its text."""
        if self.buf.startswith(self.token) and self.buf[len(self.token):len(self.token) + 1] == b"L":
            self._out().append(self.buf[self.head:].decode("utf-8", "replace"))
        elif self.buf:
            self._raw(bytes(self.buf) + b"\n")
        if self.pending:
            self._raw(b"\n")
        self.buf.clear()


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, parser: _LogParser):
        self.parser = parser
        self.exited = asyncio.Event()
        self.eof = asyncio.Event()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self.parser.feed(data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            self.eof.set()

    def process_exited(self) -> None:
        # Not Process.wait(): that also waits for the pipes, which a daemon
        # the handler started may hold open long after the runtime is gone.
        self.exited.set()


def _peak_rss_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _exit_reason(code: int | None) -> str:
    if not code:
        return "Runtime exited without providing a reason"
    if code < 0:
        try:
            name = signal.strsignal(-code) or f"signal {-code}"
        except ValueError:
            name = f"signal {-code}"
        return f"Runtime exited with error: signal: {name.lower()}"
    return f"Runtime exited with error: exit status {code}"


async def _first(events: list[asyncio.Event], timeout: float) -> None:
    """Until one of the events is set, or the timeout passes."""
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, timeout=max(0.0, timeout), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _run(inv: Invocation, command: list[str], env: dict[str, str], *, suppressed: bool) -> _Run:
    """One process. A first init gets INIT_LIMIT_S and the handler the timeout
    from the end of init; a suppressed init shares the timeout with the handler."""
    token = secrets.token_hex(8)
    fd, result_path = tempfile.mkstemp(prefix="cloudlet-lambda-")
    os.close(fd)
    meta = {"token": token, "result": result_path, "request_id": inv.request_id,
            "function_arn": inv.function_arn, "timeout_s": inv.timeout_s,
            "client_context": inv.client_context}
    if suppressed:
        meta["deadline_ms"] = int(time.time() * 1000 + inv.timeout_s * 1000)
    parser = _LogParser(b"\0" + token.encode() + b"\0")
    started = time.perf_counter()
    try:
        transport, proto = await asyncio.get_running_loop().subprocess_exec(
            lambda: _Protocol(parser), *command, json.dumps(meta),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            cwd=inv.code_dir, env=env, start_new_session=True)
        pid, killed = transport.get_pid(), False
        try:
            stdin = transport.get_pipe_transport(0)
            stdin.write(inv.payload or b"{}")  # Invoke without a payload sends {}
            stdin.close()
            done = [proto.exited, parser.ended]
            rss: list[int | None] = []  # peaks read while it lives: a crash reports none
            limit = None  # the limit that killed it: "init" or "invoke"
            await _first(done + [parser.init_done], inv.timeout_s if suppressed else INIT_LIMIT_S)
            if not any(e.is_set() for e in done):
                if parser.init_at is None:
                    limit = "init"
                else:
                    rss.append(_peak_rss_kb(pid))
                    start = started if suppressed else parser.init_at
                    await _first(done, start + inv.timeout_s - time.perf_counter())
                    if not any(e.is_set() for e in done):
                        limit = "invoke"
            ended_at = time.perf_counter()
            if not proto.exited.is_set():
                rss.append(_peak_rss_kb(pid))
            # The sandbox goes with the invocation: whatever the handler started too.
            _kill_group(pid)
            killed = True
            await proto.exited.wait()
            try:
                await asyncio.wait_for(proto.eof.wait(), DRAIN_S)
            except TimeoutError:
                pass
            parser.close()
            returncode = transport.get_returncode()
        finally:
            if not killed:  # this invocation was cancelled
                _kill_group(pid)
            transport.close()
        with open(result_path, "rb") as f:
            head, _, body = f.read().partition(b"\n")
    finally:
        os.unlink(result_path)

    try:
        info = json.loads(head) if head else None
    except ValueError:  # killed while writing it
        info = None
    init_ms = (parser.init_at - started) * 1000 if parser.init_at is not None else None
    run = _Run(parser.init_lines, parser.lines, init_ms, (ended_at - started) * 1000,
               "exit", b"", None, None, None)
    if limit == "invoke" or (limit == "init" and suppressed):
        run.outcome = "timeout"
    elif limit == "init":
        run.outcome = "init_timeout"
    elif info:
        run.outcome, run.body, run.lambda_error = info["status"], body, info["errorType"]
        run.duration_ms = info["durationMs"]
        rss.append(info["maxRssKb"])
    else:
        run.lambda_error = "Runtime.ExitError"
        run.exit_reason = _exit_reason(returncode)
    run.rss_kb = max((x for x in rss if x), default=None)
    return run


def _stamp() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


def _init_report(run: _Run, phase: str) -> str:
    if run.outcome in ("init_timeout", "timeout"):
        return f"INIT_REPORT Init Duration: {run.elapsed_ms:.2f} ms\tPhase: {phase}\tStatus: timeout"
    return (f"INIT_REPORT Init Duration: {run.elapsed_ms:.2f} ms\tPhase: {phase}\tStatus: error"
            f"\tError Type: {run.lambda_error}")


def _compact(doc: dict) -> bytes:
    # Lambda's own errors (not the runtime's) come without spaces.
    return json.dumps(doc, separators=(",", ":")).encode()


async def invoke(inv: Invocation, python: str = sys.executable) -> Result:
    """Run one invocation on inv.runtime: python3.x on `python` (cloudlet's
    own interpreter by default), nodejs* on node (RuntimeError without one,
    see node_available). Other runtimes are a ValueError."""
    env = _environment(inv)
    if inv.runtime.startswith("python"):
        command = [python, "-u", "-s", "-B", BOOTSTRAP]
    elif inv.runtime.startswith("nodejs"):
        command = _node_command(inv, env)
    else:
        raise ValueError(f"unsupported runtime {inv.runtime!r}")
    lines: list[str] = []
    run = await _run(inv, command, env, suppressed=False)
    cold_init = run.init_ms
    if run.init_ms is None:
        # A failed or overlong first init: Lambda reports it, then inits
        # again inside the invocation, against the function's timeout.
        lines += run.init_lines + [_init_report(run, "init")]
        run = await _run(inv, command, env, suppressed=True)
    lines += run.init_lines
    if run.init_ms is None and run.outcome in ("init_error", "exit", "timeout"):
        lines.append(_init_report(run, "invoke"))
    lines.append(f"START RequestId: {inv.request_id} Version: {inv.version}")
    lines += run.lines

    status = ""
    timed_out = run.outcome == "timeout"
    if timed_out:
        duration = inv.timeout_s * 1000
        lines.append(f"{_stamp()} {inv.request_id} Task timed out after {inv.timeout_s:.2f} seconds")
        payload = _compact({"errorType": "Sandbox.Timedout", "errorMessage":
                            f"RequestId: {inv.request_id} Error: Task timed out after {inv.timeout_s:.2f} seconds"})
        status = "Status: timeout\t"
    elif run.outcome == "exit":
        duration = run.elapsed_ms - (cold_init or 0)
        message = f"RequestId: {inv.request_id} Error: {run.exit_reason}"
        lines.append(f"{message}\nRuntime.ExitError")
        payload = _compact({"errorType": "Runtime.ExitError", "errorMessage": message})
        status = "Status: error\tError Type: Runtime.ExitError\t"
    else:
        suppressed = cold_init is None
        duration = run.elapsed_ms if suppressed or run.duration_ms is None else run.duration_ms
        payload = run.body
        if run.outcome == "init_error":
            status = f"Status: error\tError Type: {run.lambda_error}\t"

    duration = round(duration, 2)
    billed = math.ceil(round(duration + (round(cold_init, 2) if cold_init is not None else 0), 6))
    report = (f"REPORT RequestId: {inv.request_id}\tDuration: {duration:.2f} ms\t"
              f"Billed Duration: {billed} ms\tMemory Size: {inv.memory_mb} MB\t"
              f"Max Memory Used: {math.ceil((run.rss_kb or 0) / 1024)} MB\t")
    if cold_init is not None:
        report += f"Init Duration: {cold_init:.2f} ms\t"
    lines += [f"END RequestId: {inv.request_id}", report + status]
    error = None if run.outcome == "ok" else "Unhandled"
    return Result(payload, error, lines, duration, timed_out)
