"""AWS Security Token Service."""

from __future__ import annotations

from cloudlet.gateway.context import RequestContext
from cloudlet.services.base import Service


class StsService(Service):
    model_name = "sts"

    def GetCallerIdentity(self, ctx: RequestContext, params: dict) -> dict:
        p = ctx.principal
        return {"UserId": p.user_id, "Account": p.account_id, "Arn": p.arn}
