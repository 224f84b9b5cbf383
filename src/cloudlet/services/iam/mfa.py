"""Virtual MFA devices, with real one-time codes.

A device's seed is 40 random bytes (64 base32 characters, as IAM's are);
its codes are TOTP (RFC 6238: HMAC-SHA1, 30-second steps, 6 digits) on
cloudlet's clock, so a test computes the code an authenticator app would
show (`totp(seed, clock)`) and moves the virtual clock to get the next.
EnableMFADevice and ResyncMFADevice take two consecutive codes; STS's
AssumeRole and GetSessionToken check SerialNumber + TokenCode against the
calling user's device (a code is good for its step and the one either side,
and once: a code already used is refused, as on AWS), and only then do the
credentials carry aws:MultiFactorAuthPresent.

CreateVirtualMFADevice returns the QR code an authenticator app scans
(otpauth://totp/Amazon Web Services:<name>@<account>?secret=...).
"""

from __future__ import annotations

import base64
import hmac
import io
import os
from urllib.parse import quote

from cloudlet.errors import AwsError
from cloudlet.services.iam.util import (
    already_exists, delete_conflict, iam_arn, limit_exceeded, no_such_entity, paginate,
)

STEP = 30
DIGITS = 6
MAX_PER_USER = 8
# How far back EnableMFADevice looks for the first of its two codes (a user
# may take a few minutes to type them), and ResyncMFADevice for a drifted
# device; STS accepts the step either side of now.
_ENABLE_STEPS = 10
_RESYNC_STEPS = 100
_ISSUER = "Amazon Web Services"
_COLUMNS = "serial, name, path, seed, user_name, enabled, created, last_step"


def totp(seed: str, moment: float, offset: int = 0) -> str:
    """The code a device with this base32 seed shows at `moment` (`offset`
    steps later)."""
    return _code(seed, int(moment // STEP) + offset)


def _code(seed: str, step: int) -> str:
    mac = hmac.digest(base64.b32decode(seed), step.to_bytes(8, "big"), "sha1")
    offset = mac[-1] & 0x0F
    value = (int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF) % 10 ** DIGITS
    return f"{value:0{DIGITS}d}"


def _qr_png(text: str) -> bytes:
    import segno

    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=4, border=4)
    return out.getvalue()


class MfaOps:
    """Mixed into IamService."""

    def _mfa_row(self, account: str, serial: str):
        row = self.storage.one(f"SELECT {_COLUMNS} FROM iam_mfa_devices WHERE account = ? AND serial = ?",
                               (account, serial))
        if row is None:
            raise no_such_entity(f"VirtualMFADevice with serial number {serial} doesn't exist.")
        return row

    def CreateVirtualMFADevice(self, ctx, params):
        account = ctx.account_id
        name = params["VirtualMFADeviceName"]
        path = params.get("Path") or "/"
        if not (path.startswith("/") and path.endswith("/")) or "//" in path:
            raise AwsError("ValidationError", "The specified value for path is invalid. It must begin and end with / "
                                              "and contain only alphanumeric characters and/or / characters.")
        serial = iam_arn(account, "mfa", path, name)
        seed = base64.b32encode(os.urandom(40)).decode()
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_mfa_devices WHERE account = ? AND serial = ?", (account, serial)):
                raise already_exists("MFADevice entity at the same path and name already exists.")
            self.storage.execute(
                "INSERT INTO iam_mfa_devices (account, serial, name, path, seed, created) VALUES (?, ?, ?, ?, ?, ?)",
                (account, serial, name, path, seed, self._now()))
            self._put_tags(account, "mfa", serial, params.get("Tags"))
        uri = (f"otpauth://totp/{quote(_ISSUER)}:{quote(name)}@{account}?secret={seed}"
               f"&issuer={quote(_ISSUER)}")
        device = {"SerialNumber": serial, "Base32StringSeed": seed.encode(), "QRCodePNG": _qr_png(uri)}
        tags = self._tags(account, "mfa", serial)
        if tags:
            device["Tags"] = tags
        return {"VirtualMFADevice": device}

    def _two_codes(self, seed: str, first: str, second: str, steps: int) -> int:
        """The step of `second` if the two are consecutive codes of the last
        `steps` steps (or the next), else InvalidAuthenticationCode."""
        now = int(self.clock.now() // STEP)
        for step in range(now + 1, now - steps - 1, -1):
            if _code(seed, step - 1) == first and _code(seed, step) == second:
                return step
        raise AwsError("InvalidAuthenticationCode", "Authentication code for device is not valid.", 403)

    def EnableMFADevice(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            serial, _, _, seed, owner, _, _, _ = self._mfa_row(account, params["SerialNumber"])
            if owner is not None:
                raise already_exists("MFA Device is already in use.")
            if self.storage.scalar("SELECT COUNT(*) FROM iam_mfa_devices WHERE account = ? AND user_name = ?",
                                   (account, user)) >= MAX_PER_USER:
                raise limit_exceeded(f"Cannot exceed quota for MFADevicesPerUser: {MAX_PER_USER}")
            step = self._two_codes(seed, params["AuthenticationCode1"], params["AuthenticationCode2"], _ENABLE_STEPS)
            self.storage.execute("UPDATE iam_mfa_devices SET user_name = ?, enabled = ?, last_step = ? "
                                 "WHERE account = ? AND serial = ?", (user, self._now(), step, account, serial))
        return {}

    def _assigned(self, account: str, user: str | None, serial: str):
        row = self.storage.one(f"SELECT {_COLUMNS} FROM iam_mfa_devices WHERE account = ? AND serial = ? "
                               "AND user_name IS NOT NULL", (account, serial))
        if row is None or (user is not None and row[4].lower() != user.lower()):
            raise no_such_entity(f"MFA Device with serial number {serial} does not exist.")
        return row

    def ResyncMFADevice(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            serial, _, _, seed, _, _, _, _ = self._assigned(account, user, params["SerialNumber"])
            step = self._two_codes(seed, params["AuthenticationCode1"], params["AuthenticationCode2"], _RESYNC_STEPS)
            self.storage.execute("UPDATE iam_mfa_devices SET last_step = ? WHERE account = ? AND serial = ?",
                                 (step, account, serial))
        return {}

    def DeactivateMFADevice(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0] if params.get("UserName") else None
            serial = self._assigned(account, user, params["SerialNumber"])[0]
            self.storage.execute("UPDATE iam_mfa_devices SET user_name = NULL, enabled = NULL "
                                 "WHERE account = ? AND serial = ?", (account, serial))
        return {}

    def DeleteVirtualMFADevice(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            serial, _, _, _, owner, _, _, _ = self._mfa_row(account, params["SerialNumber"])
            if owner is not None:
                raise delete_conflict("MFA Device is still in use")
            self.storage.execute("DELETE FROM iam_mfa_devices WHERE account = ? AND serial = ?", (account, serial))
            self._drop_tags(account, "mfa", serial)
        return {}

    def ListVirtualMFADevices(self, ctx, params):
        account = ctx.account_id
        status = params.get("AssignmentStatus") or "Any"
        where = {"Assigned": " AND user_name IS NOT NULL", "Unassigned": " AND user_name IS NULL"}.get(status, "")
        devices = []
        for serial, _, _, _, owner, enabled, _, _ in self.storage.all(
                f"SELECT {_COLUMNS} FROM iam_mfa_devices WHERE account = ?{where} ORDER BY serial", (account,)):
            device: dict = {"SerialNumber": serial}
            if owner is not None:
                device["User"] = self._user_out(self._user_row(account, owner), account)
                device["EnableDate"] = enabled
            tags = self._tags(account, "mfa", serial)
            if tags:
                device["Tags"] = tags
            devices.append(device)
        _, out = paginate(devices, params, "VirtualMFADevices")
        return out

    def ListMFADevices(self, ctx, params):
        account = ctx.account_id
        if params.get("UserName"):
            user = self._user_row(account, params["UserName"])[0]
        elif ctx.principal.type == "IAMUser":
            user = ctx.principal.name
        else:
            user = None  # the root user: its devices are not IAM's to list here
        rows = self.storage.all("SELECT user_name, serial, enabled FROM iam_mfa_devices WHERE account = ? "
                                "AND user_name = ? ORDER BY enabled, serial", (account, user)) if user else []
        _, out = paginate([{"UserName": u, "SerialNumber": s, "EnableDate": e} for u, s, e in rows], params,
                          "MFADevices")
        return out

    def GetMFADevice(self, ctx, params):
        account = ctx.account_id
        user = self._user_row(account, params["UserName"])[0] if params.get("UserName") else None
        _, _, _, _, owner, enabled, _, _ = self._assigned(account, user, params["SerialNumber"])
        return {"UserName": owner, "SerialNumber": params["SerialNumber"], "EnableDate": enabled}

    def TagMFADevice(self, ctx, params):
        with self.storage.tx():
            serial = self._mfa_row(ctx.account_id, params["SerialNumber"])[0]
            self._put_tags(ctx.account_id, "mfa", serial, params["Tags"])
        return {}

    def UntagMFADevice(self, ctx, params):
        with self.storage.tx():
            serial = self._mfa_row(ctx.account_id, params["SerialNumber"])[0]
            self._untag(ctx.account_id, "mfa", serial, params["TagKeys"])
        return {}

    def ListMFADeviceTags(self, ctx, params):
        serial = self._mfa_row(ctx.account_id, params["SerialNumber"])[0]
        return self._list_tags(params, ctx.account_id, "mfa", serial)

    # -- what STS asks ---------------------------------------------------------

    def check_mfa(self, account: str, user: str | None, serial: str | None, code: str | None) -> None:
        """SerialNumber + TokenCode of an AssumeRole or GetSessionToken by
        `user` (None: not an IAM user): AccessDenied unless the device is
        the user's and the code is fresh. A good code is used up."""
        unknown = AwsError("AccessDenied", "MultiFactorAuthentication failed, unable to validate MFA code.  Please "
                                           "verify your MFA serial number is valid and associated with this user.",
                           403)
        if not serial or user is None:
            raise unknown
        with self.storage.tx():
            row = self.storage.one("SELECT seed, last_step FROM iam_mfa_devices WHERE account = ? AND serial = ? "
                                   "AND user_name = ?", (account, serial, user))
            if row is None:
                raise unknown
            seed, last_step = row
            now = int(self.clock.now() // STEP)
            for step in (now, now - 1, now + 1):
                if step > last_step and code is not None and hmac.compare_digest(_code(seed, step), code):
                    self.storage.execute("UPDATE iam_mfa_devices SET last_step = ? WHERE account = ? AND serial = ?",
                                         (step, account, serial))
                    return
        raise AwsError("AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code.", 403)
