"""The CloudWatch Logs Insights query language (the Logs User Guide,
"CloudWatch Logs Insights language query syntax" and its pages per command
and function), compiled once and run over log events. Pure; standard
library only.

compile_query(text) parses and checks the whole query, raising QueryError
(worded as AWS's MalformedQueryException: "unexpected symbol found X at
line L and position P", P counted from 0 as AWS's parser does). Query.run
takes events (dicts with @timestamp, @message, @logStream, @log,
@ingestionTime and @ptr) and gives rows as GetQueryResults shows them: a
list of (field, value) string pairs per row, a field without a value left
out, @ptr last on rows that are log events (not on stats rows).

- Commands: fields, display, filter, stats (at most two; sort and limit
  only after the second), sort, limit, parse (glob with `*` and `as`;
  /regex/ with named groups `(?<name>...)`), dedup (only limit may follow),
  unmask (a no-op here), `|` between them, `#` comments. Command, keyword
  and function names are case-insensitive; field names are not, and need
  backticks when they hold anything but letters, digits, _, @ and dots.
- Expressions: + - * / % ^, = != < <= > >=, and / or / not, like and =~
  with "substring" or /regex/, in [...] and not in [...]; the functions
  of the "Boolean, comparison, numeric, datetime, and other functions"
  page (see _FUNCTIONS) and the stats functions (_AGGREGATES). Periods:
  ms, s, m, h, d, w, mo, q, y and their long forms, capped as the guide
  says (bin(300s) is bin(60s)).
- Fields: the five system fields and @ptr; a JSON message (an object)
  gives its values flattened with dots, array items by index (`a.0.b`); a
  key starting with @ gets another @ (`@@key`), as the guide says.
- Numbers are compared as numbers when both sides read as numbers, else
  as text. A comparison with a missing field is unknown (neither true nor
  false, also under `not`), so filter drops the event.
- Values print as GetQueryResults prints them: times as
  "YYYY-MM-DD HH:MM:SS.mmm" (UTC), whole numbers without ".0", true and
  false as 1 and 0 (the guide: ispresent gives "0 or 1").

Where the guide is silent, this engine chooses:
- Events are taken newest first (the order dedup's page calls the
  default), so a query without sort gives the newest events first, and
  stats groups come out in the order they were first met that way (bins
  newest first).
- `sort` without asc or desc sorts descending, like the default order.
  Values sort as the sort page's natural sort; missing values go last
  either way; equal values keep their order.
- With neither display nor fields, rows show @timestamp and @message (the
  guide, on `filter (duration>2000)`), then what parse extracts. A glob's
  `*` matches as little as it can, a final one the rest; it is searched
  anywhere in the text. Items of one fields command all read the event
  as it was before that command.
- Stats rows show the `by` fields, then the statistics, each named by its
  alias or its text as written. A group with a missing `by` value is kept;
  stats without `by` gives its one row even over no events (count 0).
  pct is nearest-rank (a value of the data set); stddev is the sample
  standard deviation; earliest/latest of a time give epoch milliseconds
  (AWS does); min/max of a time stay times. count(field) counts events
  where it has a value; avg/sum/stddev skip values that are not numbers.
- Weeks start on Monday; months, quarters and years are calendar ones.
- greatest, least and concat skip missing arguments; other functions of a
  missing value give no value.
- records_matched counts the events that reach the first sort, limit,
  dedup or stats (or the end); bytes_scanned is the UTF-8 size of the
  scanned messages.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

DEFAULT_LIMIT = 10_000
MAX_LIMIT = 10_000
MAX_STATS = 2
_SYSTEM_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime", "@ptr")
_TIME_FIELDS = ("@timestamp", "@ingestionTime")


class QueryError(ValueError):
    pass


# -- values ----------------------------------------------------------------------------

class Timestamp(int):
    """Milliseconds since the epoch, printed as a time."""
    __slots__ = ()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_NUMBER = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*\Z")
_NUMBER_VALUE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?\Z")  # the sort page's "number values"


def _format_time(ms: int) -> str:
    try:
        moment = _EPOCH + ms * _MS
    except OverflowError:
        return str(int(ms))
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d}"


def _num(value):
    """The value as a number, or None when it is not one."""
    if value is None or isinstance(value, (int, float)):
        return int(value) if isinstance(value, bool) else value
    if isinstance(value, str) and _NUMBER.match(value):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            return float(text)
    return None


def _text(value) -> str | None:
    """The value as GetQueryResults prints it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Timestamp):
        return _format_time(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e17:
            return str(int(value))
        return repr(value)
    return str(value)


def _tri(value):
    """True, False, or None (unknown: a missing value)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    return value != ""


def _chunk_key(chunk: str):
    # A digit chunk meets a text chunk by their first characters' code
    # points; two digit chunks compare by length, then value.
    return (0x30, len(chunk), int(chunk)) if chunk[0] in "0123456789" else (ord(chunk[0]), chunk)


_CHUNKS = re.compile(r"[0-9]+|[^0-9]+")


def _sort_key(value):
    """The sort page's natural order: text before numbers, text by chunks."""
    if isinstance(value, (int, float)):
        return (1, float(value))
    text = _text(value)
    if _NUMBER_VALUE.match(text):
        return (1, float(text))
    return (0, tuple(_chunk_key(c) for c in _CHUNKS.findall(text)))


# -- periods ---------------------------------------------------------------------------

_UNIT_NAMES = {"ms": ("millisecond", "ms", "msec"), "s": ("second", "s", "sec"), "m": ("minute", "m", "min"),
               "h": ("hour", "h", "hr"), "d": ("day", "d"), "w": ("week", "w"), "mo": ("month", "mo", "mon"),
               "q": ("quarter", "q", "qtr"), "y": ("year", "y", "yr")}
_UNITS = {alias: unit for unit, names in _UNIT_NAMES.items()
          for name in names for alias in ((name, name + "s") if len(name) > 1 else (name,))}
_CAPS = {"ms": 1000, "s": 60, "m": 60, "h": 24}  # the guide: bin(300s) is bin(60s)
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


# -- lexer -----------------------------------------------------------------------------

@dataclass
class _Tok:
    kind: str  # name, quoted, number, period, string, regex, op, end
    value: object
    pos: int
    end: int
    text: str


_LEX = re.compile(r"""
    (?P<space>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<period>[0-9]+[A-Za-z]+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)
  | (?P<name>[A-Za-z_@][A-Za-z0-9_@.]*)
  | (?P<quoted>`[^`]*`)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<=|>=|=~|[|,()\[\]=<>+\-*/%^])
""", re.VERBOSE | re.DOTALL)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "'": "'", "\\": "\\"}
# After these words a "/" opens a regular expression, not a division.
_BEFORE_REGEX = {"like", "not", "and", "or", "in", "parse", "filter", "fields", "display", "by", "stats"}


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    return f"line {line} and position {pos - (text.rfind(chr(10), 0, pos) + 1)}"


def _invalid(text: str, pos: int, message: str) -> QueryError:
    return QueryError(f"{message} (at {_where(text, pos)})")


def _unexpected(text: str, tok: _Tok) -> QueryError:
    return QueryError(f"unexpected symbol found {tok.text or '<EOF>'} at {_where(text, tok.pos)}")


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body, flags=re.DOTALL)


def _regex_may_follow(toks: list[_Tok]) -> bool:
    if not toks:
        return True
    prev = toks[-1]
    if prev.kind == "op":
        return prev.value not in (")", "]")
    if prev.kind == "name" and prev.value.lower() in _BEFORE_REGEX:
        return True
    # parse <field> /regex/
    return (prev.kind in ("name", "quoted") and len(toks) >= 2 and toks[-2].kind == "name"
            and toks[-2].value.lower() == "parse" and (len(toks) == 2 or toks[-3].value == "|"))


def _lex(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "/" and _regex_may_follow(toks):
            end = pos + 1
            while end < len(text) and text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise _invalid(text, pos, "unterminated regular expression")
            toks.append(_Tok("regex", text[pos + 1:end].replace("\\/", "/"), pos, end + 1, text[pos:end + 1]))
            pos = end + 1
            continue
        m = _LEX.match(text, pos)
        if m is None:
            bad = text[pos]
            if bad in "\"'`":
                raise _invalid(text, pos, f"unterminated quote {bad}")
            raise _unexpected(text, _Tok("op", bad, pos, pos + 1, bad))
        kind, lexeme = m.lastgroup, m.group()
        if kind == "number":
            toks.append(_Tok(kind, float(lexeme) if "." in lexeme else int(lexeme), pos, m.end(), lexeme))
        elif kind == "string":
            toks.append(_Tok(kind, _unescape(lexeme[1:-1]), pos, m.end(), lexeme))
        elif kind == "quoted":
            toks.append(_Tok(kind, lexeme[1:-1], pos, m.end(), lexeme))
        elif kind in ("name", "op", "period"):
            toks.append(_Tok(kind, lexeme, pos, m.end(), lexeme))
        pos = m.end()
    toks.append(_Tok("end", None, len(text), len(text), ""))
    return toks


# -- syntax tree -----------------------------------------------------------------------

class _Node:
    """kind: lit, field, period, regex, list, star, neg, not, and, or, arith
    (value: operator), cmp (value: operator), like / in (value: negated),
    call (value: lower-case name)."""
    __slots__ = ("args", "kind", "pos", "text", "value")

    def __init__(self, kind: str, value=None, args: tuple = (), text: str = "", pos: int = 0):
        self.kind, self.value, self.args, self.text, self.pos = kind, value, args, text, pos


_RESERVED = {"and", "or", "not", "like", "in", "as", "by", "asc", "desc"}
_UNSUPPORTED_COMMANDS = {"pattern", "diff", "anomaly", "unnest", "expand", "lookup", "join", "filterindex",
                         "source", "head", "tail", "addtotals", "relevantfields"}


@dataclass
class _Command:
    kind: str
    pos: int
    items: list = field(default_factory=list)  # [(node, name)]; sort: [(node, descending)]
    groups: list = field(default_factory=list)  # stats: [(node, name)]
    node: _Node | None = None  # filter: condition; parse: source field
    names: list = field(default_factory=list)  # parse: extracted fields; dedup: fields
    pattern: re.Pattern | None = None  # parse
    groupnames: list = field(default_factory=list)  # parse: the pattern's group for each name
    count: int = 0  # limit


def _regex(text: str, body: str, pos: int) -> tuple[re.Pattern, list[str]]:
    """Insights' regular expressions (RE2 / Hyperscan style) in Python's
    dialect: (?<name>...) groups, and inline flags anywhere."""
    names: list[str] = []

    def group(m: re.Match) -> str:
        names.append(m.group(1))
        return f"(?P<_g{len(names) - 1}>"

    flags = re.ASCII

    def inline(m: re.Match) -> str:
        nonlocal flags
        for letter in m.group(1):
            flags |= {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}[letter]
        return ""

    source = re.sub(r"(?<!\\)\(\?P?<([A-Za-z_@][A-Za-z0-9_@.]*)>", group, body)
    source = re.sub(r"(?<!\\)\(\?([imsx]+)\)", inline, source)
    try:
        return re.compile(source, flags), names
    except re.error as err:
        raise _invalid(text, pos, f"invalid regular expression /{body}/: {err}") from None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    # tokens

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def fail(self, tok: _Tok | None = None) -> QueryError:
        return _unexpected(self.text, tok or self.peek())

    @staticmethod
    def word(tok: _Tok) -> str | None:
        return tok.value.lower() if tok.kind == "name" else None

    def accept_word(self, word: str) -> bool:
        if self.word(self.peek()) == word:
            self.next()
            return True
        return False

    def accept_op(self, op: str) -> bool:
        tok = self.peek()
        if tok.kind == "op" and tok.value == op:
            self.next()
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.fail()

    def node(self, kind: str, start: int, value=None, args: tuple = ()) -> _Node:
        return _Node(kind, value, args, self.text[start:self.toks[self.i - 1].end].strip(), start)

    # commands

    def query(self) -> list[_Command]:
        if self.peek().kind == "end":
            raise QueryError("the query is empty")
        commands = [self.command()]
        while self.accept_op("|"):
            commands.append(self.command())
        if self.peek().kind != "end":
            raise self.fail()
        return commands

    def command(self) -> _Command:
        tok = self.next()
        word = self.word(tok)
        if word in _UNSUPPORTED_COMMANDS:
            raise _invalid(self.text, tok.pos, f"the {tok.value} command is not supported here")
        handler = getattr(self, f"cmd_{word}", None) if word else None
        if handler is None:
            raise self.fail(tok)
        return handler(tok.pos)

    def cmd_fields(self, pos: int) -> _Command:
        return _Command("fields", pos, items=self.items())

    def cmd_display(self, pos: int) -> _Command:
        return _Command("display", pos, items=self.items())

    def cmd_filter(self, pos: int) -> _Command:
        return _Command("filter", pos, node=self.expr())

    def cmd_stats(self, pos: int) -> _Command:
        items = self.items()
        return _Command("stats", pos, items=items, groups=self.items() if self.accept_word("by") else [])

    def cmd_sort(self, pos: int) -> _Command:
        keys = []
        while True:
            node = self.expr()
            descending = not self.accept_word("asc")
            if descending:
                self.accept_word("desc")
            keys.append((node, descending))
            if not self.accept_op(","):
                return _Command("sort", pos, items=keys)

    def cmd_limit(self, pos: int) -> _Command:
        tok = self.next()
        if tok.kind != "number" or not isinstance(tok.value, int):
            raise self.fail(tok)
        if not 1 <= tok.value <= MAX_LIMIT:
            raise _invalid(self.text, tok.pos, f"limit must be between 1 and {MAX_LIMIT}")
        return _Command("limit", pos, count=tok.value)

    def cmd_parse(self, pos: int) -> _Command:
        source = _Node("field", "@message", text="@message", pos=pos)
        if self.peek().kind in ("name", "quoted"):
            tok = self.next()
            source = _Node("field", tok.value, text=tok.text, pos=tok.pos)
        tok = self.next()
        if tok.kind == "string":
            if not self.accept_word("as"):
                raise self.fail()
            names = self.names()
            parts = tok.value.split("*")
            if len(parts) - 1 != len(names):
                raise _invalid(self.text, tok.pos,
                               f"parse: the pattern has {len(parts) - 1} wildcards for {len(names)} fields")
            body = "".join(re.escape(p) + ("(.*?)" if i < len(parts) - 2 or parts[-1] else "(.*)")
                           for i, p in enumerate(parts[:-1])) + re.escape(parts[-1])
            return _Command("parse", pos, node=source, names=names, pattern=re.compile(body, re.DOTALL),
                            groupnames=list(range(1, len(names) + 1)))
        if tok.kind == "regex":
            pattern, groups = _regex(self.text, tok.value, tok.pos)
            if self.accept_word("as"):
                names = self.names()
                if len(names) > pattern.groups:
                    raise _invalid(self.text, tok.pos,
                                   f"parse: the pattern has {pattern.groups} groups for {len(names)} fields")
                return _Command("parse", pos, node=source, names=names, pattern=pattern,
                                groupnames=list(range(1, len(names) + 1)))
            if not groups:
                raise _invalid(self.text, tok.pos, "parse: the regular expression names no group (?<name>...)")
            return _Command("parse", pos, node=source, names=groups, pattern=pattern,
                            groupnames=[f"_g{i}" for i in range(len(groups))])
        if self.word(tok) in ("logfmt", "csv", "xml", "json"):
            raise _invalid(self.text, tok.pos, f"parse {tok.value} is not supported here")
        raise self.fail(tok)

    def cmd_dedup(self, pos: int) -> _Command:
        return _Command("dedup", pos, names=self.names())

    def cmd_unmask(self, pos: int) -> _Command:
        if self.accept_op("("):
            self.name()
            self.expect_op(")")
        elif self.peek().kind in ("name", "quoted"):
            self.name()
        return _Command("unmask", pos)

    def name(self) -> str:
        tok = self.next()
        if tok.kind == "quoted" or (tok.kind == "name" and tok.value.lower() not in _RESERVED):
            return tok.value
        raise self.fail(tok)

    def names(self) -> list[str]:
        names = [self.name()]
        while self.accept_op(","):
            names.append(self.name())
        return names

    def items(self) -> list[tuple[_Node, str]]:
        items = []
        while True:
            node = self.expr()
            items.append((node, self.name() if self.accept_word("as") else
                          node.value if node.kind == "field" else node.text))
            if not self.accept_op(","):
                return items

    # expressions, loosest first

    def expr(self) -> _Node:
        return self.disjunction()

    def disjunction(self) -> _Node:
        start, left = self.peek().pos, self.conjunction()
        while self.accept_word("or"):
            left = self.node("or", start, args=(left, self.conjunction()))
        return left

    def conjunction(self) -> _Node:
        start, left = self.peek().pos, self.negation()
        while self.accept_word("and"):
            left = self.node("and", start, args=(left, self.negation()))
        return left

    def negation(self) -> _Node:
        start = self.peek().pos
        if self.accept_word("not"):
            return self.node("not", start, args=(self.negation(),))
        return self.comparison()

    def comparison(self) -> _Node:
        start, left = self.peek().pos, self.additive()
        tok = self.peek()
        if tok.kind == "op" and tok.value in ("=", "!=", "<", "<=", ">", ">="):
            self.next()
            return self.node("cmp", start, tok.value, (left, self.additive()))
        if tok.kind == "op" and tok.value == "=~":
            self.next()
            return self.node("like", start, False, (left, self.pattern()))
        negated = self.word(tok) == "not" and self.word(self.peek(1)) in ("like", "in")
        if negated:
            self.next()
        if self.accept_word("like"):
            return self.node("like", start, negated, (left, self.pattern()))
        if self.accept_word("in"):
            return self.node("in", start, negated, (left, self.list_()))
        return left

    def pattern(self) -> _Node:
        tok = self.next()
        if tok.kind == "string":
            return _Node("lit", tok.value, text=tok.text, pos=tok.pos)
        if tok.kind == "regex":
            return _Node("regex", _regex(self.text, tok.value, tok.pos)[0], text=tok.text, pos=tok.pos)
        raise self.fail(tok)

    def list_(self) -> _Node:
        start = self.peek().pos
        self.expect_op("[")
        items = []
        if not self.accept_op("]"):
            items.append(self.expr())
            while self.accept_op(","):
                items.append(self.expr())
            self.expect_op("]")
        return self.node("list", start, args=tuple(items))

    def additive(self) -> _Node:
        start, left = self.peek().pos, self.multiplicative()
        while self.peek().kind == "op" and self.peek().value in ("+", "-"):
            op = self.next().value
            left = self.node("arith", start, op, (left, self.multiplicative()))
        return left

    def multiplicative(self) -> _Node:
        start, left = self.peek().pos, self.unary()
        while self.peek().kind == "op" and self.peek().value in ("*", "/", "%"):
            op = self.next().value
            left = self.node("arith", start, op, (left, self.unary()))
        return left

    def unary(self) -> _Node:
        start = self.peek().pos
        if self.accept_op("-"):
            return self.node("neg", start, args=(self.unary(),))
        base = self.primary()
        if self.accept_op("^"):
            return self.node("arith", start, "^", (base, self.unary()))
        return base

    def primary(self) -> _Node:
        tok = self.next()
        if tok.kind in ("number", "string"):
            return _Node("lit", tok.value, text=tok.text, pos=tok.pos)
        if tok.kind == "period":
            count, unit = re.match(r"([0-9]+)(.*)", tok.value).groups()
            unit = _UNITS.get(unit.lower())
            if unit is None or int(count) < 1:
                raise self.fail(tok)
            return _Node("period", (min(int(count), _CAPS.get(unit, int(count))), unit), text=tok.text, pos=tok.pos)
        if tok.kind == "quoted":
            return _Node("field", tok.value, text=tok.text, pos=tok.pos)
        if tok.kind == "op" and tok.value == "(":
            inner = self.expr()
            self.expect_op(")")
            return inner
        word = self.word(tok)
        if word is None or word in _RESERVED:
            raise self.fail(tok)
        if word in ("true", "false"):
            return _Node("lit", word == "true", text=tok.text, pos=tok.pos)
        if not self.accept_op("("):
            return _Node("field", tok.value, text=tok.text, pos=tok.pos)
        args: list[_Node] = []
        if self.peek().kind == "op" and self.peek().value == "*" and self.peek(1).value == ")":
            star = self.next()
            args.append(_Node("star", text="*", pos=star.pos))
        elif self.peek().value != ")" or self.peek().kind != "op":
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
        self.expect_op(")")
        return self.node("call", tok.pos, word, tuple(args))


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
    number = _num(value)
    return None if number is None or not math.isfinite(number) else int(number)


_CONVERT = {"n": _num, "s": _text, "t": _as_time, "b": _tri}


# -- records ---------------------------------------------------------------------------

def _discover(message: str) -> dict:
    """The fields of a JSON message: nested keys joined with dots, array
    items by index; a top-level key starting with @ gets another @."""
    if not message.lstrip().startswith("{"):
        return {}
    try:
        doc = json.loads(message)
    except ValueError:
        return {}
    found: dict = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else ("@" + key if key.startswith("@") else key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}")
        elif isinstance(node, bool):
            found[path] = "true" if node else "false"
        elif node is not None:
            found[path] = node
    if isinstance(doc, dict):
        walk(doc, "")
    return found


class _Rec:
    """One log event (or stats row) with the fields the query set on it."""
    __slots__ = ("event", "flat", "vals")

    def __init__(self, event: dict | None = None, vals: dict | None = None):
        self.event, self.vals, self.flat = event, {} if vals is None else vals, None

    def get(self, name):
        if name in self.vals:
            return self.vals[name]
        event = self.event
        if event is None:
            return None
        if name in _SYSTEM_FIELDS:
            value = event.get(name)
            return Timestamp(value) if value is not None and name in _TIME_FIELDS else value
        if self.flat is None:
            self.flat = _discover(event.get("@message") or "")
        return self.flat.get(name)


# -- compiler --------------------------------------------------------------------------

Fn = Callable[[_Rec], object]


def _compare(op: str, left, right):
    if left is None or right is None:
        return None
    a, b = _num(left), _num(right)
    if a is None or b is None:
        a, b = _text(left), _text(right)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _arith(op: str, left, right):
    a, b = _num(left), _num(right)
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
    a, b = _tri(a), _tri(b)
    return False if a is False or b is False else None if a is None or b is None else True


def _or(a, b):
    a, b = _tri(a), _tri(b)
    return True if a is True or b is True else None if a is None or b is None else False


@dataclass
class _AggSpec:
    name: str
    arg: Fn | None  # None: count(*) / count()
    percent: float = 0.0


class _Compiler:
    """Turns syntax trees into functions of a record. aggs, when a list,
    collects the stats functions of a stats item (each read back from its
    slot in the stats row)."""

    def __init__(self, text: str):
        self.text = text
        self.refs: list[tuple[str, int, bool]] = []  # (field, position, inside a stats function)
        self.aggs: list[_AggSpec] | None = None
        self.inside_agg = False

    def error(self, message: str, node: _Node) -> QueryError:
        return _invalid(self.text, node.pos, message)

    def ref(self, name: str, node: _Node) -> None:
        self.refs.append((name, node.pos, self.inside_agg))

    def compile(self, node: _Node) -> Fn:
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
                value = _tri(inner(rec))
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

    def like(self, node: _Node) -> Fn:
        subject, pattern, negated = self.compile(node.args[0]), node.args[1], node.value
        if pattern.kind == "regex":
            search = pattern.value.search
            test = lambda text: search(text) is not None
        else:
            part = pattern.value
            test = lambda text: part in text

        def like(rec):
            text = _text(subject(rec))
            return None if text is None else test(text) != negated
        return like

    def membership(self, node: _Node) -> Fn:
        subject, negated = self.compile(node.args[0]), node.value
        options = [self.compile(item) for item in node.args[1].args]

        def member(rec):
            value = subject(rec)
            if value is None:
                return None
            return any(_compare("=", value, option(rec)) for option in options) != negated
        return member

    def call(self, node: _Node) -> Fn:
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

    def arity(self, node: _Node, lowest: int, highest: int | None) -> None:
        count = len(node.args)
        if count < lowest or (highest is not None and count > highest):
            raise self.error(f"wrong number of arguments to {node.text.split('(')[0].strip()}", node)

    def special(self, node: _Node) -> Fn:
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
            return lambda rec: int(_text(args[0](rec)) in (None, ""))
        if name == "isblank":
            return lambda rec: int((_text(args[0](rec)) or "").strip() == "")
        if name == "coalesce":
            return lambda rec: next((v for v in (a(rec) for a in args) if v is not None), None)
        if name == "if":
            return lambda rec: args[1](rec) if _tri(args[0](rec)) else args[2](rec)

        def case(rec):
            for i in range(0, len(args) - 1, 2):
                if _tri(args[i](rec)):
                    return args[i + 1](rec)
            return args[-1](rec) if len(args) % 2 else None
        return case

    def aggregate(self, node: _Node) -> Fn:
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
        spec = _AggSpec(name, arg)
        if name == "pct":
            percent = node.args[1]
            if percent.kind != "lit" or _num(percent.value) is None or not 0 <= _num(percent.value) <= 100:
                raise self.error("pct expects a percentile between 0 and 100", percent)
            spec.percent = float(_num(percent.value))
        slot = ("agg", len(aggs))
        aggs.append(spec)
        return lambda rec: rec.vals.get(slot)


# -- stats -----------------------------------------------------------------------------

def _better(first: bool):
    """Picks the value that sorts first (or last) in the natural order."""
    def pick(best, value):
        if best is None:
            return value
        return value if (_sort_key(value) < _sort_key(best)) == first and _sort_key(value) != _sort_key(best) \
            else best
    return pick


class _State:
    """One stats function over one group."""
    __slots__ = ("best", "best_text", "n", "seen", "spec", "total", "values")

    def __init__(self, spec: _AggSpec):
        self.spec, self.n, self.total, self.values = spec, 0, 0, []
        self.best = self.best_text = None
        self.seen: set | None = set() if spec.name == "count_distinct" else None

    def add(self, rec: _Rec) -> None:
        spec = self.spec
        if spec.arg is None:
            self.n += 1
            return
        value = spec.arg(rec)
        if value is None:
            return
        name = spec.name
        if name == "count":
            self.n += 1
        elif name == "count_distinct":
            self.seen.add(_text(value))
        elif name in ("sum", "avg", "stddev"):
            number = _num(value)
            if number is not None:
                self.n += 1
                self.total += number
                if name == "stddev":
                    self.values.append(number)
        elif name in ("min", "max"):
            number = _num(value)
            if number is not None:
                if self.best is None or (number < _num(self.best) if name == "min" else number > _num(self.best)):
                    self.best = value
            else:
                self.best_text = _better(name == "min")(self.best_text, value)
        elif name == "pct":
            self.values.append(value)
        elif name in ("earliest", "latest"):
            ms = rec.get("@timestamp")
            if ms is not None and (self.best is None or (ms < self.best[0] if name == "earliest"
                                                         else ms > self.best[0])):
                self.best = (ms, value)
        else:  # sortsFirst / sortsLast
            self.best = _better(name == "sortsfirst")(self.best, value)

    def result(self):
        name = self.spec.name
        if name == "count":
            return self.n
        if name == "count_distinct":
            return len(self.seen)
        if name in ("sum", "avg", "stddev") and not self.n:
            return None
        if name == "sum":
            return self.total
        if name == "avg":
            return self.total / self.n
        if name == "stddev":
            mean = self.total / self.n
            return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (self.n - 1)) if self.n > 1 else 0
        if name in ("min", "max"):
            return self.best if self.best is not None else self.best_text
        if name == "pct":
            if not self.values:
                return None
            ordered = sorted(self.values, key=_sort_key)
            rank = max(math.ceil(self.spec.percent / 100 * len(ordered)), 1)
            return ordered[rank - 1]
        if name in ("earliest", "latest"):
            value = None if self.best is None else self.best[1]
            return int(value) if isinstance(value, Timestamp) else value
        return self.best


@dataclass
class _Stats:
    groups: list  # [(name, fn, is a bin)]
    items: list  # [(name, fn)]
    aggs: list  # [_AggSpec]

    def run(self, recs: list[_Rec]) -> list[_Rec]:
        found: dict[tuple, tuple[list, list[_State]]] = {}
        for rec in recs:
            values = [fn(rec) for _, fn, _ in self.groups]
            key = tuple(_text(v) for v in values)
            group = found.get(key)
            if group is None:
                group = found[key] = (values, [_State(spec) for spec in self.aggs])
            for state in group[1]:
                state.add(rec)
        if not self.groups and not found:  # stats with no `by` gives one row, even over nothing
            found[()] = ([], [_State(spec) for spec in self.aggs])
        rows = []
        for values, states in found.values():
            row = _Rec()
            for (name, _, is_bin), value in zip(self.groups, values):
                row.vals[name] = value
                if is_bin:
                    row.vals.setdefault("@timestamp", value)
            for i, state in enumerate(states):
                row.vals[("agg", i)] = state.result()
            for name, fn in self.items:
                row.vals[name] = fn(row)
            rows.append(row)
        return rows


# -- query -----------------------------------------------------------------------------

@dataclass
class QueryResult:
    rows: list[list[tuple[str, str]]]
    records_matched: float
    records_scanned: float
    bytes_scanned: float


def _newest_first(recs: Iterable[_Rec]) -> list[_Rec]:
    return sorted(recs, key=lambda r: r.get("@timestamp") or 0, reverse=True)


class Query:
    """A compiled query: run it over events as often as needed."""

    def __init__(self, text: str, commands: list[_Command]):
        self.text = text
        self.has_stats = any(c.kind == "stats" for c in commands)
        limits = [c.count for c in commands if c.kind == "limit"]
        self.limit = min(limits) if limits else DEFAULT_LIMIT
        self.fields_referenced: set[str] = set()
        self._steps: list[tuple[bool, Callable]] = []  # (applies per record, step)
        self._build(commands)

    # building

    def _build(self, commands: list[_Command]) -> None:
        text = self.text
        available: set[str] | None = None  # after stats: the fields it defined
        stats_seen = 0
        declared: list[str] = []  # the fields of fields / parse commands (since the last stats)
        display = None
        for i, cmd in enumerate(commands):
            if cmd.kind != "limit" and any(c.kind == "dedup" for c in commands[:i]):
                raise _unexpected(text, _Tok("name", cmd.kind, cmd.pos, cmd.pos, text[cmd.pos:].split()[0]))
            if cmd.kind == "stats":
                stats_seen += 1
                if stats_seen > MAX_STATS:
                    raise _invalid(text, cmd.pos, f"a query can have at most {MAX_STATS} stats commands")
                early = [c for c in commands[:i] if c.kind in ("sort", "limit")]
                if stats_seen == MAX_STATS and early:
                    raise _invalid(text, early[0].pos, f"{early[0].kind} must come after the second stats command")
            compiler = _Compiler(text)
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

    def _check(self, compiler: _Compiler, available: set[str] | None, cmd: _Command) -> None:
        if available is None:
            return
        for name, pos, _ in compiler.refs:
            if name not in available:
                raise _invalid(self.text, pos, f"invalid reference to field {name}: after stats, only the "
                                                f"fields stats defines can be used")

    def _step(self, cmd: _Command, compiler: _Compiler):
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
            return True, lambda recs: (rec for rec in recs if _tri(condition(rec)) is True)
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
                compiler.ref(name, _Node("field", name, pos=cmd.pos))
            return False, self._dedup_step(cmd.names)
        return False, self._stats_step(cmd, compiler)

    @staticmethod
    def _parse_step(cmd: _Command, compiler: _Compiler):
        source, search = compiler.compile(cmd.node), cmd.pattern.search
        targets = list(zip(cmd.names, cmd.groupnames))

        def parse(recs):
            for rec in recs:
                text = _text(source(rec))
                match = None if text is None else search(text)
                for name, group in targets:
                    rec.vals[name] = None if match is None else match.group(group)
                yield rec
        return parse

    @staticmethod
    def _sort_step(cmd: _Command, compiler: _Compiler):
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
            decorated = [([None if (v := fn(r)) is None else _sort_key(v) for fn, _ in keys], r) for r in recs]
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
                    key = tuple(_text(v) for v in values)
                    if key in seen:
                        continue
                    seen.add(key)
                kept.append(rec)
            return kept
        return dedup

    def _stats_step(self, cmd: _Command, compiler: _Compiler):
        groups = []
        for node, name in cmd.groups:
            groups.append((name, compiler.compile(node), _is_bin(node)))
        aggs: list[_AggSpec] = []
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
                    raise _invalid(self.text, pos, f"{ref} must be inside a stats function such as count()")
            if len(aggs) == before and not outside:
                raise _invalid(self.text, node.pos, f"{name} is not a statistic")
            # Names of earlier statistics are read from the stats row, not events.
            compiler.refs[start:] = [r for r in compiler.refs[start:] if r[2] or r[0] not in known]
            items.append((name, fn))
            known.add(name)
        return _Stats(groups, items, aggs).run

    def _columns_for(self, commands: list[_Command], declared: list[str], display) -> list[tuple[str, Fn]]:
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
                yield _Rec(event)

        recs: Iterable[_Rec] = scan()
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

    def _row(self, rec: _Rec) -> list[tuple[str, str]]:
        row = []
        for name, fn in self._columns:
            value = fn(rec)
            if value is not None:
                row.append((name, _text(value)))
        if not self.has_stats and "@ptr" not in (name for name, _ in row):
            pointer = rec.get("@ptr")
            if pointer is not None:
                row.append(("@ptr", pointer))
        return row


def _is_bin(node: _Node) -> bool:
    return node.kind == "call" and node.value == "bin"


def compile_query(text: str) -> Query:
    """Parse and check a Logs Insights query (QueryError if it is not valid)."""
    return Query(text, _Parser(text).query())
