"""Composite-alarm AlarmRule grammar (cloudlet.services.cloudwatch.alarmrule).

The valid rules are the examples of the PutCompositeAlarm API reference and
of the user guide page "Create a composite alarm". The error texts marked
"AWS" are answers AWS gave, as reported in public issues:

- "AlarmRule must not contain leading or trailing whitespace or be null"
  (hashicorp/terraform-provider-aws#19575, a heredoc's trailing newline);
- "Error in AlarmRule [Unsupported token ')' at char 1]" for `()`
  (aws/aws-cdk#34662);
- "Error in AlarmRule [Unsupported token 'Oldest' at char 67, must be: ')']"
  for an unquoted alarm ARN whose name has spaces (aws/aws-cdk#13953; the
  rule is rebuilt here the way CDK rendered it then, and the offset lands on
  67 exactly, which pins both the 0-based count and the tokenizing).

The other messages are the module's own wording (no AWS answer on record).
"""

from __future__ import annotations

import itertools

import pytest

from cloudlet.services.cloudwatch.alarmrule import (
    MAX_ALARMS,
    MAX_ELEMENTS,
    MAX_LENGTH,
    WHITESPACE_MESSAGE,
    Rule,
    RuleError,
    missing_alarms_message,
    name_of,
    parse,
)

ARN = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"


def states(**kw):
    """A state_of over a dict; unknown refs are OK."""
    return lambda ref: kw.get(ref, "OK")


def evaluate(rule: str, **kw) -> bool:
    return parse(rule).evaluate(states(**kw))


# --- valid rules -------------------------------------------------------------

DOC_EXAMPLES = [
    "ALARM(CPUUtilizationTooHigh) AND ALARM(DiskReadOpsTooHigh)",
    "ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)",
    "(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)",
    '(ALARM("CPUUtilizationTooHigh") OR \nALARM("DiskReadOpsTooHigh")) AND \nOK("NetworkOutTooHigh")',
    "ALARM(CPUUtilizationTooHigh) AND ALARM(MemUsageTooHigh)",  # aws-cli example
    "TRUE",
    "FALSE",
]


@pytest.mark.parametrize("rule", DOC_EXAMPLES)
def test_documented_examples_parse(rule):
    assert isinstance(parse(rule), Rule)


def test_doc_example_alarms():
    rule = parse("(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)")
    assert rule.alarms() == ["CPUUtilizationTooHigh", "DiskReadOpsTooHigh", "NetworkOutTooHigh"]


def test_doc_example_semantics():
    rule = "(ALARM(CPUUtilizationTooHigh) OR ALARM(DiskReadOpsTooHigh)) AND OK(NetworkOutTooHigh)"
    assert evaluate(rule, CPUUtilizationTooHigh="ALARM")
    assert evaluate(rule, DiskReadOpsTooHigh="ALARM")
    assert not evaluate(rule, CPUUtilizationTooHigh="ALARM", NetworkOutTooHigh="ALARM")
    assert not evaluate(rule, CPUUtilizationTooHigh="ALARM", NetworkOutTooHigh="INSUFFICIENT_DATA")
    assert not evaluate(rule)

    noise = "ALARM(CPUUtilizationTooHigh) AND NOT ALARM(DeploymentInProgress)"
    assert evaluate(noise, CPUUtilizationTooHigh="ALARM")
    assert not evaluate(noise, CPUUtilizationTooHigh="ALARM", DeploymentInProgress="ALARM")


def test_alarms_dedup_in_order_as_written():
    rule = parse(f'OK(b) OR ALARM(a) OR ALARM("b") OR INSUFFICIENT_DATA(a) OR ALARM({ARN}a)')
    assert rule.alarms() == ["b", "a", f"{ARN}a"]


def test_true_false_have_no_alarms():
    assert parse("TRUE OR FALSE").alarms() == []


def test_arns_quoted_and_unquoted():
    rule = parse(f'ALARM({ARN}cpu) OR OK("{ARN}disk high")')
    assert rule.alarms() == [f"{ARN}cpu", f"{ARN}disk high"]
    assert rule.evaluate(states(**{f"{ARN}cpu": "ALARM"}))


@pytest.mark.parametrize(
    "rule, ref",
    [
        ('ALARM("my alarm")', "my alarm"),
        ('ALARM("a (b) OR c")', "a (b) OR c"),
        ('ALARM("AND")', "AND"),
        ('ALARM("say \\"hi\\"")', 'say "hi"'),
        ('ALARM("back\\\\slash")', "back\\slash"),
        ('ALARM("c:\\temp")', "c:\\temp"),  # a lone backslash stays
        ("ALARM(my-alarm_1.x/y:z)", "my-alarm_1.x/y:z"),
        ("ALARM(AND)", "AND"),  # a keyword in the name position is a name
        ("ALARM(alarm)", "alarm"),
        ("ALARM(ünïcode)", "ünïcode"),
    ],
)
def test_names(rule, ref):
    assert parse(rule).alarms() == [ref]


@pytest.mark.parametrize(
    "rule",
    [
        "ALARM(a)AND ALARM(b)",
        "ALARM (a) AND ALARM( b )",
        "ALARM(a)\tAND\nALARM(b)",
        "ALARM(a)\r\nAND\r\nALARM(b)",
        "NOT(ALARM(a))",
        "(ALARM(a))AND(ALARM(b))",
    ],
)
def test_whitespace_inside_is_free(rule):
    assert parse(rule).alarms()[0] == "a"


@pytest.mark.parametrize(
    "rule",
    ["alarm(a) and ok(b)", "Alarm(a) Or Not Ok(b)", "false", "False", "true", "insufficient_data(a)"],
)
def test_keywords_case_insensitive(rule):
    parse(rule)


def test_lowercase_false_breaks_a_cycle_as_documented():
    assert evaluate("false") is False
    assert evaluate("False") is False
    assert evaluate("true") is True


def test_nested_parentheses():
    rule = parse("((((ALARM(a)) AND ((OK(b) OR (NOT INSUFFICIENT_DATA(c)))))))")
    assert rule.alarms() == ["a", "b", "c"]
    assert rule.elements == 3 + 7  # 3 alarms, 7 grouping pairs
    assert rule.evaluate(states(a="ALARM", b="ALARM", c="OK"))
    assert not rule.evaluate(states(a="ALARM", b="ALARM", c="INSUFFICIENT_DATA"))


# --- truth tables --------------------------------------------------------------

ALL = ("OK", "ALARM", "INSUFFICIENT_DATA")


@pytest.mark.parametrize("fn", ALL)
@pytest.mark.parametrize("state", ALL)
def test_functions(fn, state):
    assert evaluate(f"{fn}(x)", x=state) is (fn == state)
    assert evaluate(f"NOT {fn}(x)", x=state) is (fn != state)


def test_constants():
    assert evaluate("TRUE") is True
    assert evaluate("FALSE") is False
    assert evaluate("NOT TRUE") is False
    assert evaluate("NOT NOT TRUE") is True
    assert evaluate("TRUE AND FALSE") is False
    assert evaluate("TRUE OR FALSE") is True


@pytest.mark.parametrize("a, b", list(itertools.product((False, True), repeat=2)))
def test_binary_truth_tables(a, b):
    kw = {"a": "ALARM" if a else "OK", "b": "ALARM" if b else "OK"}
    assert evaluate("ALARM(a) AND ALARM(b)", **kw) is (a and b)
    assert evaluate("ALARM(a) OR ALARM(b)", **kw) is (a or b)
    assert evaluate("NOT ALARM(a) AND ALARM(b)", **kw) is ((not a) and b)
    assert evaluate("NOT (ALARM(a) AND ALARM(b))", **kw) is (not (a and b))
    assert evaluate("NOT (ALARM(a) OR ALARM(b))", **kw) is (not (a or b))


@pytest.mark.parametrize("a, b, c", list(itertools.product((False, True), repeat=3)))
def test_precedence_and_over_or(a, b, c):
    kw = {k: "ALARM" if v else "OK" for k, v in zip("abc", (a, b, c))}
    assert evaluate("ALARM(a) OR ALARM(b) AND ALARM(c)", **kw) is (a or (b and c))
    assert evaluate("ALARM(a) AND ALARM(b) OR ALARM(c)", **kw) is ((a and b) or c)
    assert evaluate("(ALARM(a) OR ALARM(b)) AND ALARM(c)", **kw) is ((a or b) and c)
    assert evaluate("NOT ALARM(a) OR ALARM(b) AND NOT ALARM(c)", **kw) is ((not a) or (b and not c))
    assert evaluate("ALARM(a) AND ALARM(b) AND ALARM(c)", **kw) is (a and b and c)
    assert evaluate("ALARM(a) OR ALARM(b) OR ALARM(c)", **kw) is (a or b or c)


def test_state_of_called_once_per_ref_as_written():
    calls = []

    def state_of(ref):
        calls.append(ref)
        return "ALARM"

    rule = parse(f'ALARM(a) AND OK(a) OR ALARM("a") OR ALARM({ARN}a)')
    assert rule.evaluate(state_of) is True
    assert calls == ["a", f"{ARN}a"]


def test_deep_nesting_does_not_recurse():
    deep = "(" * (MAX_ELEMENTS - 1) + "ALARM(a)" + ")" * (MAX_ELEMENTS - 1)
    assert evaluate(deep, a="ALARM")
    nots = "NOT " * 2000 + "TRUE"
    assert evaluate(nots) is True
    chain = " AND ".join(["TRUE"] * MAX_ELEMENTS)
    assert evaluate(chain) is True


# --- errors ----------------------------------------------------------------------


def error(rule) -> str:
    with pytest.raises(RuleError) as info:
        parse(rule)
    assert isinstance(info.value, ValueError)
    return str(info.value)


@pytest.mark.parametrize(
    "rule",
    [" ALARM(a)", "ALARM(a) ", "ALARM(a)\n", "\tTRUE", "", None],
)
def test_leading_trailing_whitespace_or_null(rule):  # AWS
    assert error(rule) == WHITESPACE_MESSAGE == (
        "AlarmRule must not contain leading or trailing whitespace or be null"
    )


def test_empty_group():  # AWS
    assert error("()") == "Error in AlarmRule [Unsupported token ')' at char 1]"


def test_unquoted_name_with_spaces():  # AWS
    rule = (
        f"(ALARM({ARN}SampleQueue Oldest Age Alarm) OR "
        f"ALARM({ARN}SampleQueue Visible Messages Alarm))"
    )
    assert error(rule) == "Error in AlarmRule [Unsupported token 'Oldest' at char 67, must be: ')']"


@pytest.mark.parametrize(
    "rule, message",
    [
        # an operand expected
        ("AND ALARM(a)", "Error in AlarmRule [Unsupported token 'AND' at char 0]"),
        ("ALARM(a) AND OR ALARM(b)", "Error in AlarmRule [Unsupported token 'OR' at char 13]"),
        ("ALARM(a) AND )", "Error in AlarmRule [Unsupported token ')' at char 13]"),
        ("BROKEN(a)", "Error in AlarmRule [Unsupported token 'BROKEN' at char 0]"),
        ('"a"', "Error in AlarmRule [Unsupported token '\"a\"' at char 0]"),
        ("NOT", "Error in AlarmRule [Unexpected end of AlarmRule at char 3]"),
        ("ALARM(a) AND", "Error in AlarmRule [Unexpected end of AlarmRule at char 12]"),
        # an operator, ')' or the end expected
        ("ALARM(a) ALARM(b)", "Error in AlarmRule [Unsupported token 'ALARM' at char 9]"),
        ("ALARM(a) NOT OK(b)", "Error in AlarmRule [Unsupported token 'NOT' at char 9]"),
        ("TRUE FALSE", "Error in AlarmRule [Unsupported token 'FALSE' at char 5]"),
        ("ALARM(a))", "Error in AlarmRule [Unsupported token ')' at char 8]"),
        ("(ALARM(a) OR OK(b)) (TRUE)", "Error in AlarmRule [Unsupported token '(' at char 20]"),
        ("(ALARM(a)", "Error in AlarmRule [Unexpected end of AlarmRule at char 9]"),
        ("((TRUE)", "Error in AlarmRule [Unexpected end of AlarmRule at char 7]"),
        # inside a function
        ("ALARM", "Error in AlarmRule [Unexpected end of AlarmRule at char 5]"),
        ("ALARM a", "Error in AlarmRule [Unsupported token 'a' at char 6, must be: '(']"),
        ("OK)", "Error in AlarmRule [Unsupported token ')' at char 2, must be: '(']"),
        ("ALARM()", "Error in AlarmRule [Unsupported token ')' at char 6]"),
        ("ALARM(()", "Error in AlarmRule [Unsupported token '(' at char 6]"),
        ('ALARM("")', "Error in AlarmRule [Unsupported token '\"\"' at char 6]"),
        ("ALARM(", "Error in AlarmRule [Unexpected end of AlarmRule at char 6]"),
        ("ALARM(a", "Error in AlarmRule [Unexpected end of AlarmRule at char 7]"),
        ("ALARM(a b)", "Error in AlarmRule [Unsupported token 'b' at char 8, must be: ')']"),
        ('ALARM("a" "b")', "Error in AlarmRule [Unsupported token '\"b\"' at char 10, must be: ')']"),
        ("ALARM(a(b))", "Error in AlarmRule [Unsupported token '(' at char 7, must be: ')']"),
        # quoting
        ('ALARM("a)', "Error in AlarmRule [Unterminated quoted alarm name at char 6]"),
        ('ALARM("a\\")', "Error in AlarmRule [Unterminated quoted alarm name at char 6]"),
    ],
)
def test_syntax_errors(rule, message):
    assert error(rule) == message


def test_length_limit():
    ok = "ALARM(" + "a" * (MAX_LENGTH - 7) + ")"
    assert len(ok) == MAX_LENGTH
    parse(ok)
    long = "ALARM(" + "a" * (MAX_LENGTH - 6) + ")"
    assert error(long) == (
        f"1 validation error detected: Value '{long}' at 'alarmRule' failed to satisfy "
        "constraint: Member must have length less than or equal to 10240"
    )


def test_length_checked_before_whitespace():
    assert error(" " * (MAX_LENGTH + 1)).startswith("1 validation error detected: ")


def test_alarm_limit():
    ok = " OR ".join(f"ALARM(a{i})" for i in range(MAX_ALARMS))
    assert len(parse(ok + " OR ALARM(a0) OR OK(a1)").alarms()) == MAX_ALARMS
    assert error(ok + " OR ALARM(extra)") == (
        "Error in AlarmRule [An AlarmRule can specify as many as 100 child alarms, this one specifies 101]"
    )


def test_alarm_limit_counts_a_name_and_its_arn_once():
    ok = " OR ".join(f"ALARM(a{i})" for i in range(MAX_ALARMS))
    rule = parse(ok + f" OR ALARM({ARN}a0)")
    assert len(rule.alarms()) == MAX_ALARMS + 1


def test_element_limit():
    ok = " OR ".join(["TRUE"] * MAX_ELEMENTS)
    assert parse(ok).elements == MAX_ELEMENTS
    message = "Error in AlarmRule [An AlarmRule expression can have as many as 500 elements]"
    assert error(ok + " OR FALSE") == message
    # a pair of grouping parentheses is one element; a function's are not
    assert error("(" + ok + ")") == message
    assert parse("(" * 250 + "ALARM(a)" + ")" * 250).elements == 251
    assert error("(" * 500 + "ALARM(a)" + ")" * 500) == message


# --- helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref, name",
    [
        (f"{ARN}cpu", "cpu"),
        (f"{ARN}name:with:colons", "name:with:colons"),
        ("arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:x", "x"),
        ("arn:aws-us-gov:cloudwatch:us-gov-west-1:123456789012:alarm:x y", "x y"),
        ("cpu", "cpu"),
        ("my alarm", "my alarm"),
        ("arn:aws:sns:us-east-1:123456789012:topic", "arn:aws:sns:us-east-1:123456789012:topic"),
        ("arn:aws:cloudwatch:us-east-1:123456789012:alarm:", "arn:aws:cloudwatch:us-east-1:123456789012:alarm:"),
        ("arn:aws:cloudwatch:us-east-1:123456789012:dashboard/x", "arn:aws:cloudwatch:us-east-1:123456789012:dashboard/x"),
    ],
)
def test_name_of(ref, name):
    assert name_of(ref) == name


def test_missing_alarms_message():
    assert missing_alarms_message(["gone"]) == (
        "Could not save the composite alarm as alarms [gone] in the alarm rule do not exist"
    )
    assert missing_alarms_message(["a", "b"]) == (
        "Could not save the composite alarm as alarms [a, b] in the alarm rule do not exist"
    )
