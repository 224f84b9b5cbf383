"""CloudWatch Logs filter patterns (the Logs User Guide, "Filter pattern
syntax for metric filters, subscription filters, filter log events, and
Live Tail"), compiled once into a predicate on a message. Pure.

- Terms: every plain term must appear (case-sensitive), none of the
  `-term`s may, and of the `?term`s at least one must; "a quoted phrase" is
  one term. An empty pattern matches everything.
- JSON, `{ ... }`: selectors `$.a.b[0]` compared with `=`, `!=` (strings,
  `*` wildcards, numbers), `<`, `<=`, `>`, `>=` (numbers), `IS TRUE`,
  `IS FALSE`, `IS NULL`, `EXISTS`, `NOT EXISTS`, `%regex%`; `&&`, `||`,
  parentheses. A message that is not JSON matches none.
- Space-delimited, `[ ... ]`: named fields (`...` for any number of them),
  each with conditions (`=`, `!=`, numbers compared, `*` wildcards,
  `%regex%`) joined by `&&` / `||`; a message's fields are split on
  spaces, "quoted" and [bracketed] text counting as one.
- `%regex%` on its own: a regular expression searched in the message.
"""

from __future__ import annotations

import json
import re
from typing import Callable

Matcher = Callable[[str], bool]


class PatternError(ValueError):
    pass


def compile_fields(pattern: str | None) -> Callable[[str], dict | None]:
    """Like compile_pattern, but a match gives the values a metric filter
    can read: a space-delimited pattern's named fields as "$name"; for
    other patterns an empty dict (metric filters read JSON messages with
    "$." selectors: `json_value`)."""
    text = (pattern or "").strip()
    if text.startswith("[") and text.endswith("]"):
        return _delimited(text[1:-1], bindings=True)
    match = compile_pattern(pattern)
    return lambda message: {} if match(message) else None


def json_value(message: str, selector: str):
    """The value a "$.a.b[0]" selector picks out of a JSON message (None
    when the message is not JSON or has no such value)."""
    try:
        doc = json.loads(message)
    except ValueError:
        return None
    found = _select(doc, _json_path(selector))
    return None if found is _MISSING else found


def compile_pattern(pattern: str | None) -> Matcher:
    text = (pattern or "").strip()
    if not text:
        return lambda message: True
    if text.startswith("{"):
        if not text.endswith("}"):
            raise PatternError("Invalid JSON filter pattern.")
        expr = _JsonParser(text[1:-1]).parse()
        return lambda message: _json_match(expr, message)
    if text.startswith("["):
        if not text.endswith("]"):
            raise PatternError("Invalid space-delimited filter pattern.")
        return _delimited(text[1:-1])
    if len(text) > 1 and text.startswith("%") and text.endswith("%"):
        regex = _regex(text[1:-1])
        return lambda message: regex.search(message) is not None
    return _terms(text)


# -- terms ---------------------------------------------------------------------------

_TERM = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))')


def _terms(text: str) -> Matcher:
    required, excluded, optional = [], [], []
    pos = 0
    for m in _TERM.finditer(text):
        if text[pos:m.start()].strip():
            raise PatternError("Invalid filter pattern.")
        pos = m.end()
        prefix, quoted, bare = m.groups()
        term = quoted.replace('\\"', '"') if quoted is not None else bare
        {"": required, "-": excluded, "?": optional}[prefix].append(term)

    def match(message: str) -> bool:
        return (all(t in message for t in required) and not any(t in message for t in excluded)
                and (not optional or any(t in message for t in optional)))
    return match


def _regex(body: str) -> re.Pattern:
    if "(" in body or ")" in body:
        raise PatternError("Invalid regex in filter pattern: parentheses are not supported.")
    try:
        return re.compile(body)
    except re.error:
        raise PatternError("Invalid regex in filter pattern.") from None


def _wildcard(value: str) -> re.Pattern:
    return re.compile("^" + ".*".join(re.escape(part) for part in value.split("*")) + "$", re.DOTALL)


# -- JSON --------------------------------------------------------------------------

_JSON_TOKEN = re.compile(r'\s*(\$[\w.\[\]*-]*|&&|\|\||\(|\)|!=|<=|>=|=|<|>|"(?:[^"\\]|\\.)*"|%[^%]*%|'
                         r'[^\s()&|=<>!]+)')


class _JsonParser:
    def __init__(self, text: str):
        self.tokens = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _JSON_TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise PatternError("Invalid JSON filter pattern.")
            self.tokens.append(m.group(1))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise PatternError("Invalid JSON filter pattern.")
        self.i += 1
        return token

    def parse(self):
        expr = self.parse_or()
        if self.peek() is not None:
            raise PatternError("Invalid JSON filter pattern.")
        return expr

    def parse_or(self):
        left = self.parse_and()
        while self.peek() == "||":
            self.take()
            left = ("or", left, self.parse_and())
        return left

    def parse_and(self):
        left = self.parse_atom()
        while self.peek() == "&&":
            self.take()
            left = ("and", left, self.parse_atom())
        return left

    def parse_atom(self):
        token = self.take()
        if token == "(":
            expr = self.parse_or()
            if self.take() != ")":
                raise PatternError("Invalid JSON filter pattern.")
            return expr
        if not token.startswith("$"):
            raise PatternError("Invalid JSON filter pattern.")
        path = _json_path(token)
        op = self.take()
        if op.upper() == "IS":
            value = self.take().upper()
            if value not in ("TRUE", "FALSE", "NULL"):
                raise PatternError("Invalid JSON filter pattern.")
            return ("is", path, value)
        if op.upper() == "NOT":
            if self.take().upper() != "EXISTS":
                raise PatternError("Invalid JSON filter pattern.")
            return ("exists", path, False)
        if op.upper() == "EXISTS":
            return ("exists", path, True)
        if op not in ("=", "!=", "<", "<=", ">", ">="):
            raise PatternError("Invalid JSON filter pattern.")
        return ("cmp", path, op, _value(self.take()))


def _json_path(token: str) -> list:
    parts: list = []
    for name, index in re.findall(r"\.([^.\[\]]+)|\[(\d+)\]", token[1:]):
        parts.append(int(index) if index else name)
    return parts


def _value(token: str):
    """A pattern value: ("str", matcher), ("num", float) or ("re", regex)."""
    if token.startswith("%") and token.endswith("%") and len(token) > 1:
        return ("re", _regex(token[1:-1]))
    if token.startswith('"'):
        return ("str", _wildcard(json.loads(token)), json.loads(token))
    try:
        return ("num", float(token), token)
    except ValueError:
        return ("str", _wildcard(token), token)


_MISSING = object()


def _select(doc, path: list):
    for part in path:
        if isinstance(part, int):
            if not isinstance(doc, list) or part >= len(doc):
                return _MISSING
            doc = doc[part]
        elif part == "*":
            return _MISSING
        else:
            if not isinstance(doc, dict) or part not in doc:
                return _MISSING
            doc = doc[part]
    return doc


def _json_match(expr, message: str) -> bool:
    try:
        doc = json.loads(message)
    except ValueError:
        return False
    return _eval_json(expr, doc)


def _eval_json(expr, doc) -> bool:
    kind = expr[0]
    if kind == "and":
        return _eval_json(expr[1], doc) and _eval_json(expr[2], doc)
    if kind == "or":
        return _eval_json(expr[1], doc) or _eval_json(expr[2], doc)
    found = _select(doc, expr[1])
    if kind == "exists":
        return (found is not _MISSING) == expr[2]
    if kind == "is":
        if found is _MISSING:
            return False
        return {"TRUE": found is True, "FALSE": found is False, "NULL": found is None}[expr[2]]
    _, _, op, value = expr
    if found is _MISSING:
        return False
    return _compare(found, op, value)


def _compare(found, op: str, value) -> bool:
    kind = value[0]
    if kind == "num":
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            if isinstance(found, str):
                try:
                    found = float(found)
                except ValueError:
                    return op == "!="
            else:
                return op == "!="
        return {"=": found == value[1], "!=": found != value[1], "<": found < value[1],
                "<=": found <= value[1], ">": found > value[1], ">=": found >= value[1]}[op]
    if op not in ("=", "!="):
        return False
    text = found if isinstance(found, str) else json.dumps(found)
    hit = value[1].search(text) is not None if kind == "re" else value[1].match(text) is not None
    return hit if op == "=" else not hit


# -- space-delimited ------------------------------------------------------------

_FIELD_SPLIT = re.compile(r'"[^"]*"|\[[^\]]*\]|\S+')


def _delimited(body: str, bindings: bool = False):
    specs = []  # ("...",) or (name, condition or None)
    for raw in _split_top(body):
        raw = raw.strip()
        if not raw:
            raise PatternError("Invalid space-delimited filter pattern.")
        if raw == "...":
            specs.append(("...", None))
            continue
        m = re.match(r"^([A-Za-z_][\w-]*)\s*(.*)$", raw, re.DOTALL)
        if m is None:
            raise PatternError("Invalid space-delimited filter pattern.")
        name, rest = m.groups()
        condition = _field_condition(name, rest.strip()) if rest.strip() else None
        specs.append((name, condition))

    def match(message: str):
        fields = [f[1:-1] if (f[:1] == '"' and f[-1:] == '"') or (f[:1] == "[" and f[-1:] == "]") else f
                  for f in _FIELD_SPLIT.findall(message)]
        bound: dict = {}
        ok = _fit(specs, 0, fields, 0, bound)
        if bindings:
            return bound if ok else None
        return ok
    return match


def _split_top(body: str) -> list[str]:
    parts, depth, quoted, current = [], 0, False, []
    for ch in body:
        if ch == '"':
            quoted = not quoted
        if not quoted and ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def _field_condition(name: str, text: str):
    """`= 4*`, `!= 200`, `> 1000`, joined by && / || (naming the field again)."""
    def one(clause: str):
        m = re.match(r"^(?:" + re.escape(name) + r")?\s*(!=|<=|>=|=|<|>)\s*(.+)$", clause.strip(), re.DOTALL)
        if m is None:
            raise PatternError("Invalid space-delimited filter pattern.")
        return (m.group(1), _value(m.group(2).strip()))
    alternatives = []
    for alternative in re.split(r"\|\|", text):
        alternatives.append([one(c) for c in re.split(r"&&", alternative)])
    return alternatives


def _field_ok(condition, value: str) -> bool:
    if condition is None:
        return True
    return any(all(_compare(value, op, v) for op, v in clauses) for clauses in condition)


def _fit(specs: list, i: int, fields: list[str], j: int, bound: dict) -> bool:
    if i == len(specs):
        return j == len(fields)
    name, condition = specs[i]
    if name == "...":
        return any(_fit(specs, i + 1, fields, k, bound) for k in range(j, len(fields) + 1))
    if j >= len(fields) or not _field_ok(condition, fields[j]):
        return False
    bound["$" + name] = fields[j]
    return _fit(specs, i + 1, fields, j + 1, bound)
