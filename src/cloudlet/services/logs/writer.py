"""How another service writes log events into CloudWatch Logs as a
principal (a Lambda function's execution role, an SNS feedback role): the
group and stream made when missing, then PutLogEvents, every call through
the gateway so that principal's permissions decide, as on AWS."""

from __future__ import annotations

from cloudlet.errors import AwsError


async def put_log_events(cloud, principal, account: str, region: str, invoked_by: str, group: str, stream: str,
                         events: list[tuple[int, str]]) -> None:
    """Write (timestamp ms, message) events; raises the AwsError a call met
    (AccessDeniedException when the principal may not)."""
    if not events:
        return
    gateway = cloud.gateway
    common = dict(account_id=account, region=region, invoked_by=invoked_by, principal=principal)
    for operation, params in (("CreateLogGroup", {"logGroupName": group}),
                              ("CreateLogStream", {"logGroupName": group, "logStreamName": stream})):
        try:
            await gateway.call("logs", operation, params, **common)
        except AwsError as err:
            if err.code != "ResourceAlreadyExistsException":
                raise
    await gateway.call("logs", "PutLogEvents", {
        "logGroupName": group, "logStreamName": stream,
        "logEvents": [{"timestamp": ts, "message": message} for ts, message in events]}, **common)
