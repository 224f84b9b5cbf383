"""AWS/Usage CallCount: every API call counted per service and operation,
readable through CloudWatch like any vended metric."""

from __future__ import annotations

from datetime import datetime, timezone


def test_call_count_per_operation(cloudlet):
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    sqs = cloudlet.client("sqs")
    cw = cloudlet.client("cloudwatch")
    for i in range(3):
        sqs.create_queue(QueueName=f"usage-{i}")
    sqs.list_queues()
    dims = [{"Name": "Class", "Value": "None"}, {"Name": "Resource", "Value": "CreateQueue"},
            {"Name": "Service", "Value": "SQS"}, {"Name": "Type", "Value": "API"}]
    out = cw.get_metric_statistics(Namespace="AWS/Usage", MetricName="CallCount", Dimensions=dims,
                                   StartTime=datetime(2030, 1, 1, 1, 0, tzinfo=timezone.utc),
                                   EndTime=datetime(2030, 1, 1, 1, 1, tzinfo=timezone.utc), Period=60,
                                   Statistics=["Sum"])
    assert [(p["Sum"], p["Unit"]) for p in out["Datapoints"]] == [(3.0, "None")]
    listed = cw.list_metrics(Namespace="AWS/Usage", Dimensions=[{"Name": "Service", "Value": "SQS"}])["Metrics"]
    assert sorted(d["Value"] for m in listed for d in m["Dimensions"] if d["Name"] == "Resource") == [
        "CreateQueue", "ListQueues"]


def test_list_metrics_with_linked_accounts_names_the_owner(cloudlet):
    cloudlet.clock.set("2030-01-01T01:00:00Z")
    cw = cloudlet.client("cloudwatch")
    cw.put_metric_data(Namespace="App/Linked", MetricData=[{"MetricName": "A", "Value": 1.0}])
    out = cw.list_metrics(Namespace="App/Linked", IncludeLinkedAccounts=True)
    assert [m["MetricName"] for m in out["Metrics"]] == ["A"]
    assert out["OwningAccounts"] == ["000000000000"]
    assert "OwningAccounts" not in cw.list_metrics(Namespace="App/Linked")
