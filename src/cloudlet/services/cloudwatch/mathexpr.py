"""CloudWatch metric math: tokenizer, parser and evaluator of GetMetricData
(and alarm) Expressions, and SEARCH()'s search-expression matcher.

Values are floats (scalars), `Series` (one time series: parallel ascending
lists of timestamps and values) and lists of Series (arrays). Missing data
is simply an absent timestamp. Any result that is not finite (division by
zero, LOG of 0) is dropped, as AWS drops a point that divides by zero.

The evaluator knows nothing of storage: `Context` (metrics.run_queries)
resolves query ids, METRICS(), SEARCH() and the anomaly band.
"""

from __future__ import annotations

import math
import re
import time

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import stats as cwstats

# -- values ----------------------------------------------------------------------


class Series:
    __slots__ = ("ts", "vals", "label", "period", "metric")

    def __init__(self, ts, vals, label="", period=None, metric=None):
        self.ts = ts
        self.vals = vals
        self.label = label
        self.period = period
        self.metric = metric  # {Namespace, MetricName, Dimensions} of a metric's series

    def derive(self, ts, vals) -> "Series":
        return Series(ts, vals, self.label, self.period, self.metric)

    def pairs(self) -> dict:
        return dict(zip(self.ts, self.vals))

    def __repr__(self):
        return f"Series({self.label!r}, {list(zip(self.ts, self.vals))})"


class Band(list):
    """ANOMALY_DETECTION_BAND's array [upper, lower] (FIRST is the upper
    bound, LAST the lower, as AWS documents)."""


class Keyword(str):
    """A bare upper-case word that is not a call: REPEAT, LINEAR, ASC, SUM..."""


class MathError(Exception):
    pass


def type_name(value) -> str:
    if isinstance(value, Series):
        return "TimeSeries"
    if isinstance(value, list):
        return "Array[TimeSeries]"
    if isinstance(value, Keyword):
        return "Keyword"
    if isinstance(value, str):
        return "String"
    return "Scalar"


def unsupported(name: str, args) -> MathError:
    return MathError(f"Unsupported operand type(s) for {name}: '[{', '.join(type_name(a) for a in args)}]'")


# -- tokenizer -------------------------------------------------------------------

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|“[^”]*”)
  | (?P<id>[a-z][A-Za-z0-9_]*)
  | (?P<name>[A-Z][A-Z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/^()\[\],<>!])
""", re.X)


def tokenize(text: str) -> list[tuple[str, object, int]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise MathError(f"Unexpected character '{text[pos]}' at position {pos}")
        kind = m.lastgroup
        raw = m.group()
        if kind == "num":
            out.append(("num", float(raw), pos))
        elif kind == "str":
            out.append(("str", _unquote(raw), pos))
        elif kind == "name" and raw in ("AND", "OR", "NOT"):
            out.append(("op", {"AND": "&&", "OR": "||", "NOT": "!"}[raw], pos))
        elif kind != "ws":
            out.append((kind, raw, pos))
        pos = m.end()
    out.append(("end", None, pos))
    return out


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    # Only the quote itself and the backslash are escapes: SEARCH's own
    # escapes (\( \)) must reach the search parser intact.
    return re.sub(r"\\([\"'\\])", r"\1", body) if raw[0] != "“" else body


# -- parser ----------------------------------------------------------------------
# AST nodes are tuples: ("num", v) ("str", s) ("id", name) ("kw", NAME)
# ("call", NAME, [args]) ("bin", op, a, b) ("neg", a) ("not", a) ("arr", [items])

_CMP = ("==", "!=", "<=", ">=", "<", ">")


class _Parser:
    def __init__(self, text: str):
        self.tokens = tokenize(text)
        self.i = 0

    def peek(self):
        return self.tokens[self.i]

    def take(self):
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def accept(self, value) -> bool:
        kind, v, _ = self.peek()
        if kind == "op" and v == value:
            self.i += 1
            return True
        return False

    def expect(self, value):
        if not self.accept(value):
            self.fail()

    def fail(self):
        kind, v, pos = self.peek()
        if kind == "end":
            raise MathError("Unexpected end of expression")
        raise MathError(f"Unexpected token '{v}' at position {pos}")

    def parse(self):
        node = self.or_()
        if self.peek()[0] != "end":
            self.fail()
        return node

    def or_(self):
        node = self.and_()
        while self.accept("||"):
            node = ("bin", "||", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while self.accept("&&"):
            node = ("bin", "&&", node, self.not_())
        return node

    def not_(self):
        if self.accept("!"):
            return ("not", self.not_())
        return self.cmp()

    def cmp(self):
        node = self.add()
        while self.peek()[0] == "op" and self.peek()[1] in _CMP:
            op = self.take()[1]
            node = ("bin", op, node, self.add())
        return node

    def add(self):
        node = self.mul()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            node = ("bin", op, node, self.mul())
        return node

    def mul(self):
        node = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("*", "/"):
            op = self.take()[1]
            node = ("bin", op, node, self.unary())
        return node

    def unary(self):
        if self.accept("-"):
            return ("neg", self.unary())
        if self.accept("+"):
            return self.unary()
        return self.power()

    def power(self):
        node = self.primary()
        if self.accept("^"):
            return ("bin", "^", node, self.unary())  # right-associative
        return node

    def primary(self):
        kind, v, _ = self.peek()
        if kind == "num":
            self.i += 1
            return ("num", v)
        if kind == "str":
            self.i += 1
            return ("str", v)
        if kind == "id":
            self.i += 1
            return ("id", v)
        if kind == "name":
            self.i += 1
            if self.accept("("):
                args = []
                if not self.accept(")"):
                    args.append(self.or_())
                    while self.accept(","):
                        args.append(self.or_())
                    self.expect(")")
                return ("call", v, args)
            return ("kw", v)
        if self.accept("("):
            node = self.or_()
            self.expect(")")
            return node
        if self.accept("["):
            items = [self.or_()]
            while self.accept(","):
                items.append(self.or_())
            self.expect("]")
            return ("arr", items)
        self.fail()


def parse(text: str):
    """The AST of an expression; MathError if it is not valid."""
    return _Parser(text).parse()


def references(node, out: set | None = None) -> set:
    """Query ids an AST refers to; "METRICS" stands for METRICS()."""
    out = set() if out is None else out
    tag = node[0]
    if tag == "id":
        out.add(node[1])
    elif tag == "call":
        if node[1] == "METRICS":
            out.add("METRICS")
        for arg in node[2]:
            references(arg, out)
    elif tag == "bin":
        references(node[2], out)
        references(node[3], out)
    elif tag in ("neg", "not"):
        references(node[1], out)
    elif tag == "arr":
        for item in node[1]:
            references(item, out)
    return out


def uses(node, name: str) -> bool:
    """Whether an AST calls function `name`."""
    tag = node[0]
    if tag == "call":
        return node[1] == name or any(uses(a, name) for a in node[2])
    if tag == "bin":
        return uses(node[2], name) or uses(node[3], name)
    if tag in ("neg", "not"):
        return uses(node[1], name)
    if tag == "arr":
        return any(uses(i, name) for i in node[1])
    return False


# -- evaluation ------------------------------------------------------------------


class Context:
    """What an expression needs from outside; metrics.run_queries subclasses it."""

    period: int | None = None  # the query's Period, else its metrics'

    def ref(self, name: str):  # the value of query `name`
        raise MathError(f"Unrecognized identifier {name}")

    def metrics(self, contains: str | None) -> list:  # METRICS()
        return []

    def grid(self, period: int) -> list[float]:  # every period start in the range
        return []

    def search(self, text: str, stat: str, period: int) -> list:
        raise MathError("SEARCH is not supported here")

    def band(self, name: str, k: float) -> Band:
        raise MathError("Unrecognized function ANOMALY_DETECTION_BAND")


def evaluate(node, ctx: Context):
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "str":
        return node[1]
    if tag == "kw":
        return Keyword(node[1])
    if tag == "id":
        return ctx.ref(node[1])
    if tag == "neg":
        return _unary("-", evaluate(node[1], ctx), lambda x: -x)
    if tag == "not":
        return _unary("NOT", evaluate(node[1], ctx), lambda x: 0.0 if x else 1.0)
    if tag == "bin":
        return binary(node[1], evaluate(node[2], ctx), evaluate(node[3], ctx))
    if tag == "arr":
        return _array([evaluate(i, ctx) for i in node[1]])
    return _call(node[1], node[2], ctx)


def _array(items) -> list:
    out = []
    for item in items:
        if isinstance(item, Series):
            out.append(item)
        elif isinstance(item, list):
            out.extend(item)  # [METRICS("4xx"), METRICS("5xx")] is one array
        else:
            raise unsupported("[]", items)
    return out


def _finite(ts, vals):
    """Drops the points whose value is not a finite number."""
    if all(math.isfinite(v) for v in vals):
        return ts, vals
    keep = [i for i, v in enumerate(vals) if math.isfinite(v)]
    return [ts[i] for i in keep], [vals[i] for i in keep]


def _safe(fn):
    def apply(*args):
        try:
            return float(fn(*args))
        except (ZeroDivisionError, OverflowError, ValueError):
            return math.nan
    return apply


def _map(series: Series, fn) -> Series:
    vals = [fn(v) for v in series.vals]
    return series.derive(*_finite(series.ts, vals))


def _unary(name, value, fn):
    fn = _safe(fn)
    if isinstance(value, Series):
        return _map(value, fn)
    if isinstance(value, list):
        return [_map(s, fn) for s in value]
    if isinstance(value, float):
        return fn(value)
    raise unsupported(name, [value])


def _pow(a, b):
    if a == 0 and b < 0:
        raise ZeroDivisionError
    r = a ** b
    if isinstance(r, complex):
        raise ValueError
    return r


_OPS = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "^": _pow,
    "==": lambda a, b: 1.0 if a == b else 0.0,
    "!=": lambda a, b: 1.0 if a != b else 0.0,
    "<=": lambda a, b: 1.0 if a <= b else 0.0,
    ">=": lambda a, b: 1.0 if a >= b else 0.0,
    "<": lambda a, b: 1.0 if a < b else 0.0,
    ">": lambda a, b: 1.0 if a > b else 0.0,
    "&&": lambda a, b: 1.0 if a and b else 0.0,
    "||": lambda a, b: 1.0 if a or b else 0.0,
}
_OP_NAMES = {"&&": "AND", "||": "OR"}


def binary(op: str, a, b):
    fn = _safe(_OPS[op])
    sa, sb = isinstance(a, Series), isinstance(b, Series)
    la, lb = isinstance(a, list), isinstance(b, list)
    if isinstance(a, float) and isinstance(b, float):
        return fn(a, b)
    if sa and isinstance(b, float):
        return _map(a, lambda x: fn(x, b))
    if isinstance(a, float) and sb:
        return _map(b, lambda y: fn(a, y))
    if sa and sb:
        return _zip(a, b, fn)
    if la and not lb and (sb or isinstance(b, float)):
        return [binary(op, s, b) for s in a]
    if lb and not la and (sa or isinstance(a, float)):
        return [binary(op, a, s) for s in b]
    raise unsupported(_OP_NAMES.get(op, op), [a, b])


def _zip(a: Series, b: Series, fn) -> Series:
    """Series op series: aligned by timestamp over the union of both, a
    value missing on one side counting as 0 (AWS's documented rule)."""
    if a.ts == b.ts:
        ts, vals = a.ts, [fn(x, y) for x, y in zip(a.vals, b.vals)]
    else:
        pa, pb = a.pairs(), b.pairs()
        ts = sorted(pa.keys() | pb.keys())
        vals = [fn(pa.get(t, 0.0), pb.get(t, 0.0)) for t in ts]
    return a.derive(*_finite(ts, vals))


# -- functions -------------------------------------------------------------------

def _stat(name: str, vals: list) -> float:
    """A statistic of a list of values (nan when undefined)."""
    n = len(vals)
    if name == "SUM":
        return float(sum(vals))
    if name == "DATAPOINT_COUNT":
        return float(n)
    if not n:
        return math.nan
    if name == "AVG":
        return sum(vals) / n
    if name == "MIN":
        return min(vals)
    if name == "MAX":
        return max(vals)
    mean = sum(vals) / n
    return math.sqrt(sum((v - mean) ** 2 for v in vals) / n)  # STDDEV, population


def _across(name: str, array: list) -> Series:
    """SUM/AVG/MIN/MAX/STDDEV/DATAPOINT_COUNT of an array: one series, per
    timestamp over the union. AVG counts a missing value as 0 (AWS's
    documented rule, so it divides by the array's size); the others use the
    values present."""
    columns: dict = {}
    for s in array:
        for t, v in zip(s.ts, s.vals):
            col = columns.get(t)
            if col is None:
                columns[t] = [v]
            else:
                col.append(v)
    ts = sorted(columns)
    if name == "AVG":
        vals = [sum(columns[t]) / len(array) for t in ts]
    else:
        vals = [_stat(name, columns[t]) for t in ts]
    first = array[0] if array else Series([], [])
    return Series(*_finite(ts, vals), label=first.label, period=first.period)


def _aggregate(name, args):
    if len(args) != 1:
        raise unsupported(name, args)
    value = args[0]
    if isinstance(value, Series):
        return _stat(name, value.vals)
    if isinstance(value, list):
        return _across(name, value)
    raise unsupported(name, args)


def _each(name, args, fn, nargs=1):
    """Applies fn(series) to a series or to each series of an array."""
    if len(args) != nargs:
        raise unsupported(name, args)
    value = args[0]
    if isinstance(value, Series):
        return fn(value)
    if isinstance(value, list):
        return [fn(s) for s in value]
    raise unsupported(name, args)


def _diff(s: Series) -> Series:
    return s.derive(s.ts[1:], [b - a for a, b in zip(s.vals, s.vals[1:])])


def _diff_time(s: Series) -> Series:
    return s.derive(s.ts[1:], [b - a for a, b in zip(s.ts, s.ts[1:])])


def _rate(s: Series) -> Series:
    vals = [(v1 - v0) / (t1 - t0) for t0, t1, v0, v1 in zip(s.ts, s.ts[1:], s.vals, s.vals[1:])]
    return s.derive(s.ts[1:], vals)


def _running_sum(s: Series) -> Series:
    total, vals = 0.0, []
    for v in s.vals:
        total += v
        vals.append(total)
    return s.derive(list(s.ts), vals)


def _elementwise(fn):
    fn = _safe(fn)
    return lambda s: _map(s, fn)


def _log(x):
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _log10(x):
    return math.log10(x) if x > 0 else (-math.inf if x == 0 else math.nan)


_ELEMENTWISE = {
    "ABS": abs, "CEIL": math.ceil, "FLOOR": math.floor, "LOG": _log, "LOG10": _log10,
}
_SEQUENTIAL = {"DIFF": _diff, "DIFF_TIME": _diff_time, "RATE": _rate, "RUNNING_SUM": _running_sum}
_AGGREGATES = ("SUM", "AVG", "MIN", "MAX", "STDDEV", "DATAPOINT_COUNT")


def _time_part(name: str):
    if name == "EPOCH":
        return lambda t: float(t)
    index = {"MINUTE": 4, "HOUR": 3, "DATE": 2, "MONTH": 1, "YEAR": 0}.get(name)
    if index is not None:
        return lambda t: float(time.gmtime(t)[index])
    return lambda t: float(time.gmtime(t).tm_wday + 1)  # DAY: 1 is Monday, 7 Sunday


def _grid_of(s: Series, ctx: Context) -> list:
    period = s.period or ctx.period
    if not period:
        raise MathError("Period must be specified for an expression that references no metric")
    return ctx.grid(period)


def _timefn(name, args, ctx):
    """MINUTE..EPOCH: a non-sparse series over the argument's period and range."""
    if len(args) != 1 or not isinstance(args[0], Series):
        raise unsupported(name, args)
    s = args[0]
    part = _time_part(name)
    grid = _grid_of(s, ctx)
    return Series(grid, [part(t) for t in grid], s.label, s.period, s.metric)


def _time_series(args, ctx):
    if len(args) != 1 or not isinstance(args[0], float):
        raise unsupported("TIME_SERIES", args)
    if not ctx.period:
        raise MathError("Period must be specified for an expression that references no metric")
    grid = ctx.grid(ctx.period)
    value = args[0]
    if not math.isfinite(value):
        return Series([], [], period=ctx.period)
    return Series(grid, [value] * len(grid), period=ctx.period)


def _fill_one(s: Series, how, ctx) -> Series:
    grid = _grid_of(s, ctx)
    have = s.pairs()
    if isinstance(how, Keyword) and how == "REPEAT":
        vals, last = [], None
        for t in grid:
            last = have.get(t, last)
            vals.append(math.nan if last is None else last)
    elif isinstance(how, Keyword) and how == "LINEAR":
        vals = _linear(grid, have)
    elif isinstance(how, Series):
        other = how.pairs()
        vals = [have[t] if t in have else other.get(t, math.nan) for t in grid]
    else:
        vals = [have.get(t, how) for t in grid]
    on_grid = set(grid)
    extra = [t for t in s.ts if t not in on_grid]  # points off the grid stay as they are
    ts, vals = _finite(grid, vals)
    if extra:
        merged = dict(zip(ts, vals))
        merged.update((t, have[t]) for t in extra)
        ts = sorted(merged)
        vals = [merged[t] for t in ts]
    return s.derive(ts, vals)


def _linear(grid, have) -> list:
    """Linear interpolation between the values on either side of each gap;
    gaps at either end have no value on one side and stay empty."""
    known = [(i, have[t]) for i, t in enumerate(grid) if t in have]
    vals = [math.nan] * len(grid)
    for i, v in known:
        vals[i] = v
    for (i0, v0), (i1, v1) in zip(known, known[1:]):
        t0, t1 = grid[i0], grid[i1]
        for i in range(i0 + 1, i1):
            vals[i] = v0 + (v1 - v0) * (grid[i] - t0) / (t1 - t0)
    return vals


def _fill(args, ctx):
    if len(args) != 2:
        raise unsupported("FILL", args)
    value, how = args
    ok_how = (isinstance(how, Keyword) and how in ("REPEAT", "LINEAR")) or isinstance(how, (Series, float))
    if not ok_how or (isinstance(how, Series) and not isinstance(value, (Series, list))):
        raise unsupported("FILL", args)
    if isinstance(value, Series):
        return _fill_one(value, how, ctx)
    if isinstance(value, list):
        return [_fill_one(s, how, ctx) for s in value]
    raise unsupported("FILL", args)


def _if(args):
    if len(args) not in (2, 3):
        raise unsupported("IF", args)
    cond, yes = args[0], args[1]
    no = args[2] if len(args) == 3 else None
    if any(isinstance(a, (list, str)) for a in args):
        raise unsupported("IF", args)
    if isinstance(cond, float):
        if cond:
            return yes
        return no if no is not None else Series([], [], period=_period_of(yes))
    yes_at = yes.pairs() if isinstance(yes, Series) else None
    no_at = no.pairs() if isinstance(no, Series) else None
    ts, vals = [], []
    for t, c in zip(cond.ts, cond.vals):
        if c:
            v = yes_at.get(t, 0.0) if yes_at is not None else yes  # missing in the true branch counts as 0
        elif no is None:
            continue
        elif no_at is not None:
            if t not in no_at:
                continue  # missing in the false branch: dropped
            v = no_at[t]
        else:
            v = no
        ts.append(t)
        vals.append(v)
    return cond.derive(*_finite(ts, vals))


def _period_of(value):
    return value.period if isinstance(value, Series) else None


def _array_arg(name, args, n):
    if len(args) not in n or not isinstance(args[0], list):
        raise unsupported(name, args)
    return args[0]


def _int_arg(name, args, value) -> int:
    if not isinstance(value, float) or not math.isfinite(value):
        raise unsupported(name, args)
    return int(value)


def _sort(args):
    array = _array_arg("SORT", args, (3, 4))
    fn, order = args[1], args[2]
    if not (isinstance(fn, Keyword) and fn in ("SUM", "AVG", "MIN", "MAX", "STDDEV")) or not (
            isinstance(order, Keyword) and order in ("ASC", "DESC")):
        raise unsupported("SORT", args)
    keyed = [(_stat(str(fn), s.vals), s) for s in array]
    present = [x for x in keyed if not math.isnan(x[0])]
    present.sort(key=lambda x: x[0], reverse=order == "DESC")  # stable: ties keep their order
    out = [s for _, s in present] + [s for k, s in keyed if math.isnan(k)]  # series without data last
    if len(args) == 4:
        out = out[:max(_int_arg("SORT", args, args[3]), 0)]
    return out


def _slice(args):
    array = _array_arg("SLICE", args, (2, 3))
    start = _int_arg("SLICE", args, args[1])
    stop = _int_arg("SLICE", args, args[2]) if len(args) == 3 else len(array)
    return list(array[start:stop])


def _call(name: str, arg_nodes: list, ctx: Context):
    if name == "METRICS":
        if len(arg_nodes) > 1:
            raise unsupported(name, [evaluate(a, ctx) for a in arg_nodes])
        contains = evaluate(arg_nodes[0], ctx) if arg_nodes else None
        if contains is not None and (not isinstance(contains, str) or isinstance(contains, Keyword)):
            raise unsupported(name, [contains])
        return ctx.metrics(contains)
    if name == "ANOMALY_DETECTION_BAND":
        return _band(arg_nodes, ctx)
    args = [evaluate(a, ctx) for a in arg_nodes]
    if name in _AGGREGATES:
        return _aggregate(name, args)
    if name in _ELEMENTWISE:
        return _each(name, args, _elementwise(_ELEMENTWISE[name]))
    if name in _SEQUENTIAL:
        return _each(name, args, _SEQUENTIAL[name])
    if name in ("MINUTE", "HOUR", "DAY", "DATE", "MONTH", "YEAR", "EPOCH"):
        return _timefn(name, args, ctx)
    if name == "TIME_SERIES":
        return _time_series(args, ctx)
    if name == "FILL":
        return _fill(args, ctx)
    if name == "IF":
        return _if(args)
    if name in ("FIRST", "LAST"):
        array = _array_arg(name, args, (1,))
        if not array:
            return Series([], [])
        return array[0] if name == "FIRST" else array[-1]
    if name == "REMOVE_EMPTY":
        return [s for s in _array_arg(name, args, (1,)) if s.ts]
    if name == "METRIC_COUNT":
        return float(len(_array_arg(name, args, (1,))))
    if name == "SORT":
        return _sort(args)
    if name == "SLICE":
        return _slice(args)
    if name == "PERIOD":
        if len(args) != 1 or not isinstance(args[0], Series) or not args[0].period:
            raise unsupported(name, args)
        return float(args[0].period)
    if name == "SEARCH":
        return _search(args, ctx)
    raise MathError(f"Unrecognized function {name}")


def _band(arg_nodes, ctx):
    if len(arg_nodes) not in (1, 2) or arg_nodes[0][0] != "id":
        raise unsupported("ANOMALY_DETECTION_BAND", [evaluate(a, ctx) for a in arg_nodes])
    k = evaluate(arg_nodes[1], ctx) if len(arg_nodes) == 2 else 2.0
    if not isinstance(k, float):
        raise unsupported("ANOMALY_DETECTION_BAND", [ctx.ref(arg_nodes[0][1]), k])
    return ctx.band(arg_nodes[0][1], k)


def _search(args, ctx):
    if len(args) != 3 or not all(isinstance(a, str) and not isinstance(a, Keyword) for a in args[:2]) or \
            not isinstance(args[2], float):
        raise unsupported("SEARCH", args)
    return ctx.search(args[0], args[1], int(args[2]))


# -- SEARCH expressions ------------------------------------------------------------

_SEARCH_TOKEN = re.compile(r"""
    (?P<ws>[\s,]+)
  | (?P<lp>\()
  | (?P<rp>\))
  | (?P<exact>"(?:[^"\\]|\\.)*")
  | (?P<word>[^\s,()"=]+)
  | (?P<eq>=)
""", re.X)


def _search_tokens(text: str) -> list:
    out, pos = [], 0
    while pos < len(text):
        m = _SEARCH_TOKEN.match(text, pos)
        if m is None:
            raise MathError(f"Invalid search expression at position {pos}")
        if m.lastgroup != "ws":
            raw = m.group()
            if m.lastgroup == "exact":
                raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            out.append((m.lastgroup, raw))
        pos = m.end()
    return out


def parse_search(text: str):
    """(schema, term): schema is None or (namespace, frozenset of dimension
    names); term an AST of ("and"|"or", a, b), ("not", a), ("term", prop,
    exact, text) or None when there is no search term."""
    text = text.strip()
    schema = None
    if text.startswith("{"):
        close = text.find("}")
        if close < 0:
            raise MathError("Invalid search expression: unclosed metric schema")
        parts = [p.strip() for p in _split_schema(text[1:close])]
        if not parts or not parts[0]:
            raise MathError("Invalid search expression: the metric schema must contain a namespace")
        schema = (parts[0], frozenset(parts[1:]))
        text = text[close + 1:]
    tokens = _search_tokens(text)
    if not tokens:
        if schema is None:
            raise MathError("Invalid search expression: empty search")
        return schema, None
    parser = _SearchParser(tokens)
    term = parser.or_()
    if parser.i != len(tokens):
        raise MathError("Invalid search expression")
    return schema, term


def _split_schema(body: str) -> list:
    return [p[1:-1] if len(p) > 1 and p.startswith('"') and p.endswith('"') else p
            for p in re.findall(r'"[^"]*"|[^,]+', body) if p.strip()]


class _SearchParser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else (None, None)

    def or_(self):
        node = self.and_()
        while self.peek() == ("word", "OR"):
            self.i += 1
            node = ("or", node, self.and_())
        return node

    def and_(self):
        node = self.not_()
        while True:
            kind, v = self.peek()
            if kind is None or kind == "rp" or (kind, v) == ("word", "OR"):
                return node
            if (kind, v) == ("word", "AND"):
                self.i += 1
            node = ("and", node, self.not_())  # juxtaposition is AND

    def not_(self):
        if self.peek() == ("word", "NOT"):
            self.i += 1
            return ("not", self.not_())
        return self.atom()

    def atom(self):
        kind, v = self.peek()
        if kind == "lp":
            self.i += 1
            node = self.or_()
            if self.peek()[0] != "rp":
                raise MathError("Invalid search expression: unbalanced parentheses")
            self.i += 1
            return node
        if kind not in ("word", "exact"):
            raise MathError("Invalid search expression")
        self.i += 1
        prop = None
        if kind == "word" and self.peek()[0] == "eq":
            self.i += 1
            prop = v
            kind, v = self.peek()
            if kind not in ("word", "exact"):
                raise MathError("Invalid search expression")
            self.i += 1
        return ("term", prop, kind == "exact", v)


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
_WORD = re.compile(r"[A-Za-z0-9]+")


def subtokens(text: str) -> list[str]:
    """CloudWatch's search tokens of a string, in order, lower-cased: split
    at non-alphanumerics, camel case and digit runs."""
    return [t.lower() for t in _CAMEL.findall(text)]


def _term_tokens(term: str) -> list[tuple[str, bool]]:
    """(token, case sensitive): a word that camel case splits is a composite
    token, matched case-sensitively (`Count1`, not `count1`); a word that
    is one token matches in any case (`network/errors`)."""
    out = []
    for word in _WORD.findall(term):
        parts = _CAMEL.findall(word)
        out.extend((p, True) if len(parts) > 1 else (p.lower(), False) for p in parts)
    return out


def partial_match(term: str, text: str) -> bool:
    """Whether a search term matches a name: as its whole (alphanumerics,
    any case) or as consecutive tokens of it."""
    want = _term_tokens(term)
    if not want:
        return False
    if re.sub(r"[^A-Za-z0-9]", "", term).lower() == re.sub(r"[^A-Za-z0-9]", "", text).lower():
        return True
    have = _CAMEL.findall(text)
    n = len(want)
    for i in range(len(have) - n + 1):
        if all((h == w) if cs else (h.lower() == w) for h, (w, cs) in zip(have[i:i + n], want)):
            return True
    return False


def _term_matches(node, metric) -> bool:
    namespace, name, dims = metric
    tag = node[0]
    if tag == "and":
        return _term_matches(node[1], metric) and _term_matches(node[2], metric)
    if tag == "or":
        return _term_matches(node[1], metric) or _term_matches(node[2], metric)
    if tag == "not":
        return not _term_matches(node[1], metric)
    _, prop, exact, text = node
    if prop == "MetricName":
        fields = [name]
    elif prop == "Namespace":
        fields = [namespace]
    elif prop is not None:
        fields = [v for k, v in dims if k == prop]
    else:
        fields = [namespace, name] + [k for k, _ in dims] + [v for _, v in dims]
    if exact:
        return text in fields
    return any(partial_match(text, f) for f in fields)


def search_matches(parsed, catalog) -> list[int]:
    """Indexes into catalog [(namespace, name, [(dim, value)...])] of the
    metrics a parsed search expression finds."""
    schema, term = parsed
    out = []
    for i, metric in enumerate(catalog):
        namespace, _, dims = metric
        if schema is not None and (namespace != schema[0] or frozenset(k for k, _ in dims) != schema[1]):
            continue
        if term is not None and not _term_matches(term, metric):
            continue
        out.append(i)
    return out


# -- running a request's queries -------------------------------------------------

_HIGH_RES_PERIODS = (1, 5, 10, 20, 30)


def _validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


class QueryRunner(Context):
    """Evaluates one request's MetricDataQueries (metrics.run_queries):
    each query once, on demand, through `ops` (the MetricOps) for data."""

    def __init__(self, ops, account, region, queries, start, end):
        self.ops, self.account, self.region = ops, account, region
        self.queries = queries
        self.start, self.end = start, end
        self.by_id = {q["Id"]: q for q in queries}
        self.asts: dict = {}
        self.values: dict = {}
        self.active: list = []  # ids being evaluated, innermost last (cycles)
        self.periods: list = []
        self.grids: dict = {}
        self.catalog = None

    @property
    def period(self):
        return self.periods[-1] if self.periods else None

    def run(self) -> list[dict]:
        for q in self.queries:
            if q.get("Expression") is not None:
                self.asts[q["Id"]] = self._parse(q)
        for qid, ast in self.asts.items():
            for name in sorted(references(ast)):
                if name != "METRICS" and name not in self.by_id:
                    raise _validation(f"Error in expression {qid}: Unrecognized identifier {name}")
        out = []
        for q in self.queries:
            try:
                value = self.value(q["Id"])
            except MathError as exc:
                raise _validation(f"Error in expression {getattr(exc, 'where', q['Id'])}: {exc}") from None
            out.extend(self._results(q, value))
        return out

    def _parse(self, q):
        try:
            return parse(q["Expression"])
        except MathError as exc:
            raise _validation(f"Error in expression {q['Id']}: {exc}") from None

    # -- values --

    def value(self, qid: str):
        if qid in self.values:
            return self.values[qid]
        if qid in self.active:
            cycle = self.active[self.active.index(qid):] + [qid]
            exc = MathError(f"Circular reference: {' -> '.join(cycle)}")
            exc.where = qid  # the expression the cycle starts from
            raise exc
        q = self.by_id[qid]
        self.active.append(qid)
        try:
            value = self._metric(q) if q.get("MetricStat") is not None else self._expression(q)
        except MathError as exc:
            if not hasattr(exc, "where"):
                exc.where = qid
            raise
        finally:
            self.active.pop()
        self.values[qid] = value
        return value

    def _metric(self, q) -> Series:
        stat = q["MetricStat"]
        metric = stat["Metric"]
        points = self.ops.stat_series(self.account, self.region, metric, stat["Period"], stat["Stat"], self.start,
                                      self.end, stat.get("Unit"))
        return Series([t for t, _ in points], [v for _, v in points], q.get("Label") or metric.get("MetricName"),
                      stat["Period"], metric)

    def _expression(self, q):
        self.periods.append(q.get("Period") or self._default_period(q["Id"], set()))
        try:
            value = evaluate(self.asts[q["Id"]], self)
        finally:
            self.periods.pop()
        if isinstance(value, str) or not isinstance(value, (Series, list)):
            raise MathError("The expression must return a time series or an array of time series")
        return value

    def _default_period(self, qid, seen):
        """An expression's period: its metrics' (the first one found)."""
        if qid in seen:
            return None
        seen.add(qid)
        q = self.by_id.get(qid)
        if q is None:
            return None
        if q.get("MetricStat") is not None:
            return q["MetricStat"]["Period"]
        if qid != self.active[-1] and q.get("Period"):
            return q["Period"]
        for name in sorted(references(self.asts[qid])):
            names = [x["Id"] for x in self.queries if x.get("MetricStat") is not None] if name == "METRICS" \
                else [name]
            for n in names:
                period = self._default_period(n, seen)
                if period:
                    return period
        return None

    # -- the Context --

    def ref(self, name):
        return self.value(name)

    def metrics(self, contains):
        return [self.value(q["Id"]) for q in self.queries
                if q.get("MetricStat") is not None and (contains is None or contains in q["Id"])]

    def grid(self, period):
        grid = self.grids.get(period)
        if grid is None:
            t = self.ops._aligned_start(self.start, period)
            grid = []
            while t < self.end:
                grid.append(float(t))
                t += period
            self.grids[period] = grid
        return grid

    def search(self, text, stat, period):
        parsed = parse_search(text)
        if not cwstats.valid(stat):
            raise MathError(f"Invalid statistic {stat} in SEARCH")
        if period <= 0 or (period not in _HIGH_RES_PERIODS and period % 60):
            raise MathError(f"Invalid period {period} in SEARCH: it must be 1, 5, 10, 20, 30, or a multiple of 60")
        if self.catalog is None:
            import orjson
            self.ops._flush()
            rows = self.ops.storage.all(
                "SELECT namespace, name, dims FROM cloudwatch_metrics WHERE account = ? AND region = ? "
                "ORDER BY namespace, name, dims", (self.account, self.region))
            self.catalog = [(ns, name, [tuple(p) for p in orjson.loads(dims)]) for ns, name, dims in rows]
        out = []
        for i in search_matches(parsed, self.catalog):
            namespace, name, dims = self.catalog[i]
            metric = {"Namespace": namespace, "MetricName": name,
                      "Dimensions": [{"Name": k, "Value": v} for k, v in dims]}
            points = self.ops.stat_series(self.account, self.region, metric, period, stat, self.start, self.end)
            label = " ".join([v for _, v in dims] + [name])
            out.append(Series([t for t, _ in points], [v for _, v in points], label, period, metric))
        return out

    def band(self, name, k):
        model = getattr(self.ops, "anomaly_band", None)
        if model is None:
            raise MathError("Unrecognized function ANOMALY_DETECTION_BAND")
        source = self.value(name)
        if not isinstance(source, Series):
            raise unsupported("ANOMALY_DETECTION_BAND", [source, k])
        period = source.period or self.period
        grid = self.grid(period)
        # An expression's band needs the request's queries to find what it reads.
        lower, upper = model(self.account, self.region, self.by_id[name], k, grid, period, queries=self.queries)
        keep = [i for i in range(len(grid)) if lower[i] is not None and upper[i] is not None]
        ts = [grid[i] for i in keep]
        band = Band([Series(ts, [float(upper[i]) for i in keep], source.label, period, source.metric),
                     Series(list(ts), [float(lower[i]) for i in keep], source.label, period, source.metric)])
        return band

    # -- results --

    def _results(self, q, value) -> list[dict]:
        base = {"Id": q["Id"], "ReturnData": q.get("ReturnData", True) is not False, "StatusCode": "Complete",
                "Messages": []}
        if isinstance(value, Band):
            upper, lower = value
            label = q.get("Label") or q["Id"]
            return [dict(base, Label=label, Timestamps=list(upper.ts),
                         Values=[(u + lo) / 2 for u, lo in zip(upper.vals, lower.vals)],
                         Upper=list(upper.vals), Lower=list(lower.vals))]
        if isinstance(value, Series):
            label = q.get("Label") or (value.label if q.get("MetricStat") is not None else q["Id"])
            return [dict(base, Label=label, Timestamps=list(value.ts), Values=list(value.vals))]
        out = []
        for s in value:
            label = f"{q['Label']} {s.label}" if q.get("Label") else s.label
            out.append(dict(base, Label=label, Timestamps=list(s.ts), Values=list(s.vals)))
        return out


# -- dynamic labels ----------------------------------------------------------------

_DYNAMIC = re.compile(r"\$\{([A-Z_]+)\}")
_TZ = re.compile(r"^([+-])(\d{2})(\d{2})$")


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(round(value, 6)).rstrip("0").rstrip(".") if "e" not in repr(value) else repr(value)


def _when(ts: float, timezone: str | None) -> str:
    """ISO 8601 in UTC, or at the LabelOptions Timezone offset (+HHMM)."""
    offset, suffix = 0, "Z"
    m = _TZ.match(timezone or "")
    if m and timezone not in ("+0000", "-0000"):
        sign = 1 if m.group(1) == "+" else -1
        offset = sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60)
        suffix = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts + offset)) + suffix


def dynamic_label(label: str, ts: list, vals: list, timezone: str | None = None) -> str:
    """Fills a label's ${AVG}, ${MIN}, ${MAX}, ${SUM}, ${DATAPOINT_COUNT},
    ${FIRST}, ${LAST}, ${MAX_MIN_RANGE}, ${FIRST_TIME}, ${LAST_TIME} from the
    series (times at the Timezone); unknown names are left as written."""
    if "${" not in label:
        return label

    def fill(m):
        name = m.group(1)
        if name == "DATAPOINT_COUNT":
            return str(len(vals))
        if not vals:
            return ""
        if name in ("AVG", "MIN", "MAX", "SUM"):
            return _number(_stat(name, vals))
        if name == "FIRST":
            return _number(vals[0])
        if name == "LAST":
            return _number(vals[-1])
        if name == "MAX_MIN_RANGE":
            return _number(max(vals) - min(vals))
        if name == "FIRST_TIME":
            return _when(ts[0], timezone)
        if name == "LAST_TIME":
            return _when(ts[-1], timezone)
        return m.group(0)
    return _DYNAMIC.sub(fill, label)
