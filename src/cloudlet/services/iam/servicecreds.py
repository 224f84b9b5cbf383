"""Service-specific credentials: a user name and password for one service
(CodeCommit's Git credentials, Amazon Keyspaces), or a long-term API key
(Amazon Bedrock: an alias and a secret, optionally expiring after
CredentialAgeDays by cloudlet's clock). At most two per user and service;
the password or secret is shown only by Create and Reset."""

from __future__ import annotations

import base64
import secrets

from cloudlet.errors import AwsError
from cloudlet.services.iam.util import invalid_input, limit_exceeded, new_id, no_such_entity, paginate

MAX_PER_SERVICE = 2
DAY = 86_400
_PASSWORD_SERVICES = ("codecommit.amazonaws.com", "cassandra.amazonaws.com")
_API_KEY_SERVICES = ("bedrock.amazonaws.com",)
_COLUMNS = "id, user_name, service, service_user, secret, alias, status, created, expires"


def _password() -> str:
    return base64.b64encode(secrets.token_bytes(33)).decode()


class ServiceCredentialOps:
    """Mixed into IamService."""

    def _service_cred_user(self, ctx, params) -> str:
        if params.get("UserName"):
            return self._user_row(ctx.account_id, params["UserName"])[0]
        if ctx.principal.type == "IAMUser":
            return ctx.principal.name
        raise no_such_entity("The user with name root cannot be found.")

    def _service_cred_out(self, row, secret: bool) -> dict:
        cid, user, service, service_user, value, alias, status, created, expires = row
        if expires is not None and expires <= self.clock.now():
            status = "Expired"
        out = {"CreateDate": created, "ServiceName": service, "ServiceSpecificCredentialId": cid, "UserName": user,
               "Status": status}
        if expires is not None:
            out["ExpirationDate"] = expires
        if alias:
            out["ServiceCredentialAlias"] = alias
            if secret:
                out["ServiceCredentialSecret"] = value
        else:
            out["ServiceUserName"] = service_user
            if secret:
                out["ServicePassword"] = value
        return out

    def _new_secret(self, account: str, user: str, service: str) -> tuple[str | None, str, str | None]:
        """(service user name, password or secret, alias)."""
        if service in _API_KEY_SERVICES:
            alias = f"BedrockAPIKey-{secrets.token_hex(2)}-at-{account}"
            secret = "ABSK" + base64.b64encode(f"{alias}:{_password()}".encode()).decode()
            return None, secret, alias
        return f"{user}-at-{account}", _password(), None

    def CreateServiceSpecificCredential(self, ctx, params):
        account = ctx.account_id
        service = params["ServiceName"]
        if service not in _PASSWORD_SERVICES + _API_KEY_SERVICES:
            raise AwsError("NotSupportedService", f"No such service {service} is supported for Service Specific "
                                                  "Credentials", 404)
        age = params.get("CredentialAgeDays")
        if age is not None and service not in _API_KEY_SERVICES:
            raise invalid_input(f"CredentialAgeDays is only valid for services that support long-term API keys; "
                                f"{service} does not.")
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            if self.storage.scalar("SELECT COUNT(*) FROM iam_service_credentials WHERE account = ? AND user_name = ? "
                                   "AND service = ?", (account, user, service)) >= MAX_PER_SERVICE:
                raise limit_exceeded(f"Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
                                     f"{MAX_PER_SERVICE}")
            service_user, value, alias = self._new_secret(account, user, service)
            now = self._now()
            cid = new_id("ACCA")
            self.storage.execute(
                f"INSERT INTO iam_service_credentials (account, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 'Active', ?, ?)",
                (account, cid, user, service, service_user, value, alias, now,
                 now + age * DAY if age is not None else None))
            row = self._service_cred_row(account, user, cid)
        return {"ServiceSpecificCredential": self._service_cred_out(row, secret=True)}

    def _service_cred_row(self, account: str, user: str, cid: str):
        row = self.storage.one(f"SELECT {_COLUMNS} FROM iam_service_credentials WHERE account = ? AND user_name = ? "
                               "AND id = ?", (account, user, cid))
        if row is None:
            raise no_such_entity(f"No such credential {cid} exists")
        return row

    def ListServiceSpecificCredentials(self, ctx, params):
        account = ctx.account_id
        if params.get("AllUsers") and params.get("UserName"):
            raise invalid_input("UserName and AllUsers cannot be specified together.")
        service = params.get("ServiceName")
        if service is not None and service not in _PASSWORD_SERVICES + _API_KEY_SERVICES:
            raise AwsError("NotSupportedService", f"No such service {service} is supported for Service Specific "
                                                  "Credentials", 404)
        sql = f"SELECT {_COLUMNS} FROM iam_service_credentials WHERE account = ?"
        args: list = [account]
        if not params.get("AllUsers"):
            sql += " AND user_name = ?"
            args.append(self._service_cred_user(ctx, params))
        if service is not None:
            sql += " AND service = ?"
            args.append(service)
        rows = self.storage.all(sql + " ORDER BY created, rowid", tuple(args))
        items = []
        for row in rows:
            out = self._service_cred_out(row, secret=False)
            items.append({k: out[k] for k in ("UserName", "Status", "ServiceUserName", "ServiceCredentialAlias",
                                              "CreateDate", "ExpirationDate", "ServiceSpecificCredentialId",
                                              "ServiceName") if k in out})
        _, out = paginate(items, params, "ServiceSpecificCredentials")
        return out

    def ResetServiceSpecificCredential(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._service_cred_user(ctx, params)
            row = self._service_cred_row(account, user, params["ServiceSpecificCredentialId"])
            _, value, _ = self._new_secret(account, user, row[2])
            if row[5]:  # an API key keeps its alias; its secret names it
                value = "ABSK" + base64.b64encode(f"{row[5]}:{_password()}".encode()).decode()
            self.storage.execute("UPDATE iam_service_credentials SET secret = ? WHERE account = ? AND id = ?",
                                 (value, account, row[0]))
            row = self._service_cred_row(account, user, row[0])
        return {"ServiceSpecificCredential": self._service_cred_out(row, secret=True)}

    def UpdateServiceSpecificCredential(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._service_cred_user(ctx, params)
            cid = self._service_cred_row(account, user, params["ServiceSpecificCredentialId"])[0]
            self.storage.execute("UPDATE iam_service_credentials SET status = ? WHERE account = ? AND id = ?",
                                 (params["Status"], account, cid))
        return {}

    def DeleteServiceSpecificCredential(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._service_cred_user(ctx, params)
            cid = self._service_cred_row(account, user, params["ServiceSpecificCredentialId"])[0]
            self.storage.execute("DELETE FROM iam_service_credentials WHERE account = ? AND id = ?", (account, cid))
        return {}
