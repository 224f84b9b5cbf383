"""Sending mail, for both SES APIs: the checks in AWS's order (addresses,
recipient count, message tags, configuration set, account and sender
verification and the sandbox, the daily quota), the message kept in the
outbox (`GET /_cloudlet/ses/messages`), and what SES reports afterwards:

- each recipient's outcome, by the mailbox simulator's rules
  (success@ / ooto@: delivered; bounce@: a permanent General bounce;
  suppressionlist@: a permanent Suppressed bounce; complaint@: delivered,
  then a complaint) and delivered for every other address (the outbox is
  the recipient's mailbox);
- the identity's feedback notifications (SetIdentityNotificationTopic) to
  SNS, as ses.amazonaws.com;
- the configuration set's event destinations: SNS ("Amazon SES Email
  Event Notification"), EventBridge (source aws.ses, "Email Sent" ...),
  CloudWatch (metrics with the destination's dimensions);
- AWS/SES metrics Send, Delivery, Bounce, Complaint, Rendering Failure.

A templated message whose data lacks an attribute is accepted and not
delivered: a Rendering Failure event tells, as on AWS. All of this happens
before the send answers (notifications included), so a test can look at
once. The send rate (1 a second in the sandbox) is not enforced (AWS lets
short bursts through); the 24-hour quota is, on cloudlet's clock.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.ses import mime
from cloudlet.services.ses.identities import identity_arn

log = logging.getLogger("cloudlet.ses")

PRINCIPAL = "ses.amazonaws.com"
MAX_RECIPIENTS = 50
SANDBOX_QUOTA = (200.0, 1.0)
PRODUCTION_QUOTA = (50000.0, 14.0)
SIMULATOR = "simulator.amazonses.com"
_TAG_NAME = re.compile(r"[A-Za-z0-9_\-]*")
_TAG_VALUE = re.compile(r"[A-Za-z0-9_\-.@]*")
_REGION_PREFIX = {"us-east-1": "0100", "us-west-2": "0101", "eu-west-1": "0102"}
EVENT_DETAIL_TYPES = {"send": "Email Sent", "delivery": "Email Delivered", "bounce": "Email Bounced",
                      "complaint": "Email Complaint Received", "reject": "Email Rejected",
                      "renderingFailure": "Email Rendering Failed"}
EVENT_NAMES = {"send": "Send", "delivery": "Delivery", "bounce": "Bounce", "complaint": "Complaint",
               "reject": "Reject", "renderingFailure": "Rendering Failure"}


def iso_ms(epoch: float) -> str:
    stamp = _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def new_message_id(region: str, now: float) -> str:
    return f"{_REGION_PREFIX.get(region, '0100')}{int(now * 1000):012x}-{uuid.uuid4()}-000000"


def _outcome(address: str) -> str:
    """What the mailbox simulator does with an address (labels allowed:
    bounce+x@simulator.amazonses.com)."""
    local, _, domain = address.rpartition("@")
    if domain.lower() != SIMULATOR:
        return "delivered"
    return {"bounce": "bounce", "suppressionlist": "suppressed", "complaint": "complaint"}.get(
        local.split("+", 1)[0].lower(), "delivered")


class Outgoing:
    """One message on its way: what was asked and what the checks made of it."""

    def __init__(self, operation: str, source: str, to: list, cc: list, bcc: list, raw: bytes | None,
                 subject: str | None, config_set: str | None, tags: list, template: str | None = None,
                 missing_attribute: str | None = None):
        self.operation, self.source, self.to, self.cc, self.bcc = operation, source, to, cc, bcc
        self.raw, self.subject, self.config_set, self.tags = raw, subject, config_set, tags
        self.template, self.missing_attribute = template, missing_attribute

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc, *self.bcc]


class SendingOps:
    """Mixed into SesService."""

    # -- checks -------------------------------------------------------------------

    def _error(self, v2: bool, v1_code: str, v2_code: str, message: str) -> AwsError:
        return AwsError(v2_code if v2 else v1_code, message)

    def check_addresses(self, addresses: list[str], v2: bool) -> None:
        for text in addresses:
            problem = mime.address_problem(text)
            if problem is not None:
                raise self._error(v2, "InvalidParameterValue", "BadRequestException", problem)

    def check_tags(self, tags: list, v2: bool) -> None:
        for tag in tags or ():
            name, value = tag.get("Name") or "", tag.get("Value") or ""
            problem = None
            if not name:
                problem = "The tag name must be specified."
            elif len(name) > 255:
                problem = "Tag name cannot exceed 255 characters."
            elif not _TAG_NAME.fullmatch(name) and not name.startswith("ses:"):
                problem = (f"Invalid tag name <{name}>: only alphanumeric ASCII characters, '_',  '-' are "
                           "allowed.")
            elif not value:
                problem = "The tag value must be specified."
            elif len(value) > 255:
                problem = "Tag value cannot exceed 255 characters."
            elif not _TAG_VALUE.fullmatch(value):
                problem = (f"Invalid tag value <{value}>: only alphanumeric ASCII characters, '_',  '-' , '.', "
                           "'@' are allowed.")
            if problem is not None:
                raise self._error(v2, "InvalidParameterValue", "BadRequestException", problem)

    def account_state(self, account: str, region: str) -> tuple[bool, bool, dict | None]:
        """(production access, sending enabled, details)."""
        row = self.storage.one("SELECT production, sending_enabled, details FROM ses_accounts WHERE account = ? "
                               "AND region = ?", (account, region))
        if row is None:
            return False, True, None
        return bool(row[0]), bool(row[1]), orjson.loads(row[2]) if row[2] else None

    def quota(self, account: str, region: str) -> tuple[float, float, float]:
        production, _, _ = self.account_state(account, region)
        daily, rate = PRODUCTION_QUOTA if production else SANDBOX_QUOTA
        since = self.clock.now() - 86400
        sent = 0
        for destination, in self.storage.all("SELECT destination FROM ses_messages WHERE account = ? AND "
                                             "region = ? AND sent > ?", (account, region, since)):
            sent += sum(1 for a in orjson.loads(destination)["all"] if not a.lower().endswith("@" + SIMULATOR))
        return daily, rate, float(sent)

    def _checks(self, ctx, out: Outgoing, v2: bool) -> None:
        account, region = ctx.account_id, ctx.region
        self.check_addresses([out.source, *out.recipients], v2)
        if not out.recipients:
            raise self._error(v2, "InvalidParameterValue", "BadRequestException", "Missing required header 'To'.")
        if len(out.recipients) > MAX_RECIPIENTS:
            raise self._error(v2, "InvalidParameterValue", "BadRequestException", "Recipient count exceeds 50.")
        self.check_tags(out.tags, v2)
        if out.config_set is not None:
            found = self.config_set(account, region, out.config_set)
            if found is None:
                raise self._error(v2, "ConfigurationSetDoesNotExist", "NotFoundException",
                                  f"Configuration set <{out.config_set}> does not exist.")
            if not found["settings"].get("SendingEnabled", True):
                raise self._error(v2, "ConfigurationSetSendingPausedException", "SendingPausedException",
                                  f"Sending is paused for configuration set <{out.config_set}>.")
        production, enabled, _ = self.account_state(account, region)
        if not enabled:
            raise self._error(v2, "AccountSendingPausedException", "SendingPausedException",
                              "Email sending is disabled for your entire Amazon SES account.")
        failed = [] if self.verified_for_sending(account, region, mime.bare(out.source)) else [out.source]
        if not production:
            failed += [r for r in out.recipients if _outcome_domain(r) != SIMULATOR
                       and not self.verified_for_sending(account, region, mime.bare(r))]
        if failed:
            raise AwsError("MessageRejected", "Email address is not verified. The following identities failed the "
                                              f"check in region {region.upper()}: {', '.join(failed)}")
        daily, _, sent = self.quota(account, region)
        counted = sum(1 for r in out.recipients if _outcome_domain(r) != SIMULATOR)
        if sent + counted > daily:
            raise self._error(v2, "Throttling", "LimitExceededException", "Daily message quota exceeded.")

    # -- sending ------------------------------------------------------------------

    async def send(self, ctx, out: Outgoing, v2: bool = False) -> str:
        self._checks(ctx, out, v2)
        now = self.clock.now()
        message_id = new_message_id(ctx.region, now)
        raw = out.raw if out.raw is not None else b""
        recipients = [mime.bare(r) for r in out.recipients]
        outcomes = {r: _outcome(r) for r in recipients}
        state = "rendering-failure" if out.missing_attribute else "sent"
        destination = {"to": [mime.bare(a) for a in out.to], "cc": [mime.bare(a) for a in out.cc],
                       "bcc": [mime.bare(a) for a in out.bcc], "all": recipients}
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO ses_messages (account, region, message_id, sent, source, destination, subject, raw, "
                "config_set, tags, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ctx.account_id, ctx.region, message_id, now, out.source, orjson.dumps(destination).decode(),
                 out.subject, raw, out.config_set, orjson.dumps(out.tags or []).decode(),
                 orjson.dumps({"state": state, "recipients": outcomes}).decode()))
        await self._report(ctx, out, message_id, now, outcomes)
        return message_id

    # -- what SES reports afterwards ------------------------------------------------

    def _mail(self, ctx, out: Outgoing, message_id: str, now: float, headers: bool, tags: bool,
              source_arn: bool = True) -> dict:
        source = mime.bare(out.source)
        identity = self.sending_identity(ctx.account_id, ctx.region, source)
        mail: dict = {"timestamp": iso_ms(now), "source": out.source}
        if source_arn:
            mail["sourceArn"] = identity_arn(ctx.region, ctx.account_id, identity.name if identity else source)
        mail.update(sourceIp=ctx.source_ip or "127.0.0.1", callerIdentity=ctx.principal.name or "root",
                    sendingAccountId=ctx.account_id, messageId=message_id,
                    destination=[mime.bare(r) for r in out.recipients])
        if headers:
            parsed = mime.parse_raw(out.raw) if out.raw else {"headers": {}}
            mail["headersTruncated"] = False
            mail["headers"] = [{"name": k, "value": v} for k, v in (parsed.get("header_list") or
                                                                   list(parsed["headers"].items()))]
            common: dict = {}
            if out.source:
                common["from"] = [out.source]
            if out.to:
                common["to"] = list(out.to)
            if out.cc:
                common["cc"] = list(out.cc)
            common["messageId"] = message_id
            if out.subject is not None:
                common["subject"] = out.subject
            mail["commonHeaders"] = common
        if tags:
            all_tags: dict = {"ses:operation": [out.operation], "ses:source-ip": [ctx.source_ip or "127.0.0.1"],
                              "ses:from-domain": [source.rpartition("@")[2]],
                              "ses:caller-identity": [ctx.principal.name or "root"]}
            if out.config_set:
                all_tags["ses:configuration-set"] = [out.config_set]
            for tag in out.tags or ():
                all_tags.setdefault(tag["Name"], []).append(tag["Value"])
            mail["tags"] = all_tags
        return mail

    def _feedback(self, ctx, kind: str, recipients: list[str], message_id: str, now: float) -> dict:
        mta = f"a8-1.smtp-out.{ctx.region}.amazonses.com"
        feedback_id = new_message_id(ctx.region, now)
        if kind == "delivery":
            return {"timestamp": iso_ms(now), "processingTimeMillis": 0, "recipients": recipients,
                    "smtpResponse": "250 2.6.0 Message received", "remoteMtaIp": "127.0.0.1", "reportingMTA": mta}
        if kind in ("bounce", "suppressed"):
            suppressed = kind == "suppressed"
            return {"feedbackId": feedback_id, "bounceType": "Permanent",
                    "bounceSubType": "Suppressed" if suppressed else "General",
                    "bouncedRecipients": [{
                        "emailAddress": r, "action": "failed", "status": "5.1.1",
                        "diagnosticCode": ("Amazon SES has suppressed sending to this address because it has a "
                                           "recent history of bouncing as an invalid address." if suppressed
                                           else "smtp; 550 5.1.1 user unknown")} for r in recipients],
                    "timestamp": iso_ms(now), "remoteMtaIp": "127.0.0.1", "reportingMTA": f"dsn; {mta}"}
        return {"feedbackId": feedback_id, "complaintSubType": None,
                "complainedRecipients": [{"emailAddress": r} for r in recipients], "timestamp": iso_ms(now),
                "userAgent": "Amazon SES Mailbox Simulator", "complaintFeedbackType": "abuse",
                "arrivalDate": iso_ms(now)}

    async def _report(self, ctx, out: Outgoing, message_id: str, now: float, outcomes: dict) -> None:
        groups: dict[str, list[str]] = {}
        for address, outcome in outcomes.items():
            groups.setdefault(outcome, []).append(address)
        events: list[tuple[str, dict | None]] = [("send", {})]
        if out.missing_attribute:
            events.append(("renderingFailure", {"failure": {
                "errorMessage": f"Attribute '{out.missing_attribute}' is not present in the rendering data.",
                "templateName": out.template}}))
        else:
            delivered = groups.get("delivered", []) + groups.get("complaint", [])
            if delivered:
                events.append(("delivery", {"delivery": self._feedback(ctx, "delivery", delivered, message_id,
                                                                       now)}))
            for kind in ("bounce", "suppressed"):
                if groups.get(kind):
                    events.append(("bounce", {"bounce": self._feedback(ctx, kind, groups[kind], message_id, now)}))
            if groups.get("complaint"):
                events.append(("complaint", {"complaint": self._feedback(ctx, "complaint", groups["complaint"],
                                                                         message_id, now)}))
        for kind, body in events:
            self.cloud.metrics(ctx.account_id, ctx.region, "AWS/SES", EVENT_NAMES[kind], {}, 1.0, "Count")
            if kind in ("delivery", "bounce", "complaint"):
                await self._notify_identity(ctx, out, kind, body, message_id, now)
            if out.config_set:
                await self._publish_event(ctx, out, kind, body, message_id, now)

    async def _notify_identity(self, ctx, out: Outgoing, kind: str, body: dict, message_id: str, now: float):
        identity = self.sending_identity(ctx.account_id, ctx.region, mime.bare(out.source))
        if identity is None:
            return
        notification_type = kind.capitalize()
        topic = identity.settings.get(f"{notification_type}Topic")
        if not topic:
            return
        headers = identity.settings.get(f"HeadersIn{notification_type}NotificationsEnabled", False)
        message = {"notificationType": notification_type,
                   "mail": self._mail(ctx, out, message_id, now, headers=headers, tags=False)}
        message.update(body)
        await self._sns(ctx, topic, orjson.dumps(message).decode(), None,
                        identity_arn(ctx.region, ctx.account_id, identity.name))

    async def _publish_event(self, ctx, out: Outgoing, kind: str, body: dict, message_id: str, now: float):
        found = self.config_set(ctx.account_id, ctx.region, out.config_set)
        if found is None:
            return
        record: dict | None = None
        for destination in found["destinations"].values():
            if not destination.get("Enabled", False):
                continue
            if kind not in destination.get("MatchingEventTypes", ()):
                continue
            if record is None:
                # (a templated send's Send event has no sourceArn, as AWS's does)
                record = {"eventType": EVENT_NAMES[kind],
                          "mail": self._mail(ctx, out, message_id, now, headers=True, tags=True,
                                             source_arn=not (kind == "send" and out.template))}
                record.update(body or {kind: {}})
            source_arn = f"arn:aws:ses:{ctx.region}:{ctx.account_id}:configuration-set/{out.config_set}"
            if destination.get("SNSDestination"):
                await self._sns(ctx, destination["SNSDestination"]["TopicARN"], orjson.dumps(record).decode(),
                                "Amazon SES Email Event Notification", source_arn)
            if destination.get("EventBridgeDestination"):
                await self._eventbridge(ctx, destination["EventBridgeDestination"]["EventBusArn"], kind, record,
                                        now)
            if destination.get("CloudWatchDestination"):
                self._cloudwatch(ctx, destination["CloudWatchDestination"], kind, out)

    async def _sns(self, ctx, topic: str, message: str, subject: str | None, source_arn: str) -> None:
        params = {"TopicArn": topic, "Message": message}
        if subject:
            params["Subject"] = subject
        parts = topic.split(":")
        try:
            await self.cloud.gateway.call("sns", "Publish", params, account_id=parts[4], region=parts[3],
                                          invoked_by=PRINCIPAL, source_arn=source_arn, source_account=ctx.account_id)
        except AwsError as err:
            log.info("SES could not publish to %s: %s %s", topic, err.code, err.message)

    async def _eventbridge(self, ctx, bus_arn: str, kind: str, record: dict, now: float) -> None:
        events = self.cloud.service("events")
        parts = bus_arn.split(":")
        from cloudlet.services.events.sources import event

        try:
            await events.route(parts[4], parts[3], parts[5].split("/", 1)[1],
                               event(ctx.account_id, ctx.region, "aws.ses", EVENT_DETAIL_TYPES[kind], now, [],
                                     record))
        except (AwsError, IndexError) as err:
            log.info("SES could not put its event on %s: %s", bus_arn, err)

    def _cloudwatch(self, ctx, destination: dict, kind: str, out: Outgoing) -> None:
        tags = {t["Name"]: t["Value"] for t in out.tags or ()}
        dims = {}
        for config in destination.get("DimensionConfigurations") or ():
            name, source = config["DimensionName"], config["DimensionValueSource"]
            value = tags.get(name) if source == "messageTag" else None
            dims[name] = value or config["DefaultDimensionValue"]
        self.cloud.metrics(ctx.account_id, ctx.region, "AWS/SES", EVENT_NAMES[kind], dims, 1.0, "Count")


def _outcome_domain(address: str) -> str:
    return mime.bare(address).rpartition("@")[2].lower()
