"""Expressions of Logs Insights queries compiled into functions of a
record: the operators, the functions of the "Boolean, comparison,
numeric, datetime, and other functions" page (see _FUNCTIONS) and the
stats functions (_AGGREGATES, gathered as AggSpecs for insightsstats.py
to run). Pure; standard library only.

- Numbers are compared as numbers when both sides read as numbers, else
  as text. A comparison with a missing field is unknown (neither true nor
  false, also under `not`), so filter drops the event.

Where the guide is silent, this engine chooses:
- Weeks start on Monday; months, quarters and years are calendar ones.
- greatest, least and concat skip missing arguments; other functions of a
  missing value give no value.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from cloudlet.services.logs.insightsparse import Node, QueryError, invalid
from cloudlet.services.logs.insightsvalues import (
    Record,
    Timestamp,
    as_number,
    as_text,
    truth,
)

# -- periods ---------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_FIXED_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_MONTHS = {"mo": 1, "q": 3, "y": 12}
_MONDAY = 4 * 86_400_000  # 1970-01-05


def _month_start(index: int) -> int:
    year, month = divmod(index, 12)
    return (datetime(year, month + 1, 1, tzinfo=UTC) - _EPOCH) // _MS


def _floor_time(ms: int, period: tuple[int, str]) -> int:
    count, unit = period
    if unit in _FIXED_MS:
        size, origin = count * _FIXED_MS[unit], _MONDAY if unit == "w" else 0
        return (ms - origin) // size * size + origin
    step = count * _MONTHS[unit]
    moment = _EPOCH + ms * _MS
    return _month_start((moment.year * 12 + moment.month - 1) // step * step)


def _ceil_time(ms: int, period: tuple[int, str]) -> int:
    floor = _floor_time(ms, period)
    if floor == ms:
        return ms
    count, unit = period
    if unit in _FIXED_MS:
        return floor + count * _FIXED_MS[unit]
    moment = _EPOCH + floor * _MS
    return _month_start(moment.year * 12 + moment.month - 1 + count * _MONTHS[unit])


# -- functions -------------------------------------------------------------------------

def _round(value, digits=0):
    digits = int(digits)
    try:
        rounded = Decimal(repr(value) if isinstance(value, float) else value).quantize(
            Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    return int(rounded) if digits <= 0 else float(rounded)


def _trim(strip: str):
    return lambda text, chars=None: getattr(text, strip)(chars)


def _substr(text: str, start, length=None):
    start = max(int(start), 0)
    return text[start:] if length is None else text[start:start + max(int(length), 0)]


def _contains(text: str, part: str, fold=False) -> int:
    return int(part.lower() in text.lower() if fold else part in text)


def _ip(text: str, version: int | None = None):
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    return address if version is None or address.version == version else None


def _in_subnet(text: str, subnet: str, version: int | None = None) -> bool:
    address = _ip(text, version)
    try:
        network = ipaddress.ip_network(subnet.strip(), strict=False)
    except ValueError:
        return False
    return address is not None and address.version == network.version and address in network


def _to_int(value):
    return int(value) if math.isfinite(value) else None


# name: (argument types, variadic type or None, implementation). Types: n a
# number, s text, t a time (epoch ms), p a period, b true/false. Optional
# arguments are the implementation's defaults.
_FUNCTIONS: dict[str, tuple[str, str | None, Callable]] = {
    "abs": ("n", None, abs),
    "ceil": ("n", None, lambda a: _to_int(math.ceil(a)) if math.isfinite(a) else None),
    "floor": ("n", None, lambda a: _to_int(math.floor(a)) if math.isfinite(a) else None),
    "greatest": ("n", "n", lambda *a: max(a)),
    "least": ("n", "n", lambda *a: min(a)),
    "log": ("n", None, lambda a: math.log(a) if a > 0 else None),
    "round": ("nN", None, _round),
    "sqrt": ("n", None, lambda a: math.sqrt(a) if a >= 0 else None),
    "tonumber": ("n", None, lambda a: a),
    "toint": ("n", None, _to_int),
    "tolong": ("n", None, _to_int),
    "todouble": ("n", None, float),
    "strlen": ("s", None, len),
    "toupper": ("s", None, str.upper),
    "tolower": ("s", None, str.lower),
    "trim": ("sS", None, _trim("strip")),
    "ltrim": ("sS", None, _trim("lstrip")),
    "rtrim": ("sS", None, _trim("rstrip")),
    "concat": ("s", "s", lambda *a: "".join(a)),
    "substr": ("snN", None, _substr),
    "replace": ("sss", None, lambda text, old, new: text.replace(old, new) if old else text),
    "strcontains": ("ssB", None, _contains),
    "startswith": ("ss", None, lambda text, part: int(text.startswith(part))),
    "endswith": ("ss", None, lambda text, part: int(text.endswith(part))),
    "isvalidip": ("s", None, lambda text: _ip(text) is not None),
    "isvalidipv4": ("s", None, lambda text: _ip(text, 4) is not None),
    "isvalidipv6": ("s", None, lambda text: _ip(text, 6) is not None),
    "isipinsubnet": ("ss", None, _in_subnet),
    "isipv4insubnet": ("ss", None, lambda text, subnet: _in_subnet(text, subnet, 4)),
    "isipv6insubnet": ("ss", None, lambda text, subnet: _in_subnet(text, subnet, 6)),
    "datefloor": ("tp", None, lambda ms, period: Timestamp(_floor_time(ms, period))),
    "dateceil": ("tp", None, lambda ms, period: Timestamp(_ceil_time(ms, period))),
    "frommillis": ("t", None, Timestamp),
    "tomillis": ("t", None, int),
}
# Functions that see missing values themselves (or none at all).
_SPECIAL = {"ispresent": (1, 1), "coalesce": (1, None), "isempty": (1, 1), "isblank": (1, 1), "if": (3, 3),
            "case": (2, None), "bin": (1, 1), "now": (0, 0)}
_AGGREGATES = {"avg": (1, 1), "count": (0, 1), "count_distinct": (1, 1), "max": (1, 1), "min": (1, 1),
               "pct": (2, 2), "stddev": (1, 1), "sum": (1, 1), "earliest": (1, 1), "latest": (1, 1),
               "sortsfirst": (1, 1), "sortslast": (1, 1)}


def _as_time(value):
    number = as_number(value)
    return None if number is None or not math.isfinite(number) else int(number)


_CONVERT = {"n": as_number, "s": as_text, "t": _as_time, "b": truth}


# -- compiler --------------------------------------------------------------------------

Fn = Callable[[Record], object]


def _compare(op: str, left, right):
    if left is None or right is None:
        return None
    a, b = as_number(left), as_number(right)
    if a is None or b is None:
        a, b = as_text(left), as_text(right)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op: str, left, right):
    a, b = as_number(left), as_number(right)
    if a is None or b is None:
        return None
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return math.fmod(a, b) if isinstance(a, float) or isinstance(b, float) else (abs(a) % abs(b)) * (
                -1 if a < 0 else 1)
        result = a ** b if isinstance(a, int) and isinstance(b, int) and 0 <= b <= 64 else float(a) ** float(b)
        return None if isinstance(result, complex) else result
    except (ZeroDivisionError, OverflowError, ValueError):
        return None


def _and(a, b):
    a, b = truth(a), truth(b)
    return False if a is False or b is False else None if a is None or b is None else True


def _or(a, b):
    a, b = truth(a), truth(b)
    return True if a is True or b is True else None if a is None or b is None else False


@dataclass
class AggSpec:
    name: str
    arg: Fn | None  # None: count(*) / count()
    percent: float = 0.0


class Compiler:
    """Turns syntax trees into functions of a record. aggs, when a list,
    collects the stats functions of a stats item (each read back from its
    slot in the stats row)."""

    def __init__(self, text: str):
        self.text = text
        self.refs: list[tuple[str, int, bool]] = []  # (field, position, inside a stats function)
        self.aggs: list[AggSpec] | None = None
        self.inside_agg = False

    def error(self, message: str, node: Node) -> QueryError:
        return invalid(self.text, node.pos, message)

    def ref(self, name: str, node: Node) -> None:
        self.refs.append((name, node.pos, self.inside_agg))

    def compile(self, node: Node) -> Fn:
        kind = node.kind
        if kind == "lit":
            value = node.value
            return lambda rec: value
        if kind == "field":
            name = node.value
            self.ref(name, node)
            return lambda rec: rec.get(name)
        if kind in ("period", "regex", "star", "list"):
            raise self.error(f"unexpected {node.text}", node)
        if kind == "neg":
            inner = self.compile(node.args[0])
            return lambda rec: _arith("-", 0, inner(rec))
        if kind == "not":
            inner = self.compile(node.args[0])

            def negate(rec):
                value = truth(inner(rec))
                return None if value is None else not value
            return negate
        if kind in ("and", "or", "arith", "cmp"):
            left, right = (self.compile(a) for a in node.args)
            if kind == "and":
                return lambda rec: _and(left(rec), right(rec))
            if kind == "or":
                return lambda rec: _or(left(rec), right(rec))
            op, combine = node.value, _arith if kind == "arith" else _compare
            return lambda rec: combine(op, left(rec), right(rec))
        if kind == "like":
            return self.like(node)
        if kind == "in":
            return self.membership(node)
        return self.call(node)

    def like(self, node: Node) -> Fn:
        subject, pattern, negated = self.compile(node.args[0]), node.args[1], node.value
        if pattern.kind == "regex":
            search = pattern.value.search
            test = lambda text: search(text) is not None
        else:
            part = pattern.value
            test = lambda text: part in text

        def like(rec):
            text = as_text(subject(rec))
            return None if text is None else test(text) != negated
        return like

    def membership(self, node: Node) -> Fn:
        subject, negated = self.compile(node.args[0]), node.value
        options = [self.compile(item) for item in node.args[1].args]

        def member(rec):
            value = subject(rec)
            if value is None:
                return None
            return any(_compare("=", value, option(rec)) for option in options) != negated
        return member

    def call(self, node: Node) -> Fn:
        name, args = node.value, node.args
        if name in _AGGREGATES:
            return self.aggregate(node)
        if name in _SPECIAL:
            lowest, highest = _SPECIAL[name]
            self.arity(node, lowest, highest)
            return self.special(node)
        if name not in _FUNCTIONS:
            raise self.error(f"unknown function {node.text.split('(')[0].strip()}", node)
        types, variadic, impl = _FUNCTIONS[name]
        required = sum(t.islower() for t in types)
        self.arity(node, required, None if variadic else len(types))
        kinds = [(types[i] if i < len(types) else variadic).lower() for i in range(len(args))]
        parts: list = []
        for arg, t in zip(args, kinds):
            if t == "p":
                if arg.kind != "period":
                    raise self.error(f"{name} expects a time period such as 5m", arg)
                period = arg.value
                parts.append(lambda rec, period=period: period)
            else:
                fn, convert = self.compile(arg), _CONVERT[t]
                parts.append(lambda rec, fn=fn, convert=convert: convert(fn(rec)))

        if variadic:
            def apply(rec):
                values = [v for v in (part(rec) for part in parts) if v is not None]
                return impl(*values) if values else None
        else:
            def apply(rec):
                values = [part(rec) for part in parts]
                return None if None in values else impl(*values)
        return apply

    def arity(self, node: Node, lowest: int, highest: int | None) -> None:
        count = len(node.args)
        if count < lowest or (highest is not None and count > highest):
            raise self.error(f"wrong number of arguments to {node.text.split('(')[0].strip()}", node)

    def special(self, node: Node) -> Fn:
        name = node.value
        if name == "now":
            return lambda rec: int(time.time())
        if name == "bin":
            period = node.args[0]
            if period.kind != "period":
                raise self.error("bin expects a time period such as 5m", period)
            self.ref("@timestamp", node)
            span = period.value

            def bin_(rec):
                ms = rec.get("@timestamp")
                return None if ms is None else Timestamp(_floor_time(int(ms), span))
            return bin_
        args = [self.compile(a) for a in node.args]
        if name == "ispresent":
            return lambda rec: args[0](rec) is not None
        if name == "isempty":
            return lambda rec: int(as_text(args[0](rec)) in (None, ""))
        if name == "isblank":
            return lambda rec: int((as_text(args[0](rec)) or "").strip() == "")
        if name == "coalesce":
            return lambda rec: next((v for v in (a(rec) for a in args) if v is not None), None)
        if name == "if":
            return lambda rec: args[1](rec) if truth(args[0](rec)) else args[2](rec)

        def case(rec):
            for i in range(0, len(args) - 1, 2):
                if truth(args[i](rec)):
                    return args[i + 1](rec)
            return args[-1](rec) if len(args) % 2 else None
        return case

    def aggregate(self, node: Node) -> Fn:
        name = node.value
        if self.aggs is None:
            where = "inside another stats function" if self.inside_agg else "outside stats"
            raise self.error(f"{node.text.split('(')[0].strip()} cannot be used {where}", node)
        lowest, highest = _AGGREGATES[name]
        self.arity(node, lowest, highest)
        first = node.args[0] if node.args else None
        if first is not None and first.kind == "star" and name != "count":
            raise self.error("only count takes *", first)
        aggs, self.aggs, self.inside_agg = self.aggs, None, True
        try:
            arg = None if first is None or first.kind == "star" else self.compile(first)
        finally:
            self.aggs, self.inside_agg = aggs, False
        spec = AggSpec(name, arg)
        if name == "pct":
            percent = node.args[1]
            if percent.kind != "lit" or as_number(percent.value) is None or not 0 <= as_number(percent.value) <= 100:
                raise self.error("pct expects a percentile between 0 and 100", percent)
            spec.percent = float(as_number(percent.value))
        slot = ("agg", len(aggs))
        aggs.append(spec)
        return lambda rec: rec.vals.get(slot)

