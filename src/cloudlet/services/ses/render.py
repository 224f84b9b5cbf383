"""SES email templates: the Handlebars that SES renders templates with.

What the SES Developer Guide says ("Using templates to send personalized
email", "Advanced email personalization"):

- SubjectPart, TextPart and HtmlPart (v2: Subject, Text, Html) are Handlebars
  templates: nested paths ({{contact.firstName}}), #each over lists, #if /
  #unless / else, inline partials ({{#*inline "x"}}...{{/inline}} and
  {{> x}}), and the other built-in helpers (#with, lookup, log).
- "SES doesn't escape HTML content when rendering the HTML template for a
  message." So {{x}} and {{{x}}} both insert the value as it is, in every
  part. Handlebars.js would escape {{x}}; `render(..., escape=True)` does
  that for anyone who wants it. SES never does.
- A template variable the data lacks is a Rendering Failure, reported as
  "Attribute 'favoritecolor' is not present in the rendering data." (AWS
  knowledge-center article "ses-sendtemplatedemail-delivery-failure", and
  Rendering Failure events; TestRenderTemplate answers it as
  MissingRenderingAttribute). Extra data is fine, names are case-sensitive.
- InvalidRenderingParameter: "This error may occur when the TemplateData
  object contains invalid JSON." InvalidTemplate: the template "could not be
  rendered ... when a template refers to a partial that does not exist."

Decided here, where the guide is silent:

- The missing-attribute check runs while rendering (`strict=True`): an
  expression {{x}} / {{{x}}} whose value is missing or null fails, named as
  written (e.g. 'contact.firstName'); in an #each body each item is checked
  as it is rendered, and a branch not taken is not checked. Conditions,
  #each/#with arguments and helper parameters may be missing (they are how a
  template tests for presence). `render` defaults to plain Handlebars
  (missing renders as ""); `render_template`, the SES path, is strict.
- `required_attributes` lists what a template reads from the top-level data
  outside #each/#with bodies (also inside #if branches): a static preview
  of the strict check, not the check itself.
- Values print as Handlebars.js prints them: true/false, 2.0 as "2", lists
  joined by ",", objects as "[object Object]", null as "".
- Truthiness as Handlebars.js: false, null, missing, 0, "" and [] are false;
  {} is true; #if x includeZero=true keeps 0.
- Whitespace control follows Handlebars: {{~ and ~}} trim, and block, else,
  comment and partial tags alone on a line take the line with them.
- Not supported (InvalidTemplate): subexpressions, partial blocks
  ({{#> x}}), decorators other than inline, helpers beyond the built-ins.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

INVALID_TEMPLATE = "InvalidTemplate"
INVALID_RENDERING_PARAMETER = "InvalidRenderingParameter"
MISSING_RENDERING_ATTRIBUTE = "MissingRenderingAttribute"

MISSING_ATTRIBUTE_MESSAGE = "Attribute '{}' is not present in the rendering data."

# v1 (CreateTemplate) and v2 (CreateEmailTemplate) names of the three parts.
PART_NAMES = ("SubjectPart", "TextPart", "HtmlPart", "Subject", "Text", "Html")

_MAX_PARTIAL_DEPTH = 64
_MAX_BLOCK_DEPTH = 100   # rendering recurses per level; a 500 KB template could nest far deeper


class RenderError(ValueError):
    """A template SES could not render; `code` is the SES error it maps to."""

    def __init__(self, message: str, code: str = INVALID_TEMPLATE, attribute: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.attribute = attribute


class _Missing:
    """A path the data does not have (unlike null, which it has)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()

# -- syntax tree ---------------------------------------------------------------


@dataclass
class _Text:
    value: str
    original: str
    lstripped: bool = False   # trailing whitespace was cut (Handlebars' leftStripped)
    rstripped: bool = False   # leading whitespace was cut


@dataclass(frozen=True)
class _Path:
    original: str
    parts: tuple[str, ...]
    depth: int = 0            # how many ../
    data: bool = False        # @index, @root.x
    this: bool = False        # this.x, ./x, .


@dataclass(frozen=True)
class _Literal:
    value: Any


@dataclass
class _Expr:
    head: _Path | _Literal
    params: list[Any]
    hash: dict[str, Any]
    block_params: tuple[str, ...] = ()
    line: int = 1


@dataclass
class _Mustache:
    expr: _Expr
    raw: bool
    strip: tuple[bool, bool]


@dataclass
class _Comment:
    strip: tuple[bool, bool]


@dataclass
class _Partial:
    name: str
    context: Any              # a param, or None
    hash: dict[str, Any]
    strip: tuple[bool, bool]
    line: int
    indent: str = ""


@dataclass
class _Block:
    kind: str                 # "#", "^" (inverted section) or "inline"
    name: str                 # as written in the open tag, matched by the close tag
    expr: _Expr | None
    open_strip: tuple[bool, bool]
    line: int
    program: list = field(default_factory=list)
    inverse: list | None = None
    inverse_chained: bool = False   # {{else if ...}}: inverse is [one chained _Block]
    inverse_strip: tuple[bool, bool] = (False, False)
    close_strip: tuple[bool, bool] = (False, False)
    chained: bool = False
    partial_name: str | None = None  # inline partials


# -- lexing --------------------------------------------------------------------

_COMMENT_LONG_END = re.compile(r"--(~?)\}\}")
_COMMENT_END = re.compile(r"(~?)\}\}")
_TRIPLE_END = re.compile(r"\}(~?)\}\}")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _lex(text: str) -> list:
    """Text and tags: ("text", str) or ("tag", kind, body, strip, line)."""
    out: list = []
    n = len(text)
    pos = 0

    def add_text(s: str) -> None:
        if not s:
            return
        if out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + s)
        else:
            out.append(("text", s))

    while pos < n:
        i = text.find("{{", pos)
        if i < 0:
            add_text(text[pos:])
            break
        if i > pos and text[i - 1] == "\\":
            if i - 1 > pos and text[i - 2] == "\\":
                # "\\{{": one backslash, then a real tag
                add_text(text[pos:i - 1])
            else:
                # "\{{": literal text up to the next "{{" (Handlebars' emu state)
                add_text(text[pos:i - 1])
                j = text.find("{{", i + 2)
                end = n if j < 0 else j
                while end > i + 2 and text[end - 1] == "\\" and j - end < 2:
                    end -= 1
                add_text(text[i:end])
                pos = end
                continue
        else:
            add_text(text[pos:i])
        line = _line(text, i)
        j = i + 2
        strip_open = text.startswith("~", j)
        if strip_open:
            j += 1
        if text.startswith("!--", j):
            m = _COMMENT_LONG_END.search(text, j + 3)
            kind = "!"
        elif text.startswith("!", j):
            m = _COMMENT_END.search(text, j + 1)
            kind = "!"
        elif text.startswith("{", j):
            m = _TRIPLE_END.search(text, j + 1)
            kind = "{"
        else:
            m = None
            k = j
            while k < n:
                c = text[k]
                if c in "\"'":
                    q = text.find(c, k + 1)
                    k = n if q < 0 else q + 1
                    continue
                if text.startswith("}}", k):
                    strip_close = k > j and text[k - 1] == "~"
                    body = text[j:k - 1] if strip_close else text[j:k]
                    out.append(("tag", "", body, (strip_open, strip_close), line))
                    pos = k + 2
                    break
                k += 1
            else:
                raise RenderError(f"Unclosed tag '{{{{' on line {line}.")
            continue
        if m is None:
            raise RenderError(f"Unclosed tag '{{{{' on line {line}.")
        body = text[j + 1:m.start()] if kind == "{" else ""
        out.append(("tag", kind, body, (strip_open, m.group(1) == "~"), line))
        pos = m.end()
    return out


# -- expressions ---------------------------------------------------------------

_EXPR_TOKEN = re.compile(r"""
    \s*(?:
      (?P<bp>as\s+\|(?P<bpn>[^|]*)\|)
    | (?P<key>[^\s=()"'|\[\]]+)=
    | "(?P<dq>(?:\\.|[^"\\])*)"
    | '(?P<sq>(?:\\.|[^'\\])*)'
    | (?P<sub>\()
    | (?P<word>(?:\[[^\]]*\]|[^\s=()"'|\[\]])+)
    )""", re.VERBOSE)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?\Z")
_SEGMENT = re.compile(r"\[([^\]]*)\]|([^./\[\]]+|\.\.|\.)")
_KEYWORDS = {"true": True, "false": False, "null": None, "undefined": MISSING}


def _parse_path(word: str, line: int) -> _Path:
    data = word.startswith("@")
    s = word[1:] if data else word
    parts: list[str] = []
    depth, this, pos, want_segment = 0, False, 0, True
    while pos < len(s):
        if want_segment:
            m = _SEGMENT.match(s, pos)
            if m is None:
                raise RenderError(f"Invalid path '{word}' on line {line}.")
            pos = m.end()
            literal, plain = m.group(1), m.group(2)
            if literal is not None:
                parts.append(literal)
            elif plain == "..":
                if parts or this:
                    raise RenderError(f"Invalid path '{word}' on line {line}.")
                depth += 1
            elif plain in (".", "this"):
                if parts or this or depth:
                    raise RenderError(f"Invalid path '{word}' on line {line}.")
                this = True
            else:
                parts.append(plain)
            want_segment = False
        else:
            if s[pos] not in "./":
                raise RenderError(f"Invalid path '{word}' on line {line}.")
            pos += 1
            want_segment = True
    if want_segment and pos:
        raise RenderError(f"Invalid path '{word}' on line {line}.")
    if not s or (data and not parts):
        raise RenderError(f"Invalid path '{word}' on line {line}.")
    return _Path(word, tuple(parts), depth, data, this)


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s)


def _parse_expr(s: str, line: int) -> _Expr:
    items: list[Any] = []
    hash_: dict[str, Any] = {}
    block_params: tuple[str, ...] = ()
    pending_key: str | None = None
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = _EXPR_TOKEN.match(s, pos)
        if m is None or m.end() == pos:
            raise RenderError(f"Cannot parse '{{{{{s}}}}}' on line {line}.")
        pos = m.end()
        if m.group("sub"):
            raise RenderError(f"Subexpressions are not supported (line {line}).")
        if m.group("bp") is not None:
            block_params = tuple(m.group("bpn").split())
            continue
        if m.group("key") is not None:
            if pending_key is not None:
                raise RenderError(f"Cannot parse '{{{{{s}}}}}' on line {line}.")
            pending_key = m.group("key")
            continue
        if m.group("dq") is not None or m.group("sq") is not None:
            value: Any = _Literal(_unescape(m.group("dq") if m.group("dq") is not None else m.group("sq")))
        else:
            word = m.group("word")
            if _NUMBER.match(word):
                value = _Literal(float(word) if "." in word else int(word))
            elif word in _KEYWORDS:
                value = _Literal(_KEYWORDS[word])
            else:
                value = _parse_path(word, line)
        if pending_key is not None:
            hash_[pending_key] = value
            pending_key = None
        elif hash_:
            raise RenderError(f"Parameters must come before hash arguments (line {line}).")
        else:
            items.append(value)
    if pending_key is not None or not items:
        raise RenderError(f"Cannot parse '{{{{{s}}}}}' on line {line}.")
    return _Expr(items[0], items[1:], hash_, block_params, line)


def _name_of(expr: _Expr) -> str:
    head = expr.head
    return head.original if isinstance(head, _Path) else json.dumps(head.value)


def _helper_name(expr: _Expr) -> str | None:
    """The helper a head names, if it is a plain one-segment path."""
    head = expr.head
    if isinstance(head, _Path) and len(head.parts) == 1 and not (head.data or head.this or head.depth):
        return head.parts[0]
    return None


# -- parsing -------------------------------------------------------------------

_ELSE = re.compile(r"else(?:\s+(.*))?\Z", re.DOTALL)
_INLINE = re.compile(r"inline\s+(\"[^\"]*\"|'[^']*'|\S+)\s*\Z", re.DOTALL)
_PARTIAL = re.compile(r"\s*(\"[^\"]*\"|'[^']*'|\[[^\]]*\]|[^\s\"'\[]+)\s*(.*)\Z", re.DOTALL)


def _partial_name(word: str, line: int) -> str:
    if len(word) >= 2 and word[0] == word[-1] and word[0] in "\"'":
        return word[1:-1]
    if word.startswith("(") or not word:
        raise RenderError(f"Dynamic partials are not supported (line {line}).")
    return word.strip("[]")


def _parse(text: str) -> list:
    root: list = []
    stack: list[_Block] = []
    target = root
    for tok in _lex(text):
        if len(stack) > _MAX_BLOCK_DEPTH:
            raise RenderError(f"Blocks nest more than {_MAX_BLOCK_DEPTH} deep (line {stack[-1].line}).")
        if tok[0] == "text":
            target.append(_Text(tok[1], tok[1]))
            continue
        _, kind, body, strip, line = tok
        if kind == "!":
            target.append(_Comment(strip))
            continue
        if kind == "{":
            target.append(_Mustache(_parse_expr(body, line), True, strip))
            continue
        s = body.strip()
        if s.startswith("#>"):
            raise RenderError(f"Partial blocks ({{{{#> ...}}}}) are not supported (line {line}).")
        if s.startswith("#*"):
            m = _INLINE.match(s[2:].strip())
            if m is None:
                raise RenderError(f"Only the inline decorator is supported (line {line}).")
            block = _Block("inline", "inline", None, strip, line, partial_name=_partial_name(m.group(1), line))
            target.append(block)
            stack.append(block)
            target = block.program
        elif s.startswith("#") or (s.startswith("^") and s[1:].strip()):
            expr = _parse_expr(s[1:], line)
            block = _Block(s[0], _name_of(expr), expr, strip, line)
            target.append(block)
            stack.append(block)
            target = block.program
        elif s.startswith("^") or _ELSE.match(s):
            m = _ELSE.match(s)
            chain = m.group(1).strip() if m and m.group(1) else ""
            if not stack or stack[-1].kind == "inline":
                raise RenderError(f"{{{{else}}}} on line {line} is outside any block.")
            block = stack[-1]
            if block.inverse is not None:
                raise RenderError(f"Second {{{{else}}}} on line {line} in {{{{#{block.name}}}}} of line {block.line}.")
            block.inverse_strip = strip
            if chain:
                expr = _parse_expr(chain, line)
                chained = _Block("#", block.name, expr, strip, line, chained=True)
                block.inverse = [chained]
                block.inverse_chained = True
                stack.append(chained)
                target = chained.program
            else:
                block.inverse = []
                target = block.inverse
        elif s.startswith("/"):
            name = s[1:].strip()
            if not stack:
                raise RenderError(f"{{{{/{name}}}}} on line {line} closes no block.")
            while stack[-1].chained:
                stack.pop().close_strip = strip
            block = stack.pop()
            if block.name != name:
                raise RenderError(
                    f"{{{{/{name}}}}} on line {line} does not match {{{{#{block.name}}}}} of line {block.line}.")
            block.close_strip = strip
            target = _current_target(stack, root)
        elif s.startswith(">"):
            m = _PARTIAL.match(s[1:])
            if m is None:
                raise RenderError(f"Partial without a name on line {line}.")
            rest = _parse_expr("x " + m.group(2), line) if m.group(2) else None
            if rest and len(rest.params) > 1:
                raise RenderError(f"A partial takes one context parameter (line {line}).")
            context = rest.params[0] if rest and rest.params else None
            target.append(_Partial(_partial_name(m.group(1), line), context, rest.hash if rest else {}, strip, line))
        else:
            raw = s.startswith("&")
            target.append(_Mustache(_parse_expr(s[1:] if raw else s, line), raw, strip))
    if stack:
        block = next(b for b in reversed(stack) if not b.chained)
        opener = "{{#*inline}}" if block.kind == "inline" else f"{{{{{block.kind}{block.name}}}}}"
        raise RenderError(f"{opener} on line {block.line} is not closed.")
    _ws_program(root, True)
    return root


def _current_target(stack: list[_Block], root: list) -> list:
    if not stack:
        return root
    top = stack[-1]
    return top.inverse if top.inverse is not None else top.program


# -- whitespace control (a port of Handlebars' WhitespaceControl) -------------


def _is_prev_ws(body: list, i: int | None, is_root: bool) -> bool:
    if i is None:
        i = len(body)
    prev = body[i - 1] if i >= 1 else None
    sibling = body[i - 2] if i >= 2 else None
    if prev is None:
        return is_root
    if isinstance(prev, _Text):
        pattern = r"\r?\n\s*?\Z" if (sibling is not None or not is_root) else r"(?:\A|\r?\n)\s*?\Z"
        return re.search(pattern, prev.original) is not None
    return False


def _is_next_ws(body: list, i: int | None, is_root: bool) -> bool:
    if i is None:
        i = -1
    nxt = body[i + 1] if i + 1 < len(body) else None
    sibling = body[i + 2] if i + 2 < len(body) else None
    if nxt is None:
        return is_root
    if isinstance(nxt, _Text):
        pattern = r"\A\s*?\r?\n" if (sibling is not None or not is_root) else r"\A\s*?(?:\r?\n|\Z)"
        return re.search(pattern, nxt.original) is not None
    return False


def _omit_right(body: list, i: int | None, multiple: bool = False) -> None:
    idx = 0 if i is None else i + 1
    cur = body[idx] if idx < len(body) else None
    if not isinstance(cur, _Text) or (not multiple and cur.rstripped):
        return
    before = cur.value
    cur.value = re.sub(r"\A\s+" if multiple else r"\A[ \t]*\r?\n?", "", cur.value)
    cur.rstripped = cur.value != before


def _omit_left(body: list, i: int | None, multiple: bool = False) -> bool:
    idx = len(body) - 1 if i is None else i - 1
    cur = body[idx] if idx >= 0 else None
    if not isinstance(cur, _Text) or (not multiple and cur.lstripped):
        return False
    before = cur.value
    cur.value = re.sub(r"\s+\Z" if multiple else r"[ \t]+\Z", "", cur.value)
    cur.lstripped = cur.value != before
    return cur.lstripped


def _ws_block(block: _Block) -> dict:
    _ws_program(block.program, False)
    if block.inverse is not None:
        _ws_program(block.inverse, False)
    program, inverse = block.program, block.inverse
    first_inverse = last_inverse = inverse
    if inverse is not None and block.inverse_chained:
        first_inverse = last_inverse = inverse[0].program
    strip = {
        "open": block.open_strip[0], "close": block.close_strip[1],
        "open_standalone": _is_next_ws(program, None, False),
        "close_standalone": _is_prev_ws(first_inverse if first_inverse is not None else program, None, False),
    }
    if block.open_strip[1]:
        _omit_right(program, None, True)
    if inverse is not None:
        if block.inverse_strip[0]:
            _omit_left(program, None, True)
        if block.inverse_strip[1]:
            _omit_right(first_inverse, None, True)
        if block.close_strip[0]:
            _omit_left(last_inverse, None, True)
        if _is_prev_ws(program, None, False) and _is_next_ws(first_inverse, None, False):
            _omit_left(program, None)
            _omit_right(first_inverse, None)
    elif block.close_strip[0]:
        _omit_left(program, None, True)
    return strip


def _ws_program(body: list, is_root: bool) -> None:
    for i, node in enumerate(body):
        if isinstance(node, _Block):
            strip = _ws_block(node)
        elif isinstance(node, _Mustache):
            strip = {"open": node.strip[0], "close": node.strip[1]}
        elif isinstance(node, (_Comment, _Partial)):
            strip = {"open": node.strip[0], "close": node.strip[1], "inline_standalone": True}
        else:
            continue
        prev_ws, next_ws = _is_prev_ws(body, i, is_root), _is_next_ws(body, i, is_root)
        if strip["close"]:
            _omit_right(body, i, True)
        if strip["open"]:
            _omit_left(body, i, True)
        if strip.get("inline_standalone") and prev_ws and next_ws:
            _omit_right(body, i)
            if _omit_left(body, i) and isinstance(node, _Partial):
                node.indent = re.search(r"[ \t]+\Z", body[i - 1].original).group()
        if strip.get("open_standalone") and prev_ws:
            _omit_right(node.program, None)
            _omit_left(body, i)
        if strip.get("close_standalone") and next_ws:
            _omit_right(body, i)
            _omit_left(node.inverse if node.inverse is not None else node.program, None)


@lru_cache(maxsize=256)
def _compile(text: str) -> list:
    # The tree is read-only once parsed, so it can be shared between renders.
    return _parse(text)


# -- values --------------------------------------------------------------------

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}
_ESCAPE_RE = re.compile("[&<>\"'`=]")


def _number(v: float) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "Infinity" if v > 0 else "-Infinity"
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    return str(v)


def _to_str(v: Any) -> str:
    """A value as Handlebars.js prints it (String(v) in JavaScript)."""
    if v is None or v is MISSING:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return _number(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return ",".join("" if x is None else _to_str(x) for x in v)
    return "[object Object]"


def _falsy(v: Any) -> bool:
    return v is None or v is MISSING or v is False or v == "" or (
        isinstance(v, (int, float)) and not isinstance(v, bool) and (v == 0 or math.isnan(v)))


def _is_empty(v: Any) -> bool:
    """Handlebars' isEmpty: false-ish but not 0, or an empty list."""
    if isinstance(v, list):
        return not v
    return _falsy(v) and not (isinstance(v, (int, float)) and not isinstance(v, bool) and v == 0)


def _walk(value: Any, parts: tuple[str, ...]) -> Any:
    for part in parts:
        if isinstance(value, dict):
            value = value.get(part, MISSING)
        elif isinstance(value, list):
            if part == "length":
                value = len(value)
            elif part.isdigit() and str(int(part)) == part and int(part) < len(value):
                value = value[int(part)]
            else:
                return MISSING
        elif isinstance(value, str) and part == "length":
            value = len(value)
        else:
            return MISSING
        if value is MISSING:
            return MISSING
    return value


# -- rendering -----------------------------------------------------------------


@dataclass
class _State:
    root: Any
    escape: bool
    strict: bool
    out: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Scope:
    contexts: tuple[Any, ...]                 # outermost first; ../ walks back
    data: dict[str, Any]
    block_params: tuple[dict[str, Any], ...]  # innermost first
    partials: dict[str, list]
    partial_depth: int = 0

    def push(self, context: Any, data: dict | None = None, params: dict | None = None) -> _Scope:
        return _Scope(self.contexts + (context,), data if data is not None else self.data,
                      ((params,) + self.block_params) if params else self.block_params,
                      self.partials, self.partial_depth)

    def same(self, data: dict | None = None, params: dict | None = None) -> _Scope:
        return _Scope(self.contexts, data if data is not None else self.data,
                      ((params,) + self.block_params) if params else self.block_params,
                      self.partials, self.partial_depth)


def _lookup(item: Any, scope: _Scope, st: _State) -> Any:
    if isinstance(item, _Literal):
        return item.value
    path: _Path = item
    if path.data:
        head, rest = path.parts[0], path.parts[1:]
        base = st.root if head == "root" else scope.data.get(head, MISSING)
        return _walk(base, rest)
    if not path.this and not path.depth and path.parts:
        for params in scope.block_params:
            if path.parts[0] in params:
                return _walk(params[path.parts[0]], path.parts[1:])
    if path.depth >= len(scope.contexts):
        return MISSING
    return _walk(scope.contexts[-1 - path.depth], path.parts)


def _render_nodes(nodes: list, scope: _Scope, st: _State) -> None:
    inline = {n.partial_name: n.program for n in nodes if isinstance(n, _Block) and n.kind == "inline"}
    if inline:
        scope = _Scope(scope.contexts, scope.data, scope.block_params, {**scope.partials, **inline},
                       scope.partial_depth)
    for node in nodes:
        if isinstance(node, _Text):
            st.out.append(node.value)
        elif isinstance(node, _Mustache):
            _render_mustache(node, scope, st)
        elif isinstance(node, _Block):
            if node.kind != "inline":
                _render_block(node, scope, st)
        elif isinstance(node, _Partial):
            _render_partial(node, scope, st)


def _render_mustache(node: _Mustache, scope: _Scope, st: _State) -> None:
    expr = node.expr
    name = _helper_name(expr)
    if expr.params or expr.hash:
        if name == "lookup" and len(expr.params) == 2:
            key = _lookup(expr.params[1], scope, st)
            obj = _lookup(expr.params[0], scope, st)
            value = MISSING if key is None or key is MISSING else _walk(obj, (_to_str(key),))
        elif name == "log":
            return
        else:
            raise RenderError(f'Missing helper: "{_name_of(expr)}" (line {expr.line}).')
    else:
        value = _lookup(expr.head, scope, st)
        if st.strict and (value is None or value is MISSING) and isinstance(expr.head, _Path):
            attribute = expr.head.original
            raise RenderError(MISSING_ATTRIBUTE_MESSAGE.format(attribute), MISSING_RENDERING_ATTRIBUTE, attribute)
    text = _to_str(value)
    if st.escape and not node.raw:
        text = _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], text)
    st.out.append(text)


def _one_param(block: _Block, scope: _Scope, st: _State) -> Any:
    if len(block.expr.params) != 1:
        raise RenderError(f"#{block.name} requires exactly one argument (line {block.line}).")
    return _lookup(block.expr.params[0], scope, st)


def _bind(block: _Block, *values: Any) -> dict | None:
    names = block.expr.block_params
    return dict(zip(names, values)) if names else None


def _render_block(block: _Block, scope: _Scope, st: _State) -> None:
    expr = block.expr
    name = _helper_name(expr)
    inverse = block.inverse or []
    if block.kind == "^":
        value = _lookup(expr.head, scope, st)
        empty = value is None or value is MISSING or value is False or value == []
        _render_nodes(block.program if empty else inverse, scope, st)
    elif name in ("if", "unless"):
        value = _one_param(block, scope, st)
        include_zero = _lookup(expr.hash["includeZero"], scope, st) if "includeZero" in expr.hash else False
        is_zero = isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0
        truthy = not ((_falsy(value) and not (include_zero and is_zero)) or _is_empty(value))
        if name == "unless":
            truthy = not truthy
        _render_nodes(block.program if truthy else inverse, scope, st)
    elif name == "each":
        _render_each(block, _one_param(block, scope, st), scope, st)
    elif name == "with":
        value = _one_param(block, scope, st)
        if _is_empty(value):
            _render_nodes(inverse, scope, st)
        else:
            _render_nodes(block.program, scope.push(value, params=_bind(block, value)), st)
    elif expr.params or expr.hash or name in ("lookup", "log"):
        raise RenderError(f'Missing helper: "{block.name}" (line {block.line}).')
    else:
        # A section ({{#name}}), Handlebars' blockHelperMissing.
        value = _lookup(expr.head, scope, st)
        if value is True:
            _render_nodes(block.program, scope, st)
        elif value is False or value is None or value is MISSING:
            _render_nodes(inverse, scope, st)
        elif isinstance(value, list):
            _render_each(block, value, scope, st)
        else:
            _render_nodes(block.program, scope.push(value), st)


def _render_each(block: _Block, value: Any, scope: _Scope, st: _State) -> None:
    if isinstance(value, list):
        items = list(enumerate(value))
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        items = []
    if not items:
        _render_nodes(block.inverse or [], scope, st)
        return
    last = len(items) - 1
    for index, (key, item) in enumerate(items):
        data = {**scope.data, "key": key, "index": index, "first": index == 0, "last": index == last}
        _render_nodes(block.program, scope.push(item, data, _bind(block, item, key)), st)


def _render_partial(node: _Partial, scope: _Scope, st: _State) -> None:
    body = scope.partials.get(node.name)
    if body is None:
        raise RenderError(f"The partial {node.name} could not be found (line {node.line}).")
    if scope.partial_depth >= _MAX_PARTIAL_DEPTH:
        raise RenderError(f"Partial {node.name} nests too deeply (line {node.line}).")
    context = scope.contexts[-1] if node.context is None else _lookup(node.context, scope, st)
    if node.hash:
        extra = {k: _lookup(v, scope, st) for k, v in node.hash.items()}
        context = {**context, **extra} if isinstance(context, dict) else extra
    contexts = scope.contexts if node.context is None and not node.hash else scope.contexts + (context,)
    inner = _Scope(contexts, scope.data, scope.block_params, scope.partials, scope.partial_depth + 1)
    if not node.indent:
        _render_nodes(body, inner, st)
        return
    sub = _State(st.root, st.escape, st.strict)
    _render_nodes(body, inner, sub)
    lines = "".join(sub.out).split("\n")
    for i, line in enumerate(lines):
        if i == len(lines) - 1 and not line:
            break
        lines[i] = node.indent + line
    st.out.append("\n".join(lines))


# -- public API ----------------------------------------------------------------


def render(template_text: str, data: dict, *, strict: bool = False, escape: bool = False) -> str:
    """`template_text` rendered with `data`, as SES renders a template part.

    strict: a missing or null {{value}} raises RenderError with code
    MissingRenderingAttribute (SES's behaviour) instead of rendering "".
    escape: HTML-escape {{value}} as Handlebars.js does (SES does not).
    """
    nodes = _compile(template_text)
    st = _State(data, escape, strict)
    _render_nodes(nodes, _Scope((data,), {"root": data}, (), {}), st)
    return "".join(st.out)


def parse_data(data_json: str) -> dict:
    """TemplateData as SES takes it: a JSON object, else InvalidRenderingParameter."""
    try:
        data = json.loads(data_json)
    except (TypeError, ValueError) as e:
        raise RenderError(f"TemplateData is not valid JSON: {e}", INVALID_RENDERING_PARAMETER) from None
    if not isinstance(data, dict):
        raise RenderError("TemplateData must be a JSON object.", INVALID_RENDERING_PARAMETER)
    return data


def render_template(template: dict, data_json: str, *, strict: bool = True) -> dict:
    """The template's parts (v1 SubjectPart/TextPart/HtmlPart or v2
    Subject/Text/Html) rendered with TemplateData; parts the template lacks
    (or holds as None) are left out. Strict by default, as SES is: the first
    missing attribute, subject then text then HTML, is the error."""
    data = parse_data(data_json)
    return {name: render(template[name], data, strict=strict)
            for name in PART_NAMES if template.get(name) is not None}


def validate(template_text: str) -> None:
    """Raise RenderError (InvalidTemplate) if the template does not parse."""
    _compile(template_text)


def required_attributes(template_text: str) -> set[str]:
    """Paths read from the top-level data by {{x}} / {{{x}}} outside any
    #each / #with / section body (inside #if and #unless too), as written
    ('contact.firstName'); block parameters and @data are left out. A static
    preview of the strict check: a branch not taken is not checked by SES."""
    found: set[str] = set()
    _collect(_compile(template_text), 0, frozenset(), {}, found, 0)
    return found


def _collect(nodes: list, depth: int, bound: frozenset, partials: dict, found: set, nesting: int) -> None:
    partials = {**partials, **{n.partial_name: n.program for n in nodes
                               if isinstance(n, _Block) and n.kind == "inline"}}
    for node in nodes:
        if isinstance(node, _Mustache):
            head = node.expr.head
            if node.expr.params or node.expr.hash or not isinstance(head, _Path):
                continue
            if head.data:
                if head.parts[0] == "root" and len(head.parts) > 1:
                    found.add(".".join(head.parts[1:]))
            elif head.parts and head.depth == depth and not (
                    not head.this and not head.depth and head.parts[0] in bound):
                found.add(".".join(head.parts))
        elif isinstance(node, _Block) and node.kind != "inline":
            name = _helper_name(node.expr)
            if name in ("if", "unless") or node.kind == "^":
                inner_depth, inner_bound = depth, bound
            else:
                inner_depth, inner_bound = depth + 1, bound | frozenset(node.expr.block_params)
            _collect(node.program, inner_depth, inner_bound, partials, found, nesting)
            _collect(node.inverse or [], depth, bound, partials, found, nesting)
        elif (isinstance(node, _Partial) and node.context is None and not node.hash
              and node.name in partials and nesting < _MAX_PARTIAL_DEPTH):
            _collect(partials[node.name], depth, bound, partials, found, nesting + 1)
