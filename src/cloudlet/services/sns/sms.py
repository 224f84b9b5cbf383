"""SNS text messaging (SMS): the account's SMS settings, the opt-out list,
the SMS sandbox and origination numbers.

State lives in `sns_sms` (account, kind, key, value):

- kind 'attribute': SetSMSAttributes values, key "{region}:{name}" (SMS
  settings are per region on AWS).
- kind 'opted_out': phone numbers that replied STOP, key the E.164 number,
  value JSON {"since": epoch}. Account-wide (cloudlet's opt-out API,
  `opt_out(account, phone)`, names no region).
- kind 'opted_in': when OptInPhoneNumber last opted a number in (AWS allows
  that once every 30 days), key the number, value epoch seconds.
- kind 'sandbox': SMS sandbox destination numbers, key "{region}:{phone}",
  value JSON {status, otp, language, created, sent: [epochs], attempted,
  verified}.

cloudlet's accounts are production accounts, out of the SMS sandbox
(GetSMSSandboxAccountStatus answers IsInSandbox false), so Publish may text
any number that has not opted out. The sandbox list still works as on AWS:
CreateSMSSandboxPhoneNumber "texts" a one-time password, which lands in the
SNS outbox (GET /_cloudlet/sns/messages?protocol=sms&endpoint=+1...) where a
test can read it and pass it to VerifySMSSandboxPhoneNumber.
"""

from __future__ import annotations

import re
import secrets
import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.sns.topics import invalid

SMS_ATTRIBUTES = ("MonthlySpendLimit", "DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate",
                  "DefaultSenderID", "DefaultSMSType", "UsageReportS3Bucket")
# What GetSMSAttributes shows for a new account (AWS answers {"MonthlySpendLimit": "1"}).
SMS_DEFAULTS = {"MonthlySpendLimit": "1"}
SMS_TYPES = ("Promotional", "Transactional")
LANGUAGES = ("en-US", "en-GB", "es-419", "es-ES", "de-DE", "fr-CA", "fr-FR", "it-IT", "ja-JP", "pt-BR",
             "kr-KR", "zh-CN", "zh-TW")

OPT_IN_INTERVAL = 30 * 86400  # "You can opt in a phone number only once every 30 days."
SANDBOX_MAX_NUMBERS = 10  # "You can have up to 10 verified destination phone numbers."
SANDBOX_MAX_SENDS = 5  # "You can send the OTP to the same destination phone number up to five times every 24 hours."
SANDBOX_DAY = 86400  # sends are counted, and deletes allowed, over 24 hours
PAGE = 100

# E.164: a country code and subscriber number, 15 digits at most.
_E164 = re.compile(r"^\+?[1-9][0-9]{1,14}$")
_LOOSE_SEPARATORS = re.compile(r"[\s().-]")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$")
_SENDER_ID = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9]{1,11}$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def e164(phone: str | None) -> str | None:
    """A phone number as an API parameter: E.164, the '+' optional."""
    if not phone or not _E164.match(phone):
        return None
    return phone if phone.startswith("+") else "+" + phone


def normalize_phone(phone: str | None) -> str | None:
    """A phone number as subscriptions and the admin API may write it
    ("+1 (555) 555-0100"): E.164, or None."""
    if not phone:
        return None
    return e164(_LOOSE_SEPARATORS.sub("", phone))


def _bad_phone() -> AwsError:
    return invalid("PhoneNumber Reason: input incorrectly formatted")


def _sandbox_missing(phone: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Phone number {phone} does not exist in the SMS sandbox")


class SmsOps:
    """Mixin of SnsService. Uses `capture` (platform.py) to text a one-time
    password into the outbox."""

    # -- the opt-out list (for Publish and the admin API) ----------------

    def opt_out(self, account: str, phone: str) -> str:
        """A phone number replies STOP: SNS stops texting it from `account`
        until OptInPhoneNumber. There is no AWS API for this; the admin API
        (POST /_cloudlet/sns/opt-out) calls it. Returns the E.164 number."""
        number = normalize_phone(phone)
        if number is None:
            raise ValueError(f"not a phone number: {phone!r}")
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO sns_sms (account, kind, key, value) VALUES (?, 'opted_out', ?, ?) "
                "ON CONFLICT (account, kind, key) DO NOTHING",
                (account, number, orjson.dumps({"since": self.clock.now()}).decode()))
        return number

    def is_opted_out(self, account: str, phone: str) -> bool:
        number = normalize_phone(phone)
        if number is None:
            return False
        return self.storage.one("SELECT 1 FROM sns_sms WHERE account = ? AND kind = 'opted_out' AND key = ?",
                                (account, number)) is not None

    # -- SMS attributes --------------------------------------------------

    def SetSMSAttributes(self, ctx, params):
        given = params.get("attributes") or {}
        for name, value in given.items():
            if name not in SMS_ATTRIBUTES:
                raise invalid(name)
            if value != "":
                _check_sms_attribute(name, value)
        prefix = ctx.region + ":"
        with self.storage.tx():
            for name, value in given.items():
                if value == "":  # an empty value clears the setting
                    self.storage.execute(
                        "DELETE FROM sns_sms WHERE account = ? AND kind = 'attribute' AND key = ?",
                        (ctx.account_id, prefix + name))
                else:
                    self.storage.execute(
                        "INSERT INTO sns_sms (account, kind, key, value) VALUES (?, 'attribute', ?, ?) "
                        "ON CONFLICT (account, kind, key) DO UPDATE SET value = excluded.value",
                        (ctx.account_id, prefix + name, value))
        return {}

    def sms_attributes(self, account: str, region: str) -> dict[str, str]:
        """The SMS settings in effect (defaults included)."""
        prefix = region + ":"
        out = dict(SMS_DEFAULTS)
        for key, value in self.storage.all(
                "SELECT key, value FROM sns_sms WHERE account = ? AND kind = 'attribute' AND substr(key, 1, ?) = ?",
                (account, len(prefix), prefix)):
            out[key[len(prefix):]] = value
        return out

    def GetSMSAttributes(self, ctx, params):
        attributes = self.sms_attributes(ctx.account_id, ctx.region)
        wanted = params.get("attributes")
        if wanted:
            attributes = {name: attributes[name] for name in wanted if name in attributes}
        return {"attributes": attributes}

    # -- opting out and in -----------------------------------------------

    def CheckIfPhoneNumberIsOptedOut(self, ctx, params):
        number = e164(params.get("phoneNumber"))
        if number is None:
            raise _bad_phone()
        return {"isOptedOut": self.is_opted_out(ctx.account_id, number)}

    def ListPhoneNumbersOptedOut(self, ctx, params):
        after = params.get("nextToken")
        if after is not None and e164(after) != after:
            raise invalid("nextToken")
        rows = self.storage.all(
            "SELECT key FROM sns_sms WHERE account = ? AND kind = 'opted_out' AND key > ? ORDER BY key LIMIT ?",
            (ctx.account_id, after or "", PAGE + 1))
        out: dict = {"phoneNumbers": [key for key, in rows[:PAGE]]}
        if len(rows) > PAGE:
            out["nextToken"] = rows[PAGE - 1][0]
        return out

    def OptInPhoneNumber(self, ctx, params):
        number = e164(params.get("phoneNumber"))
        if number is None:
            raise _bad_phone()
        account, now = ctx.account_id, self.clock.now()
        with self.storage.tx():
            if not self.is_opted_out(account, number):
                return {}  # nothing to do: the number may already be texted
            last = self.storage.one("SELECT value FROM sns_sms WHERE account = ? AND kind = 'opted_in' AND key = ?",
                                    (account, number))
            if last is not None and now - float(last[0]) < OPT_IN_INTERVAL:
                raise invalid("PhoneNumber Reason: You can opt in a phone number only once every 30 days")
            self.storage.execute("DELETE FROM sns_sms WHERE account = ? AND kind = 'opted_out' AND key = ?",
                                 (account, number))
            self.storage.execute(
                "INSERT INTO sns_sms (account, kind, key, value) VALUES (?, 'opted_in', ?, ?) "
                "ON CONFLICT (account, kind, key) DO UPDATE SET value = excluded.value",
                (account, number, repr(now)))
        return {}

    # -- the SMS sandbox -------------------------------------------------

    def GetSMSSandboxAccountStatus(self, ctx, params):
        # A local cloud behaves like a production account: out of the sandbox.
        return {"IsInSandbox": False}

    def _sandbox_entry(self, account: str, region: str, phone: str) -> dict | None:
        row = self.storage.one("SELECT value FROM sns_sms WHERE account = ? AND kind = 'sandbox' AND key = ?",
                               (account, f"{region}:{phone}"))
        return orjson.loads(row[0]) if row is not None else None

    def _save_sandbox_entry(self, account: str, region: str, phone: str, entry: dict) -> None:
        self.storage.execute(
            "INSERT INTO sns_sms (account, kind, key, value) VALUES (?, 'sandbox', ?, ?) "
            "ON CONFLICT (account, kind, key) DO UPDATE SET value = excluded.value",
            (account, f"{region}:{phone}", orjson.dumps(entry).decode()))

    @staticmethod
    def _sandbox_phone(phone: str | None) -> str:
        number = e164(phone)
        if number is None or not phone.startswith("+") or len(number) < 9:
            raise _bad_phone()
        return number

    def CreateSMSSandboxPhoneNumber(self, ctx, params):
        phone = self._sandbox_phone(params.get("PhoneNumber"))
        language = params.get("LanguageCode") or "en-US"
        if language not in LANGUAGES:
            raise invalid("LanguageCode")
        account, region, now = ctx.account_id, ctx.region, self.clock.now()
        if self.is_opted_out(account, phone):
            raise AwsError("OptedOutException", f"Phone number {phone} is opted out of receiving SMS messages "
                                                "from this account")
        with self.storage.tx():
            entry = self._sandbox_entry(account, region, phone)
            if entry is None:
                count = self.storage.one(
                    "SELECT COUNT(*) FROM sns_sms WHERE account = ? AND kind = 'sandbox' AND substr(key, 1, ?) = ?",
                    (account, len(region) + 1, region + ":"))[0]
                if count >= SANDBOX_MAX_NUMBERS:
                    raise AwsError("UserErrorException", f"You can have at most {SANDBOX_MAX_NUMBERS} destination "
                                                         "phone numbers in the SMS sandbox")
                entry = {"status": "Pending", "created": now, "sent": [], "attempted": None, "verified": None}
            elif entry["status"] == "Verified":
                raise AwsError("UserErrorException", f"Phone number {phone} is already verified")
            sent = [t for t in entry["sent"] if now - t < SANDBOX_DAY]
            if len(sent) >= SANDBOX_MAX_SENDS:
                raise AwsError("UserErrorException", f"A one-time password can be sent to {phone} at most "
                                                     f"{SANDBOX_MAX_SENDS} times every 24 hours")
            otp = f"{secrets.randbelow(1_000_000):06d}"
            entry.update(otp=otp, language=language, sent=sent + [now])
            self._save_sandbox_entry(account, region, phone, entry)
            self.capture(account, "sms", phone, str(uuid.uuid4()), f"Your Amazon SNS verification code is: {otp}",
                         attributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}})
        return {}

    def VerifySMSSandboxPhoneNumber(self, ctx, params):
        phone = self._sandbox_phone(params.get("PhoneNumber"))
        otp = params.get("OneTimePassword") or ""
        account, region, now = ctx.account_id, ctx.region, self.clock.now()
        with self.storage.tx():
            entry = self._sandbox_entry(account, region, phone)
            if entry is None:
                raise _sandbox_missing(phone)
            entry["attempted"] = now
            right = secrets.compare_digest(otp.encode(), (entry.get("otp") or "").encode())
            if right and entry["status"] != "Verified":
                entry.update(status="Verified", verified=now)
            self._save_sandbox_entry(account, region, phone, entry)
        if not right:
            raise AwsError("VerificationException", "Invalid one-time password", fields={"Status": entry["status"]})
        return {}

    def ListSMSSandboxPhoneNumbers(self, ctx, params):
        limit = min(max(params.get("MaxResults") or PAGE, 1), PAGE)
        prefix = ctx.region + ":"
        after = params.get("NextToken")
        if after is not None and e164(after) != after:
            raise invalid("NextToken")
        rows = self.storage.all(
            "SELECT key, value FROM sns_sms WHERE account = ? AND kind = 'sandbox' AND substr(key, 1, ?) = ? "
            "AND key > ? ORDER BY key LIMIT ?",
            (ctx.account_id, len(prefix), prefix, prefix + (after or ""), limit + 1))
        numbers = [{"PhoneNumber": key[len(prefix):], "Status": orjson.loads(value)["status"]}
                   for key, value in rows[:limit]]
        out: dict = {"PhoneNumbers": numbers}
        if len(rows) > limit:
            out["NextToken"] = numbers[-1]["PhoneNumber"]
        return out

    def DeleteSMSSandboxPhoneNumber(self, ctx, params):
        phone = self._sandbox_phone(params.get("PhoneNumber"))
        account, region, now = ctx.account_id, ctx.region, self.clock.now()
        with self.storage.tx():
            entry = self._sandbox_entry(account, region, phone)
            if entry is None:
                raise _sandbox_missing(phone)
            # "You can delete destination phone numbers only after a minimum of
            # 24 hours have passed since verification, or the last verification
            # attempt."
            last = max(t for t in (entry["created"], *entry["sent"], entry.get("attempted"), entry.get("verified"))
                       if t is not None)
            if now - last < SANDBOX_DAY:
                raise AwsError("UserErrorException", f"Phone number {phone} can be deleted only 24 hours after "
                                                     "its verification or last verification attempt")
            self.storage.execute("DELETE FROM sns_sms WHERE account = ? AND kind = 'sandbox' AND key = ?",
                                 (account, f"{region}:{phone}"))
        return {}

    # -- origination numbers ---------------------------------------------

    def ListOriginationNumbers(self, ctx, params):
        # Dedicated origination numbers are bought through AWS End User
        # Messaging SMS; a cloudlet account has none.
        return {"PhoneNumbers": []}


def _check_sms_attribute(name: str, value: str) -> None:
    if name == "MonthlySpendLimit":
        if not value.isdigit():
            raise invalid("MonthlySpendLimit Reason: must be a whole number of US dollars")
    elif name == "DeliveryStatusIAMRole":
        if not _ROLE_ARN.match(value):
            raise invalid("DeliveryStatusIAMRole Reason: must be the ARN of an IAM role")
    elif name == "DeliveryStatusSuccessSamplingRate":
        if not value.isdigit() or int(value) > 100:
            raise invalid("DeliveryStatusSuccessSamplingRate Reason: must be an integer from 0 to 100")
    elif name == "DefaultSenderID":
        if not _SENDER_ID.match(value):
            raise invalid("DefaultSenderID Reason: must be 1-11 alphanumeric characters with at least one letter")
    elif name == "DefaultSMSType":
        if value not in SMS_TYPES:
            raise invalid("DefaultSMSType Reason: must be Promotional or Transactional")
    elif name == "UsageReportS3Bucket":
        if not _BUCKET.match(value) or ".." in value:
            raise invalid("UsageReportS3Bucket Reason: must be an S3 bucket name")
