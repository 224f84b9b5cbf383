"""The alarm operations: PutMetricAlarm, PutCompositeAlarm, DescribeAlarms,
DescribeAlarmsForMetric, DeleteAlarms, SetAlarmState, Enable/
DisableAlarmActions, DescribeAlarmHistory, and tags (alarms are the
taggable resources). Evaluation and state changes: alarmengine.py."""

from __future__ import annotations

import re

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import tokens
from cloudlet.services.cloudwatch import alarmrule, alarmstore, alarmvalidate
from cloudlet.services.cloudwatch.alarmstore import alarm_arn
from cloudlet.services.cloudwatch.store import dims_key

DESCRIBE_PAGE = 50
HISTORY_PAGE = 100
INITIAL_REASON = "Unchecked: Initial alarm creation"
_KIND_KEY = {"MetricAlarm": "MetricAlarms", "CompositeAlarm": "CompositeAlarms"}


def _camel(value):
    """History data names the alarm's fields in lower camel case."""
    if isinstance(value, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel(v) for v in value]
    return value


class AlarmOps:
    """The alarm operations (a mixin of CloudWatchService)."""

    # -- creating and updating -------------------------------------------------

    def PutMetricAlarm(self, ctx, params):
        now = self.clock.now()
        arn = alarm_arn(ctx.account_id, ctx.region, params["AlarmName"])
        cfg = alarmvalidate.metric_alarm(params, arn, now)
        self._put_alarm(ctx, "MetricAlarm", cfg, params.get("Tags"), now)
        if cfg.get("ThresholdMetricId"):
            self._ensure_detector(ctx, cfg)
        return {}

    def _ensure_detector(self, ctx, cfg: dict) -> None:
        """An alarm on an anomaly band creates the detector of the banded
        metric, as AWS does."""
        by_id = {q["Id"]: q for q in cfg["Metrics"]}
        band = by_id[cfg["ThresholdMetricId"]].get("Expression") or ""
        m = re.search(r"ANOMALY_DETECTION_BAND\s*\(\s*([a-z][a-zA-Z0-9_]*)", band)
        if m and m.group(1) in by_id:
            self._lookup(ctx.account_id, ctx.region, by_id[m.group(1)], cfg["Metrics"], True)

    async def PutCompositeAlarm(self, ctx, params):
        now = self.clock.now()
        name = params["AlarmName"]
        try:
            rule = alarmrule.parse(params["AlarmRule"])
        except alarmrule.RuleError as err:
            raise alarmvalidate.validation(str(err)) from None
        refs = rule.alarms()
        missing = []
        for ref in refs:
            child = alarmrule.name_of(ref)
            if ref.startswith("arn:") and not ref.startswith(f"arn:aws:cloudwatch:{ctx.region}:{ctx.account_id}:"):
                missing.append(ref)
            elif alarmstore.load(self.storage, ctx.account_id, ctx.region, child) is None or child == name:
                missing.append(ref)
        if missing:
            raise alarmvalidate.validation(alarmrule.missing_alarms_message(missing))
        self._check_cycle(ctx, name, refs)
        if params.get("ActionsSuppressor") is not None:
            sup = alarmrule.name_of(params["ActionsSuppressor"])
            if alarmstore.load(self.storage, ctx.account_id, ctx.region, sup) is None:
                raise alarmvalidate.validation(f"Could not save the composite alarm as the ActionsSuppressor "
                                               f"{params['ActionsSuppressor']} does not exist")
        cfg = alarmvalidate.composite_alarm(params, alarm_arn(ctx.account_id, ctx.region, name), now)
        self._put_alarm(ctx, "CompositeAlarm", cfg, params.get("Tags"), now)
        alarm = alarmstore.load(self.storage, ctx.account_id, ctx.region, name)
        await self.evaluate_composite(alarm, now)
        return {}

    def _check_cycle(self, ctx, name: str, refs: list) -> None:
        """A composite alarm may not depend on itself through other composites."""
        stack = [alarmrule.name_of(r) for r in refs]
        seen = set()
        while stack:
            current = stack.pop()
            if current == name:
                raise alarmvalidate.validation("Could not save the composite alarm as it would create a cycle "
                                               "in the alarm rule.")
            if current in seen:
                continue
            seen.add(current)
            child = alarmstore.load(self.storage, ctx.account_id, ctx.region, current)
            if child is not None and child.kind == "CompositeAlarm":
                try:
                    stack.extend(alarmrule.name_of(r) for r in self.rule(child.cfg["AlarmRule"]).alarms())
                except alarmrule.RuleError:
                    pass

    def _put_alarm(self, ctx, kind: str, cfg: dict, tags, now: float) -> None:
        name = cfg["AlarmName"]
        storage = self.storage
        key = (ctx.account_id, ctx.region, name)
        with storage.tx():
            existing = alarmstore.load(storage, *key)
            if existing is None:
                alarmstore.insert(storage, ctx.account_id, ctx.region, name, kind, cfg, "INSUFFICIENT_DATA",
                                  INITIAL_REASON, now)
                for tag in tags or []:
                    storage.execute("INSERT OR REPLACE INTO cloudwatch_tags (arn, key, value) VALUES (?, ?, ?)",
                                    (cfg["AlarmArn"], tag["Key"], tag["Value"]))
                alarmstore.add_history(storage, key, kind, now, "ConfigurationUpdate", f'Alarm "{name}" created',
                                       {"version": "1.0", "type": "Create", "createdAlarm": _camel(cfg)})
            else:
                if existing.kind != kind:
                    raise alarmvalidate.validation(
                        f"The alarm {name} already exists as a {existing.kind.replace('Alarm', '').lower()} alarm.")
                # An update keeps the state and ignores Tags (PutMetricAlarm's documentation).
                original = existing.cfg
                existing.cfg = cfg
                alarmstore.save_config(storage, existing)
                alarmstore.add_history(storage, key, kind, now, "ConfigurationUpdate", f'Alarm "{name}" updated',
                                       {"version": "1.0", "type": "Update", "updatedAlarm": _camel(cfg),
                                        "originalAlarm": _camel(original)})
        if kind == "MetricAlarm":
            self.mark_evaluated(alarmstore.load(storage, *key))

    # -- reading -------------------------------------------------------------------

    def DescribeAlarms(self, ctx, params):
        children_of, parents_of = params.get("ChildrenOfAlarmName"), params.get("ParentsOfAlarmName")
        if children_of and parents_of:
            raise AwsError("InvalidParameterCombination",
                           "ChildrenOfAlarmName and ParentsOfAlarmName cannot be specified together.")
        if (children_of or parents_of) and any(params.get(k) for k in (
                "AlarmNames", "AlarmNamePrefix", "AlarmTypes", "StateValue", "ActionPrefix")):
            which = "ChildrenOfAlarmName" if children_of else "ParentsOfAlarmName"
            raise AwsError("InvalidParameterCombination",
                           f"If {which} is specified, only MaxRecords and NextToken may also be specified.")
        if params.get("AlarmNames") and params.get("AlarmNamePrefix"):
            raise AwsError("InvalidParameterCombination",
                           "AlarmNames and AlarmNamePrefix cannot be specified together.")
        alarms = alarmstore.load_all(self.storage, ctx.account_id, ctx.region)
        if children_of:
            parent = next((a for a in alarms if a.name == children_of), None)
            names = set()
            if parent is not None and parent.kind == "CompositeAlarm":
                names = {alarmrule.name_of(r) for r in self.rule(parent.cfg["AlarmRule"]).alarms()}
            alarms = [a for a in alarms if a.name in names]
        elif parents_of:
            alarms = [a for a in alarms if a.kind == "CompositeAlarm" and parents_of in
                      {alarmrule.name_of(r) for r in self.rule(a.cfg["AlarmRule"]).alarms()}]
        else:
            kinds = params.get("AlarmTypes") or ["MetricAlarm"]
            alarms = [a for a in alarms if a.kind in kinds]
            if params.get("AlarmNames"):
                wanted = set(params["AlarmNames"])
                alarms = [a for a in alarms if a.name in wanted]
            if params.get("AlarmNamePrefix"):
                alarms = [a for a in alarms if a.name.startswith(params["AlarmNamePrefix"])]
            if params.get("StateValue"):
                alarms = [a for a in alarms if a.state == params["StateValue"]]
            if params.get("ActionPrefix"):
                prefix = params["ActionPrefix"]
                alarms = [a for a in alarms if any(
                    arn.startswith(prefix) for key in ("OKActions", "AlarmActions", "InsufficientDataActions")
                    for arn in a.cfg.get(key) or [])]
        if params.get("NextToken"):
            after = tokens.decode(params["NextToken"])
            alarms = [a for a in alarms if a.name > after]
        page = params.get("MaxRecords") or DESCRIBE_PAGE
        out: dict = {"MetricAlarms": [], "CompositeAlarms": []}
        for alarm in alarms[:page]:
            out[_KIND_KEY[alarm.kind]].append(alarm.describe())
        if len(alarms) > page:
            out["NextToken"] = tokens.encode(alarms[page - 1].name)
        return out

    def DescribeAlarmsForMetric(self, ctx, params):
        wanted_dims = dims_key(params.get("Dimensions"))
        out = []
        for alarm in alarmstore.load_all(self.storage, ctx.account_id, ctx.region, kind="MetricAlarm"):
            cfg = alarm.cfg
            stats = []
            if "Metrics" in cfg:
                stats = [q["MetricStat"] for q in cfg["Metrics"] if q.get("MetricStat")]
            else:
                stats = [{"Metric": {"Namespace": cfg["Namespace"], "MetricName": cfg["MetricName"],
                                     "Dimensions": cfg.get("Dimensions")},
                          "Period": cfg["Period"], "Stat": cfg.get("Statistic") or cfg.get("ExtendedStatistic"),
                          "Unit": cfg.get("Unit")}]
            for stat in stats:
                metric = stat["Metric"]
                if metric.get("Namespace") != params["Namespace"] or metric.get("MetricName") != params["MetricName"]:
                    continue
                if params.get("Dimensions") is not None and dims_key(metric.get("Dimensions")) != wanted_dims:
                    continue
                wanted_stat = params.get("Statistic") or params.get("ExtendedStatistic")
                if wanted_stat and stat["Stat"] != wanted_stat:
                    continue
                if params.get("Period") and stat["Period"] != params["Period"]:
                    continue
                if params.get("Unit") and stat.get("Unit") != params["Unit"]:
                    continue
                out.append(alarm.describe())
                break
        return {"MetricAlarms": out}

    def DescribeAlarmHistory(self, ctx, params):
        sql = ("SELECT id, alarm_name, alarm_type, ts, item_type, summary, data FROM cloudwatch_alarm_history "
               "WHERE account = ? AND region = ? AND ts >= ?")
        args: list = [ctx.account_id, ctx.region, self.clock.now() - alarmstore.HISTORY_DAYS * 86400]
        if params.get("AlarmName"):
            sql += " AND alarm_name = ?"
            args.append(params["AlarmName"])
        kinds = params.get("AlarmTypes") or ["MetricAlarm"]
        sql += f" AND alarm_type IN ({', '.join('?' * len(kinds))})"
        args += kinds
        if params.get("HistoryItemType"):
            sql += " AND item_type = ?"
            args.append(params["HistoryItemType"])
        if params.get("StartDate") is not None:
            sql += " AND ts >= ?"
            args.append(params["StartDate"])
        if params.get("EndDate") is not None:
            sql += " AND ts <= ?"
            args.append(params["EndDate"])
        descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        if params.get("NextToken"):
            after = tokens.decode(params["NextToken"], int)
            sql += " AND id < ?" if descending else " AND id > ?"
            args.append(after)
        page = params.get("MaxRecords") or HISTORY_PAGE
        sql += f" ORDER BY ts {'DESC' if descending else 'ASC'}, id {'DESC' if descending else 'ASC'} LIMIT ?"
        args.append(page + 1)
        rows = self.storage.all(sql, args)
        items = [{"AlarmName": name, "AlarmType": kind, "Timestamp": ts, "HistoryItemType": item,
                  "HistorySummary": summary, "HistoryData": data}
                 for _id, name, kind, ts, item, summary, data in rows[:page]]
        out = {"AlarmHistoryItems": items}
        if len(rows) > page:
            out["NextToken"] = tokens.encode(rows[page - 1][0])
        return out

    # -- changing ------------------------------------------------------------------

    def DeleteAlarms(self, ctx, params):
        names = params["AlarmNames"]
        storage = self.storage
        found = [a for a in (alarmstore.load(storage, ctx.account_id, ctx.region, n) for n in dict.fromkeys(names))
                 if a is not None]
        if sum(1 for a in found if a.kind == "CompositeAlarm") > 1:
            raise alarmvalidate.validation("You can delete at most one composite alarm in one DeleteAlarms "
                                           "operation.")
        deleting = {a.name for a in found}
        for parent in alarmstore.load_all(storage, ctx.account_id, ctx.region, kind="CompositeAlarm"):
            if parent.name in deleting:
                continue
            refs = {alarmrule.name_of(r) for r in self.rule(parent.cfg["AlarmRule"]).alarms()}
            if parent.cfg.get("ActionsSuppressor"):
                refs.add(alarmrule.name_of(parent.cfg["ActionsSuppressor"]))
            blocked = sorted(refs & deleting)
            if blocked:
                raise AwsError("ResourceConflict",
                               f"The alarm {blocked[0]} cannot be deleted because the composite alarm "
                               f"{parent.name} depends on it.")
        now = self.clock.now()
        with storage.tx():
            for alarm in found:
                alarmstore.delete(storage, alarm.account, alarm.region, alarm.name)
                storage.execute("DELETE FROM cloudwatch_tags WHERE arn = ?", (alarm.arn,))
                alarmstore.add_history(storage, (alarm.account, alarm.region, alarm.name), alarm.kind, now,
                                       "ConfigurationUpdate", f'Alarm "{alarm.name}" deleted',
                                       {"version": "1.0", "type": "Delete", "deletedAlarm": _camel(alarm.cfg)})
                self.forget_alarm(alarm.account, alarm.region, alarm.name)
        return {}

    async def SetAlarmState(self, ctx, params):
        alarm = alarmstore.load(self.storage, ctx.account_id, ctx.region, params["AlarmName"])
        if alarm is None:
            raise AwsError("ResourceNotFound", f"Alarm {params['AlarmName']} not found")
        data = params.get("StateReasonData")
        if data is not None:
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                raise AwsError("InvalidFormat", "StateReasonData is not valid JSON.") from None
        await self.set_state(alarm, params["StateValue"], params["StateReason"], data, self.clock.now())
        return {}

    def EnableAlarmActions(self, ctx, params):
        return self._set_actions_enabled(ctx, params["AlarmNames"], True)

    def DisableAlarmActions(self, ctx, params):
        return self._set_actions_enabled(ctx, params["AlarmNames"], False)

    def _set_actions_enabled(self, ctx, names, enabled: bool):
        with self.storage.tx():
            for name in names:
                alarm = alarmstore.load(self.storage, ctx.account_id, ctx.region, name)
                if alarm is not None and alarm.cfg.get("ActionsEnabled", True) != enabled:
                    alarm.cfg["ActionsEnabled"] = enabled
                    alarmstore.save_config(self.storage, alarm)
        return {}

    # -- tags ---------------------------------------------------------------------------

    _ALARM_ARN = re.compile(r"^arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):(\d{12}):alarm:(.+)$")

    def _tagged(self, ctx, arn: str) -> str:
        m = self._ALARM_ARN.match(arn)
        if m is None:
            if re.match(r"^arn:aws[a-z-]*:cloudwatch:[a-z0-9-]+:\d{12}:insight-rule/.+$", arn):
                raise AwsError("ResourceNotFoundException", f"Unknown resource: {arn}")
            raise AwsError("InvalidParameterValue", f"Invalid value for parameter ResourceARN: {arn}")
        region, account, name = m.groups()
        if (region, account) != (ctx.region, ctx.account_id) or alarmstore.load(
                self.storage, account, region, name) is None:
            raise AwsError("ResourceNotFoundException", f"Alarm {name} does not exist.")
        return arn

    def ListTagsForResource(self, ctx, params):
        arn = self._tagged(ctx, params["ResourceARN"])
        rows = self.storage.all("SELECT key, value FROM cloudwatch_tags WHERE arn = ? ORDER BY key", (arn,))
        return {"Tags": [{"Key": k, "Value": v} for k, v in rows]}

    def TagResource(self, ctx, params):
        arn = self._tagged(ctx, params["ResourceARN"])
        have = {k for (k,) in self.storage.all("SELECT key FROM cloudwatch_tags WHERE arn = ?", (arn,))}
        if len(have | {t["Key"] for t in params["Tags"]}) > alarmvalidate.MAX_TAGS:
            raise AwsError("InvalidParameterValue", "The resource has too many tags: at most 50 are allowed.")
        with self.storage.tx():
            for tag in params["Tags"]:
                self.storage.execute("INSERT OR REPLACE INTO cloudwatch_tags (arn, key, value) VALUES (?, ?, ?)",
                                     (arn, tag["Key"], tag["Value"]))
        return {}

    def UntagResource(self, ctx, params):
        arn = self._tagged(ctx, params["ResourceARN"])
        with self.storage.tx():
            for key in params["TagKeys"]:
                self.storage.execute("DELETE FROM cloudwatch_tags WHERE arn = ? AND key = ?", (arn, key))
        return {}
