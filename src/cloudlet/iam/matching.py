"""Wildcard and ARN matching, compiled once per policy.

Action, NotAction, Resource and NotResource values and StringLike patterns
use `*` (any run of characters) and `?` (one character). Actions match
without regard to case; resources and strings match case-sensitively. In a
Resource a `*` may run past colons ("if the * wildcard is the last character
of a resource ARN segment, it can expand to match beyond the colon
boundaries"), so a resource pattern is matched as one string. ArnLike and
ArnEquals instead match each of the six colon-separated ARN parts on its own.

A pattern list compiles to a set of exact strings plus one alternation regex,
so matching a request costs a set lookup and at most one regex call.
"""

from __future__ import annotations

import re

from cloudlet.iam.variables import LITERAL, TEXT, Template


def _translate(template: Template) -> str:
    """Regex source for a template: wildcards in policy text, everything
    else literal."""
    parts: list[str] = []
    for tok in template:
        escaped = re.escape(tok[1])
        if tok[0] == TEXT:
            # re.escape doubles every backslash, so "\*" can only be an escaped "*".
            escaped = escaped.replace("\\*", ".*").replace("\\?", ".")
        parts.append(escaped)
    return "".join(parts)


def _plain(template: Template) -> str | None:
    """The exact string a template stands for, or None if it has a wildcard."""
    out = []
    for tok in template:
        if tok[0] == TEXT and ("*" in tok[1] or "?" in tok[1]):
            return None
        out.append(tok[1])
    return "".join(out)


def _is_match_all(template: Template) -> bool:
    return len(template) == 1 and template[0][0] == TEXT and template[0][1] != "" \
        and set(template[0][1]) == {"*"}


class Wildcards:
    """A compiled list of wildcard patterns; `match(value)` is True if any
    pattern matches the whole value."""

    __slots__ = ("any", "exact", "regex", "fold")

    def __init__(self, templates: list[Template] | tuple, ignore_case: bool = False):
        self.fold = ignore_case
        self.any = False
        exact: set[str] = set()
        sources: list[str] = []
        for t in templates:
            if _is_match_all(t):
                self.any = True
                continue
            plain = _plain(t)
            if plain is not None:
                exact.add(plain.lower() if ignore_case else plain)
            else:
                sources.append(_translate(t))
        self.exact = frozenset(exact)
        flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
        self.regex = re.compile("|".join(f"(?:{s})" for s in sources), flags).fullmatch if sources else None

    def match(self, value: str) -> bool:
        """`value` must already be lower-cased when ignore_case is set."""
        if self.any or value in self.exact:
            return True
        regex = self.regex
        return regex is not None and regex(value) is not None


def wildcard_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """One-off match of a plain policy string (no variables)."""
    w = Wildcards([((TEXT, pattern),)], ignore_case)
    return w.match(value.lower() if ignore_case else value)


class ArnPattern:
    """ArnLike / ArnEquals: each of the six ARN parts matched separately,
    the last part (the resource, which may hold colons) as a whole."""

    __slots__ = ("whole", "parts")

    def __init__(self, template: Template):
        segments = _split_template(template)
        if segments is None:
            # Not six parts ("*", or a short pattern): match as one string.
            self.whole = Wildcards([template])
            self.parts = None
        else:
            self.whole = None
            self.parts = tuple(Wildcards([seg]) for seg in segments)

    def match(self, value: str) -> bool:
        if self.parts is None:
            return self.whole.match(value)
        fields = value.split(":", 5)
        if len(fields) != 6:
            return False
        for part, field_ in zip(self.parts, fields, strict=True):
            if not part.match(field_):
                return False
        return True


def _split_template(template: Template) -> list[Template] | None:
    """Split a template at its first five colons (of policy text, and of
    literal text alike: a colon is never a wildcard)."""
    segments: list[list[tuple]] = [[]]
    for tok in template:
        kind, text = tok[0], tok[1]
        pieces = text.split(":") if len(segments) < 6 else [text]
        for i, piece in enumerate(pieces):
            if i:
                if len(segments) < 6:
                    segments.append([])
                else:
                    segments[-1].append((LITERAL, ":"))
            if piece:
                segments[-1].append((kind, piece))
    if len(segments) != 6:
        return None
    return [tuple(seg) if seg else ((LITERAL, ""),) for seg in segments]
