"""PutMetricAlarm and PutCompositeAlarm input checks, in AWS's order and
words, and the alarm definition (the DescribeAlarms fields, minus state)
built from a valid request."""

from __future__ import annotations

import re

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import stats as cwstats

COMPARISONS = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold", "LessThanThreshold",
               "LessThanOrEqualToThreshold")
BAND_COMPARISONS = ("LessThanLowerOrGreaterThanUpperThreshold", "LessThanLowerThreshold",
                    "GreaterThanUpperThreshold")
TREAT_MISSING = ("breaching", "notBreaching", "ignore", "missing")
LOW_SAMPLE = ("evaluate", "ignore")
STATISTICS = cwstats.BASIC
MAX_ALARM_METRICS = 10
MAX_TAGS = 50

# Alarm actions CloudWatch accepts (CloudWatch user guide, "Alarm actions").
_ACTION = re.compile(
    r"^arn:aws[a-z-]*:("
    r"sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+"
    r"|lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?"
    r"|autoscaling:[a-z0-9-]+:\d{12}:scalingPolicy:.+"
    r"|automate:[a-z0-9-]+:ec2:(stop|terminate|reboot|recover)"
    r"|swf:[a-z0-9-]+:\d{12}:action/actions/AWS_EC2\.InstanceId\.(Stop|Terminate|Reboot)/1\.0"
    r"|ssm:[a-z0-9-]+:\d{12}:opsitem:[1-4](#CATEGORY=[A-Za-z]+)?"
    r"|ssm-incidents::\d{12}:response-plan/.+"
    r"|aiops:[a-z0-9-]+:\d{12}:investigation-group/.+"
    r")$")


def validation(message: str) -> AwsError:
    return AwsError("ValidationError", message)


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def check_actions(params: dict) -> None:
    for key in ("OKActions", "AlarmActions", "InsufficientDataActions"):
        for arn in params.get(key) or []:
            if not _ACTION.match(arn):
                raise validation(f"Invalid arn syntax: {arn}")


def check_tags(tags) -> None:
    if tags is not None and len(tags) > MAX_TAGS:
        raise invalid(f"The collection Tags must not have a size greater than {MAX_TAGS}.")


def _check_period(period: int, where: str) -> None:
    # High-resolution alarms evaluate 10- and 30-second periods; others whole minutes.
    if period not in (10, 30) and period % 60:
        raise validation(f"The value {period} for parameter {where} is not supported. Period must be 10, 30 or a "
                         "multiple of 60.")


def metric_alarm(params: dict, arn: str, now: float) -> dict:
    """The definition of a metric alarm from PutMetricAlarm's params."""
    name = params["AlarmName"]
    metrics = params.get("Metrics")
    single = [k for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period",
                          "Unit") if params.get(k) not in (None, [])]
    comparison = params.get("ComparisonOperator")
    if comparison is None:
        raise AwsError("MissingParameter", "The parameter ComparisonOperator is required.")
    if params.get("EvaluationPeriods") is None:
        raise AwsError("MissingParameter", "The parameter EvaluationPeriods is required.")
    if comparison not in COMPARISONS + BAND_COMPARISONS:
        raise validation(f"1 validation error detected: Value '{comparison}' at 'comparisonOperator' failed to "
                         f"satisfy constraint: Member must satisfy enum value set: "
                         f"[{', '.join(COMPARISONS + BAND_COMPARISONS)}]")
    n = params["EvaluationPeriods"]
    m = params.get("DatapointsToAlarm")
    if m is not None and m > n:
        raise validation("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    treat = params.get("TreatMissingData")
    if treat is not None and treat not in TREAT_MISSING:
        raise validation(f"Option {treat} is not supported. Supported options for parameter TreatMissingData are "
                         "missing, ignore, breaching and notBreaching.")
    low = params.get("EvaluateLowSampleCountPercentile")
    band = comparison in BAND_COMPARISONS
    if metrics:
        if single:
            raise AwsError("InvalidParameterCombination",
                           f"The parameters {single[0]} and Metrics are mutually exclusive and you have specified "
                           "both.")
        period = _check_metrics(metrics, params.get("ThresholdMetricId"), band)
        stat = None
    else:
        for key in ("MetricName", "Namespace", "Period"):
            if params.get(key) is None:
                raise AwsError("MissingParameter", f"The parameter {key} is required.")
        if band:
            raise validation("Comparison operators for band thresholds (LessThanLowerOrGreaterThanUpperThreshold, "
                             "LessThanLowerThreshold, GreaterThanUpperThreshold) are only supported for alarms "
                             "on anomaly detection bands, with Metrics and ThresholdMetricId.")
        has_stat, has_ext = params.get("Statistic") is not None, params.get("ExtendedStatistic") is not None
        if has_stat == has_ext:
            raise AwsError("InvalidParameterCombination",
                           "Exactly one of the Statistic and ExtendedStatistic parameters must be specified.")
        if has_ext and not cwstats.extended(params["ExtendedStatistic"]):
            raise invalid(f"The value {params['ExtendedStatistic']} for parameter ExtendedStatistic is not "
                          "supported.")
        period = params["Period"]
        _check_period(period, "Period")
        stat = params.get("Statistic") or params["ExtendedStatistic"]
        names = set()
        for d in params.get("Dimensions") or []:
            if d["Name"] in names:
                raise invalid(f"No metric may have duplicate dimension names. Found a duplicate of "
                              f"Dimensions.Name: {d['Name']}")
            names.add(d["Name"])
    if band:
        if params.get("Threshold") is not None:
            raise validation("Threshold should not be set when using a band comparison operator.")
    else:
        if params.get("Threshold") is None:
            raise validation("Threshold is required for the comparison operator " + comparison + ".")
        if params.get("ThresholdMetricId") is not None:
            raise validation("ThresholdMetricId is only supported for band comparison operators.")
    if period * n > 86400:
        raise validation("Metrics cannot be checked across more than a day (EvaluationPeriods * Period must be "
                         "<= 86400).")
    if low is not None:
        if low not in LOW_SAMPLE:
            raise validation(f"Option {low} is not supported. Supported options for parameter "
                             "EvaluateLowSampleCountPercentile are evaluate and ignore.")
        if stat is None or not stat.startswith("p"):
            raise validation("EvaluateLowSampleCountPercentile is only supported for percentiles.")
    check_actions(params)
    check_tags(params.get("Tags"))
    alarm = {
        "AlarmName": name, "AlarmArn": arn, "AlarmDescription": params.get("AlarmDescription"),
        "AlarmConfigurationUpdatedTimestamp": now, "ActionsEnabled": params.get("ActionsEnabled", True),
        "OKActions": list(params.get("OKActions") or []), "AlarmActions": list(params.get("AlarmActions") or []),
        "InsufficientDataActions": list(params.get("InsufficientDataActions") or []),
    }
    if metrics:
        alarm["Metrics"] = metrics
        if params.get("ThresholdMetricId"):
            alarm["ThresholdMetricId"] = params["ThresholdMetricId"]
    else:
        alarm["MetricName"] = params["MetricName"]
        alarm["Namespace"] = params["Namespace"]
        if params.get("Statistic"):
            alarm["Statistic"] = params["Statistic"]
        else:
            alarm["ExtendedStatistic"] = params["ExtendedStatistic"]
        alarm["Dimensions"] = list(params.get("Dimensions") or [])
        alarm["Period"] = params["Period"]
        if params.get("Unit"):
            alarm["Unit"] = params["Unit"]
    alarm["EvaluationPeriods"] = n
    if m is not None:
        alarm["DatapointsToAlarm"] = m
    if not band:
        alarm["Threshold"] = float(params["Threshold"])
    alarm["ComparisonOperator"] = comparison
    if treat is not None:
        alarm["TreatMissingData"] = treat
    if low is not None:
        alarm["EvaluateLowSampleCountPercentile"] = low
    return {k: v for k, v in alarm.items() if v is not None}


def _check_metrics(metrics: list, threshold_id: str | None, band: bool) -> int:
    """Checks an alarm's metric-math queries; returns the alarm's period."""
    if len(metrics) > MAX_ALARM_METRICS:
        raise validation(f"The collection Metrics must not have a size greater than {MAX_ALARM_METRICS}.")
    ids = set()
    returning = []
    periods = []
    for i, q in enumerate(metrics, 1):
        where = f"Metrics.member.{i}"
        if not re.match(r"^[a-z][a-zA-Z0-9_]*$", q["Id"]):
            raise validation(f"Invalid metrics list: the value {q['Id']} for parameter {where}.Id is invalid. "
                             "Id must start with a lowercase letter and contain only letters, numbers and "
                             "underscores.")
        if q["Id"] in ids:
            raise validation(f"Invalid metrics list: the value {q['Id']} for parameter {where}.Id is not unique.")
        ids.add(q["Id"])
        if (q.get("MetricStat") is None) == (q.get("Expression") is None):
            raise validation(f"Invalid metrics list: exactly one element of the metrics list should be specified "
                             f"for {where}.")
        if q.get("MetricStat"):
            stat = q["MetricStat"]
            _check_period(stat["Period"], f"{where}.MetricStat.Period")
            if not cwstats.valid(stat["Stat"]):
                raise validation(f"The value {stat['Stat']} for parameter {where}.MetricStat.Stat is invalid.")
            periods.append(stat["Period"])
        elif q.get("Period") is not None:
            _check_period(q["Period"], f"{where}.Period")
            periods.append(q["Period"])
        if q.get("ReturnData", True):
            returning.append(q["Id"])
    if band:
        if not threshold_id:
            raise validation("ThresholdMetricId is required for band comparison operators.")
        if threshold_id not in ids:
            raise validation(f"ThresholdMetricId {threshold_id} does not match any metric id.")
        expr = next(q.get("Expression") or "" for q in metrics if q["Id"] == threshold_id)
        if "ANOMALY_DETECTION_BAND" not in expr:
            raise validation("ThresholdMetricId must refer to an ANOMALY_DETECTION_BAND expression.")
        if len(returning) != 2 or threshold_id not in returning:
            raise validation("Invalid metrics list: an alarm on an anomaly detection band must have exactly two "
                             "metrics with ReturnData set to true: the metric and the band.")
    elif len(returning) != 1:
        raise validation("Invalid metrics list: exactly one element of the metrics list must have ReturnData set "
                         "to true.")
    if not periods:
        raise validation("Invalid metrics list: the alarm must reference a metric or set Period on its expression.")
    return max(periods)


def composite_alarm(params: dict, arn: str, now: float) -> dict:
    check_actions(params)
    check_tags(params.get("Tags"))
    suppressor = params.get("ActionsSuppressor")
    wait, extension = params.get("ActionsSuppressorWaitPeriod"), params.get("ActionsSuppressorExtensionPeriod")
    if suppressor is None and (wait is not None or extension is not None):
        raise validation("ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are only allowed with "
                         "ActionsSuppressor.")
    if suppressor is not None:
        for key, value in (("ActionsSuppressorWaitPeriod", wait), ("ActionsSuppressorExtensionPeriod", extension)):
            if value is None:
                raise validation(f"{key} is required when ActionsSuppressor is specified.")
            if value < 0:
                raise validation(f"The value {value} for parameter {key} is invalid.")
    alarm = {
        "ActionsEnabled": params.get("ActionsEnabled", True),
        "AlarmActions": list(params.get("AlarmActions") or []), "AlarmArn": arn,
        "AlarmConfigurationUpdatedTimestamp": now, "AlarmDescription": params.get("AlarmDescription"),
        "AlarmName": params["AlarmName"], "AlarmRule": params["AlarmRule"],
        "InsufficientDataActions": list(params.get("InsufficientDataActions") or []),
        "OKActions": list(params.get("OKActions") or []),
    }
    if suppressor is not None:
        alarm.update(ActionsSuppressor=suppressor, ActionsSuppressorWaitPeriod=wait,
                     ActionsSuppressorExtensionPeriod=extension)
    return {k: v for k, v in alarm.items() if v is not None}
