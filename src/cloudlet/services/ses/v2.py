"""Amazon SES v2 API (REST/JSON): the same identities, templates,
configuration sets, account and mail as the v1 API (provider.py), in v2's
shapes and with v2's error codes. Everything is stored by the "ses"
provider; this one translates.
"""

from __future__ import annotations

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.ses import mime
from cloudlet.services.ses.identities import DOMAIN, EMAIL, identity_arn
from cloudlet.services.ses.sending import Outgoing

_V2_EVENT = {"SEND": "send", "REJECT": "reject", "BOUNCE": "bounce", "COMPLAINT": "complaint",
             "DELIVERY": "delivery", "OPEN": "open", "CLICK": "click", "RENDERING_FAILURE": "renderingFailure",
             "DELIVERY_DELAY": "deliveryDelay", "SUBSCRIPTION": "subscription"}
_V1_EVENT = {v: k for k, v in _V2_EVENT.items()}
_V2_SOURCE = {"MESSAGE_TAG": "messageTag", "EMAIL_HEADER": "emailHeader", "LINK_TAG": "linkTag"}
_V1_SOURCE = {v: k for k, v in _V2_SOURCE.items()}
_STATUS = {"Pending": "PENDING", "Success": "SUCCESS", "Failed": "FAILED", "TemporaryFailure": "TEMPORARY_FAILURE",
           "NotStarted": "NOT_STARTED"}


def _tags_out(tags: dict) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


class SesV2Service(Service):
    model_name = "sesv2"

    @property
    def v1(self):
        return self.cloud.service("ses")

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        return self.v1.authz_resources(ctx, operation, params)

    # -- identities -------------------------------------------------------------------

    def _identity(self, ctx, name: str):
        found = self.v1.find_identity(ctx.account_id, ctx.region, name)
        if found is None:
            raise AwsError("NotFoundException", f"Email identity {name} does not exist.")
        return found

    def _dkim(self, identity, domain_identity=None) -> dict:
        source = identity if identity.kind == DOMAIN else domain_identity
        if source is None:
            return {"SigningEnabled": False, "Status": "NOT_STARTED", "SigningAttributesOrigin": "AWS_SES",
                    "NextSigningKeyLength": "RSA_2048_BIT"}
        return {"SigningEnabled": source.dkim_enabled,
                "Status": "SUCCESS" if source.status == "Success" else "PENDING", "Tokens": source.dkim_tokens,
                "SigningAttributesOrigin": "AWS_SES", "NextSigningKeyLength": "RSA_2048_BIT",
                "CurrentSigningKeyLength": "RSA_2048_BIT", "LastKeyGenerationTimestamp": source.created}

    def CreateEmailIdentity(self, ctx, params):
        name = params["EmailIdentity"]
        if self.v1.find_identity(ctx.account_id, ctx.region, name) is not None:
            raise AwsError("AlreadyExistsException", f"Email identity {name} already exist.")
        if params.get("ConfigurationSetName"):
            self.v1.known_config_set(ctx, params["ConfigurationSetName"], v2=True)
        kind = EMAIL if "@" in name else DOMAIN
        if kind == EMAIL:
            self.v1.check_addresses([name], v2=True)
        identity = self.v1.add_identity(ctx, name if kind == EMAIL else name.lower(), kind,
                                        {t["Key"]: t["Value"] for t in params.get("Tags") or ()})
        if params.get("ConfigurationSetName"):
            self.v1._update_settings(ctx.account_id, ctx.region, identity,
                                     ConfigurationSetName=params["ConfigurationSetName"])
        out = {"IdentityType": "EMAIL_ADDRESS" if kind == EMAIL else "DOMAIN",
               "VerifiedForSendingStatus": identity.status == "Success"}
        if kind == DOMAIN:
            out["DkimAttributes"] = self._dkim(identity)
        return out

    def GetEmailIdentity(self, ctx, params):
        identity = self._identity(ctx, params["EmailIdentity"])
        domain = None
        if identity.kind == EMAIL:
            domain = self.v1.find_identity(ctx.account_id, ctx.region, identity.name.rpartition("@")[2].lower())
        s = identity.settings
        out = {"IdentityType": "EMAIL_ADDRESS" if identity.kind == EMAIL else "DOMAIN",
               "FeedbackForwardingStatus": s.get("ForwardingEnabled", True),
               "VerifiedForSendingStatus": self.v1.verified_for_sending(ctx.account_id, ctx.region, identity.name)
               if identity.kind == EMAIL else identity.status == "Success",
               "DkimAttributes": self._dkim(identity, domain),
               "MailFromAttributes": {"BehaviorOnMxFailure": "REJECT_MESSAGE"
                                      if s.get("BehaviorOnMXFailure") == "RejectMessage" else "USE_DEFAULT_VALUE"},
               "Policies": {}, "Tags": _tags_out(identity.tags),
               "VerificationStatus": _STATUS[identity.status], "VerificationInfo": {}}
        if s.get("MailFromDomain"):
            out["MailFromAttributes"].update(MailFromDomain=s["MailFromDomain"],
                                             MailFromDomainStatus="SUCCESS" if identity.status == "Success"
                                             else "PENDING")
        if s.get("ConfigurationSetName"):
            out["ConfigurationSetName"] = s["ConfigurationSetName"]
        return out

    def ListEmailIdentities(self, ctx, params):
        from cloudlet.services.ses.provider import page

        items = [{"IdentityType": "EMAIL_ADDRESS" if i.kind == EMAIL else "DOMAIN", "IdentityName": i.name,
                  "SendingEnabled": i.status == "Success", "VerificationStatus": _STATUS[i.status]}
                 for i in self.v1.identities(ctx.account_id, ctx.region)]
        return page(items, params, "EmailIdentities", limit_key="PageSize", default=100)

    def DeleteEmailIdentity(self, ctx, params):
        self._identity(ctx, params["EmailIdentity"])
        self.v1.DeleteIdentity(ctx, {"Identity": params["EmailIdentity"]})
        return {}

    def PutEmailIdentityFeedbackAttributes(self, ctx, params):
        identity = self._identity(ctx, params["EmailIdentity"])
        self.v1._update_settings(ctx.account_id, ctx.region, identity,
                                 ForwardingEnabled=bool(params.get("EmailForwardingEnabled", False)))
        return {}

    def PutEmailIdentityDkimAttributes(self, ctx, params):
        identity = self._identity(ctx, params["EmailIdentity"])
        with self.storage.tx():
            self.storage.execute("UPDATE ses_identities SET dkim_enabled = ? WHERE account = ? AND region = ? AND "
                                 "identity = ?", (int(bool(params.get("SigningEnabled"))), ctx.account_id,
                                                  ctx.region, identity.name))
        return {}

    def PutEmailIdentityMailFromAttributes(self, ctx, params):
        identity = self._identity(ctx, params["EmailIdentity"])
        self.v1._update_settings(ctx.account_id, ctx.region, identity,
                                 MailFromDomain=params.get("MailFromDomain") or None,
                                 BehaviorOnMXFailure="RejectMessage"
                                 if params.get("BehaviorOnMxFailure") == "REJECT_MESSAGE" else "UseDefaultValue")
        return {}

    def PutEmailIdentityConfigurationSetAttributes(self, ctx, params):
        identity = self._identity(ctx, params["EmailIdentity"])
        if params.get("ConfigurationSetName"):
            self.v1.known_config_set(ctx, params["ConfigurationSetName"], v2=True)
        self.v1._update_settings(ctx.account_id, ctx.region, identity,
                                 ConfigurationSetName=params.get("ConfigurationSetName") or None)
        return {}

    # -- sending ------------------------------------------------------------------------

    async def SendEmail(self, ctx, params):
        content = params["Content"]
        destination = params.get("Destination") or {}
        to, cc, bcc = (destination.get(k) or [] for k in ("ToAddresses", "CcAddresses", "BccAddresses"))
        source = params.get("FromEmailAddress")
        tags = params.get("EmailTags") or []
        config_set = params.get("ConfigurationSetName")
        reply_to = params.get("ReplyToAddresses")
        if content.get("Raw") is not None:
            data = content["Raw"]["Data"]
            if len(data) > mime.MAX_RAW_SIZE_V2:
                raise AwsError("BadRequestException", "Message length exceeds 41943040 bytes long.")
            try:
                parsed = mime.parse_raw(data)
            except mime.MimeError as err:
                raise AwsError("BadRequestException", str(err)) from None
            source = source or parsed.get("from")
            if not destination:
                to, cc, bcc = parsed["to"], parsed["cc"], parsed["bcc"]
            out = Outgoing("SendRawEmail", source or "", to, cc, bcc, data, parsed.get("subject"), config_set, tags)
        elif content.get("Template") is not None:
            template = content["Template"]
            if not source:
                raise AwsError("BadRequestException", "Missing required parameter FromEmailAddress.")
            if template.get("TemplateContent") is not None:
                tc = template["TemplateContent"]
                stored = {"SubjectPart": tc.get("Subject"), "TextPart": tc.get("Text"), "HtmlPart": tc.get("Html")}
                out = self.v1.rendered("SendTemplatedEmail", source, destination, stored, "(inline)",
                                       template.get("TemplateData") or "{}", config_set, tags, reply_to, v2=True)
            else:
                name = template.get("TemplateName") or (template.get("TemplateArn") or "").rpartition("/")[2]
                out = self.v1._templated(ctx, "SendTemplatedEmail", source, destination, name,
                                         template.get("TemplateData") or "{}", config_set, tags, reply_to, v2=True)
        else:
            simple = content.get("Simple") or {}
            if not source:
                raise AwsError("BadRequestException", "Missing required parameter FromEmailAddress.")
            body = simple.get("Body") or {}
            subject = (simple.get("Subject") or {}).get("Data")
            raw = mime.build_message(source, to, cc, bcc, subject, (body.get("Text") or {}).get("Data"),
                                     (body.get("Html") or {}).get("Data"), reply_to=reply_to,
                                     headers={h["Name"]: h["Value"] for h in simple.get("Headers") or ()},
                                     date=self.clock.now())
            out = Outgoing("SendEmail", source, to, cc, bcc, raw, subject, config_set, tags)
        if out.config_set is None:
            identity = self.v1.sending_identity(ctx.account_id, ctx.region, mime.bare(out.source or ""))
            if identity is not None and identity.settings.get("ConfigurationSetName"):
                out.config_set = identity.settings["ConfigurationSetName"]
        return {"MessageId": await self.v1.send(ctx, out, v2=True)}

    # -- templates --------------------------------------------------------------------------

    def _template_in(self, params) -> dict:
        content = params.get("TemplateContent") or {}
        return {"TemplateName": params["TemplateName"], "SubjectPart": content.get("Subject"),
                "TextPart": content.get("Text"), "HtmlPart": content.get("Html")}

    def CreateEmailTemplate(self, ctx, params):
        self.v1.put_template(ctx, self._template_in(params), create=True, v2=True)
        return {}

    def UpdateEmailTemplate(self, ctx, params):
        self.v1.put_template(ctx, self._template_in(params), create=False, v2=True)
        return {}

    def _template(self, ctx, name: str) -> dict:
        found = self.v1.template(ctx.account_id, ctx.region, name)
        if found is None:
            raise AwsError("NotFoundException", f"Template {name} does not exist.")
        return found

    def GetEmailTemplate(self, ctx, params):
        found = self._template(ctx, params["TemplateName"])
        content = {k2: found[k1] for k1, k2 in (("SubjectPart", "Subject"), ("TextPart", "Text"),
                                                ("HtmlPart", "Html")) if found.get(k1) is not None}
        return {"TemplateName": found["TemplateName"], "TemplateContent": content, "Tags": []}

    def DeleteEmailTemplate(self, ctx, params):
        self._template(ctx, params["TemplateName"])
        return self.v1.DeleteTemplate(ctx, params)

    def ListEmailTemplates(self, ctx, params):
        from cloudlet.services.ses.provider import page

        listed = self.v1.ListTemplates(ctx, {"MaxItems": 10_000})["TemplatesMetadata"]
        items = [{"TemplateName": t["Name"], "CreatedTimestamp": t["CreatedTimestamp"]} for t in listed]
        return page(items, params, "TemplatesMetadata", limit_key="PageSize", default=10)

    def TestRenderEmailTemplate(self, ctx, params):
        self._template(ctx, params["TemplateName"])
        try:
            return self.v1.TestRenderTemplate(ctx, params)
        except AwsError as err:
            raise AwsError("BadRequestException", err.message) from None

    # -- the account --------------------------------------------------------------------------

    def GetAccount(self, ctx, params):
        production, enabled, details = self.v1.account_state(ctx.account_id, ctx.region)
        daily, rate, sent = self.v1.quota(ctx.account_id, ctx.region)
        out = {"DedicatedIpAutoWarmupEnabled": True, "EnforcementStatus": "HEALTHY",
               "ProductionAccessEnabled": production,
               "SendQuota": {"Max24HourSend": daily, "MaxSendRate": rate, "SentLast24Hours": sent},
               "SendingEnabled": enabled, "SuppressionAttributes": {"SuppressedReasons": []}}
        if details:
            out["Details"] = details
        return out

    def PutAccountDetails(self, ctx, params):
        """Production access is granted at once here (AWS reviews the
        request): the quota becomes 50,000 a day, 14 a second."""
        details = {k: params[k] for k in ("MailType", "WebsiteURL", "ContactLanguage", "UseCaseDescription",
                                          "AdditionalContactEmailAddresses") if params.get(k) is not None}
        production = bool(params.get("ProductionAccessEnabled"))
        if production:
            details["ReviewDetails"] = {"Status": "GRANTED", "CaseId": "cloudlet-local"}
        current = self.v1.account_state(ctx.account_id, ctx.region)[0]
        self.v1._set_account(ctx.account_id, ctx.region, production=int(production or current),
                             details=orjson.dumps(details).decode())
        return {}

    def PutAccountSendingAttributes(self, ctx, params):
        self.v1._set_account(ctx.account_id, ctx.region, sending_enabled=int(bool(params.get("SendingEnabled"))))
        return {}

    # -- configuration sets ----------------------------------------------------------------------

    def CreateConfigurationSet(self, ctx, params):
        settings = {}
        if params.get("SendingOptions") is not None:
            settings["SendingEnabled"] = bool(params["SendingOptions"].get("SendingEnabled", True))
        if params.get("DeliveryOptions", {}).get("TlsPolicy"):
            settings["TlsPolicy"] = "Require" if params["DeliveryOptions"]["TlsPolicy"] == "REQUIRE" else "Optional"
        self.v1.create_config_set(ctx, params["ConfigurationSetName"], settings,
                                  {t["Key"]: t["Value"] for t in params.get("Tags") or ()}, v2=True)
        return {}

    def GetConfigurationSet(self, ctx, params):
        found = self.v1.known_config_set(ctx, params["ConfigurationSetName"], v2=True)
        s = found["settings"]
        return {"ConfigurationSetName": found["name"],
                "DeliveryOptions": {"TlsPolicy": "REQUIRE" if s.get("TlsPolicy") == "Require" else "OPTIONAL"},
                "ReputationOptions": {"ReputationMetricsEnabled": s.get("ReputationMetricsEnabled", False)},
                "SendingOptions": {"SendingEnabled": s.get("SendingEnabled", True)},
                "Tags": _tags_out(found["tags"])}

    def ListConfigurationSets(self, ctx, params):
        from cloudlet.services.ses.provider import page

        names = [c["Name"] for c in self.v1.ListConfigurationSets(ctx, {"MaxItems": 10_000})["ConfigurationSets"]]
        return page(names, params, "ConfigurationSets", limit_key="PageSize", default=100)

    def DeleteConfigurationSet(self, ctx, params):
        self.v1.known_config_set(ctx, params["ConfigurationSetName"], v2=True)
        return self.v1.DeleteConfigurationSet(ctx, params)

    def _destination_in(self, name: str, d: dict) -> dict:
        out: dict = {"Name": name, "Enabled": bool(d.get("Enabled", False)),
                     "MatchingEventTypes": [_V2_EVENT[t] for t in d.get("MatchingEventTypes") or () if t in _V2_EVENT]}
        if d.get("SnsDestination"):
            out["SNSDestination"] = {"TopicARN": d["SnsDestination"]["TopicArn"]}
        if d.get("EventBridgeDestination"):
            out["EventBridgeDestination"] = {"EventBusArn": d["EventBridgeDestination"]["EventBusArn"]}
        if d.get("CloudWatchDestination"):
            out["CloudWatchDestination"] = {"DimensionConfigurations": [
                {"DimensionName": c["DimensionName"], "DimensionValueSource": _V2_SOURCE[c["DimensionValueSource"]],
                 "DefaultDimensionValue": c["DefaultDimensionValue"]}
                for c in d["CloudWatchDestination"].get("DimensionConfigurations") or ()]}
        if d.get("KinesisFirehoseDestination"):
            out["KinesisFirehoseDestination"] = {
                "IAMRoleARN": d["KinesisFirehoseDestination"]["IamRoleArn"],
                "DeliveryStreamARN": d["KinesisFirehoseDestination"]["DeliveryStreamArn"]}
        return out

    def _destination_out(self, d: dict) -> dict:
        out: dict = {"Name": d["Name"], "Enabled": d.get("Enabled", False),
                     "MatchingEventTypes": [_V1_EVENT[t] for t in d.get("MatchingEventTypes") or ()]}
        if d.get("SNSDestination"):
            out["SnsDestination"] = {"TopicArn": d["SNSDestination"]["TopicARN"]}
        if d.get("EventBridgeDestination"):
            out["EventBridgeDestination"] = d["EventBridgeDestination"]
        if d.get("CloudWatchDestination"):
            out["CloudWatchDestination"] = {"DimensionConfigurations": [
                dict(c, DimensionValueSource=_V1_SOURCE.get(c["DimensionValueSource"], c["DimensionValueSource"]))
                for c in d["CloudWatchDestination"].get("DimensionConfigurations") or ()]}
        if d.get("KinesisFirehoseDestination"):
            out["KinesisFirehoseDestination"] = {
                "IamRoleArn": d["KinesisFirehoseDestination"]["IAMRoleARN"],
                "DeliveryStreamArn": d["KinesisFirehoseDestination"]["DeliveryStreamARN"]}
        return out

    async def CreateConfigurationSetEventDestination(self, ctx, params):
        await self.v1.put_event_destination(ctx, params["ConfigurationSetName"], self._destination_in(
            params["EventDestinationName"], params["EventDestination"]), True, v2=True)
        return {}

    async def UpdateConfigurationSetEventDestination(self, ctx, params):
        await self.v1.put_event_destination(ctx, params["ConfigurationSetName"], self._destination_in(
            params["EventDestinationName"], params["EventDestination"]), False, v2=True)
        return {}

    def GetConfigurationSetEventDestinations(self, ctx, params):
        found = self.v1.known_config_set(ctx, params["ConfigurationSetName"], v2=True)
        return {"EventDestinations": [self._destination_out(d) for d in found["destinations"].values()]}

    def DeleteConfigurationSetEventDestination(self, ctx, params):
        self.v1.delete_event_destination(ctx, params["ConfigurationSetName"], params["EventDestinationName"],
                                         v2=True)
        return {}

    # -- tags ------------------------------------------------------------------------------------

    def _tag_target(self, ctx, arn: str):
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[2] != "ses" or parts[4] != ctx.account_id:
            raise AwsError("BadRequestException", f"Invalid resource ARN: {arn}")
        kind, _, name = parts[5].partition("/")
        if kind == "identity":
            return "identity", self._identity(ctx, name)
        if kind == "configuration-set":
            return "configuration-set", self.v1.known_config_set(ctx, name, v2=True)
        raise AwsError("NotFoundException", f"Resource {arn} does not exist.")

    def _save_tags(self, ctx, kind: str, target, tags: dict) -> None:
        if kind == "identity":
            with self.storage.tx():
                self.storage.execute("UPDATE ses_identities SET tags = ? WHERE account = ? AND region = ? AND "
                                     "identity = ?", (orjson.dumps(tags).decode(), ctx.account_id, ctx.region,
                                                      target.name))
        else:
            target["tags"] = tags
            self.v1._save_config_set(ctx.account_id, ctx.region, target)

    def TagResource(self, ctx, params):
        kind, target = self._tag_target(ctx, params["ResourceArn"])
        tags = dict(target.tags if kind == "identity" else target["tags"])
        tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        if len(tags) > 50:
            raise AwsError("BadRequestException", "Too many tags.")
        self._save_tags(ctx, kind, target, tags)
        return {}

    def UntagResource(self, ctx, params):
        kind, target = self._tag_target(ctx, params["ResourceArn"])
        tags = {k: v for k, v in (target.tags if kind == "identity" else target["tags"]).items()
                if k not in params["TagKeys"]}
        self._save_tags(ctx, kind, target, tags)
        return {}

    def ListTagsForResource(self, ctx, params):
        kind, target = self._tag_target(ctx, params["ResourceArn"])
        return {"Tags": _tags_out(target.tags if kind == "identity" else target["tags"])}


__all__ = ["SesV2Service", "identity_arn"]
