"""Event Ruler matching: SNS subscription filter policies ("Amazon SNS
message filtering" and the pages under "Subscription filter policies" in the
SNS Developer Guide) and EventBridge event patterns (`compile_event_pattern`:
the same grammar and matching, which both services run through AWS's Event
Ruler, without SNS's limits on keys and combinations).

A policy is checked and compiled once (`compile_policy`); matching a message
is then a walk over closures and sets, no JSON of the policy is looked at.

Checking follows the order SNS answers in: the JSON itself ("failed to parse
JSON."), then the grammar of every property and match expression in document
order (SNS runs AWS's Event Ruler, whose messages these are, word for word),
then SNS's own limits: nesting under the MessageAttributes scope, at most five
keys, at most 150 combinations.

Matching, as the guide describes it and Event Ruler does it:

- A policy is an AND of its keys; the values listed for a key are ORed; an
  array in the message matches when any element matches. `$or` forks the
  policy into alternatives (it is only `$or` when it holds an array of at
  least two objects without reserved field names; otherwise it is a plain
  key, as "OR operator" says).
- Values are typed: a policy string matches message strings, a policy number
  matches numbers numerically (5 decimal places, "Filter policy
  constraints"), true/false/null match those literals. prefix, suffix,
  equals-ignore-case, wildcard and cidr apply to strings only; anything-but
  matches every value that is not excluded, of any type.
- Under MessageAttributes, String (and String.x) values are strings, Number
  (Number.x) values numbers, String.Array values the elements of the JSON
  array; Binary attributes are ignored. String values are seen with `"` and
  `\\` backslash-escaped, which is why the guide tells you to double-escape
  those characters in attribute policies.
- Under MessageBody, the body must be a JSON object; keys are paths joined
  with "." on both sides (so {"a.b": ...} in a policy also reaches
  {"a": {"b": ...}} in a body and the other way round); only leaves carry
  values; arrays anywhere in the path are looked through, and the values
  matched for different keys must come from the same element of an array
  they share.
- exists:true needs a non-null, non-empty leaf; exists:false needs none; and
  nothing matches a message without any attribute (or a body without any
  leaf) ("Key matching").
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal, InvalidOperation, localcontext
from itertools import count
from typing import Any

MESSAGE_ATTRIBUTES = "MessageAttributes"
MESSAGE_BODY = "MessageBody"
SCOPES = (MESSAGE_ATTRIBUTES, MESSAGE_BODY)

MAX_POLICY_BYTES = 256 * 1024  # "The maximum size of a filter policy is 256 KB."
MAX_KEYS = 5                   # "A filter policy can have a maximum of five keys."
MAX_COMBINATIONS = 150         # "The total combination of values ... must not exceed 150."

# Messages SNS was seen to return (after "Invalid parameter: FilterPolicy: ").
NOT_JSON = "failed to parse JSON."
TOO_MANY_KEYS = f"Filter policy can not have more than {MAX_KEYS} keys"
TOO_COMPLEX = "Filter policy is too complex"
# After "Invalid parameter: " alone (not under "FilterPolicy: ").
NESTED_ATTRIBUTES = "Filter policy scope MessageAttributes does not support nested filter policy"
# Not seen from SNS: the guide gives the limit, not the wording.
TOO_LARGE = "Filter policy is too large"

_OR = "$or"
# Event Ruler's reserved field names: an object under "$or" using one is not
# an alternative, and "$or" is then an ordinary key.
_RESERVED = frozenset({
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric",
    "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
    "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range",
    "ip-address-not-in-range",
})
_COMBINATION_CAP = 10 ** 9  # keeps the arithmetic small; anything above 150 fails anyway


class FilterPolicyError(Exception):
    """An invalid policy. `message` is AWS's text after "Invalid parameter:
    FilterPolicy: " -- unless `under_filter_policy` is false (the nesting
    error of the MessageAttributes scope), where AWS puts it right after
    "Invalid parameter: ". `api_message` builds the whole text; Subscribe
    says "Attributes Reason: " after "Invalid parameter: "."""

    def __init__(self, message: str, *, under_filter_policy: bool = True):
        super().__init__(message)
        self.message = message
        self.under_filter_policy = under_filter_policy

    def api_message(self, *, subscribe: bool = False) -> str:
        head = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
        return head + ("FilterPolicy: " if self.under_filter_policy else "") + self.message


# -- values -----------------------------------------------------------------

_UNSET = object()
_FIVE_PLACES = Decimal("0.00001")
_NUMBER_TEXT = re.compile(r"\s*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\s*")


def _numeric_key(text: str) -> Decimal | None:
    """The value a number compares by: exact, cut to five decimal places
    ("five digits of accuracy after the decimal point"), or None when the
    text is not a finite number."""
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    if value.adjusted() >= 20:  # no fraction left to cut at this size
        return value
    with localcontext() as ctx:
        ctx.prec = 60
        return value.quantize(_FIVE_PLACES, rounding=ROUND_FLOOR)


class Num:
    """A JSON number: its text as written (AWS quotes it in messages) and its
    comparison key, computed on first use."""

    __slots__ = ("text", "_key")

    def __init__(self, text: str):
        self.text = text
        self._key = _UNSET

    @property
    def key(self) -> Decimal | None:
        if self._key is _UNSET:
            self._key = _numeric_key(self.text)
        return self._key

    def __repr__(self) -> str:
        return f"Num({self.text})"


def _reject_constant(name: str):
    raise ValueError(f"not JSON: {name}")


def _loads(text: str) -> Any:
    """JSON as Jackson reads it: numbers kept as written, no NaN/Infinity."""
    return json.loads(text, parse_int=Num, parse_float=Num, parse_constant=_reject_constant)


def _token_text(value: Any) -> str:
    """What Jackson's getText() gives for a token (Event Ruler quotes it)."""
    if isinstance(value, str):
        return value
    if type(value) is Num:
        return value.text
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    return "{" if isinstance(value, dict) else "["


_END = object()  # the end of an array, as a token


def _escape_attribute(value: str) -> str:
    if "\\" in value or '"' in value:
        return value.replace("\\", "\\\\").replace('"', '\\"')
    return value


# -- IP addresses (Event Ruler's CIDR) --------------------------------------

_IPV4_TEXT = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6_TEXT = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_INT = re.compile(r"[+-]?[0-9]+")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address an IP literal names (an IPv4-mapped IPv6 address is the
    IPv4 address, as Java's InetAddress has it), or None."""
    if not (_IPV4_TEXT.fullmatch(text) or _IPV6_TEXT.fullmatch(text)):
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _ip_key(text: str) -> tuple[int, int] | None:
    address = _ip(text)
    return None if address is None else (address.version, int(address))


def _cidr(text: str) -> tuple[int, int, int]:
    """(version, lowest, highest) for a cidr operand. As in Event Ruler the
    range starts at the address given, not at the network address."""
    parts = text.split("/")
    while parts and parts[-1] == "":  # Java's split drops trailing empties
        parts.pop()
    if len(parts) != 2:
        raise FilterPolicyError("Malformed CIDR, one '/' required")
    if not _INT.fullmatch(parts[1]) or not -2 ** 31 <= int(parts[1]) < 2 ** 31:
        raise FilterPolicyError("Malformed CIDR, mask bits must be an integer")
    mask = int(parts[1])
    if mask < 0:
        raise FilterPolicyError("Malformed CIDR, mask bits must not be negative")
    if not (_IPV4_TEXT.fullmatch(parts[0]) or _IPV6_TEXT.fullmatch(parts[0])):
        raise FilterPolicyError(f"Nonstandard IP address: {parts[0]}")
    address = _ip(parts[0])
    if address is None:
        raise FilterPolicyError(f"Invalid IP address: {parts[0]}")
    bits = 32 if address.version == 4 else 128
    if address.version == 4 and mask > 31:
        raise FilterPolicyError("IPv4 mask bits must be < 32")
    if address.version == 6 and mask > 127:
        raise FilterPolicyError("IPv6 mask bits must be < 128")
    low = int(address)
    return address.version, low, low | ((1 << (bits - mask)) - 1)


# -- wildcards (Event Ruler's WildcardParser) -------------------------------

def _wildcard(pattern: str) -> re.Pattern:
    """The regex of a wildcard pattern: `*` is any run of characters, `\\*`
    and `\\\\` are the characters themselves. Positions in the errors count
    UTF-8 bytes of the pattern in its quotes, as Event Ruler reports them."""
    data = ('"' + pattern + '"').encode("utf-8", "surrogatepass")
    pieces: list[str] = []
    literal = bytearray()
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x2A:  # *
            if i + 1 < len(data) and data[i + 1] == 0x2A:
                raise FilterPolicyError(f"Consecutive wildcard characters at pos {i}")
            pieces.append(re.escape(literal.decode("utf-8", "surrogatepass")))
            pieces.append(".*")
            literal.clear()
        elif byte == 0x5C:  # backslash
            if i + 1 < len(data) and data[i + 1] in (0x2A, 0x5C):
                literal.append(data[i + 1])
                i += 2
                continue
            raise FilterPolicyError(f"Invalid escape character at pos {i}")
        else:
            literal.append(byte)
        i += 1
    pieces.append(re.escape(literal.decode("utf-8", "surrogatepass")))
    regex = "".join(pieces)
    # drop the quotes the pattern was parsed in
    return re.compile(regex[len(re.escape('"')):-len(re.escape('"'))], re.DOTALL)


# -- one key's values ---------------------------------------------------------

class _Key:
    """The match values listed for one key, compiled."""

    __slots__ = ("strings", "ips", "numbers", "number_texts", "ranges", "string_tests", "excluding",
                 "true", "false", "null", "exists_true", "exists_false")

    def __init__(self):
        self.strings: set[str] = set()
        self.ips: set[tuple[int, int]] = set()
        self.numbers: set[Decimal] = set()
        self.number_texts: set[str] = set()
        self.ranges: list[tuple[Decimal | None, bool, Decimal | None, bool]] = []
        self.string_tests: list[Callable[[str], bool]] = []
        self.excluding: list[Callable[[Any], bool]] = []
        self.true = self.false = self.null = False
        self.exists_true = self.exists_false = False

    def matches(self, value: Any) -> bool:
        kind = type(value)
        if kind is str:
            if value in self.strings:
                return True
            if self.ips and _ip_key(value) in self.ips:
                return True
            for test in self.string_tests:
                if test(value):
                    return True
            if self.exists_true and value:
                return True
        elif kind is Num:
            key = value.key
            if key is None:
                if value.text in self.number_texts:
                    return True
            else:
                if key in self.numbers:
                    return True
                for low, low_open, high, high_open in self.ranges:
                    if low is not None and (key <= low if low_open else key < low):
                        continue
                    if high is not None and (key >= high if high_open else key > high):
                        continue
                    return True
            if self.exists_true:
                return True
        elif value is None:
            if self.null:
                return True
        elif value is True:
            if self.true or self.exists_true:
                return True
        elif value is False and (self.false or self.exists_true):
            return True
        for test in self.excluding:
            if test(value):
                return True
        return False


def _present(values: list) -> bool:
    """A leaf that counts for exists: not null, not empty."""
    for value, _ in values:
        if value is not None and value != "":
            return True
    return False


def _compile_values(values: list) -> _Key:
    key = _Key()
    for value in values:
        if isinstance(value, dict):
            _compile_expression(key, value)
        elif isinstance(value, str):
            key.strings.add(value)
            ip = _ip_key(value)
            if ip is not None:
                key.ips.add(ip)
        elif type(value) is Num:
            number = value.key
            if number is None:
                key.number_texts.add(value.text)
            else:
                key.numbers.add(number)
        elif value is True:
            key.true = True
        elif value is False:
            key.false = True
        elif value is None:
            key.null = True
        else:
            raise FilterPolicyError("Match value must be String, number, true, false, or null")
    if not values:
        raise FilterPolicyError("Empty arrays are not allowed")
    return key


def _only_one_key(expression: dict, message: str = "Only one key allowed in match expression") -> None:
    if len(expression) > 1:
        raise FilterPolicyError(message)


def _compile_expression(key: _Key, expression: dict) -> None:
    if not expression:
        raise FilterPolicyError("Match expression name not found")
    operator, operand = next(iter(expression.items()))
    if operator in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        if not isinstance(operand, str):
            raise FilterPolicyError(f"{operator} match pattern must be a string")
        _only_one_key(expression)
        key.string_tests.append(_string_test(operator, operand))
    elif operator == "numeric":
        if not isinstance(operand, list):
            raise FilterPolicyError("Value of numeric must be an array.")
        bounds = _numeric(operand)
        _only_one_key(expression, "Too many elements in numeric expression")
        if bounds[0] == "=":
            key.numbers.add(bounds[1])
        else:
            key.ranges.append(bounds[1])
    elif operator == "anything-but":
        key.excluding.append(_anything_but(expression, operand))
    elif operator == "exists":
        if not isinstance(operand, bool):
            raise FilterPolicyError("exists match pattern must be either true or false.")
        _only_one_key(expression)
        if operand:
            key.exists_true = True
        else:
            key.exists_false = True
    elif operator == "cidr":
        if not isinstance(operand, str):
            raise FilterPolicyError("prefix match pattern must be a string")  # sic, Event Ruler
        version, low, high = _cidr(operand)
        _only_one_key(expression)

        def in_cidr(value: str) -> bool:
            address = _ip_key(value)
            return address is not None and address[0] == version and low <= address[1] <= high

        key.string_tests.append(in_cidr)
    else:
        raise FilterPolicyError(f"Unrecognized match type {operator}")


def _string_test(operator: str, operand: str) -> Callable[[str], bool]:
    if operator == "prefix":
        return lambda value: value.startswith(operand)
    if operator == "suffix":
        return lambda value: value.endswith(operand)
    if operator == "equals-ignore-case":
        folded = operand.lower()
        return lambda value: value.lower() == folded
    return _wildcard(operand).fullmatch


def _numeric(operands: list) -> tuple[str, Any]:
    """("=", key) or ("range", (low, low_open, high, high_open)) for a numeric
    expression; the checks and their order are Event Ruler's."""
    def token(i: int) -> Any:
        return operands[i] if i < len(operands) else _END

    def text(value: Any) -> str:
        return "]" if value is _END else _token_text(value)

    operator = token(0)
    if not isinstance(operator, str):
        raise FilterPolicyError(f"Invalid member in numeric match: {text(operator)}")
    value = token(1)
    if operator == "=":
        if type(value) is not Num:
            raise FilterPolicyError("Value of equals must be numeric")
        if len(operands) > 2:
            raise FilterPolicyError("Too many elements in numeric expression")
        return "=", _operand(value)
    if operator in ("<", "<="):
        if type(value) is not Num:
            raise FilterPolicyError(f"Value of {operator} must be numeric")
        if len(operands) > 2:
            raise FilterPolicyError("Too many elements in numeric expression")
        return "range", (None, False, _operand(value), operator == "<")
    if operator in (">", ">="):
        if type(value) is not Num:
            raise FilterPolicyError(f"Value of {operator} must be numeric")
        bottom = _operand(value)
        if len(operands) == 2:
            return "range", (bottom, operator == ">", None, False)
        upper = token(2)
        if not isinstance(upper, str):
            raise FilterPolicyError(f"Bad value in numeric range: {text(upper)}")
        if upper not in ("<", "<="):
            raise FilterPolicyError(f"Bad numeric range operator: {upper}")
        value = token(3)
        if type(value) is not Num:
            raise FilterPolicyError(f"Value of {upper} must be numeric")
        if len(operands) > 4:
            raise FilterPolicyError("Too many terms in numeric range expression")
        top = _operand(value)
        if bottom >= top:
            raise FilterPolicyError("Bottom must be less than top")
        return "range", (bottom, operator == ">", top, upper == "<")
    raise FilterPolicyError(f"Unrecognized numeric range operator: {operator}")


def _operand(value: Num) -> Decimal:
    key = value.key
    assert key is not None  # every JSON number has one
    return key


def _anything_but(expression: dict, operand: Any) -> Callable[[Any], bool]:
    """The test of an anything-but expression: true for a value that is not
    excluded. Checks and messages are Event Ruler's (the pattern operators
    are those the guide documents for anything-but, plus equals-ignore-case,
    which Event Ruler also takes)."""
    ignore_case = False
    if isinstance(operand, dict):
        if not operand:
            raise FilterPolicyError("Anything-But expression name not found")
        inner, text = next(iter(operand.items()))
        if inner == "equals-ignore-case":
            ignore_case = True
            wrapper, operand = operand, text
        else:
            if inner not in ("prefix", "suffix", "wildcard"):
                raise FilterPolicyError(f"Unsupported anything-but pattern: {inner}")
            if not isinstance(text, str):
                raise FilterPolicyError(f"{inner} match pattern must be a string")
            if text == "" and inner != "wildcard":
                raise FilterPolicyError("Null prefix/suffix not allowed")
            _only_one_key(operand)
            _only_one_key(expression)
            test = _string_test(inner, text)
            return lambda value: type(value) is not str or not test(value)
    if not (isinstance(operand, (str, list)) or type(operand) is Num):
        raise FilterPolicyError("Value of anything-but must be an array or single string/number value.")
    if ignore_case:
        if isinstance(operand, str):
            folded = {operand.lower()}
        elif isinstance(operand, list):
            if not all(isinstance(item, str) for item in operand):
                raise FilterPolicyError("Inside anything-but/equals-ignore-case list, "
                                        "numberic|start|null|boolean is not supported.")  # sic
            folded = {item.lower() for item in operand}
        else:
            raise FilterPolicyError("Inside anything-but/equals-ignore-case list, "
                                    "number|start|null|boolean is not supported.")
        _only_one_key(wrapper, "Too many elements in numeric expression")
        _only_one_key(expression, "Too many elements in numeric expression")
        return lambda value: type(value) is not str or value.lower() not in folded
    items = operand if isinstance(operand, list) else [operand]
    strings: set[str] = set()
    numbers: set[Decimal] = set()
    for item in items:
        if isinstance(item, str):
            strings.add(item)
        elif type(item) is Num:
            numbers.add(_operand(item))
        else:
            raise FilterPolicyError("Inside anything but list, start|null|boolean is not supported.")
    if bool(strings) == bool(numbers):
        raise FilterPolicyError("Inside anything but list, either all values are number or string, "
                                "mixed type is not supported")
    _only_one_key(expression, "Too many elements in numeric expression")
    if strings:
        return lambda value: type(value) is not str or value not in strings
    return lambda value: type(value) is not Num or value.key is None or value.key not in numbers


# -- the policy as a whole ---------------------------------------------------

def _is_or(value: Any) -> bool:
    """Whether a "$or" value makes an OR ("OR operator"): an array of at least
    two objects, none using a reserved field name."""
    return (isinstance(value, list) and len(value) >= 2
            and all(isinstance(item, dict) and not _uses_reserved(item) for item in value))


def _uses_reserved(obj: dict) -> bool:
    for name, value in obj.items():
        if name == _OR:
            if isinstance(value, list) and any(isinstance(i, dict) and _uses_reserved(i) for i in value):
                return True
            continue
        if name in _RESERVED:
            return True
        if isinstance(value, dict) and _uses_reserved(value):
            return True
    return False


class _Checker:
    """The first pass: every check, no expansion. Computes the combinations
    as "Filter policy constraints" and "OR operator" do: values of a key
    times its nesting level, multiplied across keys, summed across the
    alternatives of a $or."""

    def __init__(self):
        self.keys: dict[int, _Key] = {}
        self.leaves: set[str] = set()
        self.nested = False

    def walk(self, obj: dict, depth: int, path: tuple[str, ...]) -> int:
        if not obj:
            raise FilterPolicyError("Empty objects are not allowed")
        combinations = 1
        for name, value in obj.items():
            if name == _OR and _is_or(value):
                combinations *= sum(self.walk(alternative, depth, path) for alternative in value)
            elif isinstance(value, dict):
                self.nested = True
                combinations *= self.walk(value, depth + 1, path + (name,))
            elif isinstance(value, list):
                self.keys[id(value)] = _compile_values(value)
                self.leaves.add(".".join(path + (name,)))
                combinations *= len(value) * depth
            else:
                raise FilterPolicyError(f'"{name}" must be an object or an array')
            combinations = min(combinations, _COMBINATION_CAP)
        return combinations


def _expand(obj: dict, rules: list[dict], path: tuple[str, ...], keys: dict[int, _Key]) -> None:
    """Event Ruler's expansion into alternatives (a list of path -> key maps),
    in document order; a later value for the same path replaces an earlier
    one, as in Event Ruler."""
    for name, value in obj.items():
        if name == _OR and _is_or(value):
            current = [dict(rule) for rule in rules]
            rules.clear()
            for alternative in value:
                forked = [dict(rule) for rule in current] or [{}]
                _expand(alternative, forked, path, keys)
                rules.extend(forked)
        elif isinstance(value, dict):
            _expand(value, rules, path + (name,), keys)
        else:
            if not rules:
                rules.append({})
            joined = ".".join(path + (name,))
            for rule in rules:
                rule[joined] = keys[id(value)]


def compile_policy(policy_json: str, scope: str = MESSAGE_ATTRIBUTES) -> FilterPolicy:
    """Check a FilterPolicy attribute value as SNS does and compile it;
    FilterPolicyError carries AWS's message. An empty string (which removes
    a policy in SetSubscriptionAttributes) is not a policy: the caller deals
    with it before calling."""
    if scope not in SCOPES:
        raise ValueError(f"unknown filter policy scope {scope!r}")
    if isinstance(policy_json, (bytes, bytearray)):
        try:
            policy_json = policy_json.decode("utf-8")
        except UnicodeDecodeError:
            raise FilterPolicyError(NOT_JSON) from None
    if len(policy_json) > MAX_POLICY_BYTES // 4 and \
            len(policy_json.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise FilterPolicyError(TOO_LARGE)
    try:
        document = _loads(policy_json)
    except (ValueError, RecursionError):
        raise FilterPolicyError(NOT_JSON) from None
    if not isinstance(document, dict):
        raise FilterPolicyError("Filter is not an object")
    checker = _Checker()
    try:
        combinations = checker.walk(document, 1, ())
    except RecursionError:
        raise FilterPolicyError(TOO_COMPLEX) from None
    if scope == MESSAGE_ATTRIBUTES and checker.nested:
        raise FilterPolicyError(NESTED_ATTRIBUTES, under_filter_policy=False)
    if len(checker.leaves) > MAX_KEYS:
        raise FilterPolicyError(TOO_MANY_KEYS)
    if combinations > MAX_COMBINATIONS:
        raise FilterPolicyError(TOO_COMPLEX)
    rules: list[dict[str, _Key]] = []
    _expand(document, rules, (), checker.keys)
    return FilterPolicy(scope, [tuple(rule.items()) for rule in rules])


def compile_event_pattern(pattern_json: str) -> FilterPolicy:
    """An EventBridge event pattern, checked and compiled; FilterPolicyError
    carries Event Ruler's reason (EventBridge answers "Event pattern is not
    valid. Reason: <reason>"). Match with `matches_body` (JSON text) or
    `matches_document` (a `parse_event` result)."""
    try:
        document = _loads(pattern_json)
    except (ValueError, RecursionError):
        raise FilterPolicyError("Filter is not valid JSON") from None
    if not isinstance(document, dict):
        raise FilterPolicyError("Filter is not an object")
    checker = _Checker()
    try:
        checker.walk(document, 1, ())
    except RecursionError:
        raise FilterPolicyError(TOO_COMPLEX) from None
    rules: list[dict[str, _Key]] = []
    _expand(document, rules, (), checker.keys)
    return FilterPolicy(MESSAGE_BODY, [tuple(rule.items()) for rule in rules])


def parse_event(text: str | bytes) -> Any:
    """An event's JSON as the matcher reads it (numbers kept exact), for
    matching one event against many patterns with one parse."""
    return _loads(text.decode("utf-8") if isinstance(text, (bytes, bytearray)) else text)


class FilterPolicy:
    """A compiled policy. `matches_attributes` takes Publish's
    MessageAttributes ({"name": {"DataType": ..., "StringValue": ...,
    "BinaryValue": ...}}; the notification's "Type"/"Value" also work);
    `matches_body` takes the message body; `matches` picks by scope."""

    __slots__ = ("scope", "_alternatives", "_paths", "_prefixes")

    def __init__(self, scope: str, alternatives: list[tuple[tuple[str, _Key], ...]]):
        self.scope = scope
        self._alternatives = alternatives
        self._paths = frozenset(path for alternative in alternatives for path, _ in alternative)
        prefixes = set()
        for path in self._paths:
            parts = path.split(".")
            for i in range(1, len(parts) + 1):
                prefixes.add(".".join(parts[:i]))
        self._prefixes = frozenset(prefixes)

    def matches(self, attributes: dict | None, body: str) -> bool:
        if self.scope == MESSAGE_BODY:
            return self.matches_body(body)
        return self.matches_attributes(attributes)

    # -- MessageAttributes --

    def matches_attributes(self, attributes: dict | None) -> bool:
        attributes = attributes or {}
        event: dict[str, list] = {}
        for path in self._paths:
            values = _attribute_values(attributes.get(path))
            if values is not None:
                event[path] = values
        return self._evaluate(event, lambda: any(_attribute_values(a) is not None
                                                 for a in attributes.values()))

    # -- MessageBody --

    def matches_body(self, body: str | bytes) -> bool:
        try:
            if isinstance(body, (bytes, bytearray)):
                body = body.decode("utf-8")
            document = _loads(body)
        except (ValueError, RecursionError):
            return False
        return self.matches_document(document)

    def matches_document(self, document: Any) -> bool:
        """`matches_body` for a document `parse_event` read."""
        if not isinstance(document, dict):
            return False
        event: dict[str, list] = {}
        try:
            _flatten(document, None, (), event, self._prefixes, self._paths, count())
        except RecursionError:
            return False
        return self._evaluate(event, lambda: _has_leaf(document))

    # -- both --

    def _evaluate(self, event: dict[str, list], nonempty: Callable[[], bool]) -> bool:
        empty_checked = None
        for alternative in self._alternatives:
            verdict = _alternative_matches(alternative, event)
            if verdict is None:
                continue
            if verdict:
                return True
            # matched only through absent keys: needs a message that has something
            if empty_checked is None:
                empty_checked = nonempty()
            if empty_checked:
                return True
        return False


def _alternative_matches(alternative: tuple[tuple[str, _Key], ...], event: dict[str, list]) -> bool | None:
    """None if the alternative fails; True if it matches using some value;
    False if it matches through absent keys alone."""
    constrained: list[set[tuple]] = []
    used_value = False
    for path, key in alternative:
        values = event.get(path)
        found: set[tuple] = set()
        if values:
            for value, membership in values:
                if key.matches(value):
                    if not membership:
                        found = None
                        break
                    found.add(membership)
        if found is None:  # a match outside any array: no constraint
            used_value = True
            continue
        if found:
            used_value = True
            constrained.append(found)
            continue
        if key.exists_false and not (values and _present(values)):
            continue
        return None
    if constrained and not _consistent(constrained):
        return None
    return used_value


def _consistent(choices: list[set[tuple]]) -> bool:
    """Whether one membership can be taken from each set so that no array
    is entered at two different elements."""
    choices = sorted(choices, key=len)

    def search(i: int, chosen: dict) -> bool:
        if i == len(choices):
            return True
        for membership in choices[i]:
            added = []
            ok = True
            for array, index in membership:
                seen = chosen.get(array)
                if seen is None:
                    chosen[array] = index
                    added.append(array)
                elif seen != index:
                    ok = False
                    break
            if ok and search(i + 1, chosen):
                return True
            for array in added:
                del chosen[array]
        return False

    return search(0, {})


def _attribute_values(attribute: Any) -> list | None:
    """The values of one message attribute, or None when SNS ignores it
    (Binary, or a type it does not filter on)."""
    if not isinstance(attribute, dict):
        return None
    data_type = attribute.get("DataType", attribute.get("Type"))
    if not isinstance(data_type, str):
        return None
    raw = attribute.get("StringValue", attribute.get("Value"))
    if data_type in ("String.Array", "Number.Array"):
        try:
            parsed = _loads(raw) if isinstance(raw, str) else raw
        except (ValueError, RecursionError):
            return []
        out: list = []
        _array_values(parsed, out)
        return out
    base = data_type.split(".", 1)[0]
    if base == "String":
        return [(_escape_attribute(raw), ())] if isinstance(raw, str) else []
    if base == "Number":
        if raw is None or isinstance(raw, bool):
            return []
        return [(Num(raw.strip() if isinstance(raw, str) else str(raw)), ())]
    return None


def _array_values(value: Any, out: list) -> None:
    if isinstance(value, list):
        for item in value:
            _array_values(item, out)
    elif isinstance(value, str):
        out.append((_escape_attribute(value), ()))
    elif not isinstance(value, dict):
        out.append((value, ()))


def _flatten(node: Any, path: str | None, membership: tuple, out: dict, prefixes: frozenset,
             leaves: frozenset, arrays: count) -> None:
    if isinstance(node, dict):
        for name, value in node.items():
            child = name if path is None else f"{path}.{name}"
            if child in prefixes:
                _flatten(value, child, membership, out, prefixes, leaves, arrays)
    elif isinstance(node, list):
        array = next(arrays)
        for index, item in enumerate(node):
            _flatten(item, path, membership + ((array, index),), out, prefixes, leaves, arrays)
    elif path in leaves:
        out.setdefault(path, []).append((node, membership))


def _has_leaf(node: Any) -> bool:
    if isinstance(node, dict):
        return any(_has_leaf(value) for value in node.values())
    if isinstance(node, list):
        return any(_has_leaf(item) for item in node)
    return True
