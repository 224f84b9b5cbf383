"""CloudWatch alarms across a SIGKILL: an acknowledged alarm, its state and
history are there after a restart, and it goes on evaluating on the clock
without a request waking CloudWatch first (the service is resumable)."""

from __future__ import annotations

import os
import signal
import sys

import boto3
import pytest
from botocore.config import Config

from tests.faults.test_restart import admin, free_port, start


def client(port: int, service: str):
    return boto3.client(service, endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 1}))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_alarm_survives_sigkill_and_keeps_evaluating(tmp_path):
    port = free_port()
    proc = start(str(tmp_path), port)
    try:
        admin(port, "POST", "/_cloudlet/clock", {"set": "2030-01-01T01:00:00Z"})
        cw = client(port, "cloudwatch")
        cw.put_metric_alarm(AlarmName="durable", Namespace="App", MetricName="Errors", Statistic="Sum", Period=60,
                            EvaluationPeriods=1, Threshold=0.0, ComparisonOperator="GreaterThanThreshold")
        cw.set_alarm_state(AlarmName="durable", StateValue="ALARM", StateReason="before the crash")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    proc = start(str(tmp_path), port)
    try:
        cw = client(port, "cloudwatch")
        [alarm] = cw.describe_alarms(AlarmNames=["durable"])["MetricAlarms"]
        assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "before the crash")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc = start(str(tmp_path), port)
        # No CloudWatch request this time: the alarm evaluates on its own (no data: INSUFFICIENT_DATA).
        admin(port, "POST", "/_cloudlet/clock", {"advance": 60})
        cw = client(port, "cloudwatch")
        [alarm] = cw.describe_alarms(AlarmNames=["durable"])["MetricAlarms"]
        assert alarm["StateValue"] == "INSUFFICIENT_DATA"
        history = cw.describe_alarm_history(AlarmName="durable", HistoryItemType="StateUpdate")["AlarmHistoryItems"]
        assert [h["HistorySummary"] for h in history] == [
            "Alarm updated from ALARM to INSUFFICIENT_DATA", "Alarm updated from INSUFFICIENT_DATA to ALARM"]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
