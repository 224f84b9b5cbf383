"""Amazon SES, v1 API (query protocol): identities (identities.py),
sending (sending.py), templates, configuration sets and their event
destinations, the account's quota and statistics. The v2 API (v2.py) is a
second view of the same state. Sent mail is kept, as the recipient's
mailbox would, and readable at GET /_cloudlet/ses/messages.
"""

from __future__ import annotations

import base64
import email
import email.policy

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.ses import mime
from cloudlet.services.ses.identities import IdentityOps
from cloudlet.services.ses.render import RenderError, render_template
from cloudlet.services.ses.sending import Outgoing, SendingOps, iso_ms
from cloudlet.services.ses.store import MIGRATIONS

MAX_TEMPLATES = 20_000
EVENT_TYPES = ("send", "reject", "bounce", "complaint", "delivery", "open", "click", "renderingFailure",
               "deliveryDelay", "subscription")


def page(items: list, params: dict, key: str, limit_key: str = "MaxItems", default: int = 10,
         token_key: str = "NextToken") -> dict:
    token = params.get(token_key)
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except (ValueError, UnicodeDecodeError):
            raise AwsError("InvalidParameterValue", "Invalid NextToken.") from None
    limit = min(params.get(limit_key) or default, 100)
    out = {key: items[start:start + limit]}
    if start + limit < len(items):
        out[token_key] = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
    return out


class SesService(IdentityOps, SendingOps, Service):
    model_name = "ses"
    migrations = MIGRATIONS

    def check_input(self, op, params: dict, request) -> bool:
        """The model's constraints, but enums: SES checks those values
        itself, with its own messages ("Invalid notification type: ...")."""
        from cloudlet.protocol.validate import validation_error, violations

        found = [v for v in violations(op.input, params)
                 if not v.constraint.startswith("Member must satisfy enum value set")]
        if found:
            raise validation_error(found, "ValidationError")
        return True

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        """Sending is authorized on the sender's identity ARN (what a
        sending-authorization policy names), the rest on "*"."""
        source = params.get("Source") or params.get("FromEmailAddress")
        if operation.startswith("Send") and source:
            return [f"arn:aws:ses:{ctx.region}:{ctx.account_id}:identity/{mime.bare(source)}"]
        return ["*"]

    # -- sending (v1) ---------------------------------------------------------------

    async def SendEmail(self, ctx, params):
        destination = params["Destination"]
        message = params["Message"]
        body = message.get("Body") or {}
        subject = (message.get("Subject") or {}).get("Data")
        to, cc, bcc = (destination.get(k) or [] for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
        raw = mime.build_message(params["Source"], to, cc, bcc, subject, (body.get("Text") or {}).get("Data"),
                                 (body.get("Html") or {}).get("Data"), reply_to=params.get("ReplyToAddresses"),
                                 date=self.clock.now())
        out = Outgoing("SendEmail", params["Source"], to, cc, bcc, raw, subject, params.get("ConfigurationSetName"),
                       params.get("Tags") or [])
        return {"MessageId": await self.send(ctx, out)}

    async def SendRawEmail(self, ctx, params):
        data = params["RawMessage"]["Data"]
        if len(data) > mime.MAX_RAW_SIZE_V1:
            raise AwsError("InvalidParameterValue", "Message length exceeds 10485760 bytes long.")
        try:
            parsed = mime.parse_raw(data)
        except mime.MimeError as err:
            raise AwsError("InvalidParameterValue", str(err)) from None
        source = params.get("Source") or parsed.get("from")
        if not source:
            raise AwsError("InvalidParameterValue", "Missing required header 'From'.")
        if params.get("Destinations"):
            to, cc, bcc = list(params["Destinations"]), [], []
        else:
            to, cc, bcc = parsed["to"], parsed["cc"], parsed["bcc"]
        out = Outgoing("SendRawEmail", source, to, cc, bcc, data, parsed.get("subject"),
                       params.get("ConfigurationSetName"), params.get("Tags") or [])
        return {"MessageId": await self.send(ctx, out)}

    def _templated(self, ctx, operation: str, source: str, destination: dict, template_name: str, data: str,
                   config_set, tags, reply_to=None, v2: bool = False) -> Outgoing:
        template = self.template(ctx.account_id, ctx.region, template_name)
        if template is None:
            raise AwsError("NotFoundException" if v2 else "TemplateDoesNotExist",
                           f"Template {template_name} does not exist.")
        return self.rendered(operation, source, destination, template, template_name, data, config_set, tags,
                             reply_to, v2)

    def rendered(self, operation: str, source: str, destination: dict, template: dict, template_name: str,
                 data: str, config_set, tags, reply_to=None, v2: bool = False) -> Outgoing:
        """A message made from a template and its data. Data that lacks an
        attribute is accepted and not delivered: a Rendering Failure event
        says why, as on AWS."""
        missing = None
        try:
            rendered = render_template(template, data)
        except RenderError as err:
            missing = err.attribute
            if missing is None:
                raise AwsError("BadRequestException" if v2 else err.code, err.message) from None
            rendered = {"SubjectPart": template.get("SubjectPart") or "", "TextPart": None, "HtmlPart": None}
        to, cc, bcc = (destination.get(k) or [] for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
        raw = mime.build_message(source, to, cc, bcc, rendered.get("SubjectPart"), rendered.get("TextPart"),
                                 rendered.get("HtmlPart"), reply_to=reply_to, date=self.clock.now())
        return Outgoing(operation, source, to, cc, bcc, raw, rendered.get("SubjectPart"), config_set, tags or [],
                        template=template_name, missing_attribute=missing)

    async def SendTemplatedEmail(self, ctx, params):
        out = self._templated(ctx, "SendTemplatedEmail", params["Source"], params["Destination"],
                              params["Template"], params["TemplateData"], params.get("ConfigurationSetName"),
                              params.get("Tags"), params.get("ReplyToAddresses"))
        return {"MessageId": await self.send(ctx, out)}

    async def SendBulkTemplatedEmail(self, ctx, params):
        statuses = []
        for entry in params["Destinations"]:
            data = entry.get("ReplacementTemplateData") or params.get("DefaultTemplateData") or "{}"
            tags = (params.get("DefaultTags") or []) + (entry.get("ReplacementTags") or [])
            try:
                out = self._templated(ctx, "SendBulkTemplatedEmail", params["Source"], entry["Destination"],
                                      params["Template"], data, params.get("ConfigurationSetName"), tags,
                                      params.get("ReplyToAddresses"))
                statuses.append({"Status": "Success", "MessageId": await self.send(ctx, out)})
            except AwsError as err:
                if err.code == "TemplateDoesNotExist":
                    raise
                statuses.append({"Status": _bulk_status(err.code), "Error": err.message})
        return {"Status": statuses}

    # -- the account ----------------------------------------------------------------

    def GetSendQuota(self, ctx, params):
        daily, rate, sent = self.quota(ctx.account_id, ctx.region)
        return {"Max24HourSend": daily, "MaxSendRate": rate, "SentLast24Hours": sent}

    def GetSendStatistics(self, ctx, params):
        """15-minute data points of the last two weeks, as AWS keeps them."""
        since = self.clock.now() - 14 * 86400
        points: dict[int, dict] = {}
        for sent, outcome in self.storage.all("SELECT sent, outcome FROM ses_messages WHERE account = ? AND "
                                              "region = ? AND sent > ? ORDER BY sent",
                                              (ctx.account_id, ctx.region, since)):
            slot = int(sent // 900) * 900
            point = points.setdefault(slot, {"Timestamp": float(slot), "DeliveryAttempts": 0, "Bounces": 0,
                                             "Complaints": 0, "Rejects": 0})
            for result in orjson.loads(outcome)["recipients"].values():
                point["DeliveryAttempts"] += 1
                if result in ("bounce", "suppressed"):
                    point["Bounces"] += 1
                elif result == "complaint":
                    point["Complaints"] += 1
        return {"SendDataPoints": list(points.values())}

    def _set_account(self, account: str, region: str, **values) -> None:
        production, enabled, details = self.account_state(account, region)
        state = {"production": int(production), "sending_enabled": int(enabled),
                 "details": orjson.dumps(details).decode() if details else None}
        state.update(values)
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO ses_accounts (account, region, production, sending_enabled, details) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (account, region) DO UPDATE SET production = "
                "excluded.production, sending_enabled = excluded.sending_enabled, details = excluded.details",
                (account, region, state["production"], state["sending_enabled"], state["details"]))

    def GetAccountSendingEnabled(self, ctx, params):
        return {"Enabled": self.account_state(ctx.account_id, ctx.region)[1]}

    def UpdateAccountSendingEnabled(self, ctx, params):
        self._set_account(ctx.account_id, ctx.region, sending_enabled=int(params.get("Enabled", False)))
        return {}

    # -- templates ------------------------------------------------------------------

    def template(self, account: str, region: str, name: str) -> dict | None:
        row = self.storage.one("SELECT name, subject, text, html, created FROM ses_templates WHERE account = ? AND "
                               "region = ? AND name = ?", (account, region, name))
        if row is None:
            return None
        out = {"TemplateName": row[0], "SubjectPart": row[1], "TextPart": row[2], "HtmlPart": row[3]}
        out = {k: v for k, v in out.items() if v is not None}
        out["_created"] = row[4]
        return out

    def put_template(self, ctx, template: dict, create: bool, v2: bool = False) -> None:
        name = template.get("TemplateName")
        if not name:
            raise AwsError("BadRequestException" if v2 else "InvalidTemplate", "Template name cannot be empty.")
        size = sum(len((template.get(k) or "").encode()) for k in ("SubjectPart", "TextPart", "HtmlPart"))
        if size > 500 * 1024:
            raise AwsError("BadRequestException" if v2 else "InvalidTemplate", "Template size exceeds 500 KB.")
        exists = self.template(ctx.account_id, ctx.region, name) is not None
        if create and exists:
            raise AwsError("AlreadyExistsException" if v2 else "AlreadyExists", f"Template {name} already exists.")
        if not create and not exists:
            raise AwsError("NotFoundException" if v2 else "TemplateDoesNotExist", f"Template {name} does not exist.")
        if create and self.storage.scalar("SELECT COUNT(*) FROM ses_templates WHERE account = ? AND region = ?",
                                          (ctx.account_id, ctx.region)) >= MAX_TEMPLATES:
            raise AwsError("LimitExceededException" if v2 else "LimitExceeded", "Maximum number of templates "
                                                                                "exceeded.")
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO ses_templates (account, region, name, subject, text, html, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, name) DO UPDATE SET "
                "subject = excluded.subject, text = excluded.text, html = excluded.html",
                (ctx.account_id, ctx.region, name, template.get("SubjectPart"), template.get("TextPart"),
                 template.get("HtmlPart"), self.clock.now()))

    def CreateTemplate(self, ctx, params):
        self.put_template(ctx, params["Template"], create=True)
        return {}

    def UpdateTemplate(self, ctx, params):
        self.put_template(ctx, params["Template"], create=False)
        return {}

    def GetTemplate(self, ctx, params):
        found = self.template(ctx.account_id, ctx.region, params["TemplateName"])
        if found is None:
            raise AwsError("TemplateDoesNotExist", f"Template {params['TemplateName']} does not exist.")
        found.pop("_created")
        return {"Template": found}

    def DeleteTemplate(self, ctx, params):
        with self.storage.tx():
            self.storage.execute("DELETE FROM ses_templates WHERE account = ? AND region = ? AND name = ?",
                                 (ctx.account_id, ctx.region, params["TemplateName"]))
        return {}

    def ListTemplates(self, ctx, params):
        rows = self.storage.all("SELECT name, created FROM ses_templates WHERE account = ? AND region = ? "
                                "ORDER BY created, name", (ctx.account_id, ctx.region))
        return page([{"Name": n, "CreatedTimestamp": c} for n, c in rows], params, "TemplatesMetadata")

    def TestRenderTemplate(self, ctx, params):
        found = self.template(ctx.account_id, ctx.region, params["TemplateName"])
        if found is None:
            raise AwsError("TemplateDoesNotExist", f"Template {params['TemplateName']} does not exist.")
        try:
            rendered = render_template(found, params["TemplateData"])
        except RenderError as err:
            raise AwsError(err.code, err.message) from None
        raw = mime.build_message(None, [], [], [], rendered.get("SubjectPart"), rendered.get("TextPart"),
                                 rendered.get("HtmlPart"), date=self.clock.now())
        return {"RenderedTemplate": raw.decode("utf-8", "replace")}

    # -- configuration sets -------------------------------------------------------------

    def config_set(self, account: str, region: str, name: str) -> dict | None:
        row = self.storage.one("SELECT name, created, settings, destinations, tags FROM ses_config_sets WHERE "
                               "account = ? AND region = ? AND name = ?", (account, region, name))
        if row is None:
            return None
        return {"name": row[0], "created": row[1], "settings": orjson.loads(row[2]),
                "destinations": orjson.loads(row[3]), "tags": orjson.loads(row[4])}

    def _save_config_set(self, account: str, region: str, found: dict) -> None:
        with self.storage.tx():
            self.storage.execute("UPDATE ses_config_sets SET settings = ?, destinations = ?, tags = ? WHERE "
                                 "account = ? AND region = ? AND name = ?",
                                 (orjson.dumps(found["settings"]).decode(), orjson.dumps(found["destinations"]).decode(),
                                  orjson.dumps(found["tags"]).decode(), account, region, found["name"]))

    def create_config_set(self, ctx, name: str, settings: dict, tags: dict, v2: bool = False) -> None:
        if self.config_set(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("AlreadyExistsException" if v2 else "ConfigurationSetAlreadyExists",
                           f"Configuration set <{name}> already exists.")
        with self.storage.tx():
            self.storage.execute("INSERT INTO ses_config_sets (account, region, name, created, settings, tags) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (ctx.account_id, ctx.region, name, self.clock.now(),
                                                               orjson.dumps(settings).decode(),
                                                               orjson.dumps(tags).decode()))

    def known_config_set(self, ctx, name: str, v2: bool = False) -> dict:
        found = self.config_set(ctx.account_id, ctx.region, name)
        if found is None:
            raise AwsError("NotFoundException" if v2 else "ConfigurationSetDoesNotExist",
                           f"Configuration set <{name}> does not exist.")
        return found

    def CreateConfigurationSet(self, ctx, params):
        self.create_config_set(ctx, params["ConfigurationSet"]["Name"], {}, {})
        return {}

    def DeleteConfigurationSet(self, ctx, params):
        found = self.known_config_set(ctx, params["ConfigurationSetName"])
        with self.storage.tx():
            self.storage.execute("DELETE FROM ses_config_sets WHERE account = ? AND region = ? AND name = ?",
                                 (ctx.account_id, ctx.region, found["name"]))
        return {}

    def ListConfigurationSets(self, ctx, params):
        rows = self.storage.all("SELECT name FROM ses_config_sets WHERE account = ? AND region = ? ORDER BY name",
                                (ctx.account_id, ctx.region))
        return page([{"Name": n} for n, in rows], params, "ConfigurationSets")

    def DescribeConfigurationSet(self, ctx, params):
        found = self.known_config_set(ctx, params["ConfigurationSetName"])
        out: dict = {"ConfigurationSet": {"Name": found["name"]}}
        wanted = params.get("ConfigurationSetAttributeNames") or []
        if "eventDestinations" in wanted:
            out["EventDestinations"] = [dict(d, MatchingEventTypes=sorted(d["MatchingEventTypes"]))
                                        for d in found["destinations"].values()]
        if "deliveryOptions" in wanted and found["settings"].get("TlsPolicy"):
            out["DeliveryOptions"] = {"TlsPolicy": found["settings"]["TlsPolicy"]}
        if "reputationOptions" in wanted:
            out["ReputationOptions"] = {"SendingEnabled": found["settings"].get("SendingEnabled", True),
                                        "ReputationMetricsEnabled": found["settings"].get("ReputationMetricsEnabled",
                                                                                          False)}
        return out

    def UpdateConfigurationSetSendingEnabled(self, ctx, params):
        found = self.known_config_set(ctx, params["ConfigurationSetName"])
        found["settings"]["SendingEnabled"] = bool(params["Enabled"])
        self._save_config_set(ctx.account_id, ctx.region, found)
        return {}

    def UpdateConfigurationSetReputationMetricsEnabled(self, ctx, params):
        found = self.known_config_set(ctx, params["ConfigurationSetName"])
        found["settings"]["ReputationMetricsEnabled"] = bool(params["Enabled"])
        self._save_config_set(ctx.account_id, ctx.region, found)
        return {}

    def PutConfigurationSetDeliveryOptions(self, ctx, params):
        found = self.known_config_set(ctx, params["ConfigurationSetName"])
        found["settings"]["TlsPolicy"] = (params.get("DeliveryOptions") or {}).get("TlsPolicy", "Optional")
        self._save_config_set(ctx.account_id, ctx.region, found)
        return {}

    async def put_event_destination(self, ctx, set_name: str, destination: dict, create: bool,
                                    v2: bool = False) -> None:
        """Store a destination (event types as v1 names them); a new SNS
        destination gets SES's validation message, as on AWS."""
        found = self.known_config_set(ctx, set_name, v2)
        name = destination["Name"]
        exists = name in found["destinations"]
        before = (found["destinations"].get(name) or {}).get("SNSDestination")
        if create and exists:
            raise AwsError("AlreadyExistsException" if v2 else "EventDestinationAlreadyExists",
                           f"Event destination {name} already exists.")
        if not create and not exists:
            raise AwsError("NotFoundException" if v2 else "EventDestinationDoesNotExist",
                           f"No EventDestination found for {name}")
        types = [t for t in destination.get("MatchingEventTypes") or () if t in EVENT_TYPES]
        stored = dict(destination, MatchingEventTypes=types, Enabled=bool(destination.get("Enabled", False)))
        topic = (stored.get("SNSDestination") or {}).get("TopicARN")
        if topic is not None and self.cloud.service("sns").find_topic(topic) is None:
            raise AwsError("BadRequestException" if v2 else "InvalidSNSDestination", f"SNS topic <{topic}> not found.")
        found["destinations"][name] = stored
        self._save_config_set(ctx.account_id, ctx.region, found)
        if topic is not None and before != stored.get("SNSDestination"):
            await self._sns(ctx, topic, "Successfully validated SNS topic for Amazon SES event publishing.", None,
                            f"arn:aws:ses:{ctx.region}:{ctx.account_id}:configuration-set/{set_name}")

    async def CreateConfigurationSetEventDestination(self, ctx, params):
        await self.put_event_destination(ctx, params["ConfigurationSetName"], params["EventDestination"], True)
        return {}

    async def UpdateConfigurationSetEventDestination(self, ctx, params):
        await self.put_event_destination(ctx, params["ConfigurationSetName"], params["EventDestination"], False)
        return {}

    def delete_event_destination(self, ctx, set_name: str, name: str, v2: bool = False) -> None:
        found = self.known_config_set(ctx, set_name, v2)
        if found["destinations"].pop(name, None) is None:
            raise AwsError("NotFoundException" if v2 else "EventDestinationDoesNotExist",
                           f"No EventDestination found for {set_name}")
        self._save_config_set(ctx.account_id, ctx.region, found)

    def DeleteConfigurationSetEventDestination(self, ctx, params):
        self.delete_event_destination(ctx, params["ConfigurationSetName"], params["EventDestinationName"])
        return {}

    # -- the outbox (admin API) -------------------------------------------------------------

    def outbox(self, account: str | None = None, to: str | None = None) -> list[dict]:
        sql = ("SELECT account, region, message_id, sent, source, destination, subject, raw, config_set, tags, "
               "outcome FROM ses_messages")
        args: tuple = ()
        if account:
            sql += " WHERE account = ?"
            args = (account,)
        out = []
        for account_id, region, message_id, sent, source, destination, subject, raw, config_set, tags, outcome \
                in self.storage.all(sql + " ORDER BY id", args):
            destination = orjson.loads(destination)
            if to and to not in destination["to"] + destination["cc"] + destination["bcc"]:
                continue
            message = email.message_from_bytes(bytes(raw), policy=email.policy.default) if raw else None
            text = html = None
            if message is not None:
                part = message.get_body(("plain",))
                text = part.get_content() if part is not None else None
                part = message.get_body(("html",))
                html = part.get_content() if part is not None else None
            out.append({"id": message_id, "account": account_id, "region": region, "timestamp": iso_ms(sent),
                        "source": source, "destination": {k: destination[k] for k in ("to", "cc", "bcc")},
                        "subject": subject, "text": text, "html": html,
                        "raw": bytes(raw).decode("utf-8", "replace"), "configurationSet": config_set,
                        "tags": orjson.loads(tags), "outcome": orjson.loads(outcome)})
        return out

    def clear_outbox(self, account: str | None = None) -> int:
        with self.storage.tx():
            if account:
                cursor = self.storage.execute("DELETE FROM ses_messages WHERE account = ?", (account,))
            else:
                cursor = self.storage.execute("DELETE FROM ses_messages")
        return cursor.rowcount

    def keep_mail(self, account: str, region: str, source: str, to: list[str], subject: str | None, text: str,
                  state: str) -> str:
        """Mail another part of AWS sends (not the account's: no identity,
        no quota), kept in the same outbox: SNS's email subscriptions."""
        from cloudlet.services.ses.sending import new_message_id

        now = self.clock.now()
        message_id = new_message_id(region, now)
        raw = mime.build_message(source, to, [], [], subject, text, None, date=now)
        destination = {"to": list(to), "cc": [], "bcc": [], "all": []}
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO ses_messages (account, region, message_id, sent, source, destination, subject, raw, "
                "outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, region, message_id, now, source, orjson.dumps(destination).decode(), subject, raw,
                 orjson.dumps({"state": state, "recipients": {}}).decode()))
        return message_id

    def outbox_verification(self, ctx, identity) -> None:
        """The message AWS sends to an address being verified; its link
        (served by cloudlet) verifies it."""
        link = f"http://localhost:{self.cloud.settings.port}/_cloudlet/ses/verify?token={identity.token}"
        text = (f"Dear Amazon Web Services Customer,\n\nWe have received a request to authorize this email address "
                f"for use with Amazon SES and Amazon Pinpoint in region {ctx.region}. If you requested this "
                f"verification, please go to the following URL to confirm that you are authorized to use this email "
                f"address:\n\n{link}\n\nYour request will not be processed unless you confirm the address using this "
                f"URL.\n")
        self.keep_mail(ctx.account_id, ctx.region, "no-reply-aws@amazon.com", [identity.name],
                       f"Amazon Web Services – Email Address Verification Request in region {ctx.region}", text,
                       "verification")


def _bulk_status(code: str) -> str:
    return {"MessageRejected": "MessageRejected", "MailFromDomainNotVerifiedException": "MailFromDomainNotVerified",
            "ConfigurationSetDoesNotExist": "ConfigurationSetDoesNotExist", "InvalidParameterValue":
            "InvalidParameterValue", "Throttling": "AccountThrottled"}.get(code, "Failed")
