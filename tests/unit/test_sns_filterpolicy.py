"""SNS subscription filter policies (cloudlet.eventruler).

The match tables are the examples of the SNS Developer Guide, page by page:
"Amazon SNS example filter policies", "String value matching", "Numeric
value matching", "Key matching", "AND/OR logic" and "Filter policy
constraints". A message is either a dict (MessageAttributes, written here as
the guide writes them, {"Type": ..., "Value": ...}, and turned into Publish's
DataType/StringValue) or a str (a message body).

The error tables hold the answers AWS gave (recorded against AWS in May 2024
by LocalStack's validated tests, tests/aws/services/sns/
test_sns_filter_policy.snapshot.json; the AWS text also carries a Jackson
"at [Source: ...; line: 1, column: N]" trailer, not reproduced), then the
messages of Event Ruler, the engine SNS runs, where no AWS answer is on record.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudlet.eventruler import (
    MESSAGE_ATTRIBUTES,
    MESSAGE_BODY,
    FilterPolicyError,
    compile_policy,
)

ATTRS, BODY = MESSAGE_ATTRIBUTES, MESSAGE_BODY


def publish_attributes(doc: dict) -> dict:
    """The guide's {"name": {"Type": t, "Value": v}} as Publish sends them."""
    out = {}
    for name, attr in doc.items():
        value = attr["Value"]
        if attr["Type"].startswith("Binary"):
            out[name] = {"DataType": attr["Type"], "BinaryValue": value}
        else:
            out[name] = {"DataType": attr["Type"], "StringValue": value if isinstance(value, str) else str(value)}
    return out


def a(type_: str, value) -> dict:
    return {"Type": type_, "Value": value}


def matches(policy, message, scope: str | None = None) -> bool:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    if isinstance(message, dict):
        compiled = compile_policy(text, scope or ATTRS)
        return compiled.matches_attributes(publish_attributes(message))
    compiled = compile_policy(text, scope or BODY)
    return compiled.matches_body(message)


def error_of(policy, scope: str = ATTRS) -> FilterPolicyError:
    text = policy if isinstance(policy, str) else json.dumps(policy)
    with pytest.raises(FilterPolicyError) as info:
        compile_policy(text, scope)
    return info.value


def case(name, policy, message, expected):
    return pytest.param(policy, message, expected, id=name)


# -- "Amazon SNS example filter policies" -------------------------------------

EXAMPLE_ATTRIBUTES = {
    "customer_interests": a("String.Array", '["soccer", "rugby", "hockey"]'),
    "store": a("String", "example_corp"),
    "event": a("String", "order_placed"),
    "price_usd": a("Number", "210.75"),
}
EXAMPLE_BODY = ('{\n"customer_interests": ["soccer", "rugby", "hockey"],\n"store": "example_corp",\n'
                '"event":"order_placed",\n"price_usd":210.75\n}')
ACCEPTING = {
    "store": ["example_corp"],
    "event": [{"anything-but": "order_cancelled"}],
    "customer_interests": ["rugby", "football", "baseball"],
    "price_usd": [{"numeric": [">=", 100]}],
}
REJECTING = {
    "store": ["example_corp"],
    "event": ["order_cancelled"],
    "encrypted": [False],
    "customer_interests": ["basketball", "baseball"],
}

EXAMPLE_POLICIES = [
    case("accepts-attributes", ACCEPTING, EXAMPLE_ATTRIBUTES, True),
    case("rejects-attributes", REJECTING, EXAMPLE_ATTRIBUTES, False),
    case("accepts-body", ACCEPTING, EXAMPLE_BODY, True),
    case("rejects-body", REJECTING, EXAMPLE_BODY, False),
]

# -- "String value matching" -------------------------------------------------

INTERESTS = {"customer_interests": ["rugby", "tennis"]}
NOT_RUGBY_TENNIS = {"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}
NOT_ORDER = {"event": [{"anything-but": {"prefix": "order-"}}]}
NOT_STAR_BALL = {"customer_interests": [{"anything-but": {"wildcard": "*ball"}}]}
NOT_BALL = {"customer_interests": [{"anything-but": {"suffix": "ball"}}]}
TENNIS_ANY_CASE = {"customer_interests": [{"equals-ignore-case": "tennis"}]}
SUBNET = {"source_ip": [{"cidr": "10.0.0.0/24"}]}
BAS = {"customer_interests": [{"prefix": "bas"}]}
BALL = {"customer_interests": [{"suffix": "ball"}]}
STAR_BALL = {"customer_interests": [{"wildcard": "*ball"}]}


def ci(type_, value):
    return {"customer_interests": a(type_, value)}


def ci_body(value):
    return json.dumps({"customer_interests": value})


STRING_MATCHING = [
    # Exact matching
    case("exact-attr-rugby", INTERESTS, ci("String", "rugby"), True),
    case("exact-attr-tennis", INTERESTS, ci("String", "tennis"), True),
    case("exact-attr-array", INTERESTS, ci("String.Array", '["rugby", "tennis"]'), True),
    case("exact-body-rugby", INTERESTS, ci_body("rugby"), True),
    case("exact-body-tennis", INTERESTS, ci_body("tennis"), True),
    case("exact-attr-baseball", INTERESTS, ci("String", "baseball"), False),
    case("exact-attr-array-baseball", INTERESTS, ci("String.Array", '["baseball"]'), False),
    case("exact-body-baseball", INTERESTS, ci_body("baseball"), False),
    # Anything-but matching
    case("anything-but-attr-baseball", NOT_RUGBY_TENNIS, ci("String", "baseball"), True),
    case("anything-but-attr-football", NOT_RUGBY_TENNIS, ci("String", "football"), True),
    case("anything-but-attr-array", NOT_RUGBY_TENNIS, ci("String.Array", '["rugby", "baseball"]'), True),
    case("anything-but-body-baseball", NOT_RUGBY_TENNIS, ci_body("baseball"), True),
    case("anything-but-body-football", NOT_RUGBY_TENNIS, ci_body("football"), True),
    case("anything-but-body-array", NOT_RUGBY_TENNIS, ci_body(["rugby", "baseball"]), True),
    case("anything-but-attr-rugby", NOT_RUGBY_TENNIS, ci("String", "rugby"), False),
    case("anything-but-attr-array-rugby", NOT_RUGBY_TENNIS, ci("String.Array", '["rugby"]'), False),
    case("anything-but-body-array-rugby", NOT_RUGBY_TENNIS, ci_body(["rugby"]), False),
    # Using a prefix with anything-but
    case("anything-but-prefix-attr-data-entry", NOT_ORDER, {"event": a("String", "data-entry")}, True),
    case("anything-but-prefix-attr-order_number", NOT_ORDER, {"event": a("String", "order_number")}, True),
    case("anything-but-prefix-body-data-entry", NOT_ORDER, '{"event": "data-entry"}', True),
    case("anything-but-prefix-body-order_number", NOT_ORDER, '{"event": "order_number"}', True),
    case("anything-but-prefix-attr-order-cancelled", NOT_ORDER, {"event": a("String", "order-cancelled")}, False),
    case("anything-but-prefix-body-order-cancelled", NOT_ORDER, '{"event": "order-cancelled"}', False),
    # anything-but wildcard / suffix (the guide shows bodies)
    case("anything-but-wildcard-body-other", NOT_STAR_BALL, ci_body(["hockey", "rugby", "soccer"]), True),
    case("anything-but-wildcard-body-balls", NOT_STAR_BALL, ci_body(["baseball", "basketball"]), False),
    case("anything-but-wildcard-attr-other", NOT_STAR_BALL, ci("String.Array", '["hockey", "rugby", "soccer"]'),
         True),
    case("anything-but-wildcard-attr-balls", NOT_STAR_BALL, ci("String.Array", '["baseball", "basketball"]'),
         False),
    case("anything-but-suffix-body-other", NOT_BALL, ci_body(["hockey", "rugby", "soccer"]), True),
    case("anything-but-suffix-body-balls", NOT_BALL, ci_body(["baseball", "basketball"]), False),
    # Equals-ignore-case matching
    case("ignore-case-attr-TENNIS", TENNIS_ANY_CASE, ci("String", "TENNIS"), True),
    case("ignore-case-attr-Tennis", TENNIS_ANY_CASE, ci("String", "Tennis"), True),
    case("ignore-case-body-TENNIS", TENNIS_ANY_CASE, ci_body("TENNIS"), True),
    case("ignore-case-body-teNnis", TENNIS_ANY_CASE, ci_body("teNnis"), True),
    case("ignore-case-attr-tenis", TENNIS_ANY_CASE, ci("String", "tenis"), False),
    # IP address matching
    case("cidr-attr-low", SUBNET, {"source_ip": a("String", "10.0.0.0")}, True),
    case("cidr-attr-high", SUBNET, {"source_ip": a("String", "10.0.0.255")}, True),
    case("cidr-body-low", SUBNET, '{"source_ip": "10.0.0.0"}', True),
    case("cidr-body-high", SUBNET, '{"source_ip": "10.0.0.255"}', True),
    case("cidr-attr-outside", SUBNET, {"source_ip": a("String", "10.1.1.0")}, False),
    case("cidr-body-outside", SUBNET, '{"source_ip": "10.1.1.0"}', False),
    # Prefix matching
    case("prefix-attr-baseball", BAS, ci("String", "baseball"), True),
    case("prefix-attr-basketball", BAS, ci("String", "basketball"), True),
    case("prefix-body-baseball", BAS, ci_body("baseball"), True),
    case("prefix-body-basketball", BAS, ci_body("basketball"), True),
    case("prefix-attr-rugby", BAS, ci("String", "rugby"), False),
    case("prefix-body-rugby", BAS, ci_body("rugby"), False),
    # Suffix matching
    case("suffix-attr-baseball", BALL, ci("String", "baseball"), True),
    case("suffix-attr-basketball", BALL, ci("String", "basketball"), True),
    case("suffix-body-baseball", BALL, ci_body("baseball"), True),
    case("suffix-body-basketball", BALL, ci_body("basketball"), True),
    case("suffix-attr-rugby", BALL, ci("String", "rugby"), False),
    case("suffix-body-rugby", BALL, ci_body("rugby"), False),
    # Wildcard
    case("wildcard-body", STAR_BALL, ci_body(["baseball", "basketball"]), True),
    case("wildcard-attr", STAR_BALL, ci("String.Array", '["baseball", "basketball"]'), True),
    case("wildcard-body-rugby", STAR_BALL, ci_body("rugby"), False),
]

# -- "Numeric value matching" --------------------------------------------------

EQUALS_301_5 = {"price_usd": [{"numeric": ["=", 301.5]}]}
NOT_100_500 = {"price": [{"anything-but": [100, 500]}]}
NEGATIVE = {"price_usd": [{"numeric": ["<", 0]}]}
UP_TO_150 = {"price_usd": [{"numeric": [">", 0, "<=", 150]}]}


def usd(value):
    return {"price_usd": a("Number", value)}


NUMERIC_MATCHING = [
    case("equals-attr-301.5", EQUALS_301_5, usd(301.5), True),
    case("equals-attr-3.015e2", EQUALS_301_5, usd("3.015e2"), True),
    case("equals-body-301.5", EQUALS_301_5, '{"price_usd": 301.5}', True),
    case("equals-body-3.015e2", EQUALS_301_5, '{"price_usd": 3.015e2}', True),
    case("equals-attr-301.6", EQUALS_301_5, usd("301.6"), False),
    case("anything-but-attr-101", NOT_100_500, {"price": a("Number", 101)}, True),
    case("anything-but-attr-100.1", NOT_100_500, {"price": a("Number", 100.1)}, True),
    case("anything-but-body-101", NOT_100_500, '{"price": 101}', True),
    case("anything-but-body-100.1", NOT_100_500, '{"price": 100.1}', True),
    case("anything-but-attr-number-array", NOT_100_500, {"price": a("Number.Array", "[100, 50]")}, True),
    case("anything-but-body-array", NOT_100_500, '{"price": [100, 50]}', True),
    case("anything-but-attr-100", NOT_100_500, {"price": a("Number", 100)}, False),
    case("anything-but-body-100", NOT_100_500, '{"price": 100}', False),
    case("negative-attr", NEGATIVE, usd("-0.5"), True),
    case("negative-body", NEGATIVE, '{"price_usd": -3}', True),
    case("negative-attr-zero", NEGATIVE, usd("0"), False),
    case("range-attr-150", UP_TO_150, usd("150"), True),
    case("range-body-1", UP_TO_150, '{"price_usd": 1}', True),
    case("range-attr-0", UP_TO_150, usd("0"), False),
    case("range-body-150.5", UP_TO_150, '{"price_usd": 150.5}', False),
    # values are numbers only when they are numbers
    case("range-attr-string", UP_TO_150, {"price_usd": a("String", "100")}, False),
    case("range-body-string", UP_TO_150, '{"price_usd": "100"}', False),
    # five digits of accuracy after the decimal point ("Filter policy constraints")
    case("precision-equal-beyond-5-places", {"n": [{"numeric": ["=", 1.5]}]}, '{"n": 1.500001}', True),
    case("precision-different-at-5th-place", {"n": [{"numeric": ["=", 1.5]}]}, '{"n": 1.50001}', False),
    case("precision-range-beyond-5-places", {"n": [{"numeric": [">", 1.5]}]}, '{"n": 1.500009}', False),
]

# -- "Key matching" -----------------------------------------------------------

STORE_EXISTS = {"store": [{"exists": True}]}
STORE_ABSENT = {"store": [{"exists": False}]}
WITH_STORE = {"store": a("String", "fans"),
              "customer_interests": a("String.Array", '["baseball", "basketball"]')}
WITHOUT_STORE = {"customer_interests": a("String.Array", '["baseball", "basketball"]')}
WITH_STORE_BODY = '{"store": "fans", "customer_interests": ["baseball", "basketball"]}'
WITHOUT_STORE_BODY = '{"customer_interests": ["baseball", "basketball"]}'

KEY_MATCHING = [
    case("exists-attr-with", STORE_EXISTS, WITH_STORE, True),
    case("exists-body-with", STORE_EXISTS, WITH_STORE_BODY, True),
    case("exists-attr-without", STORE_EXISTS, WITHOUT_STORE, False),
    case("exists-body-without", STORE_EXISTS, WITHOUT_STORE_BODY, False),
    case("absent-attr-with", STORE_ABSENT, WITH_STORE, False),
    case("absent-body-with", STORE_ABSENT, WITH_STORE_BODY, False),
    case("absent-attr-without", STORE_ABSENT, WITHOUT_STORE, True),
    case("absent-body-without", STORE_ABSENT, WITHOUT_STORE_BODY, True),
    # "exists": false only matches if at least one attribute is present
    case("absent-attr-no-attributes", STORE_ABSENT, {}, False),
    case("absent-body-empty-object", STORE_ABSENT, "{}", False),
    # exists works only on leaf nodes; the key must have a non-null, non-empty value
    case("exists-body-intermediate-node", STORE_EXISTS, '{"store": {"name": "fans"}}', False),
    case("exists-body-null", STORE_EXISTS, '{"store": null}', False),
    case("exists-body-empty-array", STORE_EXISTS, '{"store": [], "x": 1}', False),
    case("absent-body-intermediate-node", STORE_ABSENT, '{"store": {"name": "fans"}}', True),
    # anything-but can be combined with "exists": false ("String value matching")
    case("anything-but-or-absent-absent", {"store": [{"anything-but": "x"}, {"exists": False}]},
         {"other": a("String", "y")}, True),
    case("anything-but-or-absent-other", {"store": [{"anything-but": "x"}, {"exists": False}]},
         {"store": a("String", "y")}, True),
    case("anything-but-or-absent-excluded", {"store": [{"anything-but": "x"}, {"exists": False}]},
         {"store": a("String", "x")}, False),
    case("anything-but-needs-the-key", {"store": [{"anything-but": "x"}]}, {"other": a("String", "y")}, False),
]

# -- "AND/OR logic" ------------------------------------------------------------

AND_POLICY = {"customer_interests": ["rugby"], "price_usd": [{"numeric": [">", 100]}]}
OR_POLICY = {"customer_interests": ["rugby", "football", "baseball"]}
STANDARD_OR = {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]},
                                                      {"namespace": ["AWS/EC2"]}]}
NESTED_OR = {
    "source": ["aws.cloudwatch"],
    "$or": [
        {"metricName": ["CPUUtilization", "ReadLatency"]},
        {"metricType": ["MetricType"], "$or": [{"metricId": [1234, 4321]}, {"spaceId": [1000, 2000, 3000]}]},
    ],
}
NESTED_BODY_OR = {
    "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
    "detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]},
                                             {"type": ["CloudWatch Alarm State Change"]}]},
}

AND_OR_LOGIC = [
    case("and-both", AND_POLICY, {"customer_interests": a("String", "rugby"), "price_usd": a("Number", 101)}, True),
    case("and-body-both", AND_POLICY, '{"customer_interests": "rugby", "price_usd": 100.5}', True),
    case("and-one", AND_POLICY, {"customer_interests": a("String", "rugby"), "price_usd": a("Number", 100)}, False),
    case("and-missing", AND_POLICY, {"customer_interests": a("String", "rugby")}, False),
    case("or-rugby", OR_POLICY, ci("String", "rugby"), True),
    case("or-football", OR_POLICY, ci("String", "football"), True),
    case("or-body-baseball", OR_POLICY, ci_body("baseball"), True),
    case("or-tennis", OR_POLICY, ci("String", "tennis"), False),
    case("$or-attr-metricName", STANDARD_OR, {"source": a("String", "aws.cloudwatch"),
                                               "metricName": a("String", "CPUUtilization")}, True),
    case("$or-attr-namespace", STANDARD_OR, {"source": a("String", "aws.cloudwatch"),
                                              "namespace": a("String", "AWS/EC2")}, True),
    case("$or-body-metricName", STANDARD_OR, '{"source": "aws.cloudwatch", "metricName": "CPUUtilization"}', True),
    case("$or-body-namespace", STANDARD_OR, '{"source": "aws.cloudwatch", "namespace": "AWS/EC2"}', True),
    case("$or-attr-source-only", STANDARD_OR, {"source": a("String", "aws.cloudwatch")}, False),
    case("$or-attr-wrong-source", STANDARD_OR, {"source": a("String", "aws.events"),
                                                 "namespace": a("String", "AWS/EC2")}, False),
    case("$or-nested-spaceId", NESTED_OR, {"source": a("String", "aws.cloudwatch"),
                                            "metricType": a("String", "MetricType"),
                                            "spaceId": a("Number", 2000)}, True),
    case("$or-nested-missing-metricType", NESTED_OR, {"source": a("String", "aws.cloudwatch"),
                                                       "spaceId": a("Number", 2000)}, False),
    case("$or-nested-body", NESTED_BODY_OR,
         '{"namespace": "AWS/ES", "detail": {"scope": "Service", "type": "CloudWatch Alarm State Change"}}', True),
    case("$or-nested-body-no-scope", NESTED_BODY_OR,
         '{"namespace": "AWS/ES", "detail": {"type": "CloudWatch Alarm State Change"}}', False),
]

# -- recorded against AWS (LocalStack's validated tests) ----------------------

BODY_NESTED = {"object": {"key": [{"prefix": "auto-"}, "hardcodedvalue"], "nested_key": [{"exists": False}]},
               "test": [{"exists": False}]}
S3_POLICY = {"Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}},
                         "eventName": [{"prefix": "ObjectCreated:"}]}}


def s3_event(name: str, key: str) -> str:
    return json.dumps({"Records": [{"eventSource": "aws:s3", "eventTime": "2022-11-21T03:41:29.743Z",
                                    "eventName": name,
                                    "s3": {"bucket": {"name": "insurance-bucket-demo"},
                                           "object": {"key": key, "size": 17}}}]})


S3_MULTIPLE = json.dumps({"Records": [
    {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
     "s3": {"object": [[{"key": "auto-insurance-2314.xml", "size": 17}]]}},
    {"eventSource": "aws:s3", "eventName": "ObjectRemoved:Delete",
     "s3": {"object": {"key": "home-insurance-2314.xml", "size": 17}}},
]})

RECORDED = [
    case("numeric-range-99", {"attr1": [{"numeric": [">", 0, "<=", 100]}]}, {"attr1": a("Number", "99")}, True),
    case("numeric-range-111", {"attr1": [{"numeric": [">", 0, "<=", 100]}]}, {"attr1": a("Number", "111")}, False),
    case("null-or-anything-but-no-attributes", {"attr1": [None, {"anything-but": "whatever"}]}, {}, False),
    case("exists-number-attribute", STORE_EXISTS, {"store": a("Number", "99"), "def": a("Number", "99")}, True),
    case("exists-other-attribute", STORE_EXISTS, {"attr1": a("Number", "111")}, False),
    case("absent-number-attribute", STORE_ABSENT, {"def": a("Number", "99")}, True),
    case("absent-present", STORE_ABSENT, {"store": a("Number", "99"), "def": a("Number", "99")}, False),
    case("exact-string", {"store": ["value1"]}, {"store": a("String", "value1")}, True),
    case("exact-string-array", {"store": ["value1"]}, {"store": a("String.Array", '["value1", "value2"]')}, True),
    case("exact-string-array-miss", {"store": ["value1"]}, {"store": a("String.Array", '["value2", "value3"]')},
         False),
    case("body-prefix", BODY_NESTED, '{"object": {"key": "auto-test"}}', True),
    case("body-exact", BODY_NESTED, '{"object": {"key": "hardcodedvalue"}}', True),
    case("body-wrong-prefix", BODY_NESTED, '{"object": {"key": "test-auto"}}', False),
    case("body-absent-key-present", BODY_NESTED, '{"object": {"key": "auto-test"}, "test": "just-exists"}', False),
    case("body-absent-nested-present", BODY_NESTED,
         '{"object": {"key": "auto-test", "nested_key": "just-exists"}}', False),
    case("body-key-missing", BODY_NESTED, '{"object": {"test": "auto-test"}}', False),
    case("body-object-missing", BODY_NESTED, '{"test": "auto-test"}', False),
    case("body-not-json", BODY_NESTED, "Regular string message", False),
    case("body-json-string", BODY_NESTED, json.dumps("Regular string message"), False),
    case("dotted-policy-nested-body", {"object.nested": ["string.value"]},
         '{"object": {"nested": "string.value"}}', True),
    case("dotted-policy-dotted-body", {"object.nested": ["string.value"]}, '{"object.nested": "string.value"}', True),
    case("dotted-policy-other-value", {"object.nested": ["string.value"]}, '{"object": {"nested": "test-auto"}}',
         False),
    case("deep-dotted-1", {"object.nested.test": ["string.value"]},
         '{"object": {"nested": {"test": "string.value"}}}', True),
    case("deep-dotted-2", {"object.nested.test": ["string.value"]}, '{"object.nested.test": "string.value"}', True),
    case("deep-dotted-3", {"object.nested.test": ["string.value"]}, '{"object.nested": {"test": "string.value"}}',
         True),
    case("deep-dotted-4", {"object.nested.test": ["string.value"]}, '{"object": {"nested.test": "string.value"}}',
         True),
    case("deep-dotted-miss", {"object.nested.test": ["string.value"]},
         '{"object": {"nested": {"test": "string.notvalue"}}}', False),
    case("route-to-queue1-alone", {"headers": {"route-to": ["queue1"]}}, '{"headers": {"route-to": ["queue1"]}}',
         True),
    case("route-to-queue1-both", {"headers": {"route-to": ["queue1"]}},
         '{"headers": {"route-to": ["queue1", "queue2"]}}', True),
    case("route-to-queue1-other", {"headers": {"route-to": ["queue1"]}},
         '{"headers": {"route-to": ["queue3"]}}', False),
    case("s3-multiple-records", S3_POLICY, S3_MULTIPLE, True),
    case("s3-auto-created", S3_POLICY, s3_event("ObjectCreated:Put", "auto-insurance-2314.xml"), True),
    case("s3-auto-removed", S3_POLICY, s3_event("ObjectRemoved:Delete", "auto-insurance-2314.xml"), False),
    case("s3-home-created", S3_POLICY, s3_event("ObjectCreated:Put", "home-insurance-2314.xml"), False),
]

# -- further facts the guide states ------------------------------------------

OTHER = [
    # "Amazon SNS ignores message attributes with the Binary data type."
    case("binary-ignored", {"k": [{"exists": True}]}, {"k": a("Binary", b"abc")}, False),
    case("binary-counts-as-absent", {"k": [{"exists": False}]},
         {"k": a("Binary", b"abc"), "other": a("String", "x")}, True),
    case("binary-alone-is-no-attribute", {"k": [{"exists": False}]}, {"j": a("Binary", b"abc")}, False),
    # custom types ("String.x", "Number.x") keep their base type
    case("custom-string-type", {"k": ["v"]}, {"k": a("String.custom", "v")}, True),
    case("custom-number-type", {"k": [{"numeric": ["=", 5]}]}, {"k": a("Number.int", "5.0")}, True),
    # true, false and null in the policy; String.Array may hold them
    case("array-true", {"k": [True]}, {"k": a("String.Array", "[true, 1]")}, True),
    case("array-null", {"k": [None]}, {"k": a("String.Array", '["x", null]')}, True),
    case("string-true-is-not-true", {"k": [True]}, {"k": a("String", "true")}, False),
    case("body-false", {"encrypted": [False]}, '{"encrypted": false}', True),
    case("body-null", {"k": [None]}, '{"k": null}', True),
    case("body-missing-is-not-null", {"k": [None]}, '{"j": 1}', False),
    case("number-matches-numerically", {"k": [100]}, {"k": a("Number", "1.00e2")}, True),
    case("number-is-not-string", {"k": [100]}, {"k": a("String", "100")}, False),
    case("string-is-not-number", {"k": ["100"]}, {"k": a("Number", "100")}, False),
    # string matching is case-sensitive ("Filter policy constraints")
    case("case-sensitive", {"k": ["Rugby"]}, {"k": a("String", "rugby")}, False),
    # double-escaped " and \ in attribute policies ("Filter policy constraints")
    case("double-escaped-quote", {"k": ['say \\"hi\\"']}, {"k": a("String", 'say "hi"')}, True),
    case("single-escaped-quote", {"k": ['say "hi"']}, {"k": a("String", 'say "hi"')}, False),
    case("double-escaped-backslash", {"k": ["a\\\\b"]}, {"k": a("String", "a\\b")}, True),
    case("body-needs-no-double-escape", {"k": ['say "hi"']}, json.dumps({"k": 'say "hi"'}), True),
    # IPv6 and a plain address
    case("cidr-ipv6", {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": a("String", "2001:db8:ffff::1")}, True),
    case("cidr-ipv6-outside", {"ip": [{"cidr": "2001:db8::/32"}]}, {"ip": a("String", "2001:db9::1")}, False),
    case("cidr-version-mismatch", {"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": a("String", "::1")}, False),
    case("cidr-not-an-ip", {"ip": [{"cidr": "10.0.0.0/8"}]}, {"ip": a("String", "10.0.0.x")}, False),
    case("exact-ipv6-normalized", {"ip": ["2001:db8::1"]}, {"ip": a("String", "2001:0db8:0:0:0:0:0:1")}, True),
    # body arrays: keys matched in one element of a shared array
    case("array-same-element", {"r": {"a": ["1"], "b": ["2"]}}, '{"r": [{"a": "1", "b": "2"}, {"a": "x"}]}', True),
    case("array-different-elements", {"r": {"a": ["1"], "b": ["2"]}}, '{"r": [{"a": "1"}, {"b": "2"}]}', False),
    case("array-independent", {"r": {"a": ["1"]}, "s": {"b": ["2"]}}, '{"r": [{"a": "1"}], "s": [{"b": "2"}]}',
         True),
    case("wildcard-middle", {"k": [{"wildcard": "a*c*e"}]}, '{"k": "abcde"}', True),
    case("wildcard-escaped-star", {"k": [{"wildcard": "a\\*"}]}, '{"k": "a*"}', True),
    case("wildcard-escaped-star-literal", {"k": [{"wildcard": "a\\*"}]}, '{"k": "ab"}', False),
    case("prefix-needs-a-string", {"k": [{"prefix": "1"}]}, '{"k": 123}', False),
    case("anything-but-number-in-list-of-strings", {"k": [{"anything-but": ["a"]}]}, '{"k": 1}', True),
]


@pytest.mark.parametrize(
    ("policy", "message", "expected"),
    EXAMPLE_POLICIES + STRING_MATCHING + NUMERIC_MATCHING + KEY_MATCHING + AND_OR_LOGIC + RECORDED + OTHER,
)
def test_matching(policy, message, expected):
    assert matches(policy, message) is expected


def test_notification_type_value_form():
    policy = compile_policy('{"k": ["v"]}')
    assert policy.matches_attributes({"k": {"Type": "String", "Value": "v"}}) is True
    assert policy.matches_attributes(None) is False


def test_matches_dispatches_on_scope():
    body = compile_policy('{"k": ["v"]}', BODY)
    attrs = compile_policy('{"k": ["v"]}', ATTRS)
    message = {"k": {"DataType": "String", "StringValue": "v"}}
    assert body.matches(message, '{"k": "x"}') is False
    assert body.matches({}, '{"k": "v"}') is True
    assert attrs.matches(message, '{"k": "x"}') is True
    assert body.scope == BODY and attrs.scope == ATTRS


# -- valid policies ("Filter policy constraints", "AND/OR logic") --------------

@pytest.mark.parametrize(("policy", "scope"), [
    # 3 x 1 x 2 = 6
    ({"key_a": ["value_one", "value_two", "value_three"], "key_b": ["value_one"],
      "key_c": ["value_one", "value_two"]}, ATTRS),
    # 3 x 4 x 2 x 3 = 72
    ({"key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}},
      "key_d": {"key_e": ["value_one", "value_two", "value_three"]}}, BODY),
    # (1 * 2) + (1 * 1 * 2) + (1 * 1 * 3) = 7
    (NESTED_OR, ATTRS),
    # (2 * 2 * 2) x 4 = 32
    (NESTED_BODY_OR, BODY),
    # recorded: 3 * 6 + 3 * 4 * 4 + 3 * 4 * 7 = 150, the most allowed
    ({"source": ["aws.cloudwatch", "aws.events", "aws.test"],
      "$or": [{"metricName": ["CPUUtilization", "ReadLatency", "TestVal", "TestVal2", "TestVal3", "TestVal4"]},
              {"metricType": ["MetricType", "TestType", "TestType2", "TestType3"],
               "$or": [{"metricId": [1234, 4321, 5678, 9012]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}]}]}, ATTRS),
    # recorded as accepted
    ({"key": [{"anything-but": {"prefix": "test-"}}]}, ATTRS),
    ({"key": [{"anything-but": ["test", "test2"]}]}, ATTRS),
    ({"key": [{"anything-but": "test"}]}, ATTRS),
    ({"attr1": [None, {"anything-but": "whatever"}]}, ATTRS),
    # five keys is the most
    ({f"k{i}": ["v"] for i in range(5)}, ATTRS),
    ({"k": [{"numeric": ["=", 3.015e2]}, {"numeric": [">=", -1e9, "<", 1e9]}]}, ATTRS),
    ({"k": [{"cidr": "10.0.0.7/31"}, {"cidr": "::/0"}]}, ATTRS),
])
def test_valid(policy, scope):
    compile_policy(json.dumps(policy), scope)


# -- invalid policies, as AWS answered ------------------------------------------

RECORDED_ERRORS = [
    ({"key": [["value"]]}, "Match value must be String, number, true, false, or null"),
    ({"key": [{"wrong-operator": True}]}, "Unrecognized match type wrong-operator"),
    ({"key": [{"suffix": "value", "prefix": "value2"}]}, "Only one key allowed in match expression"),
    ({"key": [{"suffix": 100}]}, "suffix match pattern must be a string"),
    ({"key": [{"suffix": None}]}, "suffix match pattern must be a string"),
    ({"key": {"suffix": "value"}}, '"suffix" must be an object or an array'),
    ({"key": [{"suffix": []}]}, "suffix match pattern must be a string"),
    ({"key": [{"suffix": ["test", "test2"]}]}, "suffix match pattern must be a string"),
    ({"key": {"suffix": "value", "prefix": "value"}}, '"suffix" must be an object or an array'),
    ({"key": {"not-an-operator": "value"}}, '"not-an-operator" must be an object or an array'),
    ({"key": [{"numeric": []}]}, "Invalid member in numeric match: ]"),
    ({"key": [{"numeric": ["operator"]}]}, "Unrecognized numeric range operator: operator"),
    ({"key": [{"numeric": [1, "<="]}]}, "Invalid member in numeric match: 1"),
    ({"key": [{"numeric": ["=", "000"]}]}, "Value of equals must be numeric"),
    ({"key": [{"numeric": [">="]}]}, "Value of >= must be numeric"),
    ({"key": [{"numeric": ["<", 100, ">", 10]}]}, "Too many elements in numeric expression"),
    ({"key": [{"numeric": [">=", 1, ">", 2]}]}, "Bad numeric range operator: >"),
    ({"key": [{"numeric": [">", 3, "<", 1]}]}, "Bottom must be less than top"),
    ({"key": [{"numeric": [">", 20, "<="]}]}, "Value of <= must be numeric"),
    ({"key": [{"numeric": [">", 20, 30]}]}, "Bad value in numeric range: 30"),
    ({"key": [{"numeric": [">", 20, "test"]}]}, "Bad numeric range operator: test"),
    ({"key": [{"numeric": [">", "20", "<", "30"]}]}, "Value of > must be numeric"),
    ({"key": [{"numeric": [">", 20, "<", "30"]}]}, "Value of < must be numeric"),
    ({"key": [{"numeric": [">", 20, "<", 30, "<", 50]}]}, "Too many terms in numeric range expression"),
    ({"key": [{"exists": None}]}, "exists match pattern must be either true or false."),
    ({"key": [{"exists": "no"}]}, "exists match pattern must be either true or false."),
    ({"key": [{"anything-but": {"wrong-operator": None}}]}, "Unsupported anything-but pattern: wrong-operator"),
    ({"key": [{"anything-but": {"exists": False}}]}, "Unsupported anything-but pattern: exists"),
    ({"key": [{"anything-but": {"prefix": False}}]}, "prefix match pattern must be a string"),
    ({"key": [f"value{i}" for i in range(151)]}, "Filter policy is too complex"),
    ({"key1": [f"value{i}" for i in range(100)], "key2": [f"value{i}" for i in range(51)]},
     "Filter policy is too complex"),
    ({f"key{i}": [f"value{i}"] for i in range(1, 7)}, "Filter policy can not have more than 5 keys"),
    # (4 * 6) + (4 * 4 * 4) + (4 * 4 * 4) = 152
    ({"source": ["aws.cloudwatch", "aws.events", "aws.test", "aws.test2"],
      "$or": [{"metricName": ["CPUUtilization", "ReadLatency", "t1", "t2", "t3", "t4"]},
              {"metricType": ["MetricType", "TestType", "TestType2", "TestType3"],
               "$or": [{"metricId": [1234, 4321, 5678, 9012]}, {"spaceId": [1, 2, 3, 4]}]}]},
     "Filter policy is too complex"),
    ({"key_a": "value_one"}, '"key_a" must be an object or an array'),
    # from an AWS error quoted in aws/aws-cdk#16549
    ({"Amount": []}, "Empty arrays are not allowed"),
]


@pytest.mark.parametrize(("policy", "message"), RECORDED_ERRORS)
def test_recorded_errors(policy, message):
    error = error_of(policy)
    assert error.message == message
    assert error.under_filter_policy is True
    assert error.api_message() == f"Invalid parameter: FilterPolicy: {message}"
    assert error.api_message(subscribe=True) == f"Invalid parameter: Attributes Reason: FilterPolicy: {message}"


@pytest.mark.parametrize(("policy", "message"), [
    # (3 * 4 * 2) + (3 * 4 * 6) + (2 * 4 * 2) + (2 * 4 * 6) = 160
    ({"$or": [{"metricName": ["CPUUtilization", "ReadLatency", "TestValue"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}],
      "detail": {"scope": ["Service", "Test"],
                 "$or": [{"source": ["aws.cloudwatch"]},
                         {"type": ["CloudWatch Alarm State Change", "TestValue", "TestValue2"]}]}},
     "Filter policy is too complex"),
    # 3 x 4 x 2 x 3 x 1 x 3 = 216
    ({"key_a": {"key_b": {"key_c": ["value_one", "value_two", "value_three", "value_four"]}},
      "key_d": {"key_e": ["value_one", "value_two", "value_three"]},
      "key_f": ["value_one", "value_two", "value_three"]}, "Filter policy is too complex"),
    ({f"key_{c}": ["v"] for c in "abcdef"}, "Filter policy can not have more than 5 keys"),
    # "Filter policy constraints": keys with values are what is counted; six here
    ({"state": ["SUCCESS"], "severity": [{"exists": True}], "message": [{"exists": True}],
      "finding": {"standard_control": [{"exists": True}], "region": [{"exists": True}],
                  "account": [{"exists": True}]}}, "Filter policy can not have more than 5 keys"),
    # nesting multiplies: 151 levels for one value
    (json.loads("{" + '"a": {' * 150 + '"b": ["v"]' + "}" * 151), "Filter policy is too complex"),
])
def test_recorded_body_errors(policy, message):
    assert error_of(policy, BODY).message == message


def test_nested_policy_under_message_attributes():
    error = error_of({"object": {"key": [{"prefix": "auto-"}]}}, ATTRS)
    assert error.message == "Filter policy scope MessageAttributes does not support nested filter policy"
    assert error.under_filter_policy is False
    assert error.api_message() == ("Invalid parameter: Filter policy scope MessageAttributes does not support "
                                   "nested filter policy")
    compile_policy('{"object": {"key": [{"prefix": "auto-"}]}}', BODY)


def test_not_json():
    assert error_of("{invalidjson}").message == "failed to parse JSON."
    assert error_of('{"k": [NaN]}').message == "failed to parse JSON."


# -- invalid policies: Event Ruler's messages (no AWS answer on record) --------

ENGINE_ERRORS = [
    ("{}", "Empty objects are not allowed"),
    ('{"a": {}}', "Empty objects are not allowed"),
    ("[1]", "Filter is not an object"),
    ('{"k": [{}]}', "Match expression name not found"),
    ('{"k": [{"exactly": "x"}]}', "Unrecognized match type exactly"),
    ('{"k": [{"prefix": "a", "x": 1}]}', "Only one key allowed in match expression"),
    ('{"k": [{"exists": true, "x": 1}]}', "Only one key allowed in match expression"),
    ('{"k": [{"numeric": 5}]}', "Value of numeric must be an array."),
    ('{"k": [{"numeric": ["=", 5, 6]}]}', "Too many elements in numeric expression"),
    ('{"k": [{"numeric": ["<", 5], "x": 1}]}', "Too many elements in numeric expression"),
    ('{"k": [{"numeric": [">=", 5, "<=", 5]}]}', "Bottom must be less than top"),
    ('{"k": [{"numeric": [1.50, "<"]}]}', "Invalid member in numeric match: 1.50"),
    ('{"k": [{"equals-ignore-case": 1}]}', "equals-ignore-case match pattern must be a string"),
    ('{"k": [{"wildcard": true}]}', "wildcard match pattern must be a string"),
    ('{"k": [{"wildcard": "a**b"}]}', "Consecutive wildcard characters at pos 2"),
    ('{"k": [{"wildcard": "ab\\\\c"}]}', "Invalid escape character at pos 3"),
    ('{"k": [{"anything-but": {}}]}', "Anything-But expression name not found"),
    ('{"k": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed"),
    ('{"k": [{"anything-but": {"suffix": 1}}]}', "suffix match pattern must be a string"),
    ('{"k": [{"anything-but": {"prefix": "a", "suffix": "b"}}]}', "Only one key allowed in match expression"),
    ('{"k": [{"anything-but": true}]}', "Value of anything-but must be an array or single string/number value."),
    ('{"k": [{"anything-but": ["a", 1]}]}',
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ('{"k": [{"anything-but": []}]}',
     "Inside anything but list, either all values are number or string, mixed type is not supported"),
    ('{"k": [{"anything-but": [null]}]}', "Inside anything but list, start|null|boolean is not supported."),
    ('{"k": [{"anything-but": "a", "x": 1}]}', "Too many elements in numeric expression"),
    ('{"k": [{"anything-but": {"equals-ignore-case": [1]}}]}',
     "Inside anything-but/equals-ignore-case list, numberic|start|null|boolean is not supported."),
    ('{"k": [{"cidr": 10}]}', "prefix match pattern must be a string"),
    ('{"k": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    ('{"k": [{"cidr": "10.0.0.0/x"}]}', "Malformed CIDR, mask bits must be an integer"),
    ('{"k": [{"cidr": "10.0.0.0/-1"}]}', "Malformed CIDR, mask bits must not be negative"),
    ('{"k": [{"cidr": "foo/8"}]}', "Nonstandard IP address: foo"),
    ('{"k": [{"cidr": "300.0.0.0/8"}]}', "Invalid IP address: 300.0.0.0"),
    ('{"k": [{"cidr": "10.0.0.0/32"}]}', "IPv4 mask bits must be < 32"),
    ('{"k": [{"cidr": "::/128"}]}', "IPv6 mask bits must be < 128"),
    # "$or" that is not an OR is a plain key ("OR operator")
    ('{"$or": [{"numeric": 123}, {"prefix": "abc"}]}', "Value of numeric must be an array."),
    ('{"$or": [{"a": ["x"]}]}', "Unrecognized match type a"),
    ('{"$or": [{"a": ["x"]}, {}]}', "Empty objects are not allowed"),
    # the first error in document order wins
    ('{"k": [{"prefix": 1}], "j": [{"suffix": 1}]}', "prefix match pattern must be a string"),
]


@pytest.mark.parametrize(("policy", "message"), ENGINE_ERRORS)
def test_engine_errors(policy, message):
    assert error_of(policy, BODY).message == message


def test_too_large():
    big = json.dumps({"k": ["x" * (256 * 1024)]})
    error = error_of(big)
    assert error.message == "Filter policy is too large"


def test_unknown_scope_is_a_caller_bug():
    with pytest.raises(ValueError):
        compile_policy('{"k": ["v"]}', "RandomValue")


def test_or_that_is_a_plain_key():
    # one object: "$or" is an attribute name like any other
    policy = compile_policy('{"$or": ["x"]}')
    assert policy.matches_attributes({"$or": {"DataType": "String", "StringValue": "x"}}) is True


def test_later_value_for_the_same_key_wins_in_an_alternative():
    # Event Ruler's expansion: the alternative's own value replaces the outer one
    policy = compile_policy('{"a": ["x"], "$or": [{"a": ["y"]}, {"b": ["z"]}]}')
    attrs = {"a": {"DataType": "String", "StringValue": "y"}}
    assert policy.matches_attributes(attrs) is True
    attrs = {"a": {"DataType": "String", "StringValue": "x"}, "b": {"DataType": "String", "StringValue": "z"}}
    assert policy.matches_attributes(attrs) is True


# -- properties -------------------------------------------------------------------

WORDS = st.text(alphabet="abcAB-_.", min_size=0, max_size=6)
NUMBERS = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False, allow_infinity=False)


def string_attr(value: str) -> dict:
    return {"DataType": "String", "StringValue": value}


def number_attr(value) -> dict:
    return {"DataType": "Number", "StringValue": str(value)}


@st.composite
def key_conditions(draw):
    """A one-key condition and a Python predicate saying what it matches."""
    kind = draw(st.sampled_from(["exact", "prefix", "suffix", "anything-but", "range", "exists"]))
    if kind == "exact":
        values = draw(st.lists(WORDS, min_size=1, max_size=4))
        return values, lambda v: isinstance(v, str) and v in values
    if kind == "prefix":
        p = draw(WORDS)
        return [{"prefix": p}], lambda v: isinstance(v, str) and v.startswith(p)
    if kind == "suffix":
        s = draw(WORDS)
        return [{"suffix": s}], lambda v: isinstance(v, str) and v.endswith(s)
    if kind == "anything-but":
        values = draw(st.lists(WORDS, min_size=1, max_size=3))
        return [{"anything-but": values}], lambda v: v is not None and not (isinstance(v, str) and v in values)
    if kind == "range":
        low, high = sorted(draw(st.lists(NUMBERS, min_size=2, max_size=2, unique=True)))
        return ([{"numeric": [">", float(low), "<=", float(high)]}],
                lambda v: not isinstance(v, str) and v is not None and low < v <= high)
    return [{"exists": True}], lambda v: v is not None and v != ""


MESSAGE_VALUES = st.one_of(st.none(), WORDS, NUMBERS)


def attribute(value) -> dict | None:
    if value is None:
        return None
    return string_attr(value) if isinstance(value, str) else number_attr(value)


@settings(max_examples=150, deadline=None)
@given(key_conditions(), key_conditions(), MESSAGE_VALUES, MESSAGE_VALUES)
def test_and_of_two_keys_is_both(first, second, value1, value2):
    (cond1, pred1), (cond2, pred2) = first, second
    pairs = (("k1", attribute(value1)), ("k2", attribute(value2)), ("z", string_attr("z")))
    attrs = {name: attr for name, attr in pairs if attr is not None}
    both = compile_policy(json.dumps({"k1": cond1, "k2": cond2})).matches_attributes(attrs)
    one = compile_policy(json.dumps({"k1": cond1})).matches_attributes(attrs)
    two = compile_policy(json.dumps({"k2": cond2})).matches_attributes(attrs)
    assert both is (one and two)
    assert one is pred1(value1)
    assert two is pred2(value2)
    either = compile_policy(json.dumps({"$or": [{"k1": cond1}, {"k2": cond2}]})).matches_attributes(attrs)
    assert either is (one or two)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=5), WORDS)
def test_exact_list_is_membership(values, value):
    policy = compile_policy(json.dumps({"k": values}))
    assert policy.matches_attributes({"k": string_attr(value)}) is (value in values)
    assert compile_policy(json.dumps({"k": values}), BODY).matches_body(json.dumps({"k": value})) is (value in values)
    # an array matches when any element does
    array = {"k": {"DataType": "String.Array", "StringValue": json.dumps([value, "zz"])}}
    assert policy.matches_attributes(array) is (value in values or "zz" in values)


@settings(max_examples=150, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=4), WORDS)
def test_anything_but_is_not_membership(values, value):
    policy = compile_policy(json.dumps({"k": [{"anything-but": values}]}))
    assert policy.matches_attributes({"k": string_attr(value)}) is (value not in values)


@settings(max_examples=150, deadline=None)
@given(NUMBERS, NUMBERS, NUMBERS)
def test_numeric_ranges(low, high, value):
    if low > high:
        low, high = high, low
    elif low == high:
        high = low + 1
    policy = compile_policy(json.dumps({"n": [{"numeric": [">=", float(low), "<", float(high)]}]}))
    assert policy.matches_attributes({"n": number_attr(value)}) is (low <= value < high)
    equal = compile_policy(json.dumps({"n": [{"numeric": ["=", float(value)]}]}), BODY)
    assert equal.matches_body('{"n": %s}' % value) is True
    assert equal.matches_body('{"n": %s}' % (value + 1)) is False


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from("abc"), min_size=1, max_size=3), WORDS, WORDS)
def test_nested_and_dotted_policies_agree(path, want, have):
    nested: dict = {path[-1]: [want]}
    for part in reversed(path[:-1]):
        nested = {part: nested}
    dotted = {".".join(path): [want]}
    body: object = have
    for part in reversed(path):
        body = {part: body}
    text = json.dumps(body)
    expected = have == want
    assert compile_policy(json.dumps(nested), BODY).matches_body(text) is expected
    assert compile_policy(json.dumps(dotted), BODY).matches_body(text) is expected
