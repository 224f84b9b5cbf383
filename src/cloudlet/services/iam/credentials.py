"""IAM credentials: access keys, login profiles, the account password
policy, and OpenID Connect identity providers."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.iam.util import (
    already_exists, iam_arn, invalid_input, limit_exceeded, new_access_key_id, new_secret, no_such_entity,
    paginate,
)

ACCESS_KEYS_PER_USER = 2
DEFAULT_MIN_PASSWORD = 8


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)
    return salt.hex() + ":" + digest.hex()


def check_password(password: str, stored: str) -> bool:
    salt, _, _ = stored.partition(":")
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


class CredentialOps:
    """Mixin of IamService."""

    # -- access keys -----------------------------------------------------

    def _key_owner(self, ctx, params) -> str | None:
        """The user a key call is about: UserName, else the caller (None =
        the account's root user)."""
        name = params.get("UserName")
        if name:
            return self._user_row(ctx.account_id, name)[0]
        p = ctx.principal
        if p.type == "IAMUser" and p.name:
            return p.name
        return None

    def CreateAccessKey(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._key_owner(ctx, params)
            count = self.storage.scalar("SELECT COUNT(*) FROM iam_access_keys WHERE account = ? AND user_name IS ? "
                                        "AND status != 'Deleted'", (account, user))
            if count >= ACCESS_KEYS_PER_USER:
                raise limit_exceeded(f"Cannot exceed quota for AccessKeysPerUser: {ACCESS_KEYS_PER_USER}")
            key_id, secret, now = new_access_key_id(), new_secret(), self._now()
            self.storage.execute("INSERT INTO iam_access_keys (id, secret, account, user_name, status, created) "
                                 "VALUES (?, ?, ?, ?, 'Active', ?)", (key_id, secret, account, user, now))
        out = {"AccessKeyId": key_id, "Status": "Active", "SecretAccessKey": secret, "CreateDate": now}
        out["UserName"] = user if user else account
        return {"AccessKey": out}

    def _key_row(self, ctx, key_id: str, user: str | None):
        row = self.storage.one("SELECT id, user_name, status, created, last_used, last_used_service, last_used_region "
                               "FROM iam_access_keys WHERE id = ? AND account = ? AND status != 'Deleted'",
                               (key_id, ctx.account_id))
        if row is None or (user is not None and (row[1] or "").lower() != user.lower()):
            raise no_such_entity(f"The Access Key with id {key_id} cannot be found.")
        return row

    def ListAccessKeys(self, ctx, params):
        user = self._key_owner(ctx, params)
        rows = self.storage.all("SELECT id, status, created FROM iam_access_keys WHERE account = ? AND user_name IS ? "
                                "AND status != 'Deleted' ORDER BY created, id", (ctx.account_id, user))
        items = [{"UserName": user or ctx.account_id, "AccessKeyId": k, "Status": s, "CreateDate": c} for k, s, c in rows]
        _, out = paginate(items, params, "AccessKeyMetadata")
        return out

    def UpdateAccessKey(self, ctx, params):
        with self.storage.tx():
            user = self._key_owner(ctx, params) if params.get("UserName") else None
            self._key_row(ctx, params["AccessKeyId"], user)
            self.storage.execute("UPDATE iam_access_keys SET status = ? WHERE id = ?",
                                 (params["Status"], params["AccessKeyId"]))
        return {}

    def DeleteAccessKey(self, ctx, params):
        with self.storage.tx():
            user = self._key_owner(ctx, params) if params.get("UserName") else None
            self._key_row(ctx, params["AccessKeyId"], user)
            # Kept as a tombstone: a deleted key must keep failing as invalid
            # rather than pass for a key cloudlet never issued.
            self.storage.execute("UPDATE iam_access_keys SET status = 'Deleted', user_name = NULL, secret = '' "
                                 "WHERE id = ?", (params["AccessKeyId"],))
        return {}

    def GetAccessKeyLastUsed(self, ctx, params):
        row = self.storage.one("SELECT user_name, last_used, last_used_service, last_used_region FROM iam_access_keys "
                               "WHERE id = ? AND status != 'Deleted'", (params["AccessKeyId"],))
        if row is None:
            raise AwsError("AccessDenied", "Access key doesn't exist.", 403)
        user, used, service, region = row
        last = {"ServiceName": service or "N/A", "Region": region or "N/A"}
        if used:
            last["LastUsedDate"] = used
        return {"UserName": user or ctx.account_id, "AccessKeyLastUsed": last}

    def note_key_used(self, key_id: str, service: str, region: str) -> None:
        """Record last use (at most once a minute per key, as AWS's own
        last-used data is coarse)."""
        now = self._now()
        self.storage.execute("UPDATE iam_access_keys SET last_used = ?, last_used_service = ?, last_used_region = ? "
                             "WHERE id = ? AND (last_used IS NULL OR last_used < ?)",
                             (now, service, region, key_id, now - 60))

    # -- login profiles --------------------------------------------------

    def _check_password_policy(self, account: str, password: str) -> None:
        policy = self._password_policy(account) or {}
        minimum = policy.get("MinimumPasswordLength", DEFAULT_MIN_PASSWORD)
        problems = []
        if len(password) < minimum:
            problems.append(f"Password should have a minimum length of {minimum}")
        if policy.get("RequireUppercaseCharacters") and not any(c.isupper() for c in password):
            problems.append("Password should have at least one uppercase letter")
        if policy.get("RequireLowercaseCharacters") and not any(c.islower() for c in password):
            problems.append("Password should have at least one lowercase letter")
        if policy.get("RequireNumbers") and not any(c.isdigit() for c in password):
            problems.append("Password should have at least one number")
        if policy.get("RequireSymbols") and all(c.isalnum() for c in password):
            problems.append("Password should have at least one symbol")
        if problems:
            raise AwsError("PasswordPolicyViolation", "; ".join(problems))

    def CreateLoginProfile(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            if self.storage.one("SELECT 1 FROM iam_login_profiles WHERE account = ? AND user_name = ?", (account, user)):
                raise already_exists(f"Login Profile for user {user} already exists.")
            self._check_password_policy(account, params["Password"])
            now = self._now()
            reset = bool(params.get("PasswordResetRequired", False))
            self.storage.execute("INSERT INTO iam_login_profiles (account, user_name, password_hash, created, "
                                 "reset_required) VALUES (?, ?, ?, ?, ?)",
                                 (account, user, hash_password(params["Password"]), now, int(reset)))
        return {"LoginProfile": {"UserName": user, "CreateDate": now, "PasswordResetRequired": reset}}

    def _login_row(self, account: str, user: str):
        row = self.storage.one("SELECT user_name, password_hash, created, reset_required FROM iam_login_profiles "
                               "WHERE account = ? AND user_name = ?", (account, user))
        if row is None:
            raise no_such_entity(f"Login Profile for User {user} cannot be found.")
        return row

    def GetLoginProfile(self, ctx, params):
        user = self._user_row(ctx.account_id, params["UserName"])[0]
        name, _, created, reset = self._login_row(ctx.account_id, user)
        return {"LoginProfile": {"UserName": name, "CreateDate": created, "PasswordResetRequired": bool(reset)}}

    def UpdateLoginProfile(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            self._login_row(account, user)
            if params.get("Password") is not None:
                self._check_password_policy(account, params["Password"])
                self.storage.execute("UPDATE iam_login_profiles SET password_hash = ? WHERE account = ? AND user_name = ?",
                                     (hash_password(params["Password"]), account, user))
            if params.get("PasswordResetRequired") is not None:
                self.storage.execute("UPDATE iam_login_profiles SET reset_required = ? WHERE account = ? AND user_name = ?",
                                     (int(params["PasswordResetRequired"]), account, user))
        return {}

    def DeleteLoginProfile(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            self._login_row(account, user)
            self.storage.execute("DELETE FROM iam_login_profiles WHERE account = ? AND user_name = ?", (account, user))
        return {}

    def ChangePassword(self, ctx, params):
        p = ctx.principal
        if p.type != "IAMUser" or not p.name:
            raise AwsError("InvalidUserType", "Only IAM users can change their own password.")
        account = ctx.account_id
        with self.storage.tx():
            _, stored, _, _ = self._login_row(account, p.name)
            if not check_password(params["OldPassword"], stored):
                raise AwsError("InvalidUserType", "The old password is incorrect.")
            self._check_password_policy(account, params["NewPassword"])
            self.storage.execute("UPDATE iam_login_profiles SET password_hash = ?, reset_required = 0 "
                                 "WHERE account = ? AND user_name = ?",
                                 (hash_password(params["NewPassword"]), account, p.name))
        return {}

    # -- password policy -------------------------------------------------

    def _password_policy(self, account: str) -> dict | None:
        raw = self.storage.scalar("SELECT policy FROM iam_password_policy WHERE account = ?", (account,))
        return orjson.loads(raw) if raw else None

    def UpdateAccountPasswordPolicy(self, ctx, params):
        policy = {
            "MinimumPasswordLength": params.get("MinimumPasswordLength") or 6,
            "RequireSymbols": bool(params.get("RequireSymbols", False)),
            "RequireNumbers": bool(params.get("RequireNumbers", False)),
            "RequireUppercaseCharacters": bool(params.get("RequireUppercaseCharacters", False)),
            "RequireLowercaseCharacters": bool(params.get("RequireLowercaseCharacters", False)),
            "AllowUsersToChangePassword": bool(params.get("AllowUsersToChangePassword", False)),
            "ExpirePasswords": bool(params.get("MaxPasswordAge")),
            "HardExpiry": bool(params.get("HardExpiry", False)),
        }
        if params.get("MaxPasswordAge"):
            policy["MaxPasswordAge"] = params["MaxPasswordAge"]
        if params.get("PasswordReusePrevention"):
            policy["PasswordReusePrevention"] = params["PasswordReusePrevention"]
        with self.storage.tx():
            self.storage.execute("INSERT INTO iam_password_policy (account, policy) VALUES (?, ?) "
                                 "ON CONFLICT(account) DO UPDATE SET policy = excluded.policy",
                                 (ctx.account_id, orjson.dumps(policy).decode()))
        return {}

    def GetAccountPasswordPolicy(self, ctx, params):
        policy = self._password_policy(ctx.account_id)
        if policy is None:
            raise no_such_entity(f"The Password Policy with domain name {ctx.account_id} cannot be found.")
        return {"PasswordPolicy": policy}

    def DeleteAccountPasswordPolicy(self, ctx, params):
        with self.storage.tx():
            cur = self.storage.execute("DELETE FROM iam_password_policy WHERE account = ?", (ctx.account_id,))
            if cur.rowcount == 0:
                raise no_such_entity(f"The account policy with name {ctx.account_id} cannot be found.")
        return {}

    # -- OpenID Connect providers ---------------------------------------

    def _oidc_row(self, ctx, arn: str):
        row = self.storage.one("SELECT arn, url, client_ids, thumbprints, created FROM iam_oidc_providers "
                               "WHERE account = ? AND arn = ?", (ctx.account_id, arn))
        if row is None:
            raise no_such_entity(f"OpenIDConnect Provider not found for arn {arn}")
        return row

    def CreateOpenIDConnectProvider(self, ctx, params):
        url = params["Url"]
        if not url.startswith("https://"):
            raise invalid_input("Invalid Open ID Connect Provider URL")
        host_path = url[len("https://"):].rstrip("/")
        arn = iam_arn(ctx.account_id, "oidc-provider/", "", host_path)
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_oidc_providers WHERE account = ? AND arn = ?", (ctx.account_id, arn)):
                raise already_exists(f"Provider with url {url} already exists.")
            self.storage.execute(
                "INSERT INTO iam_oidc_providers (account, arn, url, client_ids, thumbprints, created) VALUES (?, ?, ?, ?, ?, ?)",
                (ctx.account_id, arn, host_path, orjson.dumps(params.get("ClientIDList") or []).decode(),
                 orjson.dumps(params.get("ThumbprintList") or []).decode(), self._now()))
            self._put_tags(ctx.account_id, "oidc-provider", arn, params.get("Tags"))
        out = {"OpenIDConnectProviderArn": arn}
        tags = self._tags(ctx.account_id, "oidc-provider", arn)
        if tags:
            out["Tags"] = tags
        return out

    def GetOpenIDConnectProvider(self, ctx, params):
        arn, url, clients, thumbs, created = self._oidc_row(ctx, params["OpenIDConnectProviderArn"])
        out = {"Url": url, "ClientIDList": orjson.loads(clients), "ThumbprintList": orjson.loads(thumbs),
               "CreateDate": created}
        tags = self._tags(ctx.account_id, "oidc-provider", arn)
        if tags:
            out["Tags"] = tags
        return out

    def ListOpenIDConnectProviders(self, ctx, params):
        rows = self.storage.all("SELECT arn FROM iam_oidc_providers WHERE account = ? ORDER BY arn", (ctx.account_id,))
        return {"OpenIDConnectProviderList": [{"Arn": a} for a, in rows]}

    def DeleteOpenIDConnectProvider(self, ctx, params):
        with self.storage.tx():
            arn = self._oidc_row(ctx, params["OpenIDConnectProviderArn"])[0]
            self.storage.execute("DELETE FROM iam_oidc_providers WHERE account = ? AND arn = ?", (ctx.account_id, arn))
            self._drop_tags(ctx.account_id, "oidc-provider", arn)
        return {}

    def _update_oidc_list(self, ctx, arn: str, column: str, change) -> dict:
        with self.storage.tx():
            row = self._oidc_row(ctx, arn)
            current = orjson.loads(row[2] if column == "client_ids" else row[3])
            self.storage.execute(f"UPDATE iam_oidc_providers SET {column} = ? WHERE account = ? AND arn = ?",
                                 (orjson.dumps(change(current)).decode(), ctx.account_id, arn))
        return {}

    def AddClientIDToOpenIDConnectProvider(self, ctx, params):
        cid = params["ClientID"]
        return self._update_oidc_list(ctx, params["OpenIDConnectProviderArn"], "client_ids",
                                      lambda ids: ids if cid in ids else ids + [cid])

    def RemoveClientIDFromOpenIDConnectProvider(self, ctx, params):
        cid = params["ClientID"]
        return self._update_oidc_list(ctx, params["OpenIDConnectProviderArn"], "client_ids",
                                      lambda ids: [i for i in ids if i != cid])

    def UpdateOpenIDConnectProviderThumbprint(self, ctx, params):
        thumbs = params["ThumbprintList"]
        return self._update_oidc_list(ctx, params["OpenIDConnectProviderArn"], "thumbprints", lambda _: thumbs)

    def TagOpenIDConnectProvider(self, ctx, params):
        with self.storage.tx():
            arn = self._oidc_row(ctx, params["OpenIDConnectProviderArn"])[0]
            self._put_tags(ctx.account_id, "oidc-provider", arn, params["Tags"])
        return {}

    def UntagOpenIDConnectProvider(self, ctx, params):
        with self.storage.tx():
            arn = self._oidc_row(ctx, params["OpenIDConnectProviderArn"])[0]
            self._untag(ctx.account_id, "oidc-provider", arn, params["TagKeys"])
        return {}

    def ListOpenIDConnectProviderTags(self, ctx, params):
        arn = self._oidc_row(ctx, params["OpenIDConnectProviderArn"])[0]
        return self._list_tags(params, ctx.account_id, "oidc-provider", arn)

    def oidc_provider(self, account: str, issuer_host_path: str) -> dict | None:
        """The provider registered for an issuer (for AssumeRoleWithWebIdentity)."""
        row = self.storage.one("SELECT arn, url, client_ids, thumbprints FROM iam_oidc_providers "
                               "WHERE account = ? AND url = ?", (account, issuer_host_path.rstrip("/")))
        if row is None:
            return None
        return {"arn": row[0], "url": row[1], "client_ids": orjson.loads(row[2]), "thumbprints": orjson.loads(row[3])}
