"""What an alarm does on a state transition: the notification AWS publishes
to SNS (its JSON and subject, as alarm notifications are written), the
other action kinds, and the Action history items that record each outcome.

Actions run as the service principal cloudwatch.amazonaws.com through the
internal dispatcher, so the topic's policy decides, with aws:SourceArn the
alarm's ARN. Lambda, Auto Scaling, EC2 and Systems Manager actions are
dispatched the same way; a service cloudlet does not run answers as AWS
does for an unknown operation and the action is recorded as failed.
"""

from __future__ import annotations

import datetime as dt
import logging

import botocore.loaders
import orjson

from cloudlet.errors import AwsError

log = logging.getLogger("cloudlet.cloudwatch")

PRINCIPAL = "cloudwatch.amazonaws.com"
_REGION_NAMES: dict | None = None


def region_name(region: str) -> str:
    """'US East (N. Virginia)' for us-east-1: alarm notifications name the
    region by its long name."""
    global _REGION_NAMES
    if _REGION_NAMES is None:
        data = botocore.loaders.Loader().load_data("endpoints")
        _REGION_NAMES = {k: v.get("description", k) for p in data["partitions"] for k, v in p["regions"].items()}
    return _REGION_NAMES.get(region, region)


def iso_millis(ts: float) -> str:
    """2030-01-01T00:05:00.000+0000, the timestamp format of notifications
    and history data."""
    d = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def _trigger(alarm: dict) -> dict:
    if "Metrics" in alarm:
        trigger = {"Period": max((q.get("MetricStat") or {}).get("Period") or q.get("Period") or 0
                                 for q in alarm["Metrics"]),
                   "EvaluationPeriods": alarm["EvaluationPeriods"]}
    else:
        extended = "ExtendedStatistic" in alarm
        trigger = {"MetricName": alarm["MetricName"], "Namespace": alarm["Namespace"],
                   "StatisticType": "ExtendedStatistic" if extended else "Statistic"}
        if extended:
            trigger["ExtendedStatistic"] = alarm["ExtendedStatistic"]
        else:
            trigger["Statistic"] = alarm["Statistic"].upper()
        trigger.update(Unit=alarm.get("Unit"),
                       Dimensions=[{"value": d["Value"], "name": d["Name"]} for d in alarm.get("Dimensions", [])],
                       Period=alarm["Period"], EvaluationPeriods=alarm["EvaluationPeriods"])
    if "DatapointsToAlarm" in alarm:
        trigger["DatapointsToAlarm"] = alarm["DatapointsToAlarm"]
    trigger["ComparisonOperator"] = alarm["ComparisonOperator"]
    if "Threshold" in alarm:
        trigger["Threshold"] = alarm["Threshold"]
    if "ThresholdMetricId" in alarm:
        trigger["ThresholdMetricId"] = alarm["ThresholdMetricId"]
    trigger["TreatMissingData"] = alarm.get("TreatMissingData", "missing")
    trigger["EvaluateLowSampleCountPercentile"] = alarm.get("EvaluateLowSampleCountPercentile", "")
    if "Metrics" in alarm:
        trigger["Metrics"] = [_trigger_query(q) for q in alarm["Metrics"]]
    return trigger


def _trigger_query(q: dict) -> dict:
    out: dict = {}
    if q.get("Expression") is not None:
        out["Expression"] = q["Expression"]
    out["Id"] = q["Id"]
    if q.get("Label") is not None:
        out["Label"] = q["Label"]
    if q.get("MetricStat"):
        stat = q["MetricStat"]
        metric = stat["Metric"]
        out["MetricStat"] = {"Metric": {"Dimensions": [{"value": d["Value"], "name": d["Name"]}
                                                       for d in metric.get("Dimensions") or []],
                                        "MetricName": metric.get("MetricName"),
                                        "Namespace": metric.get("Namespace")},
                             "Period": stat["Period"], "Stat": stat["Stat"]}
        if stat.get("Unit"):
            out["MetricStat"]["Unit"] = stat["Unit"]
    out["ReturnData"] = q.get("ReturnData", True)
    return out


def notification(alarm: dict, kind: str, account: str, region: str, old: str, new: str, reason: str,
                 when: float, children: list | None = None) -> tuple[str, str]:
    """(subject, message) of the SNS notification of a transition."""
    message = {
        "AlarmName": alarm["AlarmName"], "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": iso_millis(alarm["AlarmConfigurationUpdatedTimestamp"]),
        "NewStateValue": new, "NewStateReason": reason, "StateChangeTime": iso_millis(when),
        "Region": region_name(region), "AlarmArn": alarm["AlarmArn"], "OldStateValue": old,
        "OKActions": alarm.get("OKActions", []), "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
    }
    if kind == "CompositeAlarm":
        message["AlarmRule"] = alarm["AlarmRule"]
        message["TriggeringChildren"] = children or []
    else:
        message["Trigger"] = _trigger(alarm)
    subject = f'{new}: "{alarm["AlarmName"]}" in {region_name(region)}'
    if len(subject) > 100:  # SNS subjects are at most 100 characters
        subject = subject[:97] + "..."
    return subject, orjson.dumps(message).decode()


def _target(arn: str) -> tuple[str, str, dict, str, str]:
    """(service, operation, params, account, region) an action ARN calls."""
    parts = arn.split(":")
    service, region, account = parts[2], parts[3], parts[4]
    if service == "sns":
        return "sns", "Publish", {"TopicArn": arn}, account, region
    if service == "lambda":
        return "lambda", "Invoke", {"FunctionName": arn, "InvocationType": "Event"}, account, region
    if service == "autoscaling":
        return "autoscaling", "ExecutePolicy", {"PolicyName": arn}, account, region
    if service in ("automate", "swf"):
        # arn:aws:automate:REGION:ec2:stop, or the older
        # arn:aws:swf:REGION:ACCOUNT:action/actions/AWS_EC2.InstanceId.Stop/1.0
        verb = arn.rsplit(":", 1)[-1] if service == "automate" else arn.split("/")[-2].rsplit(".", 1)[-1]
        return "ec2", verb.capitalize() + "Instances", {}, account, region
    if service == "ssm":
        return "ssm", "CreateOpsItem", {}, account, region
    if service == "ssm-incidents":
        return "ssm-incidents", "StartIncident", {"responsePlanArn": arn}, account, region
    return service, "StartInvestigation", {}, account, region


async def run(gateway, alarm: dict, kind: str, account: str, region: str, old: str, new: str, reason: str,
              when: float, children: list | None = None) -> list[tuple[str, str, dict]]:
    """Runs the actions of `new` state; returns the Action history items
    [(summary, item_type, data)]."""
    actions = {"OK": "OKActions", "ALARM": "AlarmActions", "INSUFFICIENT_DATA": "InsufficientDataActions"}[new]
    items = []
    subject = message = None
    for arn in alarm.get(actions) or []:
        service, operation, params, target_account, target_region = _target(arn)
        if service == "sns":
            if message is None:
                subject, message = notification(alarm, kind, account, region, old, new, reason, when, children)
            params = dict(params, Subject=subject, Message=message)
        elif service == "lambda":
            params = dict(params, Payload=orjson.dumps({
                "source": "aws.cloudwatch", "alarmArn": alarm["AlarmArn"], "accountId": account,
                "time": iso_millis(when), "region": region, "alarmData": {
                    "alarmName": alarm["AlarmName"], "state": {"value": new, "reason": reason,
                                                               "timestamp": iso_millis(when)},
                    "previousState": {"value": old}}}))
        data = {"actionState": "Succeeded", "stateUpdateTimestamp": int(when * 1000), "notificationResource": arn}
        try:
            await gateway.call(service, operation, params, account_id=target_account or account,
                               region=target_region or region, invoked_by=PRINCIPAL, source_arn=alarm["AlarmArn"],
                               source_account=account)
            if message is not None and service == "sns":
                data["publishedMessage"] = message
            items.append((f"Successfully executed action {arn}", data))
        except AwsError as err:
            data["actionState"] = "Failed"
            data["error"] = f"{err.code}: {err.message}"
            items.append((f"Failed to execute action {arn}. Received error: \"{err.message}\"", data))
        except Exception as err:  # an action never breaks evaluation
            log.exception("alarm action %s failed", arn)
            data["actionState"] = "Failed"
            data["error"] = str(err)
            items.append((f"Failed to execute action {arn}. Received error: \"{err}\"", data))
    return items
