"""IAM policies: customer managed policies and their versions, the AWS
managed policies, inline policies, attachments and permissions boundaries."""

from __future__ import annotations

import hashlib

from cloudlet.errors import AwsError
from cloudlet.iam.managed import managed_policies, managed_policy_by_arn
from cloudlet.services.iam.util import (
    POLICY_ID, _ID_ALPHABET, already_exists, delete_conflict, document_size, encode_document, iam_arn,
    invalid_input, limit_exceeded, malformed_policy, new_id, no_such_entity, paginate, path_matches,
)

MAX_VERSIONS = 5
MANAGED_POLICY_SIZE = 6144
TRUST_POLICY_SIZE = 2048
ATTACHED_PER_ENTITY = 10
# Aggregate inline policy size per entity (IAM and AWS STS quotas).
INLINE_SIZE = {"user": 2048, "group": 5120, "role": 10240}
_KIND_QUOTA = {"user": "PoliciesPerUser", "group": "PoliciesPerGroup", "role": "PoliciesPerRole"}


def aws_policy_id(arn: str) -> str:
    """A stable id for an AWS managed policy (the same in every account)."""
    digest = hashlib.sha1(arn.encode()).digest()
    return POLICY_ID + "".join(_ID_ALPHABET[b % 32] for b in digest[:17])


class PolicyOps:
    """Mixin of IamService."""

    # -- validation ------------------------------------------------------

    def check_policy_document(self, document: str, kind: str = "identity"):
        from cloudlet.iam import PolicyError, parse_policy

        try:
            policy = parse_policy(document, kind)
        except PolicyError as exc:
            raise malformed_policy(exc.message) from None
        if kind == "trust" and document_size(document) > TRUST_POLICY_SIZE:
            raise limit_exceeded(f"Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_SIZE}")
        return policy

    # -- lookups ---------------------------------------------------------

    def _policy_row(self, arn: str):
        return self.storage.one("SELECT account, name, id, path, arn, description, created, updated, default_version "
                                "FROM iam_policies WHERE arn = ?", (arn,))

    def _attachment_counts(self, arn: str) -> tuple[int, int]:
        attached = self.storage.scalar("SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ?", (arn,))
        boundary = (self.storage.scalar("SELECT COUNT(*) FROM iam_users WHERE boundary = ?", (arn,))
                    + self.storage.scalar("SELECT COUNT(*) FROM iam_roles WHERE boundary = ?", (arn,)))
        return attached, boundary

    def _policy_out(self, arn: str, account: str | None = None, tags: bool = False) -> dict | None:
        row = self._policy_row(arn)
        attached, boundary = self._attachment_counts(arn)
        if row is not None:
            acct, name, pid, path, arn, description, created, updated, default = row
            out = {"PolicyName": name, "PolicyId": pid, "Arn": arn, "Path": path, "DefaultVersionId": default,
                   "AttachmentCount": attached, "PermissionsBoundaryUsageCount": boundary, "IsAttachable": True,
                   "CreateDate": created, "UpdateDate": updated}
            if description:
                out["Description"] = description
            if tags:
                t = self._tags(acct, "policy", name)
                if t:
                    out["Tags"] = t
            return out
        mp = managed_policy_by_arn(arn)
        if mp is None:
            return None
        if account is not None:
            attached = self.storage.scalar("SELECT COUNT(*) FROM iam_attachments WHERE policy_arn = ? AND account = ?",
                                           (arn, account))
            boundary = (self.storage.scalar("SELECT COUNT(*) FROM iam_users WHERE boundary = ? AND account = ?",
                                            (arn, account))
                        + self.storage.scalar("SELECT COUNT(*) FROM iam_roles WHERE boundary = ? AND account = ?",
                                              (arn, account)))
        return {"PolicyName": mp.name, "PolicyId": aws_policy_id(mp.arn), "Arn": mp.arn, "Path": mp.path,
                "DefaultVersionId": mp.version, "AttachmentCount": attached,
                "PermissionsBoundaryUsageCount": boundary, "IsAttachable": True, "Description": mp.description,
                "CreateDate": mp.created, "UpdateDate": mp.updated}

    def policy_document(self, arn: str) -> str | None:
        """The default version's document of a managed policy (either kind)."""
        row = self.storage.one("SELECT v.document FROM iam_policies p JOIN iam_policy_versions v "
                               "ON v.arn = p.arn AND v.version = p.default_version WHERE p.arn = ?", (arn,))
        if row is not None:
            return row[0]
        mp = managed_policy_by_arn(arn)
        return mp.document if mp else None

    def require_attachable(self, account: str, arn: str) -> None:
        row = self._policy_row(arn)
        if row is not None and row[0] == account:
            return
        if row is None and managed_policy_by_arn(arn) is not None:
            return
        if not arn.startswith("arn:aws:iam::"):
            raise invalid_input(f"ARN {arn} is not valid.")
        raise no_such_entity(f"Policy {arn} does not exist or is not attachable.")

    # -- managed policies ------------------------------------------------

    def CreatePolicy(self, ctx, params):
        account = ctx.account_id
        name = params["PolicyName"]
        path = params.get("Path") or "/"
        document = params["PolicyDocument"]
        self.check_policy_document(document)
        if document_size(document) > MANAGED_POLICY_SIZE:
            raise limit_exceeded(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")
        arn = iam_arn(account, "policy", path, name)
        now = self._now()
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_policies WHERE account = ? AND name = ?", (account, name)):
                raise already_exists(f"A policy called {name} already exists. Duplicate names are not allowed.")
            self.storage.execute(
                "INSERT INTO iam_policies (account, name, id, path, arn, description, created, updated, default_version, "
                "next_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'v1', 2)",
                (account, name, new_id(POLICY_ID), path, arn, params.get("Description"), now, now))
            self.storage.execute("INSERT INTO iam_policy_versions (arn, version, document, created) VALUES (?, 'v1', ?, ?)",
                                 (arn, document, now))
            self._put_tags(account, "policy", name, params.get("Tags"))
        out = self._policy_out(arn, tags=True)
        out.pop("Description", None)
        return {"Policy": out}

    def _own_policy(self, ctx, arn: str):
        row = self._policy_row(arn)
        if row is None or row[0] != ctx.account_id:
            if managed_policy_by_arn(arn) is not None:
                return None  # an AWS managed policy
            raise no_such_entity(f"Policy {arn} was not found.")
        return row

    def GetPolicy(self, ctx, params):
        arn = params["PolicyArn"]
        row = self._policy_row(arn)
        if (row is not None and row[0] != ctx.account_id) or (row is None and managed_policy_by_arn(arn) is None):
            raise no_such_entity(f"Policy {arn} was not found.")
        return {"Policy": self._policy_out(arn, ctx.account_id, tags=True)}

    def ListPolicies(self, ctx, params):
        account = ctx.account_id
        scope = params.get("Scope") or "All"
        only_attached = params.get("OnlyAttached", False)
        prefix = params.get("PathPrefix")
        usage = params.get("PolicyUsageFilter")
        items = []
        if scope in ("All", "AWS"):
            for mp in sorted(managed_policies().values(), key=lambda m: m.name.lower()):
                items.append(self._policy_out(mp.arn, account))
        if scope in ("All", "Local"):
            for (arn,) in self.storage.all("SELECT arn FROM iam_policies WHERE account = ? ORDER BY name COLLATE NOCASE",
                                           (account,)):
                items.append(self._policy_out(arn))
        items = [p for p in items if path_matches(p["Path"], prefix)]
        if only_attached:
            items = [p for p in items if p["AttachmentCount"] or p["PermissionsBoundaryUsageCount"]]
        if usage == "PermissionsPolicy":
            items = [p for p in items if p["AttachmentCount"]]
        elif usage == "PermissionsBoundary":
            items = [p for p in items if p["PermissionsBoundaryUsageCount"]]
        _, out = paginate(items, params, "Policies")
        return out

    def DeletePolicy(self, ctx, params):
        arn = params["PolicyArn"]
        row = self._own_policy(ctx, arn)
        if row is None:
            raise AwsError("AccessDenied", f"Cannot delete the AWS managed policy {arn}.", 403)
        with self.storage.tx():
            attached, boundary = self._attachment_counts(arn)
            if attached or boundary:
                raise delete_conflict("Cannot delete a policy attached to entities.")
            versions = self.storage.scalar("SELECT COUNT(*) FROM iam_policy_versions WHERE arn = ?", (arn,))
            if versions > 1:
                raise delete_conflict("This policy has more than one version. Before you delete a policy, you must "
                                      "delete the policy's versions. The default version is deleted with the policy.")
            self.storage.execute("DELETE FROM iam_policy_versions WHERE arn = ?", (arn,))
            self.storage.execute("DELETE FROM iam_policies WHERE arn = ?", (arn,))
            self._drop_tags(row[0], "policy", row[1])
        return {}

    def _version_out(self, arn: str, version: str, document: str, created, default: str, with_doc: bool) -> dict:
        out = {"VersionId": version, "IsDefaultVersion": version == default, "CreateDate": created}
        if with_doc:
            out["Document"] = encode_document(document)
        return out

    def CreatePolicyVersion(self, ctx, params):
        arn = params["PolicyArn"]
        row = self._own_policy(ctx, arn)
        if row is None:
            raise AwsError("AccessDenied", f"Cannot modify the AWS managed policy {arn}.", 403)
        document = params["PolicyDocument"]
        self.check_policy_document(document)
        if document_size(document) > MANAGED_POLICY_SIZE:
            raise limit_exceeded(f"Cannot exceed quota for PolicySize: {MANAGED_POLICY_SIZE}")
        now = self._now()
        with self.storage.tx():
            count = self.storage.scalar("SELECT COUNT(*) FROM iam_policy_versions WHERE arn = ?", (arn,))
            if count >= MAX_VERSIONS:
                raise limit_exceeded("A managed policy can have up to 5 versions. Before you create a new version, "
                                     "you must delete an existing version.")
            number = self.storage.scalar("SELECT next_version FROM iam_policies WHERE arn = ?", (arn,))
            version = f"v{number}"
            self.storage.execute("INSERT INTO iam_policy_versions (arn, version, document, created) VALUES (?, ?, ?, ?)",
                                 (arn, version, document, now))
            default = row[8]
            if params.get("SetAsDefault"):
                default = version
            self.storage.execute("UPDATE iam_policies SET next_version = ?, default_version = ?, updated = ? WHERE arn = ?",
                                 (number + 1, default, now, arn))
        return {"PolicyVersion": self._version_out(arn, version, document, now, default, False)}

    def GetPolicyVersion(self, ctx, params):
        arn = params["PolicyArn"]
        version = params["VersionId"]
        row = self._own_policy(ctx, arn)
        if row is None:
            mp = managed_policy_by_arn(arn)
            if version != mp.version:
                raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
            return {"PolicyVersion": self._version_out(arn, version, mp.document, mp.updated, mp.version, True)}
        found = self.storage.one("SELECT document, created FROM iam_policy_versions WHERE arn = ? AND version = ?",
                                 (arn, version))
        if found is None:
            raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
        return {"PolicyVersion": self._version_out(arn, version, found[0], found[1], row[8], True)}

    def ListPolicyVersions(self, ctx, params):
        arn = params["PolicyArn"]
        row = self._own_policy(ctx, arn)
        if row is None:
            mp = managed_policy_by_arn(arn)
            items = [self._version_out(arn, mp.version, mp.document, mp.updated, mp.version, False)]
        else:
            rows = self.storage.all("SELECT version, document, created FROM iam_policy_versions WHERE arn = ?", (arn,))
            rows.sort(key=lambda r: int(r[0][1:]), reverse=True)
            items = [self._version_out(arn, v, d, c, row[8], False) for v, d, c in rows]
        _, out = paginate(items, params, "Versions")
        return out

    def DeletePolicyVersion(self, ctx, params):
        arn = params["PolicyArn"]
        version = params["VersionId"]
        row = self._own_policy(ctx, arn)
        if row is None:
            raise AwsError("AccessDenied", f"Cannot modify the AWS managed policy {arn}.", 403)
        with self.storage.tx():
            if version == row[8]:
                raise delete_conflict("Cannot delete the default version of a policy.")
            cur = self.storage.execute("DELETE FROM iam_policy_versions WHERE arn = ? AND version = ?", (arn, version))
            if cur.rowcount == 0:
                raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
        return {}

    def SetDefaultPolicyVersion(self, ctx, params):
        arn = params["PolicyArn"]
        version = params["VersionId"]
        row = self._own_policy(ctx, arn)
        if row is None:
            raise AwsError("AccessDenied", f"Cannot modify the AWS managed policy {arn}.", 403)
        with self.storage.tx():
            if not self.storage.one("SELECT 1 FROM iam_policy_versions WHERE arn = ? AND version = ?", (arn, version)):
                raise no_such_entity(f"Policy {arn} version {version} does not exist or is not attachable.")
            self.storage.execute("UPDATE iam_policies SET default_version = ?, updated = ? WHERE arn = ?",
                                 (version, self._now(), arn))
        return {}

    def TagPolicy(self, ctx, params):
        row = self._own_policy(ctx, params["PolicyArn"])
        if row is None:
            raise AwsError("AccessDenied", "Cannot tag an AWS managed policy.", 403)
        with self.storage.tx():
            self._put_tags(row[0], "policy", row[1], params["Tags"])
        return {}

    def UntagPolicy(self, ctx, params):
        row = self._own_policy(ctx, params["PolicyArn"])
        if row is not None:
            with self.storage.tx():
                self._untag(row[0], "policy", row[1], params["TagKeys"])
        return {}

    def ListPolicyTags(self, ctx, params):
        row = self._own_policy(ctx, params["PolicyArn"])
        if row is None:
            return {"Tags": [], "IsTruncated": False}
        return self._list_tags(params, row[0], "policy", row[1])

    # -- attachments -----------------------------------------------------

    def _entity_name(self, account: str, kind: str, name: str) -> str:
        if kind == "user":
            return self._user_row(account, name)[0]
        if kind == "group":
            return self._group_row(account, name)[0]
        return self._role_row(account, name)[0]

    def _attach(self, ctx, kind: str, name: str, arn: str) -> dict:
        account = ctx.account_id
        with self.storage.tx():
            entity = self._entity_name(account, kind, name)
            self.require_attachable(account, arn)
            if self.storage.one("SELECT 1 FROM iam_attachments WHERE account = ? AND kind = ? AND entity = ? "
                                "AND policy_arn = ?", (account, kind, entity, arn)):
                return {}
            count = self.storage.scalar("SELECT COUNT(*) FROM iam_attachments WHERE account = ? AND kind = ? "
                                        "AND entity = ?", (account, kind, entity))
            if count >= ATTACHED_PER_ENTITY:
                raise limit_exceeded(f"Cannot exceed quota for {_KIND_QUOTA[kind]}: {ATTACHED_PER_ENTITY}")
            self.storage.execute("INSERT INTO iam_attachments (account, kind, entity, policy_arn) VALUES (?, ?, ?, ?)",
                                 (account, kind, entity, arn))
        return {}

    def _detach(self, ctx, kind: str, name: str, arn: str) -> dict:
        account = ctx.account_id
        with self.storage.tx():
            entity = self._entity_name(account, kind, name)
            cur = self.storage.execute("DELETE FROM iam_attachments WHERE account = ? AND kind = ? AND entity = ? "
                                       "AND policy_arn = ?", (account, kind, entity, arn))
            if cur.rowcount == 0:
                raise no_such_entity(f"Policy {arn} was not found.")
        return {}

    def _list_attached(self, ctx, params, kind: str, name: str) -> dict:
        account = ctx.account_id
        entity = self._entity_name(account, kind, name)
        items = []
        for (arn,) in self.storage.all("SELECT policy_arn FROM iam_attachments WHERE account = ? AND kind = ? "
                                       "AND entity = ? ORDER BY policy_arn", (account, kind, entity)):
            info = self._policy_out(arn, account)
            if info is not None and path_matches(info["Path"], params.get("PathPrefix")):
                items.append({"PolicyName": info["PolicyName"], "PolicyArn": arn})
        _, out = paginate(items, params, "AttachedPolicies")
        return out

    def AttachUserPolicy(self, ctx, params):
        return self._attach(ctx, "user", params["UserName"], params["PolicyArn"])

    def AttachGroupPolicy(self, ctx, params):
        return self._attach(ctx, "group", params["GroupName"], params["PolicyArn"])

    def AttachRolePolicy(self, ctx, params):
        return self._attach(ctx, "role", params["RoleName"], params["PolicyArn"])

    def DetachUserPolicy(self, ctx, params):
        return self._detach(ctx, "user", params["UserName"], params["PolicyArn"])

    def DetachGroupPolicy(self, ctx, params):
        return self._detach(ctx, "group", params["GroupName"], params["PolicyArn"])

    def DetachRolePolicy(self, ctx, params):
        return self._detach(ctx, "role", params["RoleName"], params["PolicyArn"])

    def ListAttachedUserPolicies(self, ctx, params):
        return self._list_attached(ctx, params, "user", params["UserName"])

    def ListAttachedGroupPolicies(self, ctx, params):
        return self._list_attached(ctx, params, "group", params["GroupName"])

    def ListAttachedRolePolicies(self, ctx, params):
        return self._list_attached(ctx, params, "role", params["RoleName"])

    def ListEntitiesForPolicy(self, ctx, params):
        arn = params["PolicyArn"]
        account = ctx.account_id
        if self._policy_out(arn, account) is None:
            raise no_such_entity(f"Policy {arn} was not found.")
        wanted = params.get("EntityFilter")
        usage = params.get("PolicyUsageFilter")
        groups, users, roles = [], [], []
        if usage != "PermissionsBoundary":
            for kind, entity in self.storage.all("SELECT kind, entity FROM iam_attachments WHERE account = ? "
                                                 "AND policy_arn = ? ORDER BY entity", (account, arn)):
                if kind == "user" and wanted in (None, "User"):
                    users.append({"UserName": entity, "UserId": self._user_row(account, entity)[1]})
                elif kind == "group" and wanted in (None, "Group"):
                    groups.append({"GroupName": entity, "GroupId": self._group_row(account, entity)[1]})
                elif kind == "role" and wanted in (None, "Role"):
                    roles.append({"RoleName": entity, "RoleId": self._role_row(account, entity)[1]})
        if usage != "PermissionsPolicy":
            if wanted in (None, "User"):
                users += [{"UserName": n, "UserId": i} for n, i in self.storage.all(
                    "SELECT name, id FROM iam_users WHERE account = ? AND boundary = ?", (account, arn))]
            if wanted in (None, "Role"):
                roles += [{"RoleName": n, "RoleId": i} for n, i in self.storage.all(
                    "SELECT name, id FROM iam_roles WHERE account = ? AND boundary = ?", (account, arn))]
        return {"PolicyGroups": groups, "PolicyUsers": users, "PolicyRoles": roles, "IsTruncated": False}

    # -- inline policies -------------------------------------------------

    def _put_inline(self, ctx, kind: str, name: str, policy_name: str, document: str) -> dict:
        account = ctx.account_id
        self.check_policy_document(document)
        with self.storage.tx():
            entity = self._entity_name(account, kind, name)
            others = self.storage.all("SELECT document FROM iam_inline_policies WHERE account = ? AND kind = ? "
                                      "AND entity = ? AND name != ?", (account, kind, entity, policy_name))
            total = document_size(document) + sum(document_size(d) for d, in others)
            if total > INLINE_SIZE[kind]:
                raise limit_exceeded(f"Maximum policy size of {INLINE_SIZE[kind]} bytes exceeded for {kind} {entity}")
            self.storage.execute(
                "INSERT INTO iam_inline_policies (account, kind, entity, name, document) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT(account, kind, entity, name) DO UPDATE SET document = excluded.document",
                (account, kind, entity, policy_name, document))
        return {}

    def _get_inline(self, ctx, kind: str, name: str, policy_name: str, entity_key: str) -> dict:
        account = ctx.account_id
        entity = self._entity_name(account, kind, name)
        row = self.storage.one("SELECT name, document FROM iam_inline_policies WHERE account = ? AND kind = ? "
                               "AND entity = ? AND name = ?", (account, kind, entity, policy_name))
        if row is None:
            raise no_such_entity(f"The {kind} policy with name {policy_name} cannot be found.")
        return {entity_key: entity, "PolicyName": row[0], "PolicyDocument": encode_document(row[1])}

    def _delete_inline(self, ctx, kind: str, name: str, policy_name: str) -> dict:
        account = ctx.account_id
        with self.storage.tx():
            entity = self._entity_name(account, kind, name)
            cur = self.storage.execute("DELETE FROM iam_inline_policies WHERE account = ? AND kind = ? AND entity = ? "
                                       "AND name = ?", (account, kind, entity, policy_name))
            if cur.rowcount == 0:
                raise no_such_entity(f"The {kind} policy with name {policy_name} cannot be found.")
        return {}

    def _list_inline(self, ctx, params, kind: str, name: str) -> dict:
        account = ctx.account_id
        entity = self._entity_name(account, kind, name)
        names = [n for n, in self.storage.all("SELECT name FROM iam_inline_policies WHERE account = ? AND kind = ? "
                                              "AND entity = ? ORDER BY name COLLATE NOCASE", (account, kind, entity))]
        _, out = paginate(names, params, "PolicyNames")
        return out

    def PutUserPolicy(self, ctx, params):
        return self._put_inline(ctx, "user", params["UserName"], params["PolicyName"], params["PolicyDocument"])

    def PutGroupPolicy(self, ctx, params):
        return self._put_inline(ctx, "group", params["GroupName"], params["PolicyName"], params["PolicyDocument"])

    def PutRolePolicy(self, ctx, params):
        return self._put_inline(ctx, "role", params["RoleName"], params["PolicyName"], params["PolicyDocument"])

    def GetUserPolicy(self, ctx, params):
        return self._get_inline(ctx, "user", params["UserName"], params["PolicyName"], "UserName")

    def GetGroupPolicy(self, ctx, params):
        return self._get_inline(ctx, "group", params["GroupName"], params["PolicyName"], "GroupName")

    def GetRolePolicy(self, ctx, params):
        return self._get_inline(ctx, "role", params["RoleName"], params["PolicyName"], "RoleName")

    def DeleteUserPolicy(self, ctx, params):
        return self._delete_inline(ctx, "user", params["UserName"], params["PolicyName"])

    def DeleteGroupPolicy(self, ctx, params):
        return self._delete_inline(ctx, "group", params["GroupName"], params["PolicyName"])

    def DeleteRolePolicy(self, ctx, params):
        return self._delete_inline(ctx, "role", params["RoleName"], params["PolicyName"])

    def ListUserPolicies(self, ctx, params):
        return self._list_inline(ctx, params, "user", params["UserName"])

    def ListGroupPolicies(self, ctx, params):
        return self._list_inline(ctx, params, "group", params["GroupName"])

    def ListRolePolicies(self, ctx, params):
        return self._list_inline(ctx, params, "role", params["RoleName"])

    # -- permissions boundaries -----------------------------------------

    def _set_boundary(self, ctx, table: str, kind: str, name: str, arn: str | None) -> dict:
        account = ctx.account_id
        with self.storage.tx():
            entity = self._entity_name(account, kind, name)
            if arn is not None:
                self.require_attachable(account, arn)
            self.storage.execute(f"UPDATE {table} SET boundary = ? WHERE account = ? AND name = ?", (arn, account, entity))
        return {}

    def PutUserPermissionsBoundary(self, ctx, params):
        return self._set_boundary(ctx, "iam_users", "user", params["UserName"], params["PermissionsBoundary"])

    def PutRolePermissionsBoundary(self, ctx, params):
        return self._set_boundary(ctx, "iam_roles", "role", params["RoleName"], params["PermissionsBoundary"])

    def DeleteUserPermissionsBoundary(self, ctx, params):
        return self._set_boundary(ctx, "iam_users", "user", params["UserName"], None)

    def DeleteRolePermissionsBoundary(self, ctx, params):
        return self._set_boundary(ctx, "iam_roles", "role", params["RoleName"], None)
