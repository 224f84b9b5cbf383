"""The Logs Insights query engine on the Logs User Guide's example queries
(its command pages and "Sample queries"), with exact GetQueryResults rows,
and malformed queries that must raise QueryError."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cloudlet.services.logs.insightsquery import QueryError, compile_query

BASE = 1_705_312_800_000  # 2024-01-15 10:00:00 UTC


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def events(lines, base: int = BASE) -> list[dict]:
    """(minutes after base, stream, message), oldest first as the provider
    gives them; the pointers are p1, p2, ..."""
    return [{"@timestamp": base + minutes * 60_000, "@message": message, "@logStream": stream,
             "@log": "123456789012:/test", "@ingestionTime": base + minutes * 60_000 + 1000, "@ptr": f"p{i}"}
            for i, (minutes, stream, message) in enumerate(lines, 1)]


APP = events([
    (5, "web-1", "2024-01-15 INFO user=alice action=login latency=120"),
    (20, "web-1", "2024-01-15 ERROR java.lang.IllegalStateException: boom"),
    (40, "api-1", ('{"level": "INFO", "status": 200, "latency": 80, "path": "/a", "user": {"id": "u1"}, '
                   '"tags": ["x", "y"]}')),
    (70, "api-1", ('{"level": "ERROR", "status": 503, "latency": 120, "path": "/b", "user": {"id": "u2"}, '
                   '"error": "TimeoutException"}')),
    (75, "web-2", "2024-01-15 INFO user=bob action=logout latency=60"),
    (110, "web-2", "2024-01-15 WARN Exception while retrying"),
    (150, "api-2", '{"level": "INFO", "status": 200, "latency": 100, "path": "/a", "user": {"id": "u1"}}'),
    (165, "web-1", "2024-01-15 INFO user=alice action=view latency=300"),
])
MSG = {e["@ptr"]: e["@message"] for e in APP}


def run(query: str, data=None):
    return compile_query(query).run(APP if data is None else data).rows


@pytest.mark.parametrize("query, expected", [
    # Sample queries: the 25 most recent events.
    ("fields @timestamp, @message | sort @timestamp desc | limit 2", [
        [("@timestamp", "2024-01-15 12:45:00.000"), ("@message", MSG["p8"]), ("@ptr", "p8")],
        [("@timestamp", "2024-01-15 12:30:00.000"), ("@message", MSG["p7"]), ("@ptr", "p7")],
    ]),
    # Without fields, rows show @timestamp and @message, newest first.
    ("limit 3", [
        [("@timestamp", "2024-01-15 12:45:00.000"), ("@message", MSG["p8"]), ("@ptr", "p8")],
        [("@timestamp", "2024-01-15 12:30:00.000"), ("@message", MSG["p7"]), ("@ptr", "p7")],
        [("@timestamp", "2024-01-15 11:50:00.000"), ("@message", MSG["p6"]), ("@ptr", "p6")],
    ]),
    ("filter @logStream = 'web-1' | fields @message", [
        [("@message", MSG["p8"]), ("@ptr", "p8")],
        [("@message", MSG["p2"]), ("@ptr", "p2")],
        [("@message", MSG["p1"]), ("@ptr", "p1")],
    ]),
    # Comments: the commented-out line is ignored.
    ("fields @logStream\n    # | filter @logStream = 'api-1'\n    | limit 2", [
        [("@logStream", "web-1"), ("@ptr", "p8")],
        [("@logStream", "api-2"), ("@ptr", "p7")],
    ]),
    # A field named by its expression when it has no alias.
    ("fields latency * 2 | filter ispresent(latency) | limit 1", [[("latency * 2", "200"), ("@ptr", "p7")]]),
])
def test_fields_sort_limit(query, expected):
    assert run(query) == expected


@pytest.mark.parametrize("query, expected", [
    ("filter @message not like /Exception/ | filter @logStream like \"web\" | fields @message", [
        [("@message", MSG["p8"]), ("@ptr", "p8")],
        [("@message", MSG["p5"]), ("@ptr", "p5")],
        [("@message", MSG["p1"]), ("@ptr", "p1")],
    ]),
    ("filter @message like \"Exception\" | fields @logStream", [
        [("@logStream", "web-2"), ("@ptr", "p6")],
        [("@logStream", "api-1"), ("@ptr", "p4")],
        [("@logStream", "web-1"), ("@ptr", "p2")],
    ]),
    ("filter @message like /(?i)error/ | fields @logStream", [
        [("@logStream", "api-1"), ("@ptr", "p4")],
        [("@logStream", "web-1"), ("@ptr", "p2")],
    ]),
    ("filter error =~ /^(?i)timeoutexception$/ | fields error", [[("error", "TimeoutException"), ("@ptr", "p4")]]),
    ("filter status in [200, 201] | fields path", [[("path", "/a"), ("@ptr", "p7")], [("path", "/a"), ("@ptr", "p3")]]),
    ("filter level not in ['INFO', 'WARN'] | fields level", [[("level", "ERROR"), ("@ptr", "p4")]]),
    # A comparison with a missing field is never true, even negated.
    ("filter status != 200 | fields status", [[("status", "503"), ("@ptr", "p4")]]),
    ("filter not (status = 200) | fields status", [[("status", "503"), ("@ptr", "p4")]]),
    ("filter (status > 100 and latency < 100) or path = '/b' | fields path, latency", [
        [("path", "/b"), ("latency", "120"), ("@ptr", "p4")],
        [("path", "/a"), ("latency", "80"), ("@ptr", "p3")],
    ]),
    # JSON fields, nested with dots, array items by index.
    ("filter status >= 500 | fields path, status, user.id, latency", [
        [("path", "/b"), ("status", "503"), ("user.id", "u2"), ("latency", "120"), ("@ptr", "p4")],
    ]),
    ("filter ispresent(tags.0) | fields tags.0, tags.1", [[("tags.0", "x"), ("tags.1", "y"), ("@ptr", "p3")]]),
    # A field the event lacks is left out of its row.
    ("filter user.id = 'u1' | fields tags.1, path", [
        [("path", "/a"), ("@ptr", "p7")],
        [("tags.1", "y"), ("path", "/a"), ("@ptr", "p3")],
    ]),
])
def test_filter(query, expected):
    assert run(query) == expected


@pytest.mark.parametrize("query, expected", [
    ("stats count(*) by bin(1h)", [
        [("bin(1h)", "2024-01-15 12:00:00.000"), ("count(*)", "2")],
        [("bin(1h)", "2024-01-15 11:00:00.000"), ("count(*)", "3")],
        [("bin(1h)", "2024-01-15 10:00:00.000"), ("count(*)", "3")],
    ]),
    ("filter @message like /Exception/ | stats count(*) as exceptionCount by bin(1h) | sort exceptionCount desc", [
        [("bin(1h)", "2024-01-15 11:00:00.000"), ("exceptionCount", "2")],
        [("bin(1h)", "2024-01-15 10:00:00.000"), ("exceptionCount", "1")],
    ]),
    (("stats avg(latency) as avg_ms, pct(latency, 50) as p50, pct(latency, 95) as p95, max(latency) as max_ms, "
      "stddev(latency) as sd, count(*) as n"), [
        [("avg_ms", "100"), ("p50", "100"), ("p95", "120"), ("max_ms", "120"), ("sd", "20"), ("n", "8")],
    ]),
    ("stats count(latency), count(user.id), count_distinct(user.id), sum(status), min(path)", [
        [("count(latency)", "3"), ("count(user.id)", "3"), ("count_distinct(user.id)", "2"),
         ("sum(status)", "903"), ("min(path)", "/a")],
    ]),
    ("filter ispresent(path) | stats avg(latency) by path, level | sort path", [
        [("path", "/b"), ("level", "ERROR"), ("avg(latency)", "120")],
        [("path", "/a"), ("level", "INFO"), ("avg(latency)", "90")],
    ]),
    # Statistics over earlier statistics in the same stats (the Lambda sample).
    ("stats max(latency) as hi, min(latency) as lo, hi - lo as spread", [
        [("hi", "120"), ("lo", "80"), ("spread", "40")],
    ]),
    (("stats earliest(@message) as first, latest(level) as last, earliest(@timestamp) as t, "
      "sortsFirst(@logStream) as s1, sortsLast(@logStream) as s2"), [
        [("first", MSG["p1"]), ("last", "INFO"), ("t", str(BASE + 5 * 60_000)), ("s1", "api-1"), ("s2", "web-2")],
    ]),
    # Two stats commands (the stats page): bins, then statistics of the bins.
    ("fields 1 as one | stats sum(one) as n by bin(1h) | stats max(n) as peak, min(n) as low, avg(n) as mean", [
        [("peak", "3"), ("low", "2"), ("mean", "2.6666666666666665")],
    ]),
    (("stats count(*) as requests by @logStream | filter requests > 1 "
      "| stats count(*) as busy, sum(requests) / count(*) as avg_requests"), [
        [("busy", "3"), ("avg_requests", "2.3333333333333335")],
    ]),
    ("stats count(*) as n, max(@timestamp) as @t by @logStream | stats sum(n) by dateceil(@t, 1d)", [
        [("dateceil(@t, 1d)", "2024-01-16 00:00:00.000"), ("sum(n)", "8")],
    ]),
    # Keywords, commands and function names in any case; an alias on a bin.
    ("FILTER @logStream LIKE 'api' | STATS COUNT(*) AS n BY BIN(1H) AS t | SORT t ASC", [
        [("t", "2024-01-15 10:00:00.000"), ("n", "1")],
        [("t", "2024-01-15 11:00:00.000"), ("n", "1")],
        [("t", "2024-01-15 12:00:00.000"), ("n", "1")],
    ]),
    # A stats row over no events, and sort @timestamp after stats by bin.
    ("filter @logStream = 'nowhere' | stats count(*) as n", [[("n", "0")]]),
    ("stats count(*) as c by bin(1h) | sort @timestamp asc | limit 1", [
        [("bin(1h)", "2024-01-15 10:00:00.000"), ("c", "3")],
    ]),
])
def test_stats(query, expected):
    assert run(query) == expected


@pytest.mark.parametrize("query, expected", [
    ('parse @message "user=* action=*" as user, action | stats count(*) by user', [
        [("user", "alice"), ("count(*)", "2")],
        [("count(*)", "5")],
        [("user", "bob"), ("count(*)", "1")],
    ]),
    # The last wildcard takes the rest of the text.
    ('parse @message "user=* action=*" as user, action | filter ispresent(user) | display user, action', [
        [("user", "alice"), ("action", "view latency=300"), ("@ptr", "p8")],
        [("user", "bob"), ("action", "logout latency=60"), ("@ptr", "p5")],
        [("user", "alice"), ("action", "login latency=120"), ("@ptr", "p1")],
    ]),
    ((r"parse @message /user=(?<user>\w+) action=(?<action>\w+) latency=(?<ms>\d+)/ "
      r"| stats avg(ms), max(ms), min(ms), sum(ms), count(ms) by user | sort user asc"), [
        [("user", "alice"), ("avg(ms)", "210"), ("max(ms)", "300"), ("min(ms)", "120"), ("sum(ms)", "420"),
         ("count(ms)", "2")],
        [("user", "bob"), ("avg(ms)", "60"), ("max(ms)", "60"), ("min(ms)", "60"), ("sum(ms)", "60"),
         ("count(ms)", "1")],
        [("count(ms)", "0")],
    ]),
    # Without fields, the extracted fields follow @timestamp and @message.
    ('filter @logStream = "web-2" | parse "INFO user=* " as who', [
        [("@timestamp", "2024-01-15 11:50:00.000"), ("@message", MSG["p6"]), ("@ptr", "p6")],
        [("@timestamp", "2024-01-15 11:15:00.000"), ("@message", MSG["p5"]), ("who", "bob"), ("@ptr", "p5")],
    ]),
])
def test_parse(query, expected):
    assert run(query) == expected


ERROR_LINE = "25 May 2019 10:24:39,474 [ERROR] {foo=2, bar=data} The error was: DataIntegrityException"


@pytest.mark.parametrize("query, lines, expected", [
    # The syntax page's two ways to parse the same line.
    ('parse @message "[*] * The error was: *" as level, config, exception | display level, config, exception',
     [ERROR_LINE],
     [[("level", "ERROR"), ("config", "{foo=2, bar=data}"), ("exception", "DataIntegrityException"),
       ("@ptr", "p1")]]),
    ((r"parse @message /\[(?<level>\S+)\]\s+(?<config>\{.*\})\s+The error was: (?<exception>\S+)/ "
      r"| display level, config, exception"),
     [ERROR_LINE],
     [[("level", "ERROR"), ("config", "{foo=2, bar=data}"), ("exception", "DataIntegrityException"),
       ("@ptr", "p1")]]),
    # display's page.
    (('fields @message | parse @message "[*] *" as loggingType, loggingMessage | filter loggingType = "ERROR" '
      '| display loggingMessage'),
     ["[INFO] all good", "[ERROR] disk full"],
     [[("loggingMessage", "disk full"), ("@ptr", "p2")]]),
    # parse's page.
    (('parse @message "user=*, method:*, latency := *" as @user, @method, @latency '
      '| stats avg(@latency) by @method, @user'),
     ["25 May 2019 10:24:39,474 user=user1234, method:sampleMethod, latency := 216",
      "25 May 2019 10:24:40,001 user=user1234, method:sampleMethod, latency := 100",
      "25 May 2019 10:24:41,474 user=u2, method:other, latency := 7"],
     [[("@method", "other"), ("@user", "u2"), ("avg(@latency)", "7")],
      [("@method", "sampleMethod"), ("@user", "user1234"), ("avg(@latency)", "158")]]),
    ("parse @message /(?<NetworkInterface>eni-.*?) / | display NetworkInterface",
     [("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 "
      "1418530070 ACCEPT OK")],
     [[("NetworkInterface", "eni-1235b8ca123456789"), ("@ptr", "p1")]]),
    # Backticks around names with other characters; @ keys get another @.
    ('fields `foo-bar` * 2 as doubled, `foo-bar`, @@type', ['{"foo-bar": 5, "@type": "x"}'],
     [[("doubled", "10"), ("foo-bar", "5"), ("@@type", "x"), ("@ptr", "p1")]]),
])
def test_guide_examples(query, lines, expected):
    assert run(query, events([(i, "s", line) for i, line in enumerate(lines)])) == expected


def test_parse_log_stream_glob():
    data = [{**e, "@logStream": stream} for e, stream in zip(
        events([(0, "", "a"), (1, "", "b"), (2, "", "c")]), ["prod/api/i-1/0", "prod/api/i-2/1", "dev/web/i-3/0"])]
    assert run('parse @logStream "*/*/*/*" as env, service, instance, shard | stats count(*) by env, service',
               data) == [[("env", "dev"), ("service", "web"), ("count(*)", "1")],
                         [("env", "prod"), ("service", "api"), ("count(*)", "2")]]


@pytest.mark.parametrize("query, expected", [
    ("fields @timestamp, @logStream | sort @timestamp desc | dedup @logStream", [
        [("@timestamp", "2024-01-15 12:45:00.000"), ("@logStream", "web-1"), ("@ptr", "p8")],
        [("@timestamp", "2024-01-15 12:30:00.000"), ("@logStream", "api-2"), ("@ptr", "p7")],
        [("@timestamp", "2024-01-15 11:50:00.000"), ("@logStream", "web-2"), ("@ptr", "p6")],
        [("@timestamp", "2024-01-15 11:10:00.000"), ("@logStream", "api-1"), ("@ptr", "p4")],
    ]),
    # Unsorted: newest first; events missing the field are all kept.
    ("fields level | dedup level | limit 4", [
        [("@ptr", "p8")],
        [("level", "INFO"), ("@ptr", "p7")],
        [("@ptr", "p6")],
        [("@ptr", "p5")],
    ]),
    ("fields path | sort @timestamp asc | dedup path", [
        [("@ptr", "p1")], [("@ptr", "p2")], [("path", "/a"), ("@ptr", "p3")], [("path", "/b"), ("@ptr", "p4")],
        [("@ptr", "p5")], [("@ptr", "p6")], [("@ptr", "p8")],
    ]),
])
def test_dedup(query, expected):
    assert run(query) == expected


@pytest.mark.parametrize("query, expected", [
    ("filter ispresent(status) | sort status desc, latency asc | fields status, latency", [
        [("status", "503"), ("latency", "120"), ("@ptr", "p4")],
        [("status", "200"), ("latency", "80"), ("@ptr", "p3")],
        [("status", "200"), ("latency", "100"), ("@ptr", "p7")],
    ]),
    # Missing values sort last, either way; no direction means descending.
    ("sort status asc | fields status | limit 4", [
        [("status", "200"), ("@ptr", "p7")], [("status", "200"), ("@ptr", "p3")], [("status", "503"), ("@ptr", "p4")],
        [("@ptr", "p8")],
    ]),
    ("sort status | fields status | limit 4", [
        [("status", "503"), ("@ptr", "p4")], [("status", "200"), ("@ptr", "p7")], [("status", "200"), ("@ptr", "p3")],
        [("@ptr", "p8")],
    ]),
])
def test_sort(query, expected):
    assert run(query) == expected


def test_sort_is_the_sort_pages_natural_order():
    # The sort page's example, in its ascending order ("01" is newer than
    # "1", so it stays first: equal numbers keep the newest-first order).
    ordered = ["!:", "#", "*%04", "0#", "5A", "111A", "2345_", "@", "@_", "A", "A9876fghj", "a12345hfh",
               "0", "01", "1", "2", "3"]
    shuffled = ["A", "1", "3", "@_", "0#", "111A", "!:", "2", "a12345hfh", "*%04", "0", "#", "5A", "2345_",
                "01", "@", "A9876fghj"]
    rows = run("sort @message asc | fields @message", events([(i, "s", v) for i, v in enumerate(shuffled)]))
    assert [row[0][1] for row in rows] == ordered


FUNCTION_EVENT = [{"@timestamp": ms("2024-01-15 10:20:30.456"), "@ingestionTime": ms("2024-01-15 10:20:31.456"),
                   "@logStream": "s", "@log": "123456789012:/test", "@ptr": "p1",
                   "@message": '{"a": 10, "b": 3, "n": -2.5, "s": "  Hello World  ", "ip": "192.0.2.17", '
                               '"ip6": "2001:db8::1", "ms": 1705312800123, "blank": "   ", "empty": ""}'}]


@pytest.mark.parametrize("expression, expected", [
    ("a + b", "13"), ("a - b", "7"), ("a * b", "30"), ("a / b", "3.3333333333333335"), ("a % b", "1"),
    ("-a % b", "-1"), ("2 ^ 3", "8"), ("10 / 4", "2.5"), ("a / 5", "2"), ("a / 0", None), ("-a", "-10"),
    ("a + b * 2", "16"), ("(a + b) * 2", "26"), ("a + missing", None), ("a + s", None),
    ("abs(n)", "2.5"), ("ceil(n)", "-2"), ("floor(n)", "-3"), ("round(2.5)", "3"), ("round(3.14159, 2)", "3.14"),
    ("greatest(a, b, 42)", "42"), ("least(a, b)", "3"), ("log(1)", "0"), ("sqrt(16)", "4"), ("sqrt(-1)", None),
    ("strlen(s)", "15"), ("toupper(trim(s))", "HELLO WORLD"), ("tolower(s)", "  hello world  "),
    ("trim(s)", "Hello World"), ("ltrim(s)", "Hello World  "), ("rtrim(s)", "  Hello World"),
    ('trim("xyZxyfooxyxyZ", "xyZ")', "foo"), ('ltrim("xyZxyfooxyZ", "xyZ")', "fooxyZ"),
    ('rtrim("xyZfooxyxyZ", "xyZ")', "xyZfoo"), ('substr("xyZfooxyZ", 3, 3)', "foo"),
    ('substr("xyZfooxyZ", 3)', "fooxyZ"), ('replace("foo", "o", "0")', "f00"), ('concat("a", "-", b)', "a-3"),
    ('strcontains(s, "World")', "1"), ('strcontains(s, "world")', "0"), ('strcontains(s, "world", true)', "1"),
    ("startsWith(trim(s), 'Hello')", "1"), ("toupper(missing)", None),
    ("isValidIp(ip)", "1"), ("isValidIpV4(ip6)", "0"), ("isValidIpV6(ip6)", "1"),
    ('isIpInSubnet(ip, "192.0.2.0/24")', "1"), ('isIpv4InSubnet(ip, "10.0.0.0/8")', "0"),
    ('isIpv6InSubnet(ip6, "2001:db8::/32")', "1"),
    ("datefloor(@timestamp, 1h)", "2024-01-15 10:00:00.000"), ("dateceil(@timestamp, 1h)", "2024-01-15 11:00:00.000"),
    ("fromMillis(ms)", "2024-01-15 10:00:00.123"), ("toMillis(@timestamp)", "1705314030456"),
    ("@ingestionTime", "2024-01-15 10:20:31.456"), ("@log", "123456789012:/test"),
    ("coalesce(missing, b)", "3"), ("ispresent(missing)", "0"), ("ispresent(a)", "1"), ("isempty(missing)", "1"),
    ("isempty(empty)", "1"), ("isempty(s)", "0"), ("isblank(blank)", "1"), ("isblank(s)", "0"),
    ("a > b", "1"), ("a = 10", "1"), ("a = '10'", "1"), ('s like "World"', "1"), ("a in [1, 10]", "1"),
    ("if(a > b, 'big', 'small')", "big"),
])
def test_functions(expression, expected):
    row = dict(run(f"fields {expression} as v", FUNCTION_EVENT)[0])
    assert row.get("v") == expected


@pytest.mark.parametrize("expression, expected", [
    ("bin(100ms)", "2024-05-17 13:47:29.100"), ("bin(30s)", "2024-05-17 13:47:00.000"),
    ("bin(5m)", "2024-05-17 13:45:00.000"), ("bin(15min)", "2024-05-17 13:45:00.000"),
    ("bin(1h)", "2024-05-17 13:00:00.000"), ("bin(2hours)", "2024-05-17 12:00:00.000"),
    ("bin(1d)", "2024-05-17 00:00:00.000"), ("bin(1w)", "2024-05-13 00:00:00.000"),
    ("bin(1mo)", "2024-05-01 00:00:00.000"), ("bin(1q)", "2024-04-01 00:00:00.000"),
    ("bin(1y)", "2024-01-01 00:00:00.000"),
    ("bin(300s)", "2024-05-17 13:47:00.000"),  # the guide: capped at 60 seconds
    ("dateceil(@timestamp, 1mo)", "2024-06-01 00:00:00.000"), ("dateceil(@timestamp, 1d)", "2024-05-18 00:00:00.000"),
    ("datefloor(@timestamp, 1qtr)", "2024-04-01 00:00:00.000"),
])
def test_periods(expression, expected):
    data = [{"@timestamp": ms("2024-05-17 13:47:29.123"), "@message": "m", "@ptr": "p1"}]
    assert run(f"fields {expression} as v", data) == [[("v", expected), ("@ptr", "p1")]]


def test_statistics_and_attributes():
    query = compile_query("filter @logStream = 'web-1' | limit 1")
    result = query.run(APP)
    assert result.rows == [[("@timestamp", "2024-01-15 12:45:00.000"), ("@message", MSG["p8"]), ("@ptr", "p8")]]
    assert (result.records_matched, result.records_scanned) == (3.0, 8.0)
    assert result.bytes_scanned == float(sum(len(e["@message"].encode()) for e in APP))
    assert (query.limit, query.has_stats) == (1, False)
    stats = compile_query("filter level = 'ERROR' | stats avg(latency) by bin(1h)")
    assert (stats.limit, stats.has_stats) == (10_000, True)
    assert {"level", "latency", "@timestamp"} <= stats.fields_referenced
    assert stats.run(APP).records_matched == 1.0  # p4: the one JSON event with level ERROR


@pytest.mark.parametrize("query", [
    # The guide's own examples (syntax, command and sample-query pages) compile.
    "fields `foo-bar`, action, abs(f3-f4)",
    "fields concat(Operation, '-', StatusCode) as opStatus",
    "fields f1, f2 | filter (f1=10 or f3>25)",
    r"fields f1 | filter statusCode like /2\d\d/",
    r"fields f1 | filter statusCode not like /2\d\d/",
    "fields @timestamp, @message | filter statusCode in [300,400,500]",
    'fields @timestamp, @message | filter Type not in ["foo","bar",1]',
    "fields f1, f2, f3 | filter f3 like /E*/",
    "stats avg (f1) by f2",
    "stats count(*) by queryType, bin(1h)",
    "stats avg(myfield1), min(myfield2), max(myfield3) by bin(5m)",
    "sort @timestamp desc | limit 25 | display f1, f2",
    "fields @timestamp, @message, accountId as ID | sort @timestamp desc | limit 20",
    "stats count(*) by duration as time | sort time desc",
    "fields @timestamp, server, severity, message | sort @timestamp desc | dedup server",
    ('filter @type = "REPORT" | stats max(@memorySize / 1024 / 1024) as provisonedMemoryMB, '
     "min(@maxMemoryUsed / 1024 / 1024) as smallestMemoryRequestMB, avg(@maxMemoryUsed / 1024 / 1024) as "
     "avgMemoryUsedMB, max(@maxMemoryUsed / 1024 / 1024) as maxMemoryUsedMB, provisonedMemoryMB - maxMemoryUsedMB "
     "as overProvisionedMB"),
    'filter @type = "REPORT" | stats avg(@duration), max(@duration), min(@duration) by bin(5m)',
    "stats sum(packets) as packetsTransferred by srcAddr, dstAddr | sort packetsTransferred desc | limit 15",
    'filter logStatus="SKIPDATA" | stats count(*) by bin(1h) as t | sort t',
    'filter (eventName="StartInstances" or eventName="StopInstances") and region="us-east-2"',
    'filter eventName="CreateUser" | fields awsRegion, requestParameters.userName, responseElements.user.arn',
    'filter eventName="UpdateTrail" and ispresent(errorCode) | stats count(*) by errorCode, errorMessage',
    ("FIELDS strlen(@message) AS message_length | STATS sum(message_length)/1024/1024 as logs_mb BY bin(5m) "
     "| STATS max(logs_mb) AS peak_ingest_mb, min(logs_mb) AS min_ingest_mb, avg(logs_mb) AS avg_ingest_mb"),
    ("STATS count_distinct(client_ip) AS session_ips, count(*) AS requests BY session_id, client_platform "
     "| FILTER session_ips > 1 | STATS count(*) AS multiple_ip_sessions, sum(requests) / count(*) AS "
     "avg_session_requests BY client_platform"),
    ("FIELDS strlen(@message) AS message_length | STATS sum(message_length) / 1024 / 1024 AS logs_mb BY BIN(5m) "
     "as @t | STATS max(logs_mb) AS peak_ingest_mb, min(logs_mb) AS min_ingest_mb, avg(logs_mb) AS avg_ingest_mb "
     "BY dateceil(@t, 10m)"),
    ("FIELDS strlen(@message) AS message_length | STATS sum(message_length) AS ingested_bytes, max(@timestamp) "
     "as @t BY @logStream | STATS avg(ingested_bytes) BY dateceil(@t, 5m)"),
    ('parse @message "Status Code: *;" as statusCode | filter statusCode >= 400 and statusCode <= 499 '
     "| filter toMillis(@timestamp) >= (now() * 1000 - 7200000)"),
    ('filter @type = "REPORT" | stats avg(@duration) as avg_ms, count(*) as invocations, '
     'sum(strcontains(@message, "Init Duration")) as coldStarts by bin(1h)'),
    ("fields @timestamp | filter ispresent(`detail-type`) | stats count(*) as CountOfEventsPerHour by bin(1h) "
     "| sort @timestamp desc"),
    "fields @timestamp, @message | unmask(@message)",
])
def test_guide_queries_compile(query):
    compile_query(query)


@pytest.mark.parametrize("query, message", [
    ("fieldz a", "unexpected symbol found fieldz at line 1 and position 0"),
    ("fields @message\n| dedup @logStream | sort @message", "unexpected symbol found sort at line 2 and position 21"),
    ("filter x = ", "unexpected symbol found <EOF> at line 1 and position 11"),
    ("fields a ; b", "unexpected symbol found ; at line 1 and position 9"),
])
def test_malformed_query_messages(query, message):
    with pytest.raises(QueryError) as err:
        compile_query(query)
    assert str(err.value) == message


@pytest.mark.parametrize("query", [
    "", "   # only a comment", "fields", "fields a |", "| fields a", "filter x like", "filter x in 1", "fields (a",
    "fields a, b c", "stats", "stats count(*) by", "sort", "limit 0", "limit 10001", "limit x", "limit 2.5",
    "fields foo(1)", "fields abs(1, 2)", "fields substr('a')", "filter count(*) > 1", "stats avg(max(x))",
    "stats x", "stats count(*) by count(*)", "stats avg(*)",
    "stats sum(x) as s | stats max(@message)",  # after stats, only its fields
    "stats count(*) by @logStream | stats count(*) by bin(5m)",  # bin reads @timestamp
    "stats count(*) | stats count(*) | stats count(*)",
    "stats count(*) as c by a | sort c | stats count(*)",
    "dedup a | sort b", "dedup a | limit 5 | fields b",
    'parse @message "a=* b=*" as a', "parse @message /no groups/", 'parse @message "a=*"', "parse @message",
    "parse @message logfmt as lf",
    "filter @message like /unclosed", 'filter x = "unterminated', "filter @message like /(?<bad/",
    "fields bin(5x)", "fields bin(x)", "fields bin(0m)", "fields datefloor(@timestamp, x)", "fields 5m",
    "stats pct(x, 150)", "stats pct(x, y)", "pattern @message", "fields a | diff",
])
def test_malformed_queries(query):
    with pytest.raises(QueryError):
        compile_query(query)
