"""Policy variables: `${aws:username}`, `${aws:PrincipalTag/team, 'none'}`,
and the escapes `${*}`, `${?}`, `${$}`.

A policy string is split once, at parse time, into a template: a tuple of
tokens. Text written in the policy keeps its wildcard meaning (`*`, `?`) where
the element has one; an escape or a substituted value is always literal, so a
user name never acts as a pattern. Only `2012-10-17` policies have variables;
in older ones `${...}` is plain text (IAM User Guide, "Variables and tags").

A variable whose key is absent from the request and that has no default
cannot be resolved; the element that holds it then matches nothing.
"""

from __future__ import annotations

import re
from typing import Callable

# Token kinds: policy text (wildcards active), literal text, a variable.
TEXT = 0
LITERAL = 1
VAR = 2

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_KEY_AND_DEFAULT = re.compile(r"\s*([^,\s'][^,']*?)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

# A token: (TEXT, text) | (LITERAL, text) | (VAR, key_lower, key, default)
Template = tuple


def parse_template(value: str, variables: bool) -> Template:
    """Split a policy string into tokens. `variables` is False for policies
    older than 2012-10-17, where `${...}` is just text."""
    if not variables or "${" not in value:
        return ((TEXT, value),)
    tokens: list[tuple] = []
    pos = 0
    for m in _VARIABLE.finditer(value):
        if m.start() > pos:
            tokens.append((TEXT, value[pos:m.start()]))
        inner = m.group(1)
        if inner in _ESCAPES:
            tokens.append((LITERAL, _ESCAPES[inner]))
        else:
            km = _KEY_AND_DEFAULT.fullmatch(inner)
            if km is None:
                # Not a variable IAM understands: keep the characters.
                tokens.append((TEXT, m.group(0)))
            else:
                key = km.group(1)
                tokens.append((VAR, key.lower(), key, km.group(2)))
        pos = m.end()
    if pos < len(value):
        tokens.append((TEXT, value[pos:]))
    return tuple(_merge(tokens))


def _merge(tokens: list[tuple]) -> list[tuple]:
    """Join neighbouring tokens of the same text kind (keeps templates short)."""
    out: list[tuple] = []
    for tok in tokens:
        if out and tok[0] != VAR and out[-1][0] == tok[0]:
            out[-1] = (tok[0], out[-1][1] + tok[1])
        else:
            out.append(tok)
    return out


def is_static(template: Template) -> bool:
    return all(tok[0] != VAR for tok in template)


def variable_keys(template: Template) -> list[str]:
    return [tok[2] for tok in template if tok[0] == VAR]


def resolve(template: Template, lookup: Callable[[str], list[str] | None]) -> Template | None:
    """The template with every variable replaced by its (literal) value, or
    None when a variable has no value and no default. A variable takes a
    single-valued key only: a multivalued one cannot be substituted."""
    out: list[tuple] = []
    for tok in template:
        if tok[0] != VAR:
            out.append(tok)
            continue
        values = lookup(tok[1])
        if values is not None and len(values) == 1:
            out.append((LITERAL, values[0]))
        elif tok[3] is not None:
            out.append((LITERAL, tok[3]))
        else:
            return None
    return tuple(out)


def as_text(template: Template) -> str:
    """The plain string a resolved template stands for (wildcards are just
    characters here: for operators that do not match patterns)."""
    return "".join(tok[1] for tok in template)
