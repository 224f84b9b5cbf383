"""Counts the conformance vectors per protocol and direction, and prints the
table at the end of the run (the issue asks the test output to report it)."""

from __future__ import annotations

import re
from collections import defaultdict

_COUNTS: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"passed": 0, "failed": 0, "skipped": 0})
_NODE = re.compile(r"test_conformance\.py::test_(input|output)\[([^:\]]+):")


def pytest_runtest_logreport(report):
    m = _NODE.search(report.nodeid)
    if not m:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _COUNTS[(m.group(2), m.group(1))][report.outcome] += 1


def pytest_terminal_summary(terminalreporter):
    if not _COUNTS:
        return
    tr = terminalreporter
    tr.section("botocore protocol vectors")
    tr.write_line(f"{'protocol':<45} {'dir':<7} {'passed':>6} {'failed':>6} {'skipped':>7}")
    for (proto, direction), c in sorted(_COUNTS.items()):
        tr.write_line(f"{proto:<45} {direction:<7} {c['passed']:>6} {c['failed']:>6} {c['skipped']:>7}")
