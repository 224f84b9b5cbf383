"""SES identities (email addresses and domains), shared by the v1 and v2
APIs: verification, DKIM tokens, feedback notification topics, MAIL FROM
domains. Mixed into SesService (v1); SesV2Service reads them through it.

Verification cannot happen for real on one machine (no mailbox receives
AWS's message, no DNS holds the TXT record), so an identity is Pending
until it is verified the local way: the verification message SES sends to
an email identity lands in the outbox with a link that verifies it, and
`POST /_cloudlet/ses/verify {"identity": ...}` verifies any identity (a
domain's DNS records "found"). An address at a verified domain is
verified for sending, as on AWS.
"""

from __future__ import annotations

import base64
import os
import secrets

import orjson

from cloudlet.errors import AwsError

EMAIL, DOMAIN = "EmailAddress", "Domain"
NOTIFICATION_TYPES = ("Bounce", "Complaint", "Delivery")
_DKIM_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_COLUMNS = "identity, kind, status, token, dkim_tokens, dkim_enabled, created, settings, tags"


def region_name_upper(region: str) -> str:
    return region.upper()


class Identity:
    __slots__ = ("name", "kind", "status", "token", "dkim_tokens", "dkim_enabled", "created", "settings", "tags")

    def __init__(self, row):
        (self.name, self.kind, self.status, self.token, dkim, dkim_enabled, self.created, settings, tags) = row
        self.dkim_tokens = orjson.loads(dkim)
        self.dkim_enabled = bool(dkim_enabled)
        self.settings = orjson.loads(settings)
        self.tags = orjson.loads(tags)


def identity_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:ses:{region}:{account}:identity/{name}"


class IdentityOps:
    """Mixed into SesService."""

    # -- storage ----------------------------------------------------------------

    def find_identity(self, account: str, region: str, name: str) -> Identity | None:
        row = self.storage.one(f"SELECT {_COLUMNS} FROM ses_identities WHERE account = ? AND region = ? AND "
                               "identity = ?", (account, region, name))
        return Identity(row) if row else None

    def identities(self, account: str, region: str, kind: str | None = None) -> list[Identity]:
        rows = self.storage.all(f"SELECT {_COLUMNS} FROM ses_identities WHERE account = ? AND region = ? "
                                "ORDER BY created, rowid", (account, region))
        return [i for i in map(Identity, rows) if kind is None or i.kind == kind]

    def add_identity(self, ctx, name: str, kind: str, tags: dict | None = None) -> Identity:
        """Create an identity (or return it: verifying again is a no-op on
        AWS, apart from a new verification message)."""
        found = self.find_identity(ctx.account_id, ctx.region, name)
        if found is None:
            token = base64.b64encode(os.urandom(32)).decode() if kind == DOMAIN else secrets.token_urlsafe(24)
            dkim = ["".join(secrets.choice(_DKIM_ALPHABET) for _ in range(32)) for _ in range(3)]
            with self.storage.tx():
                self.storage.execute(
                    "INSERT INTO ses_identities (account, region, identity, kind, status, token, dkim_tokens, "
                    "dkim_enabled, created, tags) VALUES (?, ?, ?, ?, 'Pending', ?, ?, ?, ?, ?)",
                    (ctx.account_id, ctx.region, name, kind, token, orjson.dumps(dkim).decode(),
                     int(kind == DOMAIN), self.clock.now(), orjson.dumps(tags or {}).decode()))
            found = self.find_identity(ctx.account_id, ctx.region, name)
        if kind == EMAIL and found.status != "Success":
            self.outbox_verification(ctx, found)
        return found

    def _update_settings(self, account: str, region: str, identity: Identity, **changes) -> None:
        settings = dict(identity.settings)
        for key, value in changes.items():
            if value is None:
                settings.pop(key, None)
            else:
                settings[key] = value
        with self.storage.tx():
            self.storage.execute("UPDATE ses_identities SET settings = ? WHERE account = ? AND region = ? AND "
                                 "identity = ?", (orjson.dumps(settings).decode(), account, region, identity.name))

    def mark_verified(self, account: str, region: str, name: str | None = None, token: str | None = None) -> str | None:
        """The local stand-in for AWS seeing the verification done (a link
        followed, a DNS record found). Returns the identity verified."""
        if token is not None:
            row = self.storage.one("SELECT account, region, identity FROM ses_identities WHERE token = ?", (token,))
            if row is None:
                return None
            account, region, name = row
        with self.storage.tx():
            cursor = self.storage.execute("UPDATE ses_identities SET status = 'Success' WHERE account = ? AND "
                                          "region = ? AND identity = ?", (account, region, name))
        return name if cursor.rowcount else None

    def verified_for_sending(self, account: str, region: str, address: str) -> bool:
        """An address is verified itself, or through its verified domain
        (or a parent domain)."""
        found = self.find_identity(account, region, address)
        if found is not None and found.status == "Success":
            return True
        domain = address.rpartition("@")[2].lower()
        parts = domain.split(".")
        for i in range(len(parts) - 1):
            parent = self.find_identity(account, region, ".".join(parts[i:]))
            if parent is not None and parent.kind == DOMAIN and parent.status == "Success":
                return True
        return False

    def sending_identity(self, account: str, region: str, address: str) -> Identity | None:
        """The identity whose settings (notification topics) govern mail
        from an address: the address itself, else its domain."""
        found = self.find_identity(account, region, address)
        if found is not None:
            return found
        domain = address.rpartition("@")[2].lower()
        return self.find_identity(account, region, domain)

    # -- v1: verification ---------------------------------------------------------

    def VerifyEmailIdentity(self, ctx, params):
        self.add_identity(ctx, params["EmailAddress"], EMAIL)
        return {}

    def VerifyEmailAddress(self, ctx, params):
        self.add_identity(ctx, params["EmailAddress"], EMAIL)
        return {}

    def VerifyDomainIdentity(self, ctx, params):
        found = self.add_identity(ctx, params["Domain"].lower(), DOMAIN)
        return {"VerificationToken": found.token}

    def VerifyDomainDkim(self, ctx, params):
        found = self.add_identity(ctx, params["Domain"].lower(), DOMAIN)
        return {"DkimTokens": found.dkim_tokens}

    def ListIdentities(self, ctx, params):
        from cloudlet.services.ses.provider import page

        names = [i.name for i in self.identities(ctx.account_id, ctx.region, params.get("IdentityType"))]
        return page(names, params, "Identities")

    def ListVerifiedEmailAddresses(self, ctx, params):
        return {"VerifiedEmailAddresses": [i.name for i in self.identities(ctx.account_id, ctx.region, EMAIL)
                                           if i.status == "Success"]}

    def DeleteIdentity(self, ctx, params):
        with self.storage.tx():
            self.storage.execute("DELETE FROM ses_identities WHERE account = ? AND region = ? AND identity = ?",
                                 (ctx.account_id, ctx.region, params["Identity"]))
        return {}

    def DeleteVerifiedEmailAddress(self, ctx, params):
        return self.DeleteIdentity(ctx, {"Identity": params["EmailAddress"]})

    def GetIdentityVerificationAttributes(self, ctx, params):
        out = {}
        for name in params["Identities"]:
            found = self.find_identity(ctx.account_id, ctx.region, name)
            if found is None:
                continue
            attrs = {"VerificationStatus": found.status}
            if found.kind == DOMAIN:
                attrs["VerificationToken"] = found.token
            out[name] = attrs
        return {"VerificationAttributes": out}

    # -- v1: DKIM -----------------------------------------------------------------

    def GetIdentityDkimAttributes(self, ctx, params):
        out = {}
        for name in params["Identities"]:
            found = self.find_identity(ctx.account_id, ctx.region, name)
            if found is None:
                continue
            attrs = {"DkimEnabled": found.dkim_enabled,
                     "DkimVerificationStatus": ("Success" if found.status == "Success" else "Pending")
                     if found.kind == DOMAIN else "NotStarted"}
            if found.kind == DOMAIN:
                attrs["DkimTokens"] = found.dkim_tokens
            out[name] = attrs
        return {"DkimAttributes": out}

    def SetIdentityDkimEnabled(self, ctx, params):
        found = self._known(ctx, params["Identity"])
        with self.storage.tx():
            self.storage.execute("UPDATE ses_identities SET dkim_enabled = ? WHERE account = ? AND region = ? AND "
                                 "identity = ?", (int(params["DkimEnabled"]), ctx.account_id, ctx.region, found.name))
        return {}

    # -- v1: notifications ----------------------------------------------------------

    def _known(self, ctx, name: str) -> Identity:
        found = self.find_identity(ctx.account_id, ctx.region, name)
        if found is None:
            raise AwsError("MessageRejected", f"Identity {name} is not verified or does not exist.")
        return found

    def _notification_type(self, value: str) -> str:
        if value not in NOTIFICATION_TYPES:
            raise AwsError("InvalidParameterValue", f"Invalid notification type: {value}. Valid values are: "
                                                    "Bounce, Complaint, Delivery.")
        return value

    def SetIdentityNotificationTopic(self, ctx, params):
        found = self._known(ctx, params["Identity"])
        kind = self._notification_type(params["NotificationType"])
        topic = params.get("SnsTopic") or None
        if topic is not None and self.cloud.service("sns").find_topic(topic) is None:
            raise AwsError("InvalidParameterValue", f"Invalid SNS topic: {topic}")
        self._update_settings(ctx.account_id, ctx.region, found, **{f"{kind}Topic": topic})
        return {}

    def SetIdentityFeedbackForwardingEnabled(self, ctx, params):
        found = self._known(ctx, params["Identity"])
        self._update_settings(ctx.account_id, ctx.region, found, ForwardingEnabled=bool(params["ForwardingEnabled"]))
        return {}

    def SetIdentityHeadersInNotificationsEnabled(self, ctx, params):
        found = self._known(ctx, params["Identity"])
        kind = self._notification_type(params["NotificationType"])
        self._update_settings(ctx.account_id, ctx.region, found,
                              **{f"HeadersIn{kind}NotificationsEnabled": bool(params["Enabled"])})
        return {}

    def notification_attributes(self, identity: Identity) -> dict:
        s = identity.settings
        out = {}
        for kind in NOTIFICATION_TYPES:
            if s.get(f"{kind}Topic"):
                out[f"{kind}Topic"] = s[f"{kind}Topic"]
        out["ForwardingEnabled"] = s.get("ForwardingEnabled", True)
        for kind in NOTIFICATION_TYPES:
            out[f"HeadersIn{kind}NotificationsEnabled"] = s.get(f"HeadersIn{kind}NotificationsEnabled", False)
        return out

    def GetIdentityNotificationAttributes(self, ctx, params):
        out = {}
        for name in params["Identities"]:
            found = self.find_identity(ctx.account_id, ctx.region, name)
            if found is not None:
                out[name] = self.notification_attributes(found)
        return {"NotificationAttributes": out}

    # -- v1: MAIL FROM --------------------------------------------------------------

    def SetIdentityMailFromDomain(self, ctx, params):
        found = self._known(ctx, params["Identity"])
        domain = params.get("MailFromDomain") or None
        self._update_settings(ctx.account_id, ctx.region, found, MailFromDomain=domain,
                              BehaviorOnMXFailure=params.get("BehaviorOnMXFailure") or "UseDefaultValue")
        return {}

    def GetIdentityMailFromDomainAttributes(self, ctx, params):
        out = {}
        for name in params["Identities"]:
            found = self.find_identity(ctx.account_id, ctx.region, name)
            if found is None:
                continue
            attrs = {"BehaviorOnMXFailure": found.settings.get("BehaviorOnMXFailure", "UseDefaultValue")}
            if found.settings.get("MailFromDomain"):
                attrs["MailFromDomain"] = found.settings["MailFromDomain"]
                attrs["MailFromDomainStatus"] = "Success" if found.status == "Success" else "Pending"
            out[name] = attrs
        return {"MailFromDomainAttributes": out}
