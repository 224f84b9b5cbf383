"""Condition operators ("IAM JSON policy elements: Condition operators").

A Condition block is compiled once into tests, one per (operator, key). At
request time the block holds when every test holds (operators and keys are
ANDed); within a test the policy values are ORed, and for a negated operator
(StringNotEquals, NotIpAddress, ...) NORed.

A key absent from the request makes a test false, or true for a negated
operator; `...IfExists` makes it true; `ForAllValues:` is true on an absent or
empty key and `ForAnyValue:` false. `Null` tests presence itself. Policy
variables are substituted in String, ARN and Bool values only.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import re
from typing import Callable

from cloudlet.iam.matching import ArnPattern, Wildcards
from cloudlet.iam.variables import Template, as_text, is_static, parse_template, resolve, variable_keys

# -- operator names ---------------------------------------------------------

STRING, NUMERIC, DATE, BOOL, BINARY, IP, ARN, NULL = range(8)

# base operator -> (family, negated, comparison)
_OPERATORS: dict[str, tuple[int, bool, str]] = {
    "StringEquals": (STRING, False, "eq"),
    "StringNotEquals": (STRING, True, "eq"),
    "StringEqualsIgnoreCase": (STRING, False, "eqi"),
    "StringNotEqualsIgnoreCase": (STRING, True, "eqi"),
    "StringLike": (STRING, False, "like"),
    "StringNotLike": (STRING, True, "like"),
    "NumericEquals": (NUMERIC, False, "eq"),
    "NumericNotEquals": (NUMERIC, True, "eq"),
    "NumericLessThan": (NUMERIC, False, "lt"),
    "NumericLessThanEquals": (NUMERIC, False, "le"),
    "NumericGreaterThan": (NUMERIC, False, "gt"),
    "NumericGreaterThanEquals": (NUMERIC, False, "ge"),
    "DateEquals": (DATE, False, "eq"),
    "DateNotEquals": (DATE, True, "eq"),
    "DateLessThan": (DATE, False, "lt"),
    "DateLessThanEquals": (DATE, False, "le"),
    "DateGreaterThan": (DATE, False, "gt"),
    "DateGreaterThanEquals": (DATE, False, "ge"),
    "Bool": (BOOL, False, "eq"),
    "BinaryEquals": (BINARY, False, "eq"),
    "IpAddress": (IP, False, "in"),
    "NotIpAddress": (IP, True, "in"),
    "ArnEquals": (ARN, False, "like"),
    "ArnLike": (ARN, False, "like"),
    "ArnNotEquals": (ARN, True, "like"),
    "ArnNotLike": (ARN, True, "like"),
    "Null": (NULL, False, "null"),
}

ALL_VALUES = "ForAllValues:"
ANY_VALUE = "ForAnyValue:"

# Families whose values may hold policy variables.
_VARIABLE_FAMILIES = {STRING, ARN, BOOL}


def split_operator(name: str) -> tuple[str | None, str, bool] | None:
    """(set qualifier, base operator, IfExists) for an operator name, or None
    if IAM does not know it."""
    qualifier = None
    if name.startswith(ALL_VALUES):
        qualifier, name = ALL_VALUES, name[len(ALL_VALUES):]
    elif name.startswith(ANY_VALUE):
        qualifier, name = ANY_VALUE, name[len(ANY_VALUE):]
    if_exists = False
    if name.endswith("IfExists"):
        if_exists, name = True, name[:-len("IfExists")]
    if name not in _OPERATORS:
        return None
    return qualifier, name, if_exists


def is_date_operator(name: str) -> bool:
    parts = split_operator(name)
    return parts is not None and _OPERATORS[parts[1]][0] == DATE


def scalar_text(value) -> str:
    """A condition value as IAM reads it: JSON true is "true", 10 is "10"."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# -- dates --------------------------------------------------------------------

_ISO = re.compile(
    r"(-?\d+)(?:-(\d{1,2})(?:-(\d{1,2}))?)?"
    r"(?:[Tt](?:(\d{1,2})(?::(\d{1,2})(?::(\d{1,2})(?:\.(\d+))?)?)?)?)?"
    r"(Z|z|[+-]\d{1,2}(?::?\d{2})?)?")
_EPOCH = re.compile(r"-?\d+(?:\.\d+)?")


def parse_date(text: str) -> float | None:
    """Epoch seconds for a W3C ISO 8601 date/time or an epoch number; None if
    it is neither. A time without a zone is UTC."""
    text = text.strip()
    if _EPOCH.fullmatch(text):
        # A bare number is epoch seconds (so "2020" is not the year 2020).
        return float(text)
    m = _ISO.fullmatch(text)
    if m is None:
        return None
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        fields = (int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
        if not (1 <= fields[1] <= 12 and 1 <= fields[2] <= 31 and fields[3] <= 23 and fields[4] <= 59
                and fields[5] <= 60):
            return None
        seconds = float(calendar.timegm(fields + (0, 0, 0)))
    except (ValueError, OverflowError):
        return None
    if frac:
        seconds += float("0." + frac)
    if zone and zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        hours, _, minutes = zone[1:].partition(":")
        if not minutes and len(hours) > 2:
            hours, minutes = hours[:-2], hours[-2:]
        seconds -= sign * (int(hours) * 3600 + int(minutes or 0) * 60)
    return seconds


def valid_date_literal(text: str) -> bool:
    """IAM's "legacy parsing" of a Date operator value: an ISO 8601 date
    (loosely: "01T" passes, a "+1" zone does not) or a whole, non-negative
    epoch number below 2**63."""
    if "t" in text.lower() or "-" in text:
        try:
            return _legacy_iso(text.lower())
        except ValueError:
            return False
    try:
        return 0 <= int(text) <= 9223372036854775807
    except ValueError:
        return False


def _legacy_iso(text: str) -> bool:
    date, _, clock = text.partition("t")
    negative = date.startswith("-")
    parts = (date[1:] if negative else date).split("-")
    year = -int(parts[0]) if negative else int(parts[0])
    if len(parts) > 3 or not -292275054 <= year <= 292278993:
        return False
    if len(parts) > 1 and not 1 <= int(parts[1]) <= 12:
        return False
    if len(parts) > 2 and not 1 <= int(parts[2]) <= 31:
        return False
    fields = clock.split(":")
    if fields[0] != "" and not 0 <= int(fields[0]) <= 23:
        return False
    if len(fields) > 1 and not 0 <= int(fields[1]) <= 59:
        return False
    if len(fields) > 2:
        sec = fields[2] if len(fields) == 3 else ":".join(fields[2:])
        if "z" in sec:
            sec, _, after = sec.partition("z")
            if after:
                return False
        elif "+" in sec:
            sec, _, zone = sec.partition("+")
            hours, colon, minutes = zone.partition(":")
            if len(hours) != 2 or not 0 <= int(hours) <= 23:
                return False
            if colon and (len(minutes) != 2 or not 0 <= int(minutes) <= 59):
                return False
        whole, dot, frac = sec.partition(".")
        if not 0 <= int(whole) <= 59:
            return False
        if dot and not 0 <= int(frac) <= 999999999:
            return False
    return True


# -- value matchers -----------------------------------------------------------
# Each matcher answers: does this request value match any of the policy values?

def _numbers(texts: list[str]) -> list[float]:
    out = []
    for t in texts:
        try:
            out.append(float(t))
        except ValueError:
            pass  # a value that is not a number matches nothing
    return out


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}


def _b64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _network(text: str):
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


def build_matcher(family: int, how: str, templates: list[Template]) -> Callable[[str], bool]:
    """A function `request value -> matches any policy value` for resolved
    templates."""
    if family == STRING:
        if how == "like":
            return Wildcards(templates).match
        texts = [as_text(t) for t in templates]
        if how == "eqi":
            folded = frozenset(t.lower() for t in texts)
            return lambda v: v.lower() in folded
        exact = frozenset(texts)
        return exact.__contains__
    if family == ARN:
        patterns = [ArnPattern(t) for t in templates]
        return lambda v: any(p.match(v) for p in patterns)
    texts = [as_text(t) for t in templates]
    if family == BOOL:
        wanted = frozenset(t.lower() for t in texts)
        return lambda v: v.lower() in wanted
    if family == NUMERIC:
        numbers, compare = _numbers(texts), _COMPARE[how]

        def numeric(v: str) -> bool:
            try:
                x = float(v)
            except ValueError:
                return False
            return any(compare(x, n) for n in numbers)
        return numeric
    if family == DATE:
        dates = [d for d in (parse_date(t) for t in texts) if d is not None]
        compare = _COMPARE[how]

        def date(v: str) -> bool:
            x = parse_date(v)
            return x is not None and any(compare(x, d) for d in dates)
        return date
    if family == BINARY:
        raw = {_b64(t) for t in texts} - {None}
        plain = frozenset(texts)
        return lambda v: v in plain or (_b64(v) in raw)
    if family == IP:
        networks = [n for n in (_network(t) for t in texts) if n is not None]

        def ip(v: str) -> bool:
            try:
                addr = ipaddress.ip_address(v.strip())
            except ValueError:
                return False
            return any(addr.version == n.version and addr in n for n in networks)
        return ip
    raise AssertionError(family)


# -- compiled tests -------------------------------------------------------------

class ConditionTest:
    """One (operator, key) pair of a Condition block."""

    __slots__ = ("operator", "key", "key_l", "family", "negated", "if_exists", "qualifier",
                 "how", "templates", "match", "null_wanted", "_cache")

    def __init__(self, operator: str, key: str, values: list, variables: bool):
        qualifier, base, if_exists = split_operator(operator)
        family, negated, how = _OPERATORS[base]
        self.operator, self.key, self.key_l = operator, key, key.lower()
        self.family, self.negated, self.how = family, negated, how
        self.if_exists, self.qualifier = if_exists, qualifier
        texts = [scalar_text(v) for v in values]
        self.null_wanted = frozenset(t.lower() for t in texts) if family == NULL else None
        subst = variables and family in _VARIABLE_FAMILIES
        self.templates = [parse_template(t, subst) for t in texts]
        self._cache: dict = {}
        if family == NULL:
            self.match = None
        elif all(is_static(t) for t in self.templates):
            self.match = build_matcher(family, how, self.templates)
        else:
            self.match = None  # built per request from the resolved values

    def variable_keys(self) -> list[str]:
        return [k for t in self.templates for k in variable_keys(t)]

    def _matcher(self, lookup) -> Callable[[str], bool]:
        if self.match is not None:
            return self.match
        resolved = tuple(r for r in (resolve(t, lookup) for t in self.templates) if r is not None)
        m = self._cache.get(resolved)
        if m is None:
            if len(self._cache) > 256:
                self._cache.clear()
            m = self._cache[resolved] = build_matcher(self.family, self.how, list(resolved))
        return m

    def holds(self, lookup) -> bool:
        """`lookup(key_lower)` gives the request's values for a key (a list
        of strings) or None if the request does not have it."""
        values = lookup(self.key_l)
        if self.family == NULL:
            present = bool(values)
            return any((t == "true") != present for t in self.null_wanted if t in ("true", "false"))
        if not values:
            if self.if_exists or self.qualifier == ALL_VALUES:
                return True
            if self.qualifier == ANY_VALUE:
                return False
            return self.negated
        match = self._matcher(lookup)
        if self.qualifier is None:
            hit = any(match(v) for v in values)
            return not hit if self.negated else hit
        if self.negated:
            per_value = (not match(v) for v in values)
        else:
            per_value = (match(v) for v in values)
        return all(per_value) if self.qualifier == ALL_VALUES else any(per_value)


def compile_block(block: dict, variables: bool) -> tuple[ConditionTest, ...]:
    """A validated Condition block as a tuple of tests (all must hold)."""
    tests = []
    for operator, pairs in block.items():
        for key, values in pairs.items():
            if not isinstance(values, list):
                values = [values]
            tests.append(ConditionTest(operator, key, values, variables))
    return tuple(tests)
