"""Alarms as rows: loading, saving and the history table.

An alarm's definition is kept as the JSON DescribeAlarms returns (minus
the state fields, which are columns); `memory` holds what the engine keeps
between evaluations (a composite alarm's suppressed actions).
"""

from __future__ import annotations

import orjson

HISTORY_DAYS = 30  # CloudWatch keeps alarm history for 30 days

_COLUMNS = "account, region, name, kind, config, state, reason, reason_data, state_updated, state_transitioned, memory"


class Alarm:
    __slots__ = ("account", "region", "name", "kind", "cfg", "state", "reason", "reason_data", "state_updated",
                 "state_transitioned", "memory")

    def __init__(self, row):
        (self.account, self.region, self.name, self.kind, cfg, self.state, self.reason, self.reason_data,
         self.state_updated, self.state_transitioned, memory) = row
        self.cfg = orjson.loads(cfg)
        self.memory = orjson.loads(memory) if memory else None

    @property
    def arn(self) -> str:
        return self.cfg["AlarmArn"]

    def describe(self) -> dict:
        out = dict(self.cfg)
        out.update(StateValue=self.state, StateReason=self.reason, StateUpdatedTimestamp=self.state_updated,
                   StateTransitionedTimestamp=self.state_transitioned)
        if self.reason_data is not None:
            out["StateReasonData"] = self.reason_data
        if self.kind == "CompositeAlarm" and self.memory and self.memory.get("by"):
            out["ActionsSuppressedBy"] = self.memory["by"]
            out["ActionsSuppressedReason"] = f"Actions suppressed by {self.memory['by']}"
        return out


def alarm_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:cloudwatch:{region}:{account}:alarm:{name}"


def load(storage, account: str, region: str, name: str) -> Alarm | None:
    row = storage.one(f"SELECT {_COLUMNS} FROM cloudwatch_alarms WHERE account = ? AND region = ? AND name = ?",
                      (account, region, name))
    return Alarm(row) if row else None


def load_all(storage, account: str | None = None, region: str | None = None, kind: str | None = None) -> list:
    sql = f"SELECT {_COLUMNS} FROM cloudwatch_alarms WHERE 1 = 1"
    args: list = []
    if account is not None:
        sql += " AND account = ? AND region = ?"
        args += [account, region]
    if kind is not None:
        sql += " AND kind = ?"
        args.append(kind)
    return [Alarm(r) for r in storage.all(sql + " ORDER BY name", args)]


def insert(storage, account, region, name, kind, cfg, state, reason, when) -> None:
    storage.execute(
        f"INSERT INTO cloudwatch_alarms ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL)",
        (account, region, name, kind, orjson.dumps(cfg).decode(), state, reason, when, when))


def save_config(storage, alarm: Alarm) -> None:
    storage.execute("UPDATE cloudwatch_alarms SET config = ?, kind = ? WHERE account = ? AND region = ? AND name = ?",
                    (orjson.dumps(alarm.cfg).decode(), alarm.kind, alarm.account, alarm.region, alarm.name))


def save_state(storage, alarm: Alarm) -> None:
    storage.execute(
        "UPDATE cloudwatch_alarms SET state = ?, reason = ?, reason_data = ?, state_updated = ?, "
        "state_transitioned = ?, memory = ? WHERE account = ? AND region = ? AND name = ?",
        (alarm.state, alarm.reason, alarm.reason_data, alarm.state_updated, alarm.state_transitioned,
         orjson.dumps(alarm.memory).decode() if alarm.memory else None, alarm.account, alarm.region, alarm.name))


def delete(storage, account, region, name) -> None:
    storage.execute("DELETE FROM cloudwatch_alarms WHERE account = ? AND region = ? AND name = ?",
                    (account, region, name))


def add_history(storage, alarm_or_key, kind: str, when: float, item_type: str, summary: str, data) -> None:
    account, region, name = alarm_or_key
    storage.execute(
        "INSERT INTO cloudwatch_alarm_history (account, region, alarm_name, alarm_type, ts, item_type, summary, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (account, region, name, kind, when, item_type, summary,
         data if isinstance(data, str) else orjson.dumps(data).decode()))


def expire_history(storage, now: float) -> None:
    storage.execute("DELETE FROM cloudwatch_alarm_history WHERE ts < ?", (now - HISTORY_DAYS * 86400,))
