"""The syntax of the Logs Insights query language: tokens, the grammar,
and the syntax tree of commands and expressions. Pure; standard library
only.

parse_query(text) gives the commands of a query, raising QueryError
(worded as AWS's MalformedQueryException: "unexpected symbol found X at
line L and position P", P counted from 0 as AWS's parser does). What the
commands mean, and the order they may come in, is insightsquery.py's.

- Commands are separated by `|`; `#` starts a comment. Command, keyword
  and function names are case-insensitive; field names are not, and need
  backticks when they hold anything but letters, digits, _, @ and dots.
  parse takes a glob with `*` and `as`, or a /regex/ with named groups
  `(?<name>...)`.
- Expressions: + - * / % ^, = != < <= > >=, and / or / not, like and =~
  with "substring" or /regex/, in [...] and not in [...], function calls
  (insightsfunctions.py knows the names). Periods: ms, s, m, h, d, w, mo,
  q, y and their long forms, capped as the guide says (bin(300s) is
  bin(60s)).
- Where the guide is silent: a glob's `*` matches as little as it can, a
  final one the rest; it is searched anywhere in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_LIMIT = 10_000


class QueryError(ValueError):
    pass


# -- lexer -----------------------------------------------------------------------------

@dataclass
class Token:
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


def invalid(text: str, pos: int, message: str) -> QueryError:
    return QueryError(f"{message} (at {_where(text, pos)})")


def unexpected(text: str, tok: Token) -> QueryError:
    return QueryError(f"unexpected symbol found {tok.text or '<EOF>'} at {_where(text, tok.pos)}")


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body, flags=re.DOTALL)


def _regex_may_follow(toks: list[Token]) -> bool:
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


def _lex(text: str) -> list[Token]:
    toks: list[Token] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "/" and _regex_may_follow(toks):
            end = pos + 1
            while end < len(text) and text[end] != "/":
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise invalid(text, pos, "unterminated regular expression")
            toks.append(Token("regex", text[pos + 1:end].replace("\\/", "/"), pos, end + 1, text[pos:end + 1]))
            pos = end + 1
            continue
        m = _LEX.match(text, pos)
        if m is None:
            bad = text[pos]
            if bad in "\"'`":
                raise invalid(text, pos, f"unterminated quote {bad}")
            raise unexpected(text, Token("op", bad, pos, pos + 1, bad))
        kind, lexeme = m.lastgroup, m.group()
        if kind == "number":
            toks.append(Token(kind, float(lexeme) if "." in lexeme else int(lexeme), pos, m.end(), lexeme))
        elif kind == "string":
            toks.append(Token(kind, _unescape(lexeme[1:-1]), pos, m.end(), lexeme))
        elif kind == "quoted":
            toks.append(Token(kind, lexeme[1:-1], pos, m.end(), lexeme))
        elif kind in ("name", "op", "period"):
            toks.append(Token(kind, lexeme, pos, m.end(), lexeme))
        pos = m.end()
    toks.append(Token("end", None, len(text), len(text), ""))
    return toks


# -- syntax tree -----------------------------------------------------------------------

class Node:
    """kind: lit, field, period, regex, list, star, neg, not, and, or, arith
    (value: operator), cmp (value: operator), like / in (value: negated),
    call (value: lower-case name)."""
    __slots__ = ("args", "kind", "pos", "text", "value")

    def __init__(self, kind: str, value=None, args: tuple = (), text: str = "", pos: int = 0):
        self.kind, self.value, self.args, self.text, self.pos = kind, value, args, text, pos


# Period units by each name they go by, singular or plural.
_UNIT_NAMES = {"ms": ("millisecond", "ms", "msec"), "s": ("second", "s", "sec"), "m": ("minute", "m", "min"),
               "h": ("hour", "h", "hr"), "d": ("day", "d"), "w": ("week", "w"), "mo": ("month", "mo", "mon"),
               "q": ("quarter", "q", "qtr"), "y": ("year", "y", "yr")}
_UNITS = {alias: unit for unit, names in _UNIT_NAMES.items()
          for name in names for alias in ((name, name + "s") if len(name) > 1 else (name,))}
_CAPS = {"ms": 1000, "s": 60, "m": 60, "h": 24}  # the guide: bin(300s) is bin(60s)

_RESERVED = {"and", "or", "not", "like", "in", "as", "by", "asc", "desc"}
_UNSUPPORTED_COMMANDS = {"pattern", "diff", "anomaly", "unnest", "expand", "lookup", "join", "filterindex",
                         "source", "head", "tail", "addtotals", "relevantfields"}


@dataclass
class Command:
    kind: str
    pos: int
    items: list = field(default_factory=list)  # [(node, name)]; sort: [(node, descending)]
    groups: list = field(default_factory=list)  # stats: [(node, name)]
    node: Node | None = None  # filter: condition; parse: source field
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
        raise invalid(text, pos, f"invalid regular expression /{body}/: {err}") from None


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _lex(text)
        self.i = 0

    # tokens

    def peek(self, ahead: int = 0) -> Token:
        return self.toks[min(self.i + ahead, len(self.toks) - 1)]

    def next(self) -> Token:
        tok = self.peek()
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def fail(self, tok: Token | None = None) -> QueryError:
        return unexpected(self.text, tok or self.peek())

    @staticmethod
    def word(tok: Token) -> str | None:
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

    def node(self, kind: str, start: int, value=None, args: tuple = ()) -> Node:
        return Node(kind, value, args, self.text[start:self.toks[self.i - 1].end].strip(), start)

    # commands

    def query(self) -> list[Command]:
        if self.peek().kind == "end":
            raise QueryError("the query is empty")
        commands = [self.command()]
        while self.accept_op("|"):
            commands.append(self.command())
        if self.peek().kind != "end":
            raise self.fail()
        return commands

    def command(self) -> Command:
        tok = self.next()
        word = self.word(tok)
        if word in _UNSUPPORTED_COMMANDS:
            raise invalid(self.text, tok.pos, f"the {tok.value} command is not supported here")
        handler = getattr(self, f"cmd_{word}", None) if word else None
        if handler is None:
            raise self.fail(tok)
        return handler(tok.pos)

    def cmd_fields(self, pos: int) -> Command:
        return Command("fields", pos, items=self.items())

    def cmd_display(self, pos: int) -> Command:
        return Command("display", pos, items=self.items())

    def cmd_filter(self, pos: int) -> Command:
        return Command("filter", pos, node=self.expr())

    def cmd_stats(self, pos: int) -> Command:
        items = self.items()
        return Command("stats", pos, items=items, groups=self.items() if self.accept_word("by") else [])

    def cmd_sort(self, pos: int) -> Command:
        keys = []
        while True:
            node = self.expr()
            descending = not self.accept_word("asc")
            if descending:
                self.accept_word("desc")
            keys.append((node, descending))
            if not self.accept_op(","):
                return Command("sort", pos, items=keys)

    def cmd_limit(self, pos: int) -> Command:
        tok = self.next()
        if tok.kind != "number" or not isinstance(tok.value, int):
            raise self.fail(tok)
        if not 1 <= tok.value <= MAX_LIMIT:
            raise invalid(self.text, tok.pos, f"limit must be between 1 and {MAX_LIMIT}")
        return Command("limit", pos, count=tok.value)

    def cmd_parse(self, pos: int) -> Command:
        source = Node("field", "@message", text="@message", pos=pos)
        if self.peek().kind in ("name", "quoted"):
            tok = self.next()
            source = Node("field", tok.value, text=tok.text, pos=tok.pos)
        tok = self.next()
        if tok.kind == "string":
            if not self.accept_word("as"):
                raise self.fail()
            names = self.names()
            parts = tok.value.split("*")
            if len(parts) - 1 != len(names):
                raise invalid(self.text, tok.pos,
                               f"parse: the pattern has {len(parts) - 1} wildcards for {len(names)} fields")
            body = "".join(re.escape(p) + ("(.*?)" if i < len(parts) - 2 or parts[-1] else "(.*)")
                           for i, p in enumerate(parts[:-1])) + re.escape(parts[-1])
            return Command("parse", pos, node=source, names=names, pattern=re.compile(body, re.DOTALL),
                            groupnames=list(range(1, len(names) + 1)))
        if tok.kind == "regex":
            pattern, groups = _regex(self.text, tok.value, tok.pos)
            if self.accept_word("as"):
                names = self.names()
                if len(names) > pattern.groups:
                    raise invalid(self.text, tok.pos,
                                   f"parse: the pattern has {pattern.groups} groups for {len(names)} fields")
                return Command("parse", pos, node=source, names=names, pattern=pattern,
                                groupnames=list(range(1, len(names) + 1)))
            if not groups:
                raise invalid(self.text, tok.pos, "parse: the regular expression names no group (?<name>...)")
            return Command("parse", pos, node=source, names=groups, pattern=pattern,
                            groupnames=[f"_g{i}" for i in range(len(groups))])
        if self.word(tok) in ("logfmt", "csv", "xml", "json"):
            raise invalid(self.text, tok.pos, f"parse {tok.value} is not supported here")
        raise self.fail(tok)

    def cmd_dedup(self, pos: int) -> Command:
        return Command("dedup", pos, names=self.names())

    def cmd_unmask(self, pos: int) -> Command:
        if self.accept_op("("):
            self.name()
            self.expect_op(")")
        elif self.peek().kind in ("name", "quoted"):
            self.name()
        return Command("unmask", pos)

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

    def items(self) -> list[tuple[Node, str]]:
        items = []
        while True:
            node = self.expr()
            items.append((node, self.name() if self.accept_word("as") else
                          node.value if node.kind == "field" else node.text))
            if not self.accept_op(","):
                return items

    # expressions, loosest first

    def expr(self) -> Node:
        return self.disjunction()

    def disjunction(self) -> Node:
        start, left = self.peek().pos, self.conjunction()
        while self.accept_word("or"):
            left = self.node("or", start, args=(left, self.conjunction()))
        return left

    def conjunction(self) -> Node:
        start, left = self.peek().pos, self.negation()
        while self.accept_word("and"):
            left = self.node("and", start, args=(left, self.negation()))
        return left

    def negation(self) -> Node:
        start = self.peek().pos
        if self.accept_word("not"):
            return self.node("not", start, args=(self.negation(),))
        return self.comparison()

    def comparison(self) -> Node:
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

    def pattern(self) -> Node:
        tok = self.next()
        if tok.kind == "string":
            return Node("lit", tok.value, text=tok.text, pos=tok.pos)
        if tok.kind == "regex":
            return Node("regex", _regex(self.text, tok.value, tok.pos)[0], text=tok.text, pos=tok.pos)
        raise self.fail(tok)

    def list_(self) -> Node:
        start = self.peek().pos
        self.expect_op("[")
        items = []
        if not self.accept_op("]"):
            items.append(self.expr())
            while self.accept_op(","):
                items.append(self.expr())
            self.expect_op("]")
        return self.node("list", start, args=tuple(items))

    def additive(self) -> Node:
        start, left = self.peek().pos, self.multiplicative()
        while self.peek().kind == "op" and self.peek().value in ("+", "-"):
            op = self.next().value
            left = self.node("arith", start, op, (left, self.multiplicative()))
        return left

    def multiplicative(self) -> Node:
        start, left = self.peek().pos, self.unary()
        while self.peek().kind == "op" and self.peek().value in ("*", "/", "%"):
            op = self.next().value
            left = self.node("arith", start, op, (left, self.unary()))
        return left

    def unary(self) -> Node:
        start = self.peek().pos
        if self.accept_op("-"):
            return self.node("neg", start, args=(self.unary(),))
        base = self.primary()
        if self.accept_op("^"):
            return self.node("arith", start, "^", (base, self.unary()))
        return base

    def primary(self) -> Node:
        tok = self.next()
        if tok.kind in ("number", "string"):
            return Node("lit", tok.value, text=tok.text, pos=tok.pos)
        if tok.kind == "period":
            count, unit = re.match(r"([0-9]+)(.*)", tok.value).groups()
            unit = _UNITS.get(unit.lower())
            if unit is None or int(count) < 1:
                raise self.fail(tok)
            return Node("period", (min(int(count), _CAPS.get(unit, int(count))), unit), text=tok.text, pos=tok.pos)
        if tok.kind == "quoted":
            return Node("field", tok.value, text=tok.text, pos=tok.pos)
        if tok.kind == "op" and tok.value == "(":
            inner = self.expr()
            self.expect_op(")")
            return inner
        word = self.word(tok)
        if word is None or word in _RESERVED:
            raise self.fail(tok)
        if word in ("true", "false"):
            return Node("lit", word == "true", text=tok.text, pos=tok.pos)
        if not self.accept_op("("):
            return Node("field", tok.value, text=tok.text, pos=tok.pos)
        args: list[Node] = []
        if self.peek().kind == "op" and self.peek().value == "*" and self.peek(1).value == ")":
            star = self.next()
            args.append(Node("star", text="*", pos=star.pos))
        elif self.peek().value != ")" or self.peek().kind != "op":
            args.append(self.expr())
            while self.accept_op(","):
                args.append(self.expr())
        self.expect_op(")")
        return self.node("call", tok.pos, word, tuple(args))




def parse_query(text: str) -> list[Command]:
    """The commands of a query (QueryError if it does not parse)."""
    return _Parser(text).query()
