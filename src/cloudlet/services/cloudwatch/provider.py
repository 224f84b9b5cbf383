"""Amazon CloudWatch, composed of one mixin per area: metrics (metrics.py),
alarms (alarms.py, evaluated by alarmengine.py), dashboards (dashboards.py),
anomaly detectors (anomaly.py). Every area keeps its state in the
`cloudwatch_*` tables (store.py)."""

from __future__ import annotations

from cloudlet.services.base import Service
from cloudlet.services.cloudwatch.alarmengine import AlarmEngine
from cloudlet.services.cloudwatch.alarms import AlarmOps
from cloudlet.services.cloudwatch.anomaly import AnomalyOps
from cloudlet.services.cloudwatch.dashboards import DashboardOps
from cloudlet.services.cloudwatch.metrics import MetricOps
from cloudlet.services.cloudwatch.store import MIGRATIONS


class CloudWatchService(MetricOps, AlarmOps, AlarmEngine, DashboardOps, AnomalyOps, Service):
    model_name = "cloudwatch"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.sink = self.cloud.metrics
        self.sink._ready = True  # the tables exist: app.service migrated them
        __import__("cloudlet.services.cloudwatch.retention", fromlist=["start"]).start(self)  # hourly roll-ups
        self.start_alarms()

    def reset(self) -> None:
        self.cloud.metrics.reset()
        self._last_eval.clear()
