"""Roles an AWS service assumes to act in the customer's account: CloudTrail
writing to CloudWatch Logs, SNS logging delivery status, Scheduler calling
a target. The service calls STS AssumeRole as its service principal (so the
role's trust policy decides, with aws:SourceArn / aws:SourceAccount naming
what it acts for), then acts with the session's principal: the role's
policies decide what it may do, as on AWS.

Sessions are kept until five minutes before they expire (AWS's services
reuse theirs too), per (role, source).

Handing a service a role is itself authorized: `require_pass_role` is the
iam:PassRole check AWS makes on the caller (with iam:PassedToService and
iam:AssociatedResourceArn), so a user who may create a function but not
pass its role is refused, as on AWS.
"""

from __future__ import annotations

from cloudlet.gateway.identity import IssuedKeys


class ServiceRoles:
    def __init__(self, cloud, service_principal: str, session_name: str):
        self.cloud = cloud
        self.service_principal = service_principal
        self.session_name = session_name
        self._sessions: dict = {}

    def principal(self, role_arn: str, account: str, region: str, source_arn: str, fresh: bool = False):
        """The principal of a session of `role_arn`; raises the AwsError
        AssumeRole answers (AccessDenied when the trust policy says no)."""
        key = (role_arn, source_arn)
        now = self.cloud.clock.now()
        found = self._sessions.get(key)
        if found is not None and not fresh and found[1] - now > 300:
            return found[0]
        out = self.cloud.gateway.call_sync(
            "sts", "AssumeRole", {"RoleArn": role_arn, "RoleSessionName": self.session_name},
            account_id=account, region=region, invoked_by=self.service_principal, source_arn=source_arn,
            source_account=account)
        creds = out["Credentials"]
        principal = IssuedKeys(self.cloud).lookup(creds["AccessKeyId"]).principal
        if len(self._sessions) > 1000:
            self._sessions.clear()
        self._sessions[key] = (principal, float(creds["Expiration"]))
        return principal

    def forget(self, source_arn: str | None = None) -> None:
        for key in [k for k in self._sessions if source_arn is None or k[1] == source_arn]:
            del self._sessions[key]


def require_pass_role(cloud, ctx, service, params: dict, role_arn: str | None, passed_to: str,
                      associated: str | None = None) -> None:
    """Raise the service's AccessDenied unless the caller may pass
    `role_arn` to `passed_to` (the root user may, in its own account)."""
    principal = ctx.principal
    if not role_arn or principal.type == "AWSService":
        return
    if principal.is_root and role_arn.split(":")[4:5] == [principal.account_id]:
        return
    keys = {"iam:PassedToService": passed_to}
    if associated:
        keys["iam:AssociatedResourceArn"] = associated
    ctx.extra["condition_keys"] = keys
    try:
        cloud.authorizer.require(ctx, service, ctx.op_model, params, "iam:PassRole", role_arn, None)
    finally:
        ctx.extra.pop("condition_keys", None)
