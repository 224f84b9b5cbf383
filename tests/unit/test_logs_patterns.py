"""CloudWatch Logs filter patterns, on the kinds of examples the Logs User
Guide gives for each syntax."""

from __future__ import annotations

import pytest

from cloudlet.services.logs.patterns import PatternError, compile_pattern

LINES = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[WARNING 400] BAD REQUEST",
    "[INFO 200] OK",
    "[ERROR 500] INTERNAL SERVER ERROR: Exiting",
]


def matching(pattern: str, lines=LINES) -> list[int]:
    match = compile_pattern(pattern)
    return [i for i, line in enumerate(lines) if match(line)]


@pytest.mark.parametrize("pattern, expected", [
    ("", [0, 1, 2, 3, 4]),
    ("ERROR", [0, 1, 4]),
    ("ERROR 400", [0]),
    ("?ERROR ?WARNING", [0, 1, 2, 4]),
    ("ERROR -Exiting", [0, 1]),
    ('"BAD REQUEST"', [0, 2]),
    ('"SERVER ERROR"', [4]),
    ("error", []),  # case-sensitive
    ("%ERROR [45]0[01]%", [0, 1, 4]),
    ("%^\\[INFO%", [3]),
])
def test_terms_and_regex(pattern, expected):
    assert matching(pattern) == expected


JSON_LINES = [
    '{"eventType": "UpdateTrail", "sourceIPAddress": "123.123.123.123", "arrayKey": ["value", "another value"], '
    '"objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}], "SomeObject": null, "cluster.name": "c", '
    '"ThisFlag": true, "bandwidth": 100}',
    '{"eventType": "DeleteTrail", "sourceIPAddress": "10.0.0.1", "bandwidth": 1500, "ThisFlag": false}',
    "not json at all",
]


@pytest.mark.parametrize("pattern, expected", [
    ('{ $.eventType = "UpdateTrail" }', [0]),
    ("{ $.eventType = UpdateTrail }", [0]),
    ('{ $.eventType = "*Trail" }', [0, 1]),
    ('{ $.eventType != "UpdateTrail" }', [1]),
    ("{ $.sourceIPAddress = 123.123.* }", [0]),
    ("{ $.bandwidth > 1000 }", [1]),
    ("{ $.bandwidth <= 100 }", [0]),
    ('{ $.arrayKey[0] = "value" }', [0]),
    ('{ $.objectList[1].id = 2 }', [0]),
    ("{ $.SomeObject IS NULL }", [0]),
    ("{ $.ThisFlag IS TRUE }", [0]),
    ("{ $.ThisFlag IS FALSE }", [1]),
    ("{ $.SomeObject NOT EXISTS }", [1, ]),
    ("{ $.SomeObject EXISTS }", [0]),
    ('{ ($.eventType = "UpdateTrail" && $.bandwidth < 200) || $.bandwidth > 1000 }', [0, 1]),
    ('{ $.eventType = "UpdateTrail" && $.bandwidth > 1000 }', []),
    ("{ $.eventType = %Del.*Trail% }", [1]),
])
def test_json(pattern, expected):
    assert matching(pattern, JSON_LINES) == expected


SPACE_LINES = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
    '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 404 34',
]


@pytest.mark.parametrize("pattern, expected", [
    ("[ip, user, username, timestamp, request, status_code, bytes]", [0, 1, 2]),
    ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", [2]),
    ("[ip, user, username, timestamp, request, status_code = 5* || status_code = 4*, bytes]", [1, 2]),
    ("[..., status_code, bytes > 1000]", [0, 1]),
    ("[ip, ..., bytes < 100]", [2]),
    ("[ip, user, username, timestamp, request, status_code != 200, bytes]", [1, 2]),
    ('[ip, user, username, timestamp, request = "GET /apache_pb.gif HTTP/1.0", ...]', [0, 1, 2]),
    ("[ip, user, username]", []),  # three fields for seven
    ("[..., status_code = %5[0-9]{2}%, bytes]", [1]),
])
def test_space_delimited(pattern, expected):
    assert matching(pattern, SPACE_LINES) == expected


@pytest.mark.parametrize("pattern", ["{ $.a = ", "{ eventType = 1 }", "[a,,b]", "%(group)%", "[a", "{ $.a IS MAYBE }"])
def test_invalid_patterns(pattern):
    with pytest.raises(PatternError):
        compile_pattern(pattern)
