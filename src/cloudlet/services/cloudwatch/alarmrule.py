"""The AlarmRule of a composite alarm (PutCompositeAlarm): parse, list the
alarms it names, evaluate. Pure: no I/O, no store.

Grammar (PutCompositeAlarm, AlarmRule; user guide "Create a composite
alarm"):

    rule     := or
    or       := and ("OR" and)*
    and      := unary ("AND" unary)*
    unary    := "NOT" unary | primary
    primary  := "(" or ")" | "TRUE" | "FALSE"
              | ("ALARM" | "OK" | "INSUFFICIENT_DATA") "(" ref ")"
    ref      := unquoted-name | '"' quoted-name '"'

- A ref is an alarm name or an alarm ARN, quoted with double quotes or not
  ("Alarm names specified in AlarmRule can be surrounded with double-quotes,
  but do not have to be"). Unquoted, it runs to the next whitespace,
  parenthesis or double quote, so a name with a space must be quoted: AWS
  answers `ALARM(SampleQueue Oldest Age Alarm)` with "Unsupported token
  'Oldest' ..., must be: ')'" (aws/aws-cdk#13953). Inside quotes, \\" is a
  double quote and \\\\ a backslash; any other backslash is kept as written.
- NOT binds tightest, then AND, then OR; AND and OR may be mixed without
  parentheses. (Not documented by AWS; the usual boolean convention.)
- Keywords are matched case-insensitively: the API reference tells users to
  set the rule to `false` and the user guide to `False` to break a cycle.
- Whitespace between tokens is free (blanks, tabs, newlines) and optional
  next to a parenthesis (`NOT(ALARM(a))`); leading or trailing whitespace is
  an error.
- Limits: 10240 characters (the model's AlarmRule shape), at most 100
  distinct child alarms, at most 500 elements, where an element is a child
  alarm, TRUE or FALSE, or a pair of grouping parentheses (user guide).

Error texts: RuleError's str() is the message AWS answers with a
ValidationError. Seen from AWS: the whitespace one (hashicorp/
terraform-provider-aws#19575), "Error in AlarmRule [Unsupported token ')' at
char 1]" for `()` (aws/aws-cdk#34662) and "Error in AlarmRule [Unsupported
token 'Oldest' at char 67, must be: ')']" (aws/aws-cdk#13953): chars count
from 0. The others below (marked) are this module's own wording in the same
frame, no AWS answer being on record for them.

The parser and the evaluator are iterative (shunting-yard to postfix, then a
stack machine), so no rule within the limits can exhaust Python's recursion.
"""

from __future__ import annotations

MAX_LENGTH = 10240
MAX_ALARMS = 100
MAX_ELEMENTS = 500

STATES = ("ALARM", "OK", "INSUFFICIENT_DATA")
_WS = " \t\r\n\f\v"
_STOP = _WS + '()"'

# Seen from AWS.
WHITESPACE_MESSAGE = "AlarmRule must not contain leading or trailing whitespace or be null"


class RuleError(ValueError):
    """A rule AWS would refuse; str(err) is AWS's message."""


def _unsupported(text: str, at: int, must_be: str | None = None) -> RuleError:
    tail = f", must be: {must_be}" if must_be else ""
    return RuleError(f"Error in AlarmRule [Unsupported token '{text}' at char {at}{tail}]")


def _unexpected_end(at: int) -> RuleError:
    # Own wording: no AWS answer on record for a rule that stops short.
    return RuleError(f"Error in AlarmRule [Unexpected end of AlarmRule at char {at}]")


def _unterminated(at: int) -> RuleError:
    # Own wording.
    return RuleError(f"Error in AlarmRule [Unterminated quoted alarm name at char {at}]")


def _too_long(rule: str) -> RuleError:
    # The wording of the model's length constraint (cloudlet.protocol.validate).
    return RuleError(
        f"1 validation error detected: Value '{rule}' at 'alarmRule' failed to satisfy "
        f"constraint: Member must have length less than or equal to {MAX_LENGTH}"
    )


def _too_many_alarms(n: int) -> RuleError:
    # Own wording; the limit is the user guide's.
    return RuleError(
        f"Error in AlarmRule [An AlarmRule can specify as many as {MAX_ALARMS} child alarms, "
        f"this one specifies {n}]"
    )


def _too_many_elements() -> RuleError:
    # Own wording; the limit is the user guide's.
    return RuleError(
        f"Error in AlarmRule [An AlarmRule expression can have as many as {MAX_ELEMENTS} elements]"
    )


def missing_alarms_message(refs: list[str]) -> str:
    """The message AWS gives when alarms named in the rule do not exist
    (seen in awsdocs/aws-cloudformation-user-guide#911; the list's "[a, b]"
    form is a guess beyond one name)."""
    return (
        "Could not save the composite alarm as alarms "
        f"[{', '.join(refs)}] in the alarm rule do not exist"
    )


def name_of(ref: str) -> str:
    """The alarm name in `arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME`;
    anything else (a plain name) is returned unchanged."""
    parts = ref.split(":", 6)
    if len(parts) == 7 and parts[0] == "arn" and parts[2] == "cloudwatch" and parts[5] == "alarm" and parts[6]:
        return parts[6]
    return ref


# Tokens: (kind, text, at, value). kind is "(", ")", "word", "string" or "end";
# value is the unescaped name of a "string".


def _tokens(rule: str):
    i, n = 0, len(rule)
    while True:
        while i < n and rule[i] in _WS:
            i += 1
        if i >= n:
            yield ("end", "", n, None)
            return
        c = rule[i]
        if c in "()":
            yield (c, c, i, None)
            i += 1
        elif c == '"':
            start, i, out = i, i + 1, []
            while True:
                if i >= n:
                    raise _unterminated(start)
                c = rule[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and rule[i + 1] in '"\\':
                    out.append(rule[i + 1])
                    i += 2
                else:
                    out.append(c)
                    i += 1
            yield ("string", rule[start:i], start, "".join(out))
        else:
            start = i
            while i < n and rule[i] not in _STOP:
                i += 1
            yield ("word", rule[start:i], start, None)


def _keyword(tok) -> str | None:
    return tok[1].upper() if tok[0] == "word" else None


_PREC = {"OR": 1, "AND": 2}


class Rule:
    """A parsed AlarmRule. `program` is the rule in postfix form, a list of
    ("const", bool) | ("state", STATE, ref) | ("not",) | ("and",) | ("or",)."""

    __slots__ = ("_alarms", "elements", "program", "text")

    def __init__(self, text: str, program: list[tuple], alarms: list[str], elements: int):
        self.text = text
        self.program = program
        self._alarms = alarms
        self.elements = elements

    def alarms(self) -> list[str]:
        """The referenced names/ARNs as written, first appearance first, each once."""
        return list(self._alarms)

    def evaluate(self, state_of) -> bool:
        """The rule's truth; state_of(ref) -> "OK" | "ALARM" | "INSUFFICIENT_DATA"
        is called at most once per distinct ref, with the ref as written."""
        seen: dict[str, str] = {}
        stack: list[bool] = []
        for op in self.program:
            kind = op[0]
            if kind == "state":
                ref = op[2]
                if ref not in seen:
                    seen[ref] = state_of(ref)
                stack.append(seen[ref] == op[1])
            elif kind == "const":
                stack.append(op[1])
            elif kind == "not":
                stack[-1] = not stack[-1]
            else:
                right = stack.pop()
                stack[-1] = (stack[-1] and right) if kind == "and" else (stack[-1] or right)
        return stack[0]

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"


def parse(rule: str) -> Rule:
    """Parse an AlarmRule, or raise RuleError with AWS's message."""
    if rule is not None and len(rule) > MAX_LENGTH:
        raise _too_long(rule)
    if not rule or rule[0] in _WS or rule[-1] in _WS:
        raise RuleError(WHITESPACE_MESSAGE)

    out: list[tuple] = []  # postfix program
    ops: list[tuple] = []  # ("not",) | ("and",) | ("or",) | ("(", at)
    alarms: list[str] = []
    seen: set[str] = set()
    names: set[str] = set()
    elements = 0
    expect_operand = True
    toks = _tokens(rule)

    def element() -> None:
        nonlocal elements
        elements += 1
        if elements > MAX_ELEMENTS:
            raise _too_many_elements()

    def operand_done() -> None:
        # An operand is complete: the NOTs waiting right before it apply now.
        while ops and ops[-1][0] == "not":
            out.append(ops.pop())

    for tok in toks:
        kind, text, at, _ = tok
        kw = _keyword(tok)
        if expect_operand:
            if kw == "NOT":
                ops.append(("not",))
            elif kind == "(":
                element()
                ops.append(("(", at))
            elif kw in ("TRUE", "FALSE"):
                element()
                out.append(("const", kw == "TRUE"))
                operand_done()
                expect_operand = False
            elif kw in STATES:
                element()
                nxt = next(toks)
                if nxt[0] != "(":
                    if nxt[0] == "end":
                        raise _unexpected_end(nxt[2])
                    raise _unsupported(nxt[1], nxt[2], "'('")
                ref_tok = next(toks)
                if ref_tok[0] == "word":
                    ref = ref_tok[1]
                elif ref_tok[0] == "string" and ref_tok[3]:
                    ref = ref_tok[3]
                elif ref_tok[0] == "end":
                    raise _unexpected_end(ref_tok[2])
                else:
                    raise _unsupported(ref_tok[1], ref_tok[2])
                close = next(toks)
                if close[0] != ")":
                    if close[0] == "end":
                        raise _unexpected_end(close[2])
                    raise _unsupported(close[1], close[2], "')'")
                if ref not in seen:
                    seen.add(ref)
                    alarms.append(ref)
                    names.add(name_of(ref))
                    if len(names) > MAX_ALARMS:
                        raise _too_many_alarms(len(names))
                out.append(("state", kw, ref))
                operand_done()
                expect_operand = False
            elif kind == "end":
                raise _unexpected_end(at)
            else:
                raise _unsupported(text, at)
        else:
            if kw in _PREC:
                prec = _PREC[kw]
                while ops and ops[-1][0] in ("and", "or") and _PREC[ops[-1][0].upper()] >= prec:
                    out.append(ops.pop())
                ops.append((kw.lower(),))
                expect_operand = True
            elif kind == ")":
                while ops and ops[-1][0] != "(":
                    out.append(ops.pop())
                if not ops:
                    raise _unsupported(text, at)
                ops.pop()
                operand_done()
            elif kind == "end":
                while ops:
                    top = ops.pop()
                    if top[0] == "(":
                        raise _unexpected_end(at)
                    out.append(top)
                break
            else:
                raise _unsupported(text, at)

    return Rule(rule, out, alarms, elements)
