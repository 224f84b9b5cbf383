"""CloudWatch dashboards (PutDashboard, GetDashboard, ListDashboards,
DeleteDashboards) and GetMetricWidgetImage.

Dashboards are per account, not per region (`cloudwatch_dashboards`). A
body is checked as AWS checks it (its JSON schema, reported ajv-style: a
list of {dataPath, message}); errors fail the call with
`InvalidParameterInput`, warnings (unknown widget properties) come back in
the successful answer's DashboardValidationMessages. The body is stored as
given.

GetMetricWidgetImage turns the widget's `metrics` rows (dashboard metric
syntax, "." repeating the previous row's value) into MetricDataQueries, runs
them with `run_queries` on the server's clock and draws the chart
(widgetimage.py).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import tokens

NAME = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_NAME = 255
LIST_PAGE = 1000
MAX_DELETE = 100
MAX_WIDGETS = 500
WIDGET_TYPES = ("metric", "text", "log", "alarm", "explorer", "custom", "chart")
WIDGET_KEYS = ("type", "x", "y", "width", "height", "properties")
METRIC_OPTIONS = ("accountId", "color", "expression", "id", "label", "period", "region", "stat", "visible",
                  "yAxis")
VIEWS = ("timeSeries", "singleValue", "gauge", "bar", "pie", "table")
LEGEND_POSITIONS = ("bottom", "right", "hidden")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_DURATION = re.compile(r"^-?P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")


def dashboard_arn(account: str, name: str) -> str:
    return f"arn:aws:cloudwatch::{account}:dashboard/{name}"


# -- body validation ---------------------------------------------------------


class _Check:
    """Collects ajv-style findings: errors fail the put, warnings do not."""

    def __init__(self):
        self.errors: list[tuple[str, str]] = []
        self.warnings: list[tuple[str, str]] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def type_of(self, value, kind: str, path: str) -> bool:
        ok = {
            "object": isinstance(value, dict),
            "array": isinstance(value, list),
            "string": isinstance(value, str),
            "boolean": isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "integer": (isinstance(value, int) and not isinstance(value, bool))
            or (isinstance(value, float) and value.is_integer()),
        }[kind]
        if not ok:
            self.error(path, f"Should be {kind}")
        return ok

    def integer(self, value, path: str, low: int | None = None, high: int | None = None) -> None:
        if not self.type_of(value, "integer", path):
            return
        if low is not None and value < low:
            self.error(path, f"Should be >= {low}")
        if high is not None and value > high:
            self.error(path, f"Should be <= {high}")

    def enum(self, value, allowed, path: str) -> None:
        if value not in allowed:
            self.error(path, "Should be equal to one of the allowed values")

    def required(self, obj: dict, key: str, path: str) -> bool:
        if key not in obj:
            self.error(path, f"Should have required property '{key}'")
            return False
        return True


def validate_body(body: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(errors, warnings) of a dashboard body; raises for a body that is not
    a JSON object."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        doc = None
    if not isinstance(doc, dict):
        raise AwsError("InvalidParameterInput", "The field DashboardBody must be a valid JSON object")
    check = _Check()
    if check.required(doc, "widgets", ""):
        widgets = doc["widgets"]
        if check.type_of(widgets, "array", "/widgets"):
            if len(widgets) > MAX_WIDGETS:
                check.error("/widgets", f"Should NOT have more than {MAX_WIDGETS} items")
            for i, widget in enumerate(widgets):
                _widget(check, widget, f"/widgets/{i}")
    for key in ("start", "end"):
        if key in doc:
            check.type_of(doc[key], "string", f"/{key}")
    if "periodOverride" in doc:
        check.enum(doc["periodOverride"], ("auto", "inherit"), "/periodOverride")
    if "variables" in doc:
        check.type_of(doc["variables"], "array", "/variables")
    return check.errors, check.warnings


def _widget(check: _Check, widget, path: str) -> None:
    if not check.type_of(widget, "object", path):
        return
    kind = widget.get("type")
    if check.required(widget, "type", path):
        check.enum(kind, WIDGET_TYPES, f"{path}/type")
    for key in widget:
        if key not in WIDGET_KEYS:
            check.warnings.append((path, f'The "{key}" property is not expected to be part of a widget '
                                         f'definition, will be ignored'))
    if "x" in widget:
        check.integer(widget["x"], f"{path}/x", 0, 23)
    if "y" in widget:
        check.integer(widget["y"], f"{path}/y", 0)
    if "width" in widget:
        check.integer(widget["width"], f"{path}/width", 1, 24)
    if "height" in widget:
        check.integer(widget["height"], f"{path}/height", 1, 1000)
    if kind not in WIDGET_TYPES:
        return
    props_path = f"{path}/properties"
    if "properties" not in widget:
        if kind in ("metric", "text", "log", "alarm", "explorer", "custom"):
            check.required(widget, "properties", path)
        return
    props = widget["properties"]
    if not check.type_of(props, "object", props_path):
        return
    if kind == "metric":
        _metric_properties(check, props, props_path)
    elif kind == "text":
        if check.required(props, "markdown", props_path):
            check.type_of(props["markdown"], "string", f"{props_path}/markdown")
    elif kind == "log":
        if check.required(props, "query", props_path):
            check.type_of(props["query"], "string", f"{props_path}/query")
    elif kind == "alarm":
        if check.required(props, "alarms", props_path) and check.type_of(props["alarms"], "array",
                                                                          f"{props_path}/alarms"):
            for j, alarm in enumerate(props["alarms"]):
                check.type_of(alarm, "string", f"{props_path}/alarms/{j}")
    elif kind == "custom":
        if check.required(props, "endpoint", props_path):
            check.type_of(props["endpoint"], "string", f"{props_path}/endpoint")


def _metric_properties(check: _Check, props: dict, path: str) -> None:
    annotations = props.get("annotations")
    has_alarm = isinstance(annotations, dict) and bool(annotations.get("alarms"))
    if "metrics" not in props and not has_alarm:
        check.error(path, "Should have required property 'metrics'")
        check.error(path, "The metric widget should have specified a region and a data source or an alarm "
                          "annotation")
        if annotations is None:
            check.error(path, "Should have required property 'annotations'")
    if "metrics" in props and check.type_of(props["metrics"], "array", f"{path}/metrics"):
        for j, row in enumerate(props["metrics"]):
            _metric_row(check, row, f"{path}/metrics/{j}")
    for key, kind in (("title", "string"), ("region", "string"), ("stat", "string"), ("stacked", "boolean"),
                      ("liveData", "boolean"), ("setPeriodToTimeRange", "boolean"), ("start", "string"),
                      ("end", "string"), ("timezone", "string")):
        if key in props:
            check.type_of(props[key], kind, f"{path}/{key}")
    if "period" in props:
        check.integer(props["period"], f"{path}/period", 1)
    if "view" in props:
        check.enum(props["view"], VIEWS, f"{path}/view")
    if "legend" in props and check.type_of(props["legend"], "object", f"{path}/legend"):
        if "position" in props["legend"]:
            check.enum(props["legend"]["position"], LEGEND_POSITIONS, f"{path}/legend/position")
    if "yAxis" in props and check.type_of(props["yAxis"], "object", f"{path}/yAxis"):
        for side in ("left", "right"):
            axis = props["yAxis"].get(side)
            if axis is None:
                continue
            where = f"{path}/yAxis/{side}"
            if check.type_of(axis, "object", where):
                for key in ("min", "max"):
                    if key in axis:
                        check.type_of(axis[key], "number", f"{where}/{key}")
                if "label" in axis:
                    check.type_of(axis["label"], "string", f"{where}/label")
                if "showUnits" in axis:
                    check.type_of(axis["showUnits"], "boolean", f"{where}/showUnits")
    if annotations is not None and check.type_of(annotations, "object", f"{path}/annotations"):
        for kind in ("horizontal", "vertical"):
            if kind not in annotations:
                continue
            where = f"{path}/annotations/{kind}"
            if not check.type_of(annotations[kind], "array", where):
                continue
            for k, item in enumerate(annotations[kind]):
                _annotation(check, item, f"{where}/{k}", kind)
        if "alarms" in annotations and check.type_of(annotations["alarms"], "array", f"{path}/annotations/alarms"):
            for k, alarm in enumerate(annotations["alarms"]):
                check.type_of(alarm, "string", f"{path}/annotations/alarms/{k}")


def _annotation(check: _Check, item, path: str, kind: str) -> None:
    # A band is two objects in an array.
    if isinstance(item, list):
        if len(item) > 2:
            check.error(path, "Should NOT have more than 2 items")
        for n, edge in enumerate(item):
            _annotation(check, edge, f"{path}/{n}", kind)
        return
    if not check.type_of(item, "object", path):
        return
    if check.required(item, "value", path):
        if kind == "horizontal":
            check.type_of(item["value"], "number", f"{path}/value")
        else:
            check.type_of(item["value"], "string", f"{path}/value")
    if "label" in item:
        check.type_of(item["label"], "string", f"{path}/label")
    if "color" in item and (not isinstance(item["color"], str) or not _COLOR.match(item["color"])):
        check.error(f"{path}/color", 'Should match pattern "^#[0-9a-fA-F]{6}$"')
    if "fill" in item:
        check.enum(item["fill"], ("above", "below") if kind == "horizontal" else ("before", "after"),
                   f"{path}/fill")
    if "visible" in item:
        check.type_of(item["visible"], "boolean", f"{path}/visible")
    if "yAxis" in item:
        check.enum(item["yAxis"], ("left", "right"), f"{path}/yAxis")


def _metric_row(check: _Check, row, path: str) -> None:
    """One entry of `metrics`: strings (namespace, name, dimension pairs, or
    "." for the previous row's value), optionally ending with an object of
    rendering properties; an invalid trailing object makes the row one item
    too long (that is how AWS reports it: "Should NOT have more than N
    items", N the number of items before the object)."""
    if not check.type_of(row, "array", path):
        return
    if not row:
        check.error(path, "Should NOT have fewer than 1 items")
        return
    last = len(row) - 1
    for k, item in enumerate(row):
        if k == last and isinstance(item, dict):
            continue
        if not isinstance(item, str):
            check.error(f"{path}/{k}", "Invalid metric field type, only 'String' type is allowed")
    if isinstance(row[last], dict) and not _options_ok(row[last], standalone=last == 0):
        check.error(path, f"Should NOT have more than {last} items")


def _options_ok(options: dict, standalone: bool) -> bool:
    for key, value in options.items():
        if key not in METRIC_OPTIONS:
            return False
        if key in ("label", "stat", "region", "accountId", "expression") and not isinstance(value, str):
            return False
        if key == "color" and (not isinstance(value, str) or not _COLOR.match(value)):
            return False
        if key == "id" and (not isinstance(value, str) or not _QUERY_ID.match(value)):
            return False
        if key == "yAxis" and value not in ("left", "right"):
            return False
        if key == "visible" and not isinstance(value, bool):
            return False
        if key == "period" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return False
    return not standalone or "expression" in options


def _invalid_body(errors: list[tuple[str, str]]) -> AwsError:
    listed = orjson.dumps([{"dataPath": p, "message": m} for p, m in errors], option=orjson.OPT_INDENT_2).decode()
    return AwsError("InvalidParameterInput",
                    f"The dashboard body is invalid, there are {len(errors)} validation errors:\n{listed}",
                    fields={"dashboardValidationMessages": [{"DataPath": p, "Message": m} for p, m in errors]})


# -- times ---------------------------------------------------------------------


def parse_time(value, now: float, name: str) -> float:
    """An absolute ISO 8601 time, or a duration relative to now ("-PT3H")."""
    if not isinstance(value, str) or not value:
        raise _widget_error(f"The value {value} for field {name} is invalid.")
    m = _DURATION.match(value)
    if m and any(g is not None for g in m.groups()):
        weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in m.groups())
        delta = weeks * 604800 + days * 86400 + hours * 3600 + minutes * 60 + seconds
        return now - delta if value.startswith("-") else now + delta
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _widget_error(f"The value {value} for field {name} is invalid.") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _widget_error(message: str) -> AwsError:
    return AwsError("InvalidParameterInput", message)


# -- the mixin -------------------------------------------------------------------


class DashboardOps:
    """Dashboard operations and GetMetricWidgetImage (a mixin of
    CloudWatchService)."""

    def PutDashboard(self, ctx, params):
        name = params["DashboardName"]
        body = params["DashboardBody"]
        if not NAME.match(name):
            raise AwsError("InvalidParameterValue",
                           "The value for field DashboardName contains invalid characters. It can only contain "
                           "alphanumerics, dash (-) and underscore (_).\n")
        if len(name) > MAX_NAME:
            raise AwsError("InvalidParameterValue",
                           f"The value for field DashboardName must be at most {MAX_NAME} characters long.")
        errors, warnings = validate_body(body)
        if errors:
            raise _invalid_body(errors)
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO cloudwatch_dashboards (account, name, body, modified) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (account, name) DO UPDATE SET body = excluded.body, modified = excluded.modified",
                (ctx.account_id, name, body, self.clock.now()))
        return {"DashboardValidationMessages": [{"DataPath": p, "Message": m} for p, m in warnings]}

    def GetDashboard(self, ctx, params):
        name = params.get("DashboardName") or ""
        body = self.storage.scalar("SELECT body FROM cloudwatch_dashboards WHERE account = ? AND name = ?",
                                   (ctx.account_id, name))
        if body is None:
            raise AwsError("DashboardNotFoundError", f"Dashboard {name} does not exist")
        return {"DashboardArn": dashboard_arn(ctx.account_id, name), "DashboardBody": body, "DashboardName": name}

    def ListDashboards(self, ctx, params):
        prefix = params.get("DashboardNamePrefix") or ""
        sql = ("SELECT name, LENGTH(CAST(body AS BLOB)), modified FROM cloudwatch_dashboards WHERE account = ? "
               "AND substr(name, 1, ?) = ?")
        args: list = [ctx.account_id, len(prefix), prefix]
        token = params.get("NextToken")
        if token:
            after = tokens.decode(token, str, "InvalidParameterValue",
                                  "The value for parameter NextToken is invalid.")
            sql += " AND name > ?"
            args.append(after)
        sql += " ORDER BY name LIMIT ?"
        args.append(LIST_PAGE + 1)
        rows = self.storage.all(sql, args)
        out: dict = {"DashboardEntries": [
            {"DashboardName": name, "DashboardArn": dashboard_arn(ctx.account_id, name), "LastModified": modified,
             "Size": size} for name, size, modified in rows[:LIST_PAGE]]}
        if len(rows) > LIST_PAGE:
            out["NextToken"] = tokens.encode(rows[LIST_PAGE - 1][0])
        return out

    def DeleteDashboards(self, ctx, params):
        names = list(dict.fromkeys(params.get("DashboardNames") or []))
        if not names:
            raise AwsError("MissingParameter", "The parameter DashboardNames is required.")
        if len(names) > MAX_DELETE:
            raise AwsError("InvalidParameterValue",
                           f"The collection DashboardNames must not have a size greater than {MAX_DELETE}.")
        marks = ",".join("?" * len(names))
        with self.storage.tx():
            found = {n for (n,) in self.storage.all(
                f"SELECT name FROM cloudwatch_dashboards WHERE account = ? AND name IN ({marks})",
                [ctx.account_id, *names])}
            missing = [n for n in names if n not in found]
            if missing:
                raise AwsError("DashboardNotFoundError",
                               f"The specified dashboard does not exist. [{', '.join(missing)}]")
            self.storage.execute(f"DELETE FROM cloudwatch_dashboards WHERE account = ? AND name IN ({marks})",
                                 [ctx.account_id, *names])
        return {}

    # -- GetMetricWidgetImage ---------------------------------------------------

    def GetMetricWidgetImage(self, ctx, params):
        from cloudlet.services.cloudwatch import widgetimage

        fmt = params.get("OutputFormat") or "png"
        if fmt.lower() != "png":
            raise _widget_error(f"The value {fmt} for field OutputFormat is invalid. Only png is supported.")
        try:
            widget = orjson.loads(params["MetricWidget"])
        except orjson.JSONDecodeError:
            widget = None
        if not isinstance(widget, dict):
            raise _widget_error("The field MetricWidget must be a valid JSON object")
        width = widget.get("width", widgetimage.DEFAULT_WIDTH)
        height = widget.get("height", widgetimage.DEFAULT_HEIGHT)
        for key, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2000:
                raise _widget_error(f"The value {value} for field {key} is invalid. It must be an integer "
                                    "between 1 and 2000.")
        now = self.clock.now()
        start = parse_time(widget.get("start", "-PT3H"), now, "start")
        end = parse_time(widget.get("end", "-PT0H"), now, "end")
        if start >= end:
            raise _widget_error("The start time must be before the end time.")
        queries, styles = self._widget_queries(widget)
        results = self.run_queries(ctx.account_id, widget.get("region") or ctx.region, queries, start, end) \
            if queries else []
        series = []
        by_id = {s["id"]: s for s in styles}
        for n, r in enumerate(results):
            if not r.get("ReturnData", True):
                continue
            style = by_id.get(r.get("Id")) or {}
            series.append({"label": style.get("label") or r.get("Label") or r.get("Id"),
                           "color": style.get("color"), "yAxis": style.get("yAxis", "left"),
                           "points": list(zip(r.get("Timestamps") or [], r.get("Values") or []))})
        png = widgetimage.render(widget, series, start, end, width, height)
        return {"MetricWidgetImage": png}

    def _widget_queries(self, widget: dict) -> tuple[list[dict], list[dict]]:
        rows = widget.get("metrics") or []
        if not isinstance(rows, list):
            raise _widget_error("The field metrics must be an array.")
        default_stat = widget.get("stat") or "Average"
        default_period = widget.get("period") or 300
        queries, styles, previous = [], [], []
        used = {r[-1]["id"] for r in rows if isinstance(r, list) and r and isinstance(r[-1], dict)
                and isinstance(r[-1].get("id"), str)}
        auto = 0
        for j, row in enumerate(rows):
            if not isinstance(row, list) or not row:
                raise _widget_error(f"The metrics row {j} is invalid.")
            options = row[-1] if isinstance(row[-1], dict) else {}
            strings = row[:-1] if isinstance(row[-1], dict) else row
            qid = options.get("id")
            if not qid:
                auto += 1
                while f"m{auto}" in used:
                    auto += 1
                qid = f"m{auto}"
            visible = options.get("visible", True) is not False
            style = {"id": qid, "label": options.get("label"), "color": options.get("color"),
                     "yAxis": options.get("yAxis", "left")}
            if "expression" in options:
                query = {"Id": qid, "Expression": options["expression"], "ReturnData": visible}
                if options.get("label"):
                    query["Label"] = options["label"]
                if options.get("period"):
                    query["Period"] = options["period"]
            else:
                resolved = [previous[k] if s == "." and k < len(previous) else s for k, s in enumerate(strings)]
                previous = resolved
                if len(resolved) < 2 or any(not isinstance(s, str) for s in resolved):
                    raise _widget_error(f"The metrics row {j} is invalid.")
                dims = [{"Name": resolved[k], "Value": resolved[k + 1]} for k in range(2, len(resolved) - 1, 2)]
                query = {"Id": qid, "ReturnData": visible, "MetricStat": {
                    "Metric": {"Namespace": resolved[0], "MetricName": resolved[1], "Dimensions": dims},
                    "Period": int(options.get("period") or default_period),
                    "Stat": options.get("stat") or default_stat}}
                if options.get("label"):
                    query["Label"] = options["label"]
                if not style["label"]:
                    style["label"] = resolved[1]
            queries.append(query)
            styles.append(style)
        return queries, styles
