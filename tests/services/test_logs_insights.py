"""CloudWatch Logs Insights through boto3: StartQuery runs a query over the
groups' events in the time window and GetQueryResults answers it with
AWS's shapes; GetLogRecord reads a row's @ptr; DescribeQueries, saved
query definitions, GetLogGroupFields; AWS's errors."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
T0 = 1_906_545_600  # 2030-06-01T12:00:00Z, seconds


@pytest.fixture
def logs(cloudlet):
    cloudlet.clock.set("2030-06-01T12:10:00Z")
    client = cloudlet.client("logs")
    client.create_log_group(logGroupName="/app/api")
    for stream in ("a", "b"):
        client.create_log_stream(logGroupName="/app/api", logStreamName=stream)
    events = {
        "a": [(0, {"level": "INFO", "path": "/orders", "latency": 120}),
              (30, {"level": "ERROR", "path": "/orders", "latency": 900, "user": {"id": "u1"}}),
              (90, "user=ann action=login")],
        "b": [(10, {"level": "INFO", "path": "/users", "latency": 40}),
              (70, {"level": "ERROR", "path": "/users", "latency": 300, "user": {"id": "u2"}}),
              (100, "user=bob action=logout")],
    }
    for stream, items in events.items():
        client.put_log_events(logGroupName="/app/api", logStreamName=stream, logEvents=[
            {"timestamp": (T0 + s) * 1000, "message": m if isinstance(m, str) else json.dumps(m)} for s, m in items])
    return client


def run(logs, query: str, start: int = T0, end: int = T0 + 600, **kw) -> dict:
    query_id = logs.start_query(logGroupName="/app/api", startTime=start, endTime=end, queryString=query,
                                **kw)["queryId"]
    out = logs.get_query_results(queryId=query_id)
    assert out["status"] == "Complete"
    out["queryId"] = query_id
    return out


def table(out: dict, drop_ptr: bool = True) -> list[dict]:
    return [{c["field"]: c["value"] for c in row if not (drop_ptr and c["field"] == "@ptr")}
            for row in out["results"]]


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_fields_sort_limit_and_the_pointer(logs):
    out = run(logs, "fields @timestamp, @message, @logStream | sort @timestamp desc | limit 2")
    assert table(out) == [
        {"@timestamp": "2030-06-01 12:01:40.000", "@message": "user=bob action=logout", "@logStream": "b"},
        {"@timestamp": "2030-06-01 12:01:30.000", "@message": "user=ann action=login", "@logStream": "a"}]
    assert [c["field"] for c in out["results"][0]] == ["@timestamp", "@message", "@logStream", "@ptr"]
    assert out["statistics"] == {"recordsMatched": 6.0, "recordsScanned": 6.0,
                                 "bytesScanned": float(sum(len(m.encode()) for m in _messages(logs)))}
    ptr = out["results"][0][-1]["value"]
    record = logs.get_log_record(logRecordPointer=ptr)["logRecord"]
    assert record == {"@timestamp": str((T0 + 100) * 1000), "@message": "user=bob action=logout",
                      "@logStream": "b", "@log": f"{ACCOUNT}:/app/api",
                      "@ingestionTime": str((T0 + 600) * 1000)}
    # The time window: only the first minute.
    assert len(table(run(logs, "fields @message", end=T0 + 59))) == 3


def _messages(logs) -> list[str]:
    return [e["message"] for e in logs.filter_log_events(logGroupName="/app/api")["events"]]


def test_json_fields_filters_and_stats(logs):
    out = run(logs, "filter level = 'ERROR' | fields @timestamp, path, latency, user.id | sort latency desc")
    assert table(out) == [
        {"@timestamp": "2030-06-01 12:00:30.000", "path": "/orders", "latency": "900", "user.id": "u1"},
        {"@timestamp": "2030-06-01 12:01:10.000", "path": "/users", "latency": "300", "user.id": "u2"}]
    assert out["statistics"]["recordsMatched"] == 2.0
    out = run(logs, "stats count(*) as requests, avg(latency) as avg, max(latency) as worst by path "
                    "| sort path asc")
    # (the two text lines have no path: their group is kept, without the field)
    assert table(out) == [{"path": "/orders", "requests": "2", "avg": "510", "worst": "900"},
                          {"path": "/users", "requests": "2", "avg": "170", "worst": "300"},
                          {"requests": "2"}]
    out = run(logs, "stats count(*) as n by bin(1m) as minute | sort minute asc")
    assert table(out) == [{"minute": "2030-06-01 12:00:00.000", "n": "3"},
                          {"minute": "2030-06-01 12:01:00.000", "n": "3"}]


def test_parse_and_limit_parameter(logs):
    out = run(logs, 'filter @message like /action=/ | parse @message "user=* action=*" as user, action '
                    '| display user, action | sort user asc')
    assert table(out) == [{"user": "ann", "action": "login"}, {"user": "bob", "action": "logout"}]
    assert len(run(logs, "fields @message | sort @timestamp asc", limit=4)["results"]) == 4


def test_errors(logs):
    with pytest.raises(ClientError) as exc:
        logs.start_query(logGroupName="/app/api", startTime=T0, endTime=T0 + 60, queryString="fields | sort")
    assert exc.value.response["Error"]["Code"] == "MalformedQueryException"
    with pytest.raises(ClientError) as exc:
        logs.start_query(logGroupName="/nope", startTime=T0, endTime=T0 + 60, queryString="fields @message")
    assert error(exc) == ("ResourceNotFoundException",
                          f"Log group '/nope' does not exist for account ID '{ACCOUNT}'")
    with pytest.raises(ClientError) as exc:
        logs.start_query(startTime=T0, endTime=T0 + 60, queryString="fields @message")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.start_query(logGroupName="/app/api", startTime=T0 + 60, endTime=T0, queryString="fields @message")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterException"
    with pytest.raises(ClientError) as exc:
        logs.get_query_results(queryId="00000000-0000-0000-0000-000000000000")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_describe_queries_and_saved_definitions(logs):
    first = run(logs, "fields @message")["queryId"]
    second = run(logs, "stats count(*)")["queryId"]
    queries = logs.describe_queries(logGroupName="/app/api")["queries"]
    assert [(q["queryId"], q["queryString"], q["status"], q["logGroupName"]) for q in queries] == [
        (second, "stats count(*)", "Complete", "/app/api"), (first, "fields @message", "Complete", "/app/api")]
    assert logs.stop_query(queryId=first)["success"] is False
    definition = logs.put_query_definition(name="errors/by-path", queryString="filter level = 'ERROR'",
                                           logGroupNames=["/app/api"])["queryDefinitionId"]
    logs.put_query_definition(name="errors/by-path", queryDefinitionId=definition,
                              queryString="filter level = 'ERROR' | stats count(*) by path",
                              logGroupNames=["/app/api"])
    [saved] = logs.describe_query_definitions(queryDefinitionNamePrefix="errors/")["queryDefinitions"]
    assert (saved["queryDefinitionId"], saved["queryString"], saved["logGroupNames"]) == (
        definition, "filter level = 'ERROR' | stats count(*) by path", ["/app/api"])
    assert logs.delete_query_definition(queryDefinitionId=definition)["success"] is True
    with pytest.raises(ClientError) as exc:
        logs.delete_query_definition(queryDefinitionId=definition)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_log_group_fields(logs):
    fields = {f["name"]: f["percent"] for f in logs.get_log_group_fields(logGroupName="/app/api")["logGroupFields"]}
    assert fields == {"@timestamp": 100, "@message": 100, "@logStream": 100, "@log": 100, "@ingestionTime": 100,
                      "latency": 67, "level": 67, "path": 67, "user.id": 33}
