"""CloudWatch dashboards and GetMetricWidgetImage through boto3 against a
real server, on the virtual clock: PutDashboard / GetDashboard /
ListDashboards / DeleteDashboards with exact answers, AWS's validation
errors (the message and DashboardValidationMessages), and PNG charts
decoded with Pillow."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError
from PIL import Image

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
NOW = T0 + timedelta(hours=1)
ACCOUNT = "000000000000"
TEXT_BODY = json.dumps({"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 3,
                                     "properties": {"markdown": "Hello world"}}]})
METRIC_BODY = json.dumps({
    "start": "-PT6H", "periodOverride": "inherit",
    "widgets": [{"type": "metric", "x": 0, "y": 0, "width": 12, "height": 6, "properties": {
        "metrics": [["AWS/EC2", "CPUUtilization", "InstanceId", "i-012345"],
                    [".", ".", ".", "i-6789", {"stat": "Maximum", "color": "#2ca02c", "label": "second"}],
                    [{"expression": "m1 * 2", "label": "double", "id": "e1"}]],
        "period": 300, "stat": "Average", "region": "us-east-1", "title": "EC2 Instance CPU",
        "legend": {"position": "right"}}}]})


@pytest.fixture
def cw(cloudlet):
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    return cloudlet.client("cloudwatch")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def invalid_body(cw, body) -> tuple[str, list]:
    with pytest.raises(ClientError) as exc:
        cw.put_dashboard(DashboardName="bad", DashboardBody=json.dumps(body))
    assert exc.value.response["Error"]["Code"] == "InvalidParameterInput"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return exc.value.response["Error"]["Message"], exc.value.response["dashboardValidationMessages"]


def arn(name: str) -> str:
    return f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}"


# -- PutDashboard / GetDashboard / ListDashboards / DeleteDashboards --------------


def test_put_get_round_trip(cw):
    out = cw.put_dashboard(DashboardName="web-1_A", DashboardBody=METRIC_BODY)
    assert out["DashboardValidationMessages"] == []
    got = cw.get_dashboard(DashboardName="web-1_A")
    assert (got["DashboardArn"], got["DashboardName"], got["DashboardBody"]) == (
        arn("web-1_A"), "web-1_A", METRIC_BODY)
    # A put replaces the whole body.
    cw.put_dashboard(DashboardName="web-1_A", DashboardBody=TEXT_BODY)
    assert cw.get_dashboard(DashboardName="web-1_A")["DashboardBody"] == TEXT_BODY


def test_dashboards_are_per_account_not_per_region(cloudlet, cw):
    cw.put_dashboard(DashboardName="global", DashboardBody=TEXT_BODY)
    other_region = cloudlet.client("cloudwatch", region_name="eu-west-1")
    assert other_region.get_dashboard(DashboardName="global")["DashboardArn"] == arn("global")


def test_get_missing_dashboard(cw):
    with pytest.raises(ClientError) as exc:
        cw.get_dashboard(DashboardName="nothing")
    assert error(exc) == ("ResourceNotFound", "Dashboard nothing does not exist")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_dashboards_sizes_times_and_prefix(cloudlet, cw):
    cw.put_dashboard(DashboardName="beta", DashboardBody=TEXT_BODY)
    cloudlet.clock.set("2030-01-01T02:00:00Z")
    unicode_body = json.dumps({"widgets": [{"type": "text", "properties": {"markdown": "héllo"}}]},
                              ensure_ascii=False)
    cw.put_dashboard(DashboardName="alpha", DashboardBody=unicode_body)
    cw.put_dashboard(DashboardName="alphabet", DashboardBody=METRIC_BODY)
    entries = cw.list_dashboards()["DashboardEntries"]
    assert [(e["DashboardName"], e["DashboardArn"], e["Size"], e["LastModified"]) for e in entries] == [
        ("alpha", arn("alpha"), len(unicode_body.encode()), NOW + timedelta(hours=1)),
        ("alphabet", arn("alphabet"), len(METRIC_BODY), NOW + timedelta(hours=1)),
        ("beta", arn("beta"), len(TEXT_BODY), NOW),
    ]
    assert len(unicode_body.encode()) == len(unicode_body) + 1  # Size counts bytes
    names = [e["DashboardName"] for e in cw.list_dashboards(DashboardNamePrefix="alpha")["DashboardEntries"]]
    assert names == ["alpha", "alphabet"]
    assert cw.list_dashboards(DashboardNamePrefix="gamma")["DashboardEntries"] == []
    assert "NextToken" not in cw.list_dashboards()


def test_delete_dashboards_is_all_or_nothing(cw):
    for name in ("one", "two", "three"):
        cw.put_dashboard(DashboardName=name, DashboardBody=TEXT_BODY)
    with pytest.raises(ClientError) as exc:
        cw.delete_dashboards(DashboardNames=["one", "missing", "two"])
    assert error(exc) == ("ResourceNotFound", "The specified dashboard does not exist. [missing]")
    # Nothing was deleted.
    assert [e["DashboardName"] for e in cw.list_dashboards()["DashboardEntries"]] == ["one", "three", "two"]
    cw.delete_dashboards(DashboardNames=["one", "two"])
    assert [e["DashboardName"] for e in cw.list_dashboards()["DashboardEntries"]] == ["three"]
    with pytest.raises(ClientError):
        cw.get_dashboard(DashboardName="one")


def test_dashboard_name_rules(cw):
    with pytest.raises(ClientError) as exc:
        cw.put_dashboard(DashboardName="has space", DashboardBody=TEXT_BODY)
    assert error(exc) == ("InvalidParameterValue",
                          "The value for field DashboardName contains invalid characters. It can only contain "
                          "alphanumerics, dash (-) and underscore (_).\n")
    cw.put_dashboard(DashboardName="x" * 255, DashboardBody=TEXT_BODY)
    with pytest.raises(ClientError) as exc:
        cw.put_dashboard(DashboardName="x" * 256, DashboardBody=TEXT_BODY)
    assert error(exc)[0] == "InvalidParameterValue"


# -- validation -----------------------------------------------------------------------


def test_body_must_be_a_json_object(cw):
    for body in ("{not json", "[]", '"widgets"'):
        with pytest.raises(ClientError) as exc:
            cw.put_dashboard(DashboardName="bad", DashboardBody=body)
        assert error(exc) == ("InvalidParameterInput", "The field DashboardBody must be a valid JSON object")


def test_metric_row_with_invalid_rendering_properties(cw):
    message, listed = invalid_body(cw, {"widgets": [{"type": "metric", "properties": {"metrics": [
        ["AWS/AppSync", "Requests", "GraphQLAPIId", "abc", {"stat": "Sample count", "color": "red"}],
        ["ECSLogs", "Errors", {"label": "Errors", "color": "red"}],
        ["AWS/ECS", "CPUUtilization", {"ClusterName": "main"}],
        ["AWS/EC2", "CPUUtilization", {"stat": "p99", "color": "#ff0000"}],
    ]}}]})
    assert listed == [
        {"DataPath": "/widgets/0/properties/metrics/0", "Message": "Should NOT have more than 4 items"},
        {"DataPath": "/widgets/0/properties/metrics/1", "Message": "Should NOT have more than 2 items"},
        {"DataPath": "/widgets/0/properties/metrics/2", "Message": "Should NOT have more than 2 items"},
    ]
    assert message == (
        "The dashboard body is invalid, there are 3 validation errors:\n"
        "[\n"
        "  {\n"
        '    "dataPath": "/widgets/0/properties/metrics/0",\n'
        '    "message": "Should NOT have more than 4 items"\n'
        "  },\n"
        "  {\n"
        '    "dataPath": "/widgets/0/properties/metrics/1",\n'
        '    "message": "Should NOT have more than 2 items"\n'
        "  },\n"
        "  {\n"
        '    "dataPath": "/widgets/0/properties/metrics/2",\n'
        '    "message": "Should NOT have more than 2 items"\n'
        "  }\n"
        "]")


def test_metric_fields_must_be_strings(cw):
    _, listed = invalid_body(cw, {"widgets": [{"type": "metric", "properties": {"metrics": [
        ["AWS/Lambda", "Invocations", {"stat": "Sum"}, {"FunctionName": "f"}],
        ["AWS/Lambda", 7, "FunctionName", "f"],
    ]}}]})
    assert listed == [
        {"DataPath": "/widgets/0/properties/metrics/0/2",
         "Message": "Invalid metric field type, only 'String' type is allowed"},
        {"DataPath": "/widgets/0/properties/metrics/0", "Message": "Should NOT have more than 3 items"},
        {"DataPath": "/widgets/0/properties/metrics/1/1",
         "Message": "Invalid metric field type, only 'String' type is allowed"},
    ]


def test_metric_widget_without_metrics(cw):
    message, listed = invalid_body(cw, {"widgets": [
        {"type": "text", "properties": {"markdown": "ok"}},
        {"type": "metric", "x": 0, "y": 0, "width": 6, "height": 6, "properties": {"region": "us-east-1"}},
    ]})
    assert listed == [
        {"DataPath": "/widgets/1/properties", "Message": "Should have required property 'metrics'"},
        {"DataPath": "/widgets/1/properties",
         "Message": "The metric widget should have specified a region and a data source or an alarm annotation"},
        {"DataPath": "/widgets/1/properties", "Message": "Should have required property 'annotations'"},
    ]
    assert message.startswith("The dashboard body is invalid, there are 3 validation errors:\n[\n")
    # An alarm annotation stands in for metrics.
    alarm_only = {"widgets": [{"type": "metric", "properties": {
        "annotations": {"alarms": ["arn:aws:cloudwatch:us-east-1:000000000000:alarm:high"]}}}]}
    assert cw.put_dashboard(DashboardName="ok", DashboardBody=json.dumps(alarm_only))[
        "DashboardValidationMessages"] == []


def test_structure_errors(cw):
    _, listed = invalid_body(cw, {"periodOverride": "never", "widgets": [
        {"type": "graph", "properties": {}},
        {"type": "text", "x": 24, "y": -1, "width": 0, "height": 1001, "properties": {}},
        {"x": 1.5, "properties": {"markdown": "hi"}},
        "widget",
    ]})
    assert listed == [
        {"DataPath": "/widgets/0/type", "Message": "Should be equal to one of the allowed values"},
        {"DataPath": "/widgets/1/x", "Message": "Should be <= 23"},
        {"DataPath": "/widgets/1/y", "Message": "Should be >= 0"},
        {"DataPath": "/widgets/1/width", "Message": "Should be >= 1"},
        {"DataPath": "/widgets/1/height", "Message": "Should be <= 1000"},
        {"DataPath": "/widgets/1/properties", "Message": "Should have required property 'markdown'"},
        {"DataPath": "/widgets/2", "Message": "Should have required property 'type'"},
        {"DataPath": "/widgets/2/x", "Message": "Should be integer"},
        {"DataPath": "/widgets/3", "Message": "Should be object"},
        {"DataPath": "/periodOverride", "Message": "Should be equal to one of the allowed values"},
    ]
    _, listed = invalid_body(cw, {"start": "-PT3H"})
    assert listed == [{"DataPath": "", "Message": "Should have required property 'widgets'"}]
    _, listed = invalid_body(cw, {"widgets": {}})
    assert listed == [{"DataPath": "/widgets", "Message": "Should be array"}]
    # Nothing was stored.
    assert cw.list_dashboards()["DashboardEntries"] == []


def test_warnings_come_back_on_success(cw):
    body = json.dumps({"widgets": [
        {"type": "text", "x": 0, "y": 0, "width": 6, "height": 3, "colour": "blue",
         "properties": {"markdown": "hi"}}]})
    out = cw.put_dashboard(DashboardName="warned", DashboardBody=body)
    assert out["DashboardValidationMessages"] == [
        {"DataPath": "/widgets/0",
         "Message": 'The "colour" property is not expected to be part of a widget definition, will be ignored'}]
    assert cw.get_dashboard(DashboardName="warned")["DashboardBody"] == body
    # An empty widgets array is a valid dashboard.
    assert cw.put_dashboard(DashboardName="empty", DashboardBody='{"widgets": []}')[
        "DashboardValidationMessages"] == []


# -- GetMetricWidgetImage ---------------------------------------------------------------


def put_series(cw, name, values, dims=None, start=T0):
    """One value per 5 minutes from `start`."""
    cw.put_metric_data(Namespace="App/Web", MetricData=[
        {"MetricName": name, "Dimensions": dims or [], "Timestamp": start + timedelta(minutes=5 * i), "Value": v}
        for i, v in enumerate(values)])


def image(cw, widget: dict) -> Image.Image:
    out = cw.get_metric_widget_image(MetricWidget=json.dumps(widget))
    png = out["MetricWidgetImage"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(png)).convert("RGB")


def count_color(img: Image.Image, rgb: tuple) -> int:
    return {color: n for n, color in img.getcolors(maxcolors=1 << 24)}.get(rgb, 0)


def test_widget_image_draws_each_series_in_its_color(cw):
    put_series(cw, "Latency", [10.0, 30.0, 20.0, 40.0, 25.0, 35.0, 15.0, 45.0, 30.0, 20.0, 10.0, 50.0])
    put_series(cw, "Latency", [5.0, 8.0, 6.0, 9.0, 7.0, 8.0, 5.0, 9.0, 6.0, 7.0, 8.0, 9.0],
               dims=[{"Name": "Host", "Value": "a"}])
    img = image(cw, {
        "title": "Latency", "start": "-PT1H", "period": 300,
        "metrics": [["App/Web", "Latency"],
                    [".", ".", "Host", "a", {"color": "#00ff00", "label": "host a"}]],
        "yAxis": {"left": {"min": 0, "label": "ms"}},
        "annotations": {"horizontal": [{"value": 42, "label": "limit", "color": "#ff00ff"}]},
    })
    assert img.size == (600, 400)
    assert count_color(img, (0x1f, 0x77, 0xb4)) > 100  # the first series, palette blue
    assert count_color(img, (0x00, 0xff, 0x00)) > 100  # the second, its own color
    assert count_color(img, (0xff, 0x00, 0xff)) > 100  # the annotation line


def test_widget_image_size_and_empty_chart(cw):
    put_series(cw, "Hits", [1.0, 2.0, 3.0, 2.0, 1.0, 2.0])
    empty = image(cw, {"metrics": [["App/Web", "Nothing"]], "width": 320, "height": 200})
    full = image(cw, {"metrics": [["App/Web", "Hits"]], "width": 320, "height": 200, "start": "-PT1H"})
    assert empty.size == full.size == (320, 200)
    # Without data only the legend's 11 x 11 swatch has the series' color.
    assert count_color(empty, (0x1f, 0x77, 0xb4)) == 121
    assert count_color(full, (0x1f, 0x77, 0xb4)) > 121 + 50
    assert empty.tobytes() != full.tobytes()
    # Absolute times: a window holding no points draws no line.
    before = image(cw, {"metrics": [["App/Web", "Hits"]], "width": 320, "height": 200,
                        "start": "2029-12-31T20:00:00Z", "end": "2029-12-31T22:00:00Z"})
    assert count_color(before, (0x1f, 0x77, 0xb4)) == 121


def test_widget_image_errors(cw):
    with pytest.raises(ClientError) as exc:
        cw.get_metric_widget_image(MetricWidget="{nope")
    assert error(exc) == ("InvalidParameterInput", "The field MetricWidget must be a valid JSON object")
    with pytest.raises(ClientError) as exc:
        cw.get_metric_widget_image(MetricWidget=json.dumps({"metrics": [["A", "B"]], "width": 2001}))
    assert error(exc)[0] == "InvalidParameterInput"
