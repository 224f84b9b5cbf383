"""RequestContext: what every operation handler is told about its call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cloudlet.gateway.auth import Principal
from cloudlet.protocol.http import HttpRequest

if TYPE_CHECKING:  # pragma: no cover
    from cloudlet.app import Cloudlet
    from cloudlet.protocol.model import OperationModel


@dataclass(slots=True)
class RequestContext:
    request_id: str
    account_id: str
    region: str
    principal: Principal
    service: str
    operation: str
    protocol: str
    request: HttpRequest
    cloud: "Cloudlet"
    op_model: "OperationModel | None" = None
    access_key: str | None = None
    user_agent: str = ""
    source_ip: str = "127.0.0.1"
    # Set for calls one service makes to another (e.g. "sns.amazonaws.com").
    invoked_by: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def clock(self):
        return self.cloud.clock

    def now(self) -> float:
        return self.cloud.clock.now()
