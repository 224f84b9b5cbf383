"""Amazon CloudWatch, composed of one mixin per area: metrics (metrics.py).
Every area keeps its state in the `cloudwatch_*` tables (store.py)."""

from __future__ import annotations

from cloudlet.services.base import Service
from cloudlet.services.cloudwatch.metrics import MetricOps
from cloudlet.services.cloudwatch.store import MIGRATIONS


class CloudWatchService(MetricOps, Service):
    model_name = "cloudwatch"
    migrations = MIGRATIONS

    def start(self) -> None:
        self.sink = self.cloud.metrics
        self.sink._ready = True  # the tables exist: app.service migrated them

    def reset(self) -> None:
        self.cloud.metrics.reset()
