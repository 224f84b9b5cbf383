"""Alarms on cloudlet's clock: the `cloudwatch-alarms` job evaluates every
metric alarm each minute (every 10 seconds for 10- and 30-second periods)
with AWS's semantics (evaluation.py), and every state change goes through
`set_state`: history, actions (alarmactions.py), the parents of the alarm
(composite alarms re-evaluated at once) and the composite alarms it
suppresses.

A clock moved forward by several minutes replays the missed evaluation
times, up to MAX_REPLAY of them per alarm, so that an alarm that went to
ALARM and back within the jump notifies both, as on AWS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.cloudwatch import alarmactions, alarmrule, alarmstore, evaluation
from cloudlet.services.cloudwatch.alarmactions import iso_millis

log = logging.getLogger("cloudlet.cloudwatch")

TICK = 10
MAX_REPLAY = 60


def _interval(alarm) -> int:
    return TICK if alarm_period(alarm.cfg) < 60 else 60


def alarm_period(cfg: dict) -> int:
    if "Period" in cfg:
        return cfg["Period"]
    return max((q.get("MetricStat") or {}).get("Period") or q.get("Period") or 0 for q in cfg["Metrics"])


def _long_time(ts: float) -> str:
    """'Friday 04 August, 2023 12:54:46 UTC': how a composite alarm's reason
    names the time its child transitioned."""
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%A %d %B, %Y %H:%M:%S UTC")


class AlarmEngine:
    """Evaluation and state changes (a mixin of CloudWatchService)."""

    def start_alarms(self) -> None:
        self._last_eval: dict = {}
        self._rules: dict = {}
        now = self.clock.now()
        self.cloud.scheduler.every("cloudwatch-alarms", TICK, self.evaluate_alarms,
                                   first_run=math.floor(now / TICK) * TICK + TICK)

    def mark_evaluated(self, alarm) -> None:
        """A new or updated alarm is first evaluated at the next boundary."""
        step = _interval(alarm)
        self._last_eval[(alarm.account, alarm.region, alarm.name)] = math.floor(self.clock.now() / step) * step

    def forget_alarm(self, account, region, name) -> None:
        self._last_eval.pop((account, region, name), None)

    def rule(self, text: str):
        parsed = self._rules.get(text)
        if parsed is None:
            if len(self._rules) > 10_000:
                self._rules.clear()
            parsed = self._rules[text] = alarmrule.parse(text)
        return parsed

    # -- the job ------------------------------------------------------------

    async def evaluate_alarms(self, now: float) -> None:
        for i, alarm in enumerate(alarmstore.load_all(self.storage, kind="MetricAlarm")):
            if i % 100 == 99:
                await asyncio.sleep(0)  # thousands of alarms: let requests in between
            step = _interval(alarm)
            boundary = math.floor(now / step) * step
            key = (alarm.account, alarm.region, alarm.name)
            last = self._last_eval.get(key, boundary - step)
            if boundary <= last:
                continue
            first = max(last + step, boundary - (MAX_REPLAY - 1) * step)
            self._last_eval[key] = boundary
            t = first
            while t <= boundary:  # set_state keeps `alarm` current between replayed times
                await self.evaluate_metric_alarm(alarm, t)
                t += step
        await self._run_due_suppressed(now)
        if int(now) % 3600 < TICK:
            alarmstore.expire_history(self.storage, now)

    def alarm_spec(self, cfg: dict) -> evaluation.AlarmSpec:
        n = cfg["EvaluationPeriods"]
        return evaluation.AlarmSpec(
            period=alarm_period(cfg), evaluation_periods=n, datapoints_to_alarm=cfg.get("DatapointsToAlarm", n),
            comparison=cfg["ComparisonOperator"], threshold=cfg.get("Threshold"),
            treat_missing=cfg.get("TreatMissingData", "missing"),
            statistic=cfg.get("Statistic") or cfg.get("ExtendedStatistic"),
            evaluate_low_sample_count_percentile=cfg.get("EvaluateLowSampleCountPercentile"),
            unit=cfg.get("Unit"), datapoints_to_alarm_given="DatapointsToAlarm" in cfg)

    def alarm_points(self, alarm, spec, start: float, end: float) -> list:
        cfg = alarm.cfg
        if "Metrics" not in cfg:
            metric = {"Namespace": cfg["Namespace"], "MetricName": cfg["MetricName"],
                      "Dimensions": cfg.get("Dimensions") or []}
            stat = spec.statistic
            series = self.stat_series(alarm.account, alarm.region, metric, spec.period, stat, start, end,
                                      cfg.get("Unit"))
            counts = {}
            if stat.startswith("p") or cfg.get("EvaluateLowSampleCountPercentile"):
                counts = dict(self.stat_series(alarm.account, alarm.region, metric, spec.period, "SampleCount",
                                               start, end, cfg.get("Unit")))
            return [evaluation.Point(ts, v, counts.get(ts)) for ts, v in series]
        results = self.run_queries(alarm.account, alarm.region, cfg["Metrics"], start, end)
        band_id = cfg.get("ThresholdMetricId")
        value = next(r for r in results if r["ReturnData"] and r["Id"] != band_id)
        if band_id is None:
            return [evaluation.Point(ts, v) for ts, v in zip(value["Timestamps"], value["Values"])]
        band = next(r for r in results if r["Id"] == band_id)
        bounds = {ts: (lo, hi) for ts, lo, hi in zip(band["Timestamps"], band["Lower"], band["Upper"])}
        points = []
        for ts, v in zip(value["Timestamps"], value["Values"]):
            lo, hi = bounds.get(ts, (None, None))
            points.append(evaluation.Point(ts, v, None, lo, hi))
        return points

    async def evaluate_metric_alarm(self, alarm, t: float) -> None:
        spec = self.alarm_spec(alarm.cfg)
        start, end = evaluation.evaluation_window(spec, t)
        try:
            points = self.alarm_points(alarm, spec, start, end)
        except AwsError as err:  # e.g. an expression that fails on this data
            log.info("alarm %s could not be evaluated: %s", alarm.name, err.message)
            return
        outcome = evaluation.evaluate(spec, points, t, alarm.state)
        if outcome is None or outcome.state == alarm.state:
            return
        await self.set_state(alarm, outcome.state, outcome.reason,
                             orjson.dumps(outcome.reason_data).decode(), t)

    # -- state changes ----------------------------------------------------------

    async def set_state(self, alarm, new: str, reason: str, reason_data: str | None, when: float, *,
                        children: list | None = None, _seen: set | None = None) -> None:
        old = alarm.state
        old_reason, old_reason_data, old_when = alarm.reason, alarm.reason_data, alarm.state_updated
        alarm.state, alarm.reason, alarm.reason_data, alarm.state_updated = new, reason, reason_data, when
        changed = new != old
        if changed:
            alarm.state_transitioned = when
            if alarm.kind == "CompositeAlarm":
                alarm.memory = None  # a pending suppressed action belongs to the old state
        key = (alarm.account, alarm.region, alarm.name)
        with self.storage.tx():
            alarmstore.save_state(self.storage, alarm)
            if changed:
                new_state = {"stateValue": new, "stateReason": reason}
                if reason_data:
                    new_state["stateReasonData"] = orjson.loads(reason_data)
                alarmstore.add_history(self.storage, key, alarm.kind, when, "StateUpdate",
                                       f"Alarm updated from {old} to {new}",
                                       {"version": "1.0", "oldState": {"stateValue": old, "stateReason": old_reason},
                                        "newState": new_state})
        if not changed:
            return
        if alarm.cfg.get("ActionsEnabled", True):
            if alarm.kind == "CompositeAlarm" and alarm.cfg.get("ActionsSuppressor"):
                await self._suppress_or_act(alarm, old, when, children)
            else:
                await self._act(alarm, old, when, children)
        await self.state_change_event(alarm, old, old_reason, old_reason_data, old_when, when)
        await self._propagate(alarm, when, _seen or set())

    async def _act(self, alarm, old: str, when: float, children: list | None) -> None:
        items = await alarmactions.run(self.cloud.gateway, alarm.cfg, alarm.kind, alarm.account, alarm.region, old,
                                       alarm.state, alarm.reason, when, children)
        if items:
            key = (alarm.account, alarm.region, alarm.name)
            with self.storage.tx():
                for summary, data in items:
                    alarmstore.add_history(self.storage, key, alarm.kind, when, "Action", summary, data)

    async def state_change_event(self, alarm, old: str, old_reason, old_reason_data, old_when, when: float) -> None:
        """The "CloudWatch Alarm State Change" event onto the account's
        default EventBridge bus (when EventBridge is running)."""
        events = self.cloud.running_service("events")
        if events is None:
            return
        from cloudlet.services.events.sources import alarm_state_change

        await alarm_state_change(events, alarm, old, old_reason, old_reason_data, old_when, when)

    # -- composite alarms ----------------------------------------------------------

    async def _propagate(self, child, when: float, seen: set) -> None:
        """Re-evaluates the composite alarms whose rule names `child`, and
        updates the suppression of those it is the suppressor of."""
        seen.add(child.name)
        for parent in alarmstore.load_all(self.storage, child.account, child.region, kind="CompositeAlarm"):
            cfg = parent.cfg
            suppressor = cfg.get("ActionsSuppressor")
            if suppressor and alarmrule.name_of(suppressor) == child.name:
                await self._suppressor_changed(parent, child, when)
                parent = alarmstore.load(self.storage, parent.account, parent.region, parent.name)
            if parent.name in seen:
                continue  # a cycle: AWS stops evaluating it too
            try:
                refs = self.rule(cfg["AlarmRule"]).alarms()
            except alarmrule.RuleError:
                continue
            if any(alarmrule.name_of(r) == child.name for r in refs):
                await self.evaluate_composite(parent, when, trigger=child, seen=seen)

    async def evaluate_composite(self, alarm, when: float, trigger=None, seen: set | None = None) -> None:
        rule = self.rule(alarm.cfg["AlarmRule"])
        children: dict = {}

        def state_of(ref: str) -> str:
            name = alarmrule.name_of(ref)
            if name not in children:
                children[name] = alarmstore.load(self.storage, alarm.account, alarm.region, name)
            found = children[name]
            return found.state if found is not None else "INSUFFICIENT_DATA"

        new = "ALARM" if rule.evaluate(state_of) else "OK"
        if new == alarm.state:
            return
        known = [c for c in children.values() if c is not None]
        if trigger is None or trigger.name not in children:
            trigger = max(known, key=lambda c: c.state_transitioned, default=None)
        if trigger is not None:
            reason = f"{trigger.arn} transitioned to {trigger.state} at {_long_time(trigger.state_transitioned)}"
            triggering = [{"arn": trigger.arn, "state": {"value": trigger.state,
                                                         "timestamp": iso_millis(trigger.state_transitioned)}}]
            notified = [{"Arn": trigger.arn, "State": {"Value": trigger.state,
                                                       "Timestamp": iso_millis(trigger.state_transitioned)}}]
        else:
            reason = f"The alarm rule evaluated to {new == 'ALARM'}"
            triggering, notified = [], []
        data = orjson.dumps({"triggeringAlarms": triggering}).decode()
        await self.set_state(alarm, new, reason, data, when, children=notified, _seen=seen)

    async def _suppress_or_act(self, alarm, old: str, when: float, children) -> None:
        """A composite alarm with an ActionsSuppressor: act now, or hold the
        actions while the suppressor is in ALARM (or may still go there
        within the wait period)."""
        cfg = alarm.cfg
        suppressor = alarmstore.load(self.storage, alarm.account, alarm.region,
                                     alarmrule.name_of(cfg["ActionsSuppressor"]))
        pending = {"state": alarm.state, "old": old, "when": when, "children": children}
        if suppressor is not None and suppressor.state == "ALARM":
            alarm.memory = dict(pending, by="Alarm")
        elif cfg.get("ActionsSuppressorWaitPeriod", 0) > 0:
            alarm.memory = dict(pending, by="WaitPeriod", until=when + cfg["ActionsSuppressorWaitPeriod"])
        else:
            await self._act(alarm, old, when, children)
            return
        alarmstore.save_state(self.storage, alarm)

    async def _suppressor_changed(self, alarm, suppressor, when: float) -> None:
        memory = alarm.memory
        if not memory or memory.get("state") != alarm.state:
            return
        if suppressor.state == "ALARM":
            memory["by"] = "Alarm"
            memory.pop("until", None)
        elif memory["by"] == "Alarm":
            extension = alarm.cfg.get("ActionsSuppressorExtensionPeriod", 0)
            memory["by"] = "ExtensionPeriod"
            memory["until"] = when + extension
        else:
            return
        alarmstore.save_state(self.storage, alarm)
        if memory.get("until") is not None and memory["until"] <= when:
            await self._release(alarm, when)

    async def _run_due_suppressed(self, now: float) -> None:
        for alarm in alarmstore.load_all(self.storage, kind="CompositeAlarm"):
            memory = alarm.memory
            if memory and memory.get("until") is not None and memory["until"] <= now:
                await self._release(alarm, now)

    async def _release(self, alarm, now: float) -> None:
        """The wait or extension period ran out with the suppressor not in
        ALARM: the held actions run."""
        memory = alarm.memory
        alarm.memory = None
        alarmstore.save_state(self.storage, alarm)
        if memory.get("state") == alarm.state and alarm.cfg.get("ActionsEnabled", True):
            await self._act(alarm, memory["old"], now, memory.get("children"))
