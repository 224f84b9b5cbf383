"""The CloudWatch Logs Insights query language (the Logs User Guide,
"CloudWatch Logs Insights language query syntax" and its pages per command
and function), compiled once and run over log events. Pure; standard
library only.

compile_query(text) parses and checks the whole query, raising QueryError
(insightsparse.py words it as AWS's MalformedQueryException). Query.run
takes events (dicts with @timestamp, @message, @logStream, @log,
@ingestionTime and @ptr) and gives rows as GetQueryResults shows them: a
list of (field, value) string pairs per row, a field without a value left
out, @ptr last on rows that are log events (not on stats rows).

This module is the pipeline of commands; the rest of the language lives
beside it: insightsparse.py (syntax), insightsfunctions.py (expressions
and functions), insightsstats.py (stats), insightsvalues.py (values and
the fields of an event).

- Commands: fields, display, filter, stats (at most two; sort and limit
  only after the second), sort, limit, parse, dedup (only limit may
  follow), unmask (a no-op here).

Where the guide is silent, this engine chooses:
- Events are taken newest first (the order dedup's page calls the
  default), so a query without sort gives the newest events first, and
  stats groups come out in the order they were first met that way (bins
  newest first).
- `sort` without asc or desc sorts descending, like the default order.
  Values sort as the sort page's natural sort; missing values go last
  either way; equal values keep their order.
- With neither display nor fields, rows show @timestamp and @message (the
  guide, on `filter (duration>2000)`), then what parse extracts. Items of
  one fields command all read the event as it was before that command.
- Stats rows show the `by` fields, then the statistics, each named by its
  alias or its text as written.
- records_matched counts the events that reach the first sort, limit,
  dedup or stats (or the end); bytes_scanned is the UTF-8 size of the
  scanned messages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cloudlet.services.logs.insightsfunctions import AggSpec, Compiler, Fn
from cloudlet.services.logs.insightsparse import (
    Command,
    Node,
    QueryError,
    Token,
    invalid,
    parse_query,
    unexpected,
)
from cloudlet.services.logs.insightsstats import Stats
from cloudlet.services.logs.insightsvalues import Record, as_text, sort_key, truth

__all__ = ["Query", "QueryError", "QueryResult", "compile_query"]

DEFAULT_LIMIT = 10_000
MAX_STATS = 2


@dataclass
class QueryResult:
    rows: list[list[tuple[str, str]]]
    records_matched: float
    records_scanned: float
    bytes_scanned: float


def _newest_first(recs: Iterable[Record]) -> list[Record]:
    return sorted(recs, key=lambda r: r.get("@timestamp") or 0, reverse=True)


class Query:
    """A compiled query: run it over events as often as needed."""

    def __init__(self, text: str, commands: list[Command]):
        self.text = text
        self.has_stats = any(c.kind == "stats" for c in commands)
        limits = [c.count for c in commands if c.kind == "limit"]
        self.limit = min(limits) if limits else DEFAULT_LIMIT
        self.fields_referenced: set[str] = set()
        self._steps: list[tuple[bool, Callable]] = []  # (applies per record, step)
        self._build(commands)

    # building

    def _build(self, commands: list[Command]) -> None:
        text = self.text
        available: set[str] | None = None  # after stats: the fields it defined
        stats_seen = 0
        declared: list[str] = []  # the fields of fields / parse commands (since the last stats)
        display = None
        for i, cmd in enumerate(commands):
            if cmd.kind != "limit" and any(c.kind == "dedup" for c in commands[:i]):
                raise unexpected(text, Token("name", cmd.kind, cmd.pos, cmd.pos, text[cmd.pos:].split()[0]))
            if cmd.kind == "stats":
                stats_seen += 1
                if stats_seen > MAX_STATS:
                    raise invalid(text, cmd.pos, f"a query can have at most {MAX_STATS} stats commands")
                early = [c for c in commands[:i] if c.kind in ("sort", "limit")]
                if stats_seen == MAX_STATS and early:
                    raise invalid(text, early[0].pos, f"{early[0].kind} must come after the second stats command")
            compiler = Compiler(text)
            step = self._step(cmd, compiler)
            self._check(compiler, available, cmd)
            for name, _, _ in compiler.refs:
                self.fields_referenced.add(name)
            if cmd.kind == "stats":
                names = [n for _, n in cmd.groups] + [n for _, n in cmd.items]
                available = set(names) | ({"@timestamp"} if any(_is_bin(g) for g, _ in cmd.groups) else set())
                declared = names
            elif cmd.kind in ("fields", "parse"):
                new = [n for _, n in cmd.items] if cmd.kind == "fields" else cmd.names
                declared += [n for n in new if n not in declared]
                if available is not None:
                    available |= set(new)
            elif cmd.kind == "display":
                display = step
                continue
            if step is not None:
                self._steps.append(step)
        self._columns = self._columns_for(commands, declared, display)

    def _check(self, compiler: Compiler, available: set[str] | None, cmd: Command) -> None:
        if available is None:
            return
        for name, pos, _ in compiler.refs:
            if name not in available:
                raise invalid(self.text, pos, f"invalid reference to field {name}: after stats, only the "
                                                f"fields stats defines can be used")

    def _step(self, cmd: Command, compiler: Compiler):
        kind = cmd.kind
        if kind in ("fields", "display"):
            items = [(name, compiler.compile(node)) for node, name in cmd.items]
            if kind == "display":
                return items

            def fields(recs):
                for rec in recs:
                    values = [(name, fn(rec)) for name, fn in items]
                    rec.vals.update(values)
                    yield rec
            return True, fields
        if kind == "filter":
            condition = compiler.compile(cmd.node)
            return True, lambda recs: (rec for rec in recs if truth(condition(rec)) is True)
        if kind == "parse":
            return True, self._parse_step(cmd, compiler)
        if kind == "unmask":
            return None
        if kind == "sort":
            return False, self._sort_step(cmd, compiler)
        if kind == "limit":
            count = cmd.count
            return False, lambda recs: recs[:count]
        if kind == "dedup":
            for name in cmd.names:
                compiler.ref(name, Node("field", name, pos=cmd.pos))
            return False, self._dedup_step(cmd.names)
        return False, self._stats_step(cmd, compiler)

    @staticmethod
    def _parse_step(cmd: Command, compiler: Compiler):
        source, search = compiler.compile(cmd.node), cmd.pattern.search
        targets = list(zip(cmd.names, cmd.groupnames))

        def parse(recs):
            for rec in recs:
                text = as_text(source(rec))
                match = None if text is None else search(text)
                for name, group in targets:
                    rec.vals[name] = None if match is None else match.group(group)
                yield rec
        return parse

    @staticmethod
    def _sort_step(cmd: Command, compiler: Compiler):
        keys = [(compiler.compile(node), descending) for node, descending in cmd.items]

        def order(a, b) -> int:
            for (x, y), (_, descending) in zip(zip(a[0], b[0]), keys):
                if x == y:
                    continue
                if x is None or y is None:  # missing values last, either way
                    return 1 if x is None else -1
                return (1 if x > y else -1) * (-1 if descending else 1)
            return 0

        def sort(recs):
            decorated = [([None if (v := fn(r)) is None else sort_key(v) for fn, _ in keys], r) for r in recs]
            decorated.sort(key=functools.cmp_to_key(order))
            return [r for _, r in decorated]
        return sort

    @staticmethod
    def _dedup_step(names: list[str]):
        def dedup(recs):
            seen, kept = set(), []
            for rec in recs:
                values = [rec.get(n) for n in names]
                if None not in values:  # missing values are never duplicates
                    key = tuple(as_text(v) for v in values)
                    if key in seen:
                        continue
                    seen.add(key)
                kept.append(rec)
            return kept
        return dedup

    def _stats_step(self, cmd: Command, compiler: Compiler):
        groups = []
        for node, name in cmd.groups:
            groups.append((name, compiler.compile(node), _is_bin(node)))
        aggs: list[AggSpec] = []
        items = []
        known = {name for name, _, _ in groups}
        for node, name in cmd.items:
            compiler.aggs, start = aggs, len(compiler.refs)
            before = len(aggs)
            fn = compiler.compile(node)
            compiler.aggs = None
            outside = [(n, p) for n, p, inside in compiler.refs[start:] if not inside]
            for ref, pos in outside:
                if ref not in known:
                    raise invalid(self.text, pos, f"{ref} must be inside a stats function such as count()")
            if len(aggs) == before and not outside:
                raise invalid(self.text, node.pos, f"{name} is not a statistic")
            # Names of earlier statistics are read from the stats row, not events.
            compiler.refs[start:] = [r for r in compiler.refs[start:] if r[2] or r[0] not in known]
            items.append((name, fn))
            known.add(name)
        return Stats(groups, items, aggs).run

    def _columns_for(self, commands: list[Command], declared: list[str], display) -> list[tuple[str, Fn]]:
        if display is not None:
            columns = display
        elif self.has_stats or any(c.kind == "fields" for c in commands):
            columns = [(name, None) for name in declared]
        else:
            columns = [(name, None) for name in ("@timestamp", "@message", *declared)]
            self.fields_referenced |= {"@timestamp", "@message"}
        out, seen = [], set()
        for name, fn in columns:
            if name not in seen:
                seen.add(name)
                out.append((name, fn or (lambda rec, name=name: rec.get(name))))
        return out

    # running

    def run(self, events: Iterable[dict]) -> QueryResult:
        counts = [0, 0]

        def scan():
            for event in events:
                counts[0] += 1
                counts[1] += len((event.get("@message") or "").encode())
                yield Record(event)

        recs: Iterable[Record] = scan()
        matched = None
        for per_record, step in self._steps:
            if not per_record:
                if matched is None:
                    recs = _newest_first(recs)
                    matched = len(recs)
                recs = step(list(recs))
            else:
                recs = step(recs)
        if matched is None:
            recs = _newest_first(recs)
            matched = len(recs)
        rows = [self._row(rec) for rec in list(recs)[:self.limit]]
        return QueryResult(rows, float(matched), float(counts[0]), float(counts[1]))

    def _row(self, rec: Record) -> list[tuple[str, str]]:
        row = []
        for name, fn in self._columns:
            value = fn(rec)
            if value is not None:
                row.append((name, as_text(value)))
        if not self.has_stats and "@ptr" not in (name for name, _ in row):
            pointer = rec.get("@ptr")
            if pointer is not None:
                row.append(("@ptr", pointer))
        return row


def _is_bin(node: Node) -> bool:
    return node.kind == "call" and node.value == "bin"


def compile_query(text: str) -> Query:
    """Parse and check a Logs Insights query (QueryError if it is not valid)."""
    return Query(text, parse_query(text))
