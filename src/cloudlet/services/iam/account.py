"""Account-wide IAM views: aliases, the summary, the authorization details
dump and the credential report."""

from __future__ import annotations

import csv
import io

from cloudlet.errors import AwsError
from cloudlet.protocol.common import iso8601
from cloudlet.services.iam.util import already_exists, encode_document, no_such_entity

REPORT_TTL = 4 * 3600  # a credential report expires after four hours


class AccountOps:
    """Mixin of IamService."""

    def account_created(self, account: str) -> int:
        """When cloudlet first saw the account (its root user's create date)."""
        key = f"iam.account-created.{account}"
        value = self.storage.get_meta(key)
        if value is None:
            value = str(self._now())
            self.storage.set_meta(key, value)
        return int(value)

    # -- aliases ---------------------------------------------------------

    def CreateAccountAlias(self, ctx, params):
        alias = params["AccountAlias"]
        with self.storage.tx():
            owner = self.storage.scalar("SELECT account FROM iam_account_aliases WHERE alias = ?", (alias,))
            if owner is not None and owner != ctx.account_id:
                raise already_exists(f"The account alias {alias} already exists.")
            self.storage.execute("INSERT INTO iam_account_aliases (account, alias) VALUES (?, ?) "
                                 "ON CONFLICT(account) DO UPDATE SET alias = excluded.alias", (ctx.account_id, alias))
        return {}

    def DeleteAccountAlias(self, ctx, params):
        with self.storage.tx():
            cur = self.storage.execute("DELETE FROM iam_account_aliases WHERE account = ? AND alias = ?",
                                       (ctx.account_id, params["AccountAlias"]))
            if cur.rowcount == 0:
                raise no_such_entity(f"The account alias {params['AccountAlias']} cannot be found.")
        return {}

    def ListAccountAliases(self, ctx, params):
        rows = self.storage.all("SELECT alias FROM iam_account_aliases WHERE account = ?", (ctx.account_id,))
        return {"AccountAliases": [a for a, in rows], "IsTruncated": False}

    # -- summary ---------------------------------------------------------

    def GetAccountSummary(self, ctx, params):
        a = ctx.account_id
        count = lambda sql: self.storage.scalar(sql, (a,))  # noqa: E731
        policies = count("SELECT COUNT(*) FROM iam_policies WHERE account = ?")
        versions = self.storage.scalar("SELECT COUNT(*) FROM iam_policy_versions v JOIN iam_policies p ON p.arn = v.arn "
                                       "WHERE p.account = ?", (a,))
        root_keys = count("SELECT COUNT(*) FROM iam_access_keys WHERE account = ? AND user_name IS NULL "
                          "AND status != 'Deleted'")
        summary = {
            "Users": count("SELECT COUNT(*) FROM iam_users WHERE account = ?"), "UsersQuota": 5000,
            "Groups": count("SELECT COUNT(*) FROM iam_groups WHERE account = ?"), "GroupsQuota": 300,
            "Roles": count("SELECT COUNT(*) FROM iam_roles WHERE account = ?"), "RolesQuota": 1000,
            "Policies": policies, "PoliciesQuota": 1500,
            "PolicyVersionsInUse": versions, "PolicyVersionsInUseQuota": 10000,
            "InstanceProfiles": count("SELECT COUNT(*) FROM iam_instance_profiles WHERE account = ?"),
            "InstanceProfilesQuota": 1000,
            "Providers": count("SELECT COUNT(*) FROM iam_oidc_providers WHERE account = ?")
            + count("SELECT COUNT(*) FROM iam_saml_providers WHERE account = ?"),
            "ServerCertificates": count("SELECT COUNT(*) FROM iam_server_certificates WHERE account = ?"),
            "ServerCertificatesQuota": 20,
            "MFADevices": count("SELECT COUNT(*) FROM iam_mfa_devices WHERE account = ?"),
            "MFADevicesInUse": count("SELECT COUNT(*) FROM iam_mfa_devices WHERE account = ? AND user_name IS NOT NULL"),
            "AccountMFAEnabled": 0,
            "AccountAccessKeysPresent": 1 if root_keys else 0,
            "AccountSigningCertificatesPresent": 1 if count("SELECT COUNT(*) FROM iam_signing_certificates "
                                                            "WHERE account = ? AND user_name IS NULL") else 0,
            "AccessKeysPerUserQuota": 2, "SigningCertificatesPerUserQuota": 2, "GroupsPerUserQuota": 10,
            "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerGroupQuota": 10,
            "AttachedPoliciesPerRoleQuota": 10, "PolicySizeQuota": 6144, "UserPolicySizeQuota": 2048,
            "GroupPolicySizeQuota": 5120, "RolePolicySizeQuota": 10240, "AssumeRolePolicySizeQuota": 2048,
            "VersionsPerPolicyQuota": 5, "GlobalEndpointTokenVersion": 1,
        }
        return {"SummaryMap": summary}

    # -- authorization details -------------------------------------------

    def _inline_list(self, account: str, kind: str, entity: str) -> list[dict]:
        rows = self.storage.all("SELECT name, document FROM iam_inline_policies WHERE account = ? AND kind = ? "
                                "AND entity = ? ORDER BY name COLLATE NOCASE", (account, kind, entity))
        return [{"PolicyName": n, "PolicyDocument": encode_document(d)} for n, d in rows]

    def _attached_list(self, account: str, kind: str, entity: str) -> list[dict]:
        out = []
        for (arn,) in self.storage.all("SELECT policy_arn FROM iam_attachments WHERE account = ? AND kind = ? "
                                       "AND entity = ? ORDER BY policy_arn", (account, kind, entity)):
            info = self._policy_out(arn, account)
            if info is not None:
                out.append({"PolicyName": info["PolicyName"], "PolicyArn": arn})
        return out

    def GetAccountAuthorizationDetails(self, ctx, params):
        a = ctx.account_id
        wanted = set(params.get("Filter") or ["User", "Role", "Group", "LocalManagedPolicy", "AWSManagedPolicy"])
        out: dict = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": [],
                     "IsTruncated": False}
        if "User" in wanted:
            for row in self.storage.all("SELECT name, id, path, arn, created, boundary, password_last_used FROM iam_users "
                                        "WHERE account = ? ORDER BY name COLLATE NOCASE", (a,)):
                user = self._user_out(row, a, full=True)
                user["UserPolicyList"] = self._inline_list(a, "user", row[0])
                user["GroupList"] = [g for g, in self.storage.all(
                    "SELECT group_name FROM iam_group_members WHERE account = ? AND user_name = ? ORDER BY group_name",
                    (a, row[0]))]
                user["AttachedManagedPolicies"] = self._attached_list(a, "user", row[0])
                out["UserDetailList"].append(user)
        if "Group" in wanted:
            for row in self.storage.all("SELECT name, id, path, arn, created FROM iam_groups WHERE account = ? "
                                        "ORDER BY name COLLATE NOCASE", (a,)):
                group = self._group_out(row)
                group["GroupPolicyList"] = self._inline_list(a, "group", row[0])
                group["AttachedManagedPolicies"] = self._attached_list(a, "group", row[0])
                out["GroupDetailList"].append(group)
        if "Role" in wanted:
            for row in self.storage.all(
                    "SELECT name, id, path, arn, created, trust_policy, description, max_session, boundary, last_used, "
                    "last_used_region FROM iam_roles WHERE account = ? ORDER BY name COLLATE NOCASE", (a,)):
                role = self._role_out(row, a, full=True)
                role.pop("MaxSessionDuration", None)
                role.pop("Description", None)
                role["InstanceProfileList"] = [
                    self._profile_out(p, a, full=False) for p in self.storage.all(
                        "SELECT i.name, i.id, i.path, i.arn, i.created FROM iam_instance_profile_roles r "
                        "JOIN iam_instance_profiles i ON i.account = r.account AND i.name = r.profile "
                        "WHERE r.account = ? AND r.role = ?", (a, row[0]))]
                role["RolePolicyList"] = self._inline_list(a, "role", row[0])
                role["AttachedManagedPolicies"] = self._attached_list(a, "role", row[0])
                out["RoleDetailList"].append(role)
        arns: list[str] = []
        if "LocalManagedPolicy" in wanted:
            arns += [arn for arn, in self.storage.all("SELECT arn FROM iam_policies WHERE account = ? "
                                                       "ORDER BY name COLLATE NOCASE", (a,))]
        if "AWSManagedPolicy" in wanted:
            # AWS lists the AWS managed policies the account uses.
            arns += sorted({arn for arn, in self.storage.all(
                "SELECT policy_arn FROM iam_attachments WHERE account = ? AND policy_arn LIKE 'arn:aws:iam::aws:%' "
                "UNION SELECT boundary FROM iam_users WHERE account = ? AND boundary LIKE 'arn:aws:iam::aws:%' "
                "UNION SELECT boundary FROM iam_roles WHERE account = ? AND boundary LIKE 'arn:aws:iam::aws:%'",
                (a, a, a))})
        for arn in arns:
            info = self._policy_out(arn, a)
            info.pop("Tags", None)
            info.pop("Description", None)
            versions = self.ListPolicyVersions(ctx, {"PolicyArn": arn})["Versions"]
            for v in versions:
                v["Document"] = self.GetPolicyVersion(ctx, {"PolicyArn": arn, "VersionId": v["VersionId"]})[
                    "PolicyVersion"]["Document"]
            info["PolicyVersionList"] = versions
            out["Policies"].append(info)
        return out

    # -- credential report ---------------------------------------------

    def GenerateCredentialReport(self, ctx, params):
        a = ctx.account_id
        existing = self.storage.scalar("SELECT generated FROM iam_credential_reports WHERE account = ?", (a,))
        now = self._now()
        if existing is not None and now - existing < REPORT_TTL:
            return {"State": "COMPLETE"}
        content = self._credential_report(a, now)
        with self.storage.tx():
            self.storage.execute("INSERT INTO iam_credential_reports (account, generated, content) VALUES (?, ?, ?) "
                                 "ON CONFLICT(account) DO UPDATE SET generated = excluded.generated, "
                                 "content = excluded.content", (a, now, content))
        return {"State": "STARTED", "Description": "No report exists. Starting a new report generation task"}

    def GetCredentialReport(self, ctx, params):
        row = self.storage.one("SELECT generated, content FROM iam_credential_reports WHERE account = ?",
                               (ctx.account_id,))
        if row is None:
            raise AwsError("ReportNotPresent", "Credential report not present. Use GenerateCredentialReport to "
                                               "generate a new credential report.", 410)
        if self._now() - row[0] >= REPORT_TTL:
            raise AwsError("ReportExpired", "The credential report is expired. Use GenerateCredentialReport to "
                                            "generate a new credential report.", 410)
        return {"Content": row[1], "ReportFormat": "text/csv", "GeneratedTime": row[0]}

    def _credential_report(self, account: str, now: int) -> bytes:
        cols = ["user", "arn", "user_creation_time", "password_enabled", "password_last_used", "password_last_changed",
                "password_next_rotation", "mfa_active", "access_key_1_active", "access_key_1_last_rotated",
                "access_key_1_last_used_date", "access_key_1_last_used_region", "access_key_1_last_used_service",
                "access_key_2_active", "access_key_2_last_rotated", "access_key_2_last_used_date",
                "access_key_2_last_used_region", "access_key_2_last_used_service", "cert_1_active",
                "cert_1_last_rotated", "cert_2_active", "cert_2_last_rotated"]
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(cols)

        def key_cells(user: str | None) -> list[str]:
            rows = self.storage.all("SELECT status, created, last_used, last_used_region, last_used_service "
                                    "FROM iam_access_keys WHERE account = ? AND user_name IS ? AND status != 'Deleted' "
                                    "ORDER BY created, id",
                                    (account, user))
            cells = []
            for i in range(2):
                if i < len(rows):
                    status, created, used, region, service = rows[i]
                    cells += ["true" if status == "Active" else "false", _iso(created),
                              _iso(used) if used else "N/A", region or "N/A", service or "N/A"]
                else:
                    cells += ["false", "N/A", "N/A", "N/A", "N/A"]
            return cells

        def cert_cells(user: str | None) -> list[str]:
            rows = self.storage.all("SELECT status, uploaded FROM iam_signing_certificates WHERE account = ? "
                                    "AND user_name IS ? ORDER BY uploaded, rowid", (account, user))
            cells = []
            for i in range(2):
                cells += (["true" if rows[i][0] == "Active" else "false", _iso(rows[i][1])] if i < len(rows)
                          else ["false", "N/A"])
            return cells

        root = ["<root_account>", f"arn:aws:iam::{account}:root", _iso(self.account_created(account)),
                "not_supported", "no_information", "not_supported", "not_supported", "false"]
        writer.writerow(root + key_cells(None) + cert_cells(None))
        for name, arn, created in self.storage.all("SELECT name, arn, created FROM iam_users WHERE account = ? "
                                                   "ORDER BY name COLLATE NOCASE", (account,)):
            login = self.storage.one("SELECT created FROM iam_login_profiles WHERE account = ? AND user_name = ?",
                                     (account, name))
            mfa = self.storage.one("SELECT 1 FROM iam_mfa_devices WHERE account = ? AND user_name = ?",
                                   (account, name))
            row = [name, arn, _iso(created), "true" if login else "false", "no_information" if login else "N/A",
                   _iso(login[0]) if login else "N/A", "N/A", "true" if mfa else "false"]
            writer.writerow(row + key_cells(name) + cert_cells(name))
        return buf.getvalue().encode()


def _iso(epoch) -> str:
    return iso8601(epoch).replace("Z", "+00:00")
