"""CloudWatch Logs Insights: StartQuery / GetQueryResults / StopQuery /
DescribeQueries, saved query definitions, GetLogRecord, GetLogGroupFields.
Mixed into LogsService; the query language is insightsquery.py.

A query runs when it is started (one machine, small logs: no need to make
the caller poll), so GetQueryResults finds it Complete with its results and
statistics, and StopQuery finds nothing running. Results are kept, like
AWS keeps them, for a week of clock time.
"""

from __future__ import annotations

import base64
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.logs.insightsquery import QueryError, compile_query

MAX_GROUPS = 50
MAX_RESULTS = 10_000
KEEP_SECONDS = 7 * 86400
_BUILTIN_FIELDS = ("@timestamp", "@message", "@logStream", "@log", "@ingestionTime")


def _invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def pointer(account: str, region: str, event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{account}:{region}:{event_id}".encode()).decode().rstrip("=")


def _unpointer(text: str) -> tuple[str, str, int] | None:
    try:
        account, region, event_id = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode().split(":")
        return account, region, int(event_id)
    except (ValueError, UnicodeDecodeError):
        return None


def flatten(message: str) -> dict:
    """The fields Insights discovers in a JSON message: nested keys joined
    with dots, array items by index."""
    try:
        doc = orjson.loads(message)
    except orjson.JSONDecodeError:
        return {}
    out: dict = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{path}.{i}" if path else str(i))
        elif path:
            out[path] = node
    if isinstance(doc, (dict, list)):
        walk(doc, "")
    return out


class InsightsOps:
    """Mixed into LogsService."""

    def _query_groups(self, ctx, params) -> list:
        names = [n for n in (params.get("logGroupNames") or ())]
        if params.get("logGroupName"):
            names.append(params["logGroupName"])
        identifiers = list(params.get("logGroupIdentifiers") or ())
        given = sum(bool(x) for x in (params.get("logGroupName"), params.get("logGroupNames"), identifiers))
        if given == 0:
            raise _invalid("One of logGroupName, logGroupNames or logGroupIdentifiers must be specified.")
        if given > 1:
            raise _invalid("Only one of logGroupName, logGroupNames or logGroupIdentifiers can be specified.")
        if len(names) + len(identifiers) > MAX_GROUPS:
            raise _invalid(f"A query can use at most {MAX_GROUPS} log groups.")
        groups = []
        for name in names:
            found = self.find_group(ctx.account_id, ctx.region, name)
            if found is None:
                raise AwsError("ResourceNotFoundException", f"Log group '{name}' does not exist for account ID "
                                                            f"'{ctx.account_id}'")
            groups.append(found)
        for identifier in identifiers:
            groups.append(self.group(ctx, {"logGroupIdentifier": identifier}))
        return groups

    def _events(self, groups: list, start_ms: int, end_ms: int):
        """Every event of the groups in the window, oldest first, as the
        engine takes them."""
        for group in groups:
            log_name = f"{group.account}:{group.name}"
            for event_id, ts, ingestion, message, stream in self.storage.all(
                    "SELECT e.id, e.timestamp, e.ingestion, e.message, s.name FROM logs_events e JOIN logs_streams s "
                    "ON s.id = e.stream_id WHERE s.group_id = ? AND e.timestamp >= ? AND e.timestamp <= ? "
                    "ORDER BY e.timestamp, e.id", (group.id, start_ms, end_ms)):
                yield {"@timestamp": ts, "@message": message, "@logStream": stream, "@log": log_name,
                       "@ingestionTime": ingestion, "@ptr": pointer(group.account, group.region, event_id)}

    def StartQuery(self, ctx, params):
        if params.get("queryLanguage") not in (None, "CWLI"):
            raise _invalid(f"Query language {params['queryLanguage']} is not supported here (only CWLI).")
        start, end = params["startTime"], params["endTime"]
        if end < start:
            raise _invalid("End time must be greater than or equal to start time.")
        try:
            query = compile_query(params["queryString"])
        except QueryError as err:
            raise AwsError("MalformedQueryException", str(err)) from None
        groups = self._query_groups(ctx, params)
        limit = params.get("limit")
        if limit is not None and not 1 <= limit <= MAX_RESULTS:
            raise _invalid(f"limit must be between 1 and {MAX_RESULTS}.")
        began = self.clock.now()
        result = query.run(self._events(groups, start * 1000, end * 1000 + 999))
        rows = result.rows[:limit] if limit is not None else result.rows
        query_id = str(uuid.uuid4())
        statistics = {"recordsMatched": float(result.records_matched), "recordsScanned": float(result.records_scanned),
                      "bytesScanned": float(result.bytes_scanned), "logGroupsScanned": float(len(groups)),
                      "resultCount": float(len(rows))}
        with self.storage.tx():
            self.storage.execute("DELETE FROM logs_queries WHERE created < ?", (int((began - KEEP_SECONDS) * 1000),))
            self.storage.execute(
                "INSERT INTO logs_queries (id, account, region, query, groups, start, end, status, created, duration, "
                "results, statistics) VALUES (?, ?, ?, ?, ?, ?, ?, 'Complete', ?, ?, ?, ?)",
                (query_id, ctx.account_id, ctx.region, params["queryString"],
                 orjson.dumps([g.name for g in groups]).decode(), start, end, int(began * 1000),
                 int((self.clock.now() - began) * 1000), orjson.dumps(rows).decode(),
                 orjson.dumps(statistics).decode()))
        return {"queryId": query_id}

    def _query_row(self, ctx, query_id: str):
        row = self.storage.one("SELECT id, query, groups, status, created, duration, results, statistics FROM "
                               "logs_queries WHERE id = ? AND account = ? AND region = ?",
                               (query_id, ctx.account_id, ctx.region))
        if row is None:
            raise AwsError("ResourceNotFoundException", f"Query {query_id} does not exist.")
        return row

    def GetQueryResults(self, ctx, params):
        _, _, _, status, _, _, results, statistics = self._query_row(ctx, params["queryId"])
        rows = [[{"field": f, "value": v} for f, v in row] for row in orjson.loads(results)]
        stats = orjson.loads(statistics)
        return {"queryLanguage": "CWLI", "results": rows, "status": status,
                "statistics": {k: stats[k] for k in ("recordsMatched", "recordsScanned", "bytesScanned")}}

    def StopQuery(self, ctx, params):
        self._query_row(ctx, params["queryId"])
        return {"success": False}  # (it finished when it started)

    def DescribeQueries(self, ctx, params):
        from cloudlet.services.logs.provider import _paged

        rows = self.storage.all("SELECT id, query, groups, status, created, duration, statistics FROM logs_queries "
                                "WHERE account = ? AND region = ? ORDER BY created DESC, rowid DESC",
                                (ctx.account_id, ctx.region))
        queries = []
        for query_id, text, groups, status, created, duration, statistics in rows:
            groups = orjson.loads(groups)
            if params.get("logGroupName") and params["logGroupName"] not in groups:
                continue
            if params.get("status") and params["status"] != status:
                continue
            info = {"queryLanguage": "CWLI", "queryId": query_id, "queryString": text, "status": status,
                    "createTime": created, "queryDuration": duration,
                    "bytesScanned": orjson.loads(statistics)["bytesScanned"]}
            if len(groups) == 1:
                info["logGroupName"] = groups[0]
            queries.append(info)
        return _paged(queries, {"nextToken": params.get("nextToken"), "limit": params.get("maxResults") or 1000},
                      "queries")

    # -- saved queries ----------------------------------------------------------------

    def PutQueryDefinition(self, ctx, params):
        try:
            compile_query(params["queryString"])
        except QueryError as err:
            raise AwsError("MalformedQueryException", str(err)) from None
        definition_id = params.get("queryDefinitionId")
        with self.storage.tx():
            if definition_id is not None:
                if not self.storage.one("SELECT 1 FROM logs_query_definitions WHERE id = ? AND account = ? AND "
                                        "region = ?", (definition_id, ctx.account_id, ctx.region)):
                    raise AwsError("ResourceNotFoundException", "Query definition not found.")
            else:
                definition_id = str(uuid.uuid4())
            self.storage.execute(
                "INSERT INTO logs_query_definitions (id, account, region, name, query, groups, modified) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, query = "
                "excluded.query, groups = excluded.groups, modified = excluded.modified",
                (definition_id, ctx.account_id, ctx.region, params["name"], params["queryString"],
                 orjson.dumps(params.get("logGroupNames") or []).decode(), self._now_ms()))
        return {"queryDefinitionId": definition_id}

    def DescribeQueryDefinitions(self, ctx, params):
        from cloudlet.services.logs.provider import _paged

        prefix = params.get("queryDefinitionNamePrefix") or ""
        definitions = []
        for definition_id, name, text, groups, modified in self.storage.all(
                "SELECT id, name, query, groups, modified FROM logs_query_definitions WHERE account = ? AND "
                "region = ? ORDER BY name, id", (ctx.account_id, ctx.region)):
            if name.startswith(prefix):
                out = {"queryLanguage": "CWLI", "queryDefinitionId": definition_id, "name": name,
                       "queryString": text, "lastModified": modified}
                if orjson.loads(groups):
                    out["logGroupNames"] = orjson.loads(groups)
                definitions.append(out)
        return _paged(definitions, {"nextToken": params.get("nextToken"), "limit": params.get("maxResults") or 1000},
                      "queryDefinitions")

    def DeleteQueryDefinition(self, ctx, params):
        with self.storage.tx():
            cursor = self.storage.execute("DELETE FROM logs_query_definitions WHERE id = ? AND account = ? AND "
                                          "region = ?", (params["queryDefinitionId"], ctx.account_id, ctx.region))
        if cursor.rowcount == 0:
            raise AwsError("ResourceNotFoundException", "Query definition not found.")
        return {"success": True}

    # -- records and fields ---------------------------------------------------------------

    def GetLogRecord(self, ctx, params):
        where = _unpointer(params["logRecordPointer"])
        if where is None or where[:2] != (ctx.account_id, ctx.region):
            raise _invalid("The logRecordPointer is not valid.")
        row = self.storage.one("SELECT e.timestamp, e.ingestion, e.message, s.name, g.name FROM logs_events e "
                               "JOIN logs_streams s ON s.id = e.stream_id JOIN logs_groups g ON g.id = s.group_id "
                               "WHERE e.id = ?", (where[2],))
        if row is None:
            raise AwsError("ResourceNotFoundException", "The log record does not exist.")
        ts, ingestion, message, stream, group = row
        record = {"@timestamp": str(ts), "@message": message, "@logStream": stream,
                  "@log": f"{ctx.account_id}:{group}", "@ingestionTime": str(ingestion)}
        for key, value in flatten(message).items():
            record.setdefault(key, value if isinstance(value, str) else orjson.dumps(value).decode())
        return {"logRecord": record}

    def GetLogGroupFields(self, ctx, params):
        group = self.group(ctx, params)
        at = params.get("time") or int(self.clock.now())
        window = (int((at - 900) * 1000), int(at * 1000))
        counts: dict[str, int] = {}
        total = 0
        for message, in self.storage.all(
                "SELECT e.message FROM logs_events e JOIN logs_streams s ON s.id = e.stream_id WHERE s.group_id = ? "
                "AND e.timestamp BETWEEN ? AND ?", (group.id, *window)):
            total += 1
            for key in flatten(message):
                counts[key] = counts.get(key, 0) + 1
        fields = [{"name": name, "percent": 100} for name in _BUILTIN_FIELDS] if total else []
        fields += [{"name": name, "percent": round(100 * n / total)} for name, n in sorted(counts.items())]
        return {"logGroupFields": fields}
