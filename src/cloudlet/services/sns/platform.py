"""SNS mobile push: platform applications and their endpoints, and the
outbox where SNS "sends" what cloudlet cannot deliver (SMS, mobile push,
email).

`sns_platform` holds both kinds of object:

- an application: arn arn:aws:sns:{region}:{account}:app/{Platform}/{Name},
  kind 'application', name its Name, attributes everything it was given
  (its credentials included: kept, never shown) plus what SNS derives
  (Enabled, AuthenticationMethod, AppleCertificateExpiryDate).
- an endpoint: arn arn:aws:sns:{region}:{account}:endpoint/{Platform}/{Name}/{uuid},
  kind 'endpoint', parent its application's ARN, name its current device
  token (so CreatePlatformEndpoint finds an endpoint by token), attributes
  Enabled, Token, CustomUserData (Baidu: ChannelId, UserId).

Credentials are checked for presence, not against the push services: a
local cloud cannot ask APNs or FCM whether a key is good. An APNs
certificate that parses as PEM gives AppleCertificateExpiryDate.

The outbox (`sns_outbox`) is what the publisher captured: `capture` adds to
it, `outbox` reads it (GET /_cloudlet/sns/messages), `clear_outbox` empties it.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import re
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.sns.topics import invalid, not_found

APPLE = ("APNS", "APNS_SANDBOX", "APNS_VOIP", "APNS_VOIP_SANDBOX", "MACOS", "MACOS_SANDBOX")
PLATFORMS = ("ADM", *APPLE, "BAIDU", "GCM", "MPNS", "WNS")
CREDENTIALS = ("PlatformCredential", "PlatformPrincipal")
EVENTS = ("EventEndpointCreated", "EventEndpointDeleted", "EventEndpointUpdated", "EventDeliveryFailure")
ROLES = ("SuccessFeedbackRoleArn", "FailureFeedbackRoleArn")
APPLE_TOKEN = ("ApplePlatformTeamID", "ApplePlatformBundleID")
APP_ATTRIBUTES = frozenset({*CREDENTIALS, *EVENTS, *ROLES, "SuccessFeedbackSampleRate", *APPLE_TOKEN, "Enabled"})
ENDPOINT_ATTRIBUTES = frozenset({"CustomUserData", "Enabled", "Token"})
BAIDU_ATTRIBUTES = ("ChannelId", "UserId")
MAX_USER_DATA = 2048  # bytes of UTF-8
PAGE = 100

_APP_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")


def app_missing() -> AwsError:
    return not_found("PlatformApplication does not exist")


def endpoint_missing() -> AwsError:
    return not_found("Endpoint does not exist")


def _check_arn(arn: str | None, what: str) -> str:
    arn = arn or ""
    count = len(arn.split(":"))
    if count < 6:
        raise invalid(f"{what} Reason: An ARN must have at least 6 elements, not {count}")
    return arn


def _boolean(value: str, name: str) -> str:
    if value.lower() not in ("true", "false"):
        raise invalid(f"Attributes Reason: Invalid value for attribute: {name}: must be true or false")
    return value.lower()


def _token(platform: str, token: str) -> str:
    # "The device token for the iOS platform is returned in lowercase."
    return token.lower() if platform in APPLE else token


class Application:
    __slots__ = ("arn", "account", "region", "platform", "name", "attributes", "created")

    def __init__(self, row):
        self.arn, self.account, self.name, attributes, self.created = row
        self.attributes: dict[str, str] = orjson.loads(attributes)
        parts = self.arn.split(":")
        self.region = parts[3]
        self.platform = parts[5].split("/")[1]

    @property
    def public(self) -> dict[str, str]:
        """The attributes GetPlatformApplicationAttributes shows: never the
        credentials."""
        return {k: v for k, v in self.attributes.items() if k not in CREDENTIALS}

    @property
    def enabled(self) -> bool:
        return self.attributes.get("Enabled", "true") == "true"


class PlatformOps:
    """Mixin of SnsService."""

    # -- lookups ---------------------------------------------------------

    def _find_application(self, arn: str) -> Application | None:
        row = self.storage.one("SELECT arn, account, name, attributes, created FROM sns_platform "
                               "WHERE arn = ? AND kind = 'application'", (arn,))
        return Application(row) if row is not None else None

    def _application(self, ctx, arn: str | None) -> Application:
        arn = _check_arn(arn, "PlatformApplicationArn")
        app = self._find_application(arn)
        if app is None or app.account != ctx.account_id or app.region != ctx.region:
            raise app_missing()
        return app

    def _endpoint_row(self, ctx, arn: str | None):
        arn = _check_arn(arn, "EndpointArn")
        row = self.storage.one("SELECT arn, account, parent, attributes FROM sns_platform "
                               "WHERE arn = ? AND kind = 'endpoint'", (arn,))
        if row is None or row[1] != ctx.account_id or arn.split(":")[3] != ctx.region:
            raise endpoint_missing()
        return row

    def platform_endpoint(self, arn: str) -> dict | None:
        """A mobile endpoint for the publisher: its attributes (Enabled,
        Token, CustomUserData, ...) and Platform, PlatformApplicationArn,
        ApplicationEnabled ("true"/"false"), Account; None if there is none."""
        row = self.storage.one("SELECT account, parent, attributes FROM sns_platform "
                               "WHERE arn = ? AND kind = 'endpoint'", (arn,))
        if row is None:
            return None
        account, parent, attributes = row
        out = orjson.loads(attributes)
        app = self._find_application(parent)
        out.update(Platform=parent.split(":")[5].split("/")[1], PlatformApplicationArn=parent, Account=account,
                   ApplicationEnabled="true" if app is None or app.enabled else "false")
        return out

    # -- platform applications -------------------------------------------

    def CreatePlatformApplication(self, ctx, params):
        name = params.get("Name") or ""
        platform = params.get("Platform") or ""
        given = dict(params.get("Attributes") or {})
        if not name:
            raise invalid(" Reason: cannot be empty")
        if len(name) > 256:
            raise invalid(f"{name} Reason: must be at most 256 characters long")
        if not _APP_NAME.match(name):
            raise invalid(f"{name} Reason: must contain only characters 'a'-'z', 'A'-'Z', '0'-'9', '_', '-', and '.'")
        if platform not in PLATFORMS:
            raise invalid(f"Platform Reason: {platform} is not supported")
        attributes = {"Enabled": "true"}
        attributes.update(_check_app_attributes(platform, given))
        _require_credentials(platform, attributes)
        _derive(platform, attributes)
        arn = f"arn:aws:sns:{ctx.region}:{ctx.account_id}:app/{platform}/{name}"
        with self.storage.tx():
            existing = self._find_application(arn)
            if existing is not None:
                # Creating it again keeps its endpoints and takes the new settings.
                merged = dict(existing.attributes)
                merged.update(attributes)
                _derive(platform, merged)
                self._save_application(arn, merged)
            else:
                self.storage.execute(
                    "INSERT INTO sns_platform (arn, account, kind, parent, name, attributes, created) "
                    "VALUES (?, ?, 'application', NULL, ?, ?, ?)",
                    (arn, ctx.account_id, name, orjson.dumps(attributes).decode(), self.clock.now()))
        return {"PlatformApplicationArn": arn}

    def _save_application(self, arn: str, attributes: dict) -> None:
        self.storage.execute("UPDATE sns_platform SET attributes = ? WHERE arn = ?",
                             (orjson.dumps(attributes).decode(), arn))

    def GetPlatformApplicationAttributes(self, ctx, params):
        return {"Attributes": self._application(ctx, params.get("PlatformApplicationArn")).public}

    def SetPlatformApplicationAttributes(self, ctx, params):
        app = self._application(ctx, params.get("PlatformApplicationArn"))
        checked = _check_app_attributes(app.platform, dict(params.get("Attributes") or {}))
        attributes = dict(app.attributes)
        for name, value in checked.items():
            if value == "" and name not in CREDENTIALS:
                attributes.pop(name, None)  # an empty value unsets an event topic, role or sample rate
            else:
                attributes[name] = value
        attributes.setdefault("Enabled", "true")
        _require_credentials(app.platform, attributes)
        _derive(app.platform, attributes)
        with self.storage.tx():
            self._save_application(app.arn, attributes)
        return {}

    def ListPlatformApplications(self, ctx, params):
        prefix = f"arn:aws:sns:{ctx.region}:{ctx.account_id}:app/"
        after = _read_token(params.get("NextToken"), prefix)
        rows = self.storage.all(
            "SELECT arn, account, name, attributes, created FROM sns_platform WHERE account = ? "
            "AND kind = 'application' AND substr(arn, 1, ?) = ? AND arn > ? ORDER BY arn LIMIT ?",
            (ctx.account_id, len(prefix), prefix, after, PAGE + 1))
        apps = [Application(row) for row in rows[:PAGE]]
        out: dict = {"PlatformApplications": [{"PlatformApplicationArn": app.arn, "Attributes": app.public}
                                              for app in apps]}
        if len(rows) > PAGE:
            out["NextToken"] = _make_token(apps[-1].arn)
        return out

    def DeletePlatformApplication(self, ctx, params):
        arn = _check_arn(params.get("PlatformApplicationArn"), "PlatformApplicationArn")
        app = self._find_application(arn)
        if app is None or app.account != ctx.account_id or app.region != ctx.region:
            return {}  # deleting what does not exist succeeds
        with self.storage.tx():
            self.storage.execute("DELETE FROM sns_platform WHERE kind = 'endpoint' AND parent = ?", (arn,))
            self.storage.execute("DELETE FROM sns_platform WHERE arn = ?", (arn,))
        return {}

    # -- platform endpoints ----------------------------------------------

    def CreatePlatformEndpoint(self, ctx, params):
        app = self._application(ctx, params.get("PlatformApplicationArn"))
        given = dict(params.get("Attributes") or {})
        token = params.get("Token") or ""
        if not token:
            raise invalid("Token Reason: cannot be empty")
        given.pop("Token", None)  # the Token parameter names the device
        if params.get("CustomUserData") is not None:
            given.setdefault("CustomUserData", params["CustomUserData"])  # an attribute of that name wins
        attributes = {"Enabled": "true", "Token": _token(app.platform, token)}
        attributes.update(_check_endpoint_attributes(app.platform, given))
        if app.platform == "BAIDU":
            missing = [name for name in BAIDU_ATTRIBUTES if not attributes.get(name)]
            if missing:
                raise invalid(f"Attributes Reason: {missing[0]} attribute required for the BAIDU platform")
        with self.storage.tx():
            existing = self.storage.one(
                "SELECT arn, attributes FROM sns_platform WHERE kind = 'endpoint' AND parent = ? AND name = ? "
                "ORDER BY created, arn LIMIT 1", (app.arn, attributes["Token"]))
            if existing is not None:
                if orjson.loads(existing[1]) != attributes:
                    raise invalid(f"Token Reason: Endpoint {existing[0]} already exists with the same Token, "
                                  "but different attributes.")
                return {"EndpointArn": existing[0]}
            arn = f"arn:aws:sns:{app.region}:{app.account}:endpoint/{app.platform}/{app.name}/{uuid.uuid4()}"
            self.storage.execute(
                "INSERT INTO sns_platform (arn, account, kind, parent, name, attributes, created) "
                "VALUES (?, ?, 'endpoint', ?, ?, ?, ?)",
                (arn, app.account, app.arn, attributes["Token"], orjson.dumps(attributes).decode(), self.clock.now()))
        return {"EndpointArn": arn}

    def GetEndpointAttributes(self, ctx, params):
        row = self._endpoint_row(ctx, params.get("EndpointArn"))
        return {"Attributes": orjson.loads(row[3])}

    def SetEndpointAttributes(self, ctx, params):
        arn, _, parent, stored = self._endpoint_row(ctx, params.get("EndpointArn"))
        platform = parent.split(":")[5].split("/")[1]
        given = dict(params.get("Attributes") or {})
        checked = _check_endpoint_attributes(platform, given)
        attributes = orjson.loads(stored)
        for name, value in checked.items():
            if name == "Token":
                if not value:
                    raise invalid("Attributes Reason: Invalid value for attribute: Token: cannot be empty")
                value = _token(platform, value)
            if name == "CustomUserData" and value == "":
                attributes.pop(name, None)
            else:
                attributes[name] = value
        with self.storage.tx():
            self.storage.execute("UPDATE sns_platform SET attributes = ?, name = ? WHERE arn = ?",
                                 (orjson.dumps(attributes).decode(), attributes["Token"], arn))
        return {}

    def ListEndpointsByPlatformApplication(self, ctx, params):
        app = self._application(ctx, params.get("PlatformApplicationArn"))
        prefix = f"arn:aws:sns:{app.region}:{app.account}:endpoint/"
        after = _read_token(params.get("NextToken"), prefix)
        rows = self.storage.all(
            "SELECT arn, attributes FROM sns_platform WHERE kind = 'endpoint' AND parent = ? AND arn > ? "
            "ORDER BY arn LIMIT ?", (app.arn, after, PAGE + 1))
        out: dict = {"Endpoints": [{"EndpointArn": arn, "Attributes": orjson.loads(attributes)}
                                   for arn, attributes in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["NextToken"] = _make_token(rows[PAGE - 1][0])
        return out

    def DeleteEndpoint(self, ctx, params):
        arn = _check_arn(params.get("EndpointArn"), "EndpointArn")
        if arn.split(":")[3] == ctx.region:
            with self.storage.tx():
                self.storage.execute("DELETE FROM sns_platform WHERE arn = ? AND kind = 'endpoint' AND account = ?",
                                     (arn, ctx.account_id))
        return {}  # idempotent

    # -- the outbox ------------------------------------------------------

    def capture(self, account: str, protocol: str, endpoint: str, message_id: str, message: str,
                subject: str | None = None, attributes: dict | None = None, topic_arn: str | None = None,
                subscription_arn: str | None = None) -> int:
        """Keep a message SNS would have sent out of the cloud (protocol
        "sms", "application", "email", "email-json") for GET
        /_cloudlet/sns/messages. Returns its id (increasing)."""
        encoded = orjson.dumps(attributes, default=_json_default).decode() if attributes else None
        if protocol in ("email", "email-json"):
            # Also where every other mail of the cloud is: SES's outbox.
            region = (topic_arn or subscription_arn or "").split(":")[3:4]
            self.cloud.service("ses").keep_mail(
                account, region[0] if region and region[0] else self.cloud.settings.region,
                "AWS Notifications <no-reply@sns.amazonaws.com>", [endpoint], subject or "AWS Notification Message",
                message, "sns")
        with self.storage.tx():
            cur = self.storage.execute(
                "INSERT INTO sns_outbox (account, protocol, endpoint, subscription_arn, topic_arn, message_id, "
                "subject, message, attributes, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, protocol, endpoint, subscription_arn, topic_arn, message_id, subject, message, encoded,
                 self.clock.now()))
        return cur.lastrowid

    @staticmethod
    def _outbox_filter(account: str | None, protocol: str | None, endpoint: str | None) -> tuple[str, list]:
        where, args = [], []
        for column, value in (("account", account), ("protocol", protocol), ("endpoint", endpoint)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        return (" WHERE " + " AND ".join(where)) if where else "", args

    def outbox(self, account: str | None = None, protocol: str | None = None,
               endpoint: str | None = None) -> list[dict]:
        """The captured messages, oldest first, filtered by whatever is given."""
        where, args = self._outbox_filter(account, protocol, endpoint)
        rows = self.storage.all(
            "SELECT id, account, protocol, endpoint, subscription_arn, topic_arn, message_id, subject, message, "
            f"attributes, created FROM sns_outbox{where} ORDER BY id", args)
        out = []
        for (id_, account_, protocol_, endpoint_, subscription_arn, topic_arn, message_id, subject, message,
             attributes, created) in rows:
            out.append({
                "id": id_, "account": account_, "protocol": protocol_, "endpoint": endpoint_,
                "subscriptionArn": subscription_arn, "topicArn": topic_arn, "messageId": message_id,
                "subject": subject, "message": message,
                "messageAttributes": orjson.loads(attributes) if attributes else None,
                "timestamp": _iso(created)})
        return out

    def clear_outbox(self, account: str | None = None, protocol: str | None = None,
                     endpoint: str | None = None) -> int:
        """Forget captured messages; returns how many."""
        where, args = self._outbox_filter(account, protocol, endpoint)
        with self.storage.tx():
            return self.storage.execute(f"DELETE FROM sns_outbox{where}", args).rowcount


# -- attribute rules -----------------------------------------------------

def _check_app_attributes(platform: str, given: dict) -> dict:
    out = {}
    for name, value in given.items():
        if name not in APP_ATTRIBUTES or (name in APPLE_TOKEN and platform not in APPLE):
            raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
        if value == "":
            out[name] = value
            continue
        if name in EVENTS and not _TOPIC_ARN.match(value):
            raise invalid(f"Attributes Reason: Invalid value for attribute: {name}: must be a topic ARN")
        if name in ROLES and not _ROLE_ARN.match(value):
            raise invalid(f"Attributes Reason: Invalid value for attribute: {name}: must be an IAM role ARN")
        if name == "SuccessFeedbackSampleRate" and (not value.isdigit() or int(value) > 100):
            raise invalid("Attributes Reason: Invalid value for attribute: SuccessFeedbackSampleRate: "
                          "must be an integer from 0 to 100")
        if name == "Enabled":
            value = _boolean(value, name)
        out[name] = value
    return out


def _require_credentials(platform: str, attributes: dict) -> None:
    """Each push service's credentials (CreatePlatformApplication's
    documentation): FCM (GCM) an API key or service-account JSON
    (PlatformCredential only); the others a principal and a credential."""
    has_principal = bool(attributes.get("PlatformPrincipal"))
    has_credential = bool(attributes.get("PlatformCredential"))
    if platform == "GCM":
        if not has_credential:
            raise invalid("Attributes Reason: PlatformCredential attribute required")
        return
    if has_credential and not has_principal:
        raise invalid("Attributes Reason: PlatformCredential attribute provided without PlatformPrincipal")
    if has_principal and not has_credential:
        raise invalid("Attributes Reason: PlatformPrincipal attribute provided without PlatformCredential")
    if not has_credential:
        raise invalid("Attributes Reason: PlatformPrincipal and PlatformCredential attributes required")
    if platform in APPLE:
        team, bundle = (attributes.get(name) for name in APPLE_TOKEN)
        if bool(team) != bool(bundle):
            raise invalid("Attributes Reason: ApplePlatformTeamID and ApplePlatformBundleID are both required "
                          "for token-based authentication")


def _derive(platform: str, attributes: dict) -> None:
    """What SNS works out from the credentials: AuthenticationMethod and,
    for an APNs certificate, its expiry date."""
    attributes.pop("AppleCertificateExpiryDate", None)
    if platform in APPLE:
        if attributes.get("ApplePlatformTeamID") and attributes.get("ApplePlatformBundleID"):
            attributes["AuthenticationMethod"] = "Token"
        else:
            attributes["AuthenticationMethod"] = "Certificate"
            expiry = _certificate_expiry(attributes.get("PlatformPrincipal", ""))
            if expiry is not None:
                attributes["AppleCertificateExpiryDate"] = expiry
    elif platform == "GCM":
        try:
            key = orjson.loads(attributes.get("PlatformCredential", ""))
        except orjson.JSONDecodeError:
            key = None
        attributes["AuthenticationMethod"] = "Token" if isinstance(key, dict) else "Key"


def _certificate_expiry(pem: str) -> str | None:
    if "-----BEGIN CERTIFICATE-----" not in pem:
        return None
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(pem.encode())
    except (ValueError, TypeError):
        return None
    return cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_endpoint_attributes(platform: str, given: dict) -> dict:
    allowed = ENDPOINT_ATTRIBUTES | (set(BAIDU_ATTRIBUTES) if platform == "BAIDU" else set())
    out = {}
    for name, value in given.items():
        if name not in allowed:
            raise invalid(f"Attributes Reason: Invalid attribute name: {name}")
        if name == "Enabled":
            value = _boolean(value, name)
        elif name == "CustomUserData" and len(value.encode()) > MAX_USER_DATA:
            raise invalid("Attributes Reason: Invalid value for attribute: CustomUserData: must be at most "
                          "2048 bytes long in UTF-8 encoding")
        out[name] = value
    return out


# -- pagination tokens: the last ARN of the page, opaque to callers ------

def _make_token(arn: str) -> str:
    return base64.urlsafe_b64encode(arn.encode()).decode()


def _read_token(token: str | None, prefix: str) -> str:
    if not token:
        return ""
    try:
        arn = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid("NextToken") from None
    if not arn.startswith(prefix):
        raise invalid("NextToken")
    return arn


def _json_default(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
