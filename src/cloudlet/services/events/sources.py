"""Events other services put on an account's default bus, in the shapes
the EventBridge and service guides document:

- "AWS API Call via CloudTrail" (source aws.<service>): every management
  call CloudTrail records, the record as `detail`. Write calls go to every
  rule; read-only calls only to rules in state
  ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS, as on AWS. Data events
  (S3 objects, SQS messages) are not sent, as on AWS without a trail for
  them. No trail is needed.
- "CloudWatch Alarm State Change" (aws.cloudwatch), on every state change.
- S3 "Object Created" / "Object Deleted" / "Object Restore ..." / "Object
  Tags ..." / "Object ACL Updated" / "Object Storage Class Changed"
  (aws.s3), for buckets whose notification configuration has
  EventBridgeConfiguration.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from cloudlet.services.events.routing import iso

log = logging.getLogger("cloudlet.events")

_SOURCES = {"cloudwatch": "aws.cloudwatch", "logs": "aws.logs", "events": "aws.events"}


def _spawn(service, coro) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        coro.close()
        return
    tasks = service.__dict__.setdefault("_source_tasks", set())
    task = loop.create_task(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def _route_logged(service, account, region, event, read_only=False) -> None:
    try:
        await service.route(account, region, "default", event, read_only_management=read_only)
    except Exception:
        log.exception("routing %s failed", event.get("detail-type"))


def event(account: str, region: str, source: str, detail_type: str, when: float, resources: list,
          detail: dict) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": account, "time": iso(when), "region": region, "resources": resources, "detail": detail}


# -- CloudTrail -------------------------------------------------------------------

def on_api_call(service, account: str, region: str, api: str, operation: str, row=None, read_only=False) -> None:
    """The recorder's hook: a recorded management call (`row`: the record
    row, shaped only when a rule of the account's default bus may want it)."""
    if row is None or not service.has_rules(account, region):
        return
    from cloudlet.services.cloudtrail.events import shape, unpack

    record = shape(unpack((0,) + tuple(row)), service.cloud.models)
    record.pop("eventCategory", None)
    source = _SOURCES.get(api, "aws." + api)
    _spawn(service, _route_logged(service, account, region,
                                  event(account, region, source, "AWS API Call via CloudTrail", row[0], [], record),
                                  read_only))


# -- CloudWatch ---------------------------------------------------------------------

def _alarm_state(state: str, reason: str | None, reason_data: str | None, when: float) -> dict:
    import datetime as _dt

    out = {"value": state, "reason": reason or ""}
    if reason_data:
        out["reasonData"] = reason_data
    stamp = _dt.datetime.fromtimestamp(when, _dt.timezone.utc)
    out["timestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}+0000"
    return out


def _alarm_configuration(cfg: dict, kind: str) -> dict:
    out: dict = {}
    if cfg.get("AlarmDescription"):
        out["description"] = cfg["AlarmDescription"]
    if kind == "CompositeAlarm":
        out["alarmRule"] = cfg.get("AlarmRule")
        return out
    if cfg.get("Metrics"):
        metrics = []
        for query in cfg["Metrics"]:
            item: dict = {"id": query["Id"]}
            stat = query.get("MetricStat")
            if stat:
                metric = stat["Metric"]
                item["metricStat"] = {"metric": {"namespace": metric.get("Namespace"), "name": metric["MetricName"],
                                                 "dimensions": {d["Name"]: d["Value"]
                                                                for d in metric.get("Dimensions") or ()}},
                                      "period": stat["Period"], "stat": stat["Stat"]}
            if query.get("Expression"):
                item["expression"] = query["Expression"]
            if query.get("Label"):
                item["label"] = query["Label"]
            item["returnData"] = query.get("ReturnData", True)
            metrics.append(item)
        out["metrics"] = metrics
        return out
    stat = cfg.get("Statistic") or cfg.get("ExtendedStatistic")
    out["metrics"] = [{"id": "m1", "metricStat": {
        "metric": {"namespace": cfg.get("Namespace"), "name": cfg.get("MetricName"),
                   "dimensions": {d["Name"]: d["Value"] for d in cfg.get("Dimensions") or ()}},
        "period": cfg.get("Period"), "stat": stat}, "returnData": True}]
    return out


async def alarm_state_change(service, alarm, old: str, old_reason: str | None, old_reason_data: str | None,
                             old_when: float | None, when: float) -> None:
    """A CloudWatch alarm changed state: its "CloudWatch Alarm State
    Change" event, routed before the alarm engine goes on."""
    if not service.has_rules(alarm.account, alarm.region):
        return
    detail = {"alarmName": alarm.name,
              "state": _alarm_state(alarm.state, alarm.reason, alarm.reason_data, when),
              "previousState": _alarm_state(old, old_reason, old_reason_data, old_when or when),
              "configuration": _alarm_configuration(alarm.cfg, alarm.kind)}
    await _route_logged(service, alarm.account, alarm.region,
                        event(alarm.account, alarm.region, "aws.cloudwatch", "CloudWatch Alarm State Change", when,
                              [alarm.arn], detail))


# -- S3 -------------------------------------------------------------------------------

_S3_TYPES = (
    ("ObjectCreated:", "Object Created"), ("ObjectRemoved:", "Object Deleted"),
    ("LifecycleExpiration:", "Object Deleted"), ("ObjectRestore:Post", "Object Restore Initiated"),
    ("ObjectRestore:Completed", "Object Restore Completed"), ("ObjectRestore:Delete", "Object Restore Expired"),
    ("ObjectTagging:Put", "Object Tags Added"), ("ObjectTagging:Delete", "Object Tags Deleted"),
    ("ObjectAcl:Put", "Object ACL Updated"), ("LifecycleTransition", "Object Storage Class Changed"),
)
_S3_REASONS = {
    "ObjectCreated:Put": "PutObject", "ObjectCreated:Post": "POST Object", "ObjectCreated:Copy": "CopyObject",
    "ObjectCreated:CompleteMultipartUpload": "CompleteMultipartUpload", "ObjectRemoved:Delete": "DeleteObject",
    "ObjectRemoved:DeleteMarkerCreated": "DeleteObject", "LifecycleExpiration:Delete": "Lifecycle Expiration",
    "LifecycleExpiration:DeleteMarkerCreated": "Lifecycle Expiration",
}


def s3_event(service, bucket, s3_event_name: str, key: str, size, etag, version_id, sequencer: str,
             request_id: str, requester: str, source_ip: str, when: float) -> None:
    """An S3 event for a bucket with EventBridge notifications on."""
    detail_type = next((t for prefix, t in _S3_TYPES if s3_event_name.startswith(prefix)), None)
    if detail_type is None or not service.has_rules(bucket.account, bucket.region):
        return
    obj: dict = {"key": key}
    if size is not None and detail_type != "Object Deleted":
        obj["size"] = size
    if etag and detail_type != "Object Deleted":
        obj["etag"] = etag.strip('"')
    if version_id and version_id != "null":
        obj["version-id"] = version_id
    obj["sequencer"] = sequencer
    detail: dict = {"version": "0", "bucket": {"name": bucket.name}, "object": obj, "request-id": request_id,
                    "requester": requester, "source-ip-address": source_ip}
    if s3_event_name in _S3_REASONS:
        detail["reason"] = _S3_REASONS[s3_event_name]
    if detail_type == "Object Deleted":
        detail["deletion-type"] = ("Delete Marker Created" if s3_event_name.endswith("DeleteMarkerCreated")
                                   else "Permanently Deleted")
    _spawn(service, _route_logged(service, bucket.account, bucket.region,
                                  event(bucket.account, bucket.region, "aws.s3", detail_type, when,
                                        [f"arn:aws:s3:::{bucket.name}"], detail)))
