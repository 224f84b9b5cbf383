"""IAM users, groups, roles, instance profiles and their tags."""

from __future__ import annotations

from cloudlet.errors import AwsError
from cloudlet.gateway.context import RequestContext
from cloudlet.services.iam.util import (
    GROUP_ID, PROFILE_ID, ROLE_ID, USER_ID, already_exists, delete_conflict, encode_document, iam_arn,
    invalid_input, limit_exceeded, new_id, no_such_entity, paginate, path_matches,
)

MAX_TAGS = 50
# IAM and AWS STS quotas (IAM User Guide).
GROUPS_PER_USER = 10
ROLES_PER_INSTANCE_PROFILE = 1


class EntityOps:
    """Mixin of IamService: entity CRUD. `self.storage`, `self.clock`,
    `self.check_policy_document` come from the service."""

    # -- lookups ---------------------------------------------------------

    def _user_row(self, account: str, name: str):
        row = self.storage.one("SELECT name, id, path, arn, created, boundary, password_last_used "
                               "FROM iam_users WHERE account = ? AND name = ?", (account, name))
        if row is None:
            raise no_such_entity(f"The user with name {name} cannot be found.")
        return row

    def _group_row(self, account: str, name: str):
        row = self.storage.one("SELECT name, id, path, arn, created FROM iam_groups WHERE account = ? AND name = ?",
                               (account, name))
        if row is None:
            raise no_such_entity(f"The group with name {name} cannot be found.")
        return row

    def _role_row(self, account: str, name: str):
        row = self.storage.one(
            "SELECT name, id, path, arn, created, trust_policy, description, max_session, boundary, last_used, "
            "last_used_region FROM iam_roles WHERE account = ? AND name = ?", (account, name))
        if row is None:
            raise no_such_entity(f"The role with name {name} cannot be found.")
        return row

    def _profile_row(self, account: str, name: str):
        row = self.storage.one("SELECT name, id, path, arn, created FROM iam_instance_profiles "
                               "WHERE account = ? AND name = ?", (account, name))
        if row is None:
            raise no_such_entity(f"Instance Profile {name} cannot be found.")
        return row

    def _now(self) -> int:
        return int(self.clock.now())

    # -- tags ------------------------------------------------------------

    def _tags(self, account: str, kind: str, entity: str) -> list[dict]:
        rows = self.storage.all("SELECT key, value FROM iam_tags WHERE account = ? AND kind = ? AND entity = ? "
                                "ORDER BY position", (account, kind, entity))
        return [{"Key": k, "Value": v} for k, v in rows]

    def _put_tags(self, account: str, kind: str, entity: str, tags: list[dict] | None) -> None:
        if not tags:
            return
        keys = [t["Key"].lower() for t in tags]
        if len(set(keys)) != len(keys):
            raise invalid_input("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        existing = {k.lower() for k, in self.storage.all(
            "SELECT key FROM iam_tags WHERE account = ? AND kind = ? AND entity = ?", (account, kind, entity))}
        if len(existing | set(keys)) > MAX_TAGS:
            raise limit_exceeded("The number of tags has reached the maximum limit.")
        position = self.storage.scalar("SELECT COALESCE(MAX(position), 0) FROM iam_tags WHERE account = ? "
                                       "AND kind = ? AND entity = ?", (account, kind, entity))
        for tag in tags:
            position += 1
            self.storage.execute("DELETE FROM iam_tags WHERE account = ? AND kind = ? AND entity = ? "
                                 "AND lower(key) = lower(?)", (account, kind, entity, tag["Key"]))
            self.storage.execute("INSERT INTO iam_tags (account, kind, entity, key, value, position) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (account, kind, entity, tag["Key"], tag["Value"], position))

    def _untag(self, account: str, kind: str, entity: str, keys: list[str]) -> None:
        for key in keys:
            self.storage.execute("DELETE FROM iam_tags WHERE account = ? AND kind = ? AND entity = ? "
                                 "AND lower(key) = lower(?)", (account, kind, entity, key))

    def _drop_tags(self, account: str, kind: str, entity: str) -> None:
        self.storage.execute("DELETE FROM iam_tags WHERE account = ? AND kind = ? AND entity = ?",
                             (account, kind, entity))

    def _list_tags(self, params: dict, account: str, kind: str, entity: str) -> dict:
        _, out = paginate(self._tags(account, kind, entity), params, "Tags")
        return out

    # -- users -----------------------------------------------------------

    def _user_out(self, row, account: str, full: bool = False) -> dict:
        name, uid, path, arn, created, boundary, pw_used = row
        out = {"Path": path, "UserName": name, "UserId": uid, "Arn": arn, "CreateDate": created}
        if pw_used:
            out["PasswordLastUsed"] = pw_used
        if full:
            if boundary:
                out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
            tags = self._tags(account, "user", name)
            if tags:
                out["Tags"] = tags
        return out

    def CreateUser(self, ctx: RequestContext, params: dict) -> dict:
        account = ctx.account_id
        name = params["UserName"]
        path = params.get("Path") or "/"
        boundary = params.get("PermissionsBoundary")
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_users WHERE account = ? AND name = ?", (account, name)):
                raise already_exists(f"User with name {name} already exists.")
            if boundary:
                self.require_attachable(account, boundary)
            arn = iam_arn(account, "user", path, name)
            self.storage.execute("INSERT INTO iam_users (account, name, id, path, arn, created, boundary) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                 (account, name, new_id(USER_ID), path, arn, self._now(), boundary))
            self._put_tags(account, "user", name, params.get("Tags"))
        return {"User": self._user_out(self._user_row(account, name), account, full=True)}

    def GetUser(self, ctx: RequestContext, params: dict) -> dict:
        name = params.get("UserName")
        if not name:
            p = ctx.principal
            if p.type == "IAMUser" and p.name:
                name = p.name
            elif p.is_root:
                # The root user (AWS answers with the account's root identity).
                return {"User": {"Path": "/", "UserName": p.account_id, "UserId": p.account_id, "Arn": p.arn,
                                 "CreateDate": self.account_created(p.account_id)}}
            else:
                raise AwsError("ValidationError", "Must specify userName when calling with non-User credentials")
        return {"User": self._user_out(self._user_row(ctx.account_id, name), ctx.account_id, full=True)}

    def ListUsers(self, ctx: RequestContext, params: dict) -> dict:
        rows = self.storage.all("SELECT name, id, path, arn, created, boundary, password_last_used FROM iam_users "
                                "WHERE account = ? ORDER BY name COLLATE NOCASE", (ctx.account_id,))
        users = [self._user_out(r, ctx.account_id) for r in rows if path_matches(r[2], params.get("PathPrefix"))]
        _, out = paginate(users, params, "Users")
        return out

    def UpdateUser(self, ctx: RequestContext, params: dict) -> dict:
        account = ctx.account_id
        name = params["UserName"]
        new_name = params.get("NewUserName")
        new_path = params.get("NewPath")
        with self.storage.tx():
            row = self._user_row(account, name)
            name = row[0]
            path = new_path or row[2]
            target = new_name or name
            if new_name and new_name.lower() != name.lower() and self.storage.one(
                    "SELECT 1 FROM iam_users WHERE account = ? AND name = ?", (account, new_name)):
                raise already_exists(f"User with name {new_name} already exists.")
            arn = iam_arn(account, "user", path, target)
            self.storage.execute("UPDATE iam_users SET name = ?, path = ?, arn = ? WHERE account = ? AND name = ?",
                                 (target, path, arn, account, name))
            if target != name:
                for table, col in (("iam_group_members", "user_name"), ("iam_access_keys", "user_name"),
                                   ("iam_login_profiles", "user_name")):
                    self.storage.execute(f"UPDATE {table} SET {col} = ? WHERE account = ? AND {col} = ?",
                                         (target, account, name))
                for table in ("iam_inline_policies", "iam_attachments", "iam_tags"):
                    self.storage.execute(f"UPDATE {table} SET entity = ? WHERE account = ? AND kind = 'user' "
                                         "AND entity = ?", (target, account, name))
        return {}

    def DeleteUser(self, ctx: RequestContext, params: dict) -> dict:
        account = ctx.account_id
        with self.storage.tx():
            name = self._user_row(account, params["UserName"])[0]
            checks = (
                ("SELECT 1 FROM iam_access_keys WHERE account = ? AND user_name = ? AND status != 'Deleted'",
                 "must delete access keys first."),
                ("SELECT 1 FROM iam_login_profiles WHERE account = ? AND user_name = ?", "must delete login profile first."),
                ("SELECT 1 FROM iam_inline_policies WHERE account = ? AND kind = 'user' AND entity = ?", "must delete policies first."),
                ("SELECT 1 FROM iam_attachments WHERE account = ? AND kind = 'user' AND entity = ?", "must detach all policies first."),
                ("SELECT 1 FROM iam_group_members WHERE account = ? AND user_name = ?", "must remove user from all groups first."),
                ("SELECT 1 FROM iam_mfa_devices WHERE account = ? AND user_name = ?", "must delete MFA device first."),
                ("SELECT 1 FROM iam_signing_certificates WHERE account = ? AND user_name = ?",
                 "must delete signing certificates first."),
                ("SELECT 1 FROM iam_ssh_keys WHERE account = ? AND user_name = ?", "must delete SSH public keys first."),
                ("SELECT 1 FROM iam_service_credentials WHERE account = ? AND user_name = ?",
                 "must delete service specific credentials first."),
            )
            for sql, what in checks:
                if self.storage.one(sql, (account, name)):
                    raise delete_conflict(f"Cannot delete entity, {what}")
            self.storage.execute("DELETE FROM iam_users WHERE account = ? AND name = ?", (account, name))
            self._drop_tags(account, "user", name)
        return {}

    def TagUser(self, ctx, params):
        with self.storage.tx():
            name = self._user_row(ctx.account_id, params["UserName"])[0]
            self._put_tags(ctx.account_id, "user", name, params["Tags"])
        return {}

    def UntagUser(self, ctx, params):
        with self.storage.tx():
            name = self._user_row(ctx.account_id, params["UserName"])[0]
            self._untag(ctx.account_id, "user", name, params["TagKeys"])
        return {}

    def ListUserTags(self, ctx, params):
        name = self._user_row(ctx.account_id, params["UserName"])[0]
        return self._list_tags(params, ctx.account_id, "user", name)

    # -- groups ----------------------------------------------------------

    @staticmethod
    def _group_out(row) -> dict:
        name, gid, path, arn, created = row
        return {"Path": path, "GroupName": name, "GroupId": gid, "Arn": arn, "CreateDate": created}

    def CreateGroup(self, ctx, params):
        account = ctx.account_id
        name = params["GroupName"]
        path = params.get("Path") or "/"
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_groups WHERE account = ? AND name = ?", (account, name)):
                raise already_exists(f"Group with name {name} already exists.")
            self.storage.execute("INSERT INTO iam_groups (account, name, id, path, arn, created) VALUES (?, ?, ?, ?, ?, ?)",
                                 (account, name, new_id(GROUP_ID), path, iam_arn(account, "group", path, name), self._now()))
        return {"Group": self._group_out(self._group_row(account, name))}

    def GetGroup(self, ctx, params):
        account = ctx.account_id
        group = self._group_row(account, params["GroupName"])
        rows = self.storage.all(
            "SELECT u.name, u.id, u.path, u.arn, u.created, u.boundary, u.password_last_used FROM iam_group_members m "
            "JOIN iam_users u ON u.account = m.account AND u.name = m.user_name "
            "WHERE m.account = ? AND m.group_name = ? ORDER BY u.name COLLATE NOCASE", (account, group[0]))
        _, out = paginate([self._user_out(r, account) for r in rows], params, "Users")
        out["Group"] = self._group_out(group)
        return out

    def ListGroups(self, ctx, params):
        rows = self.storage.all("SELECT name, id, path, arn, created FROM iam_groups WHERE account = ? "
                                "ORDER BY name COLLATE NOCASE", (ctx.account_id,))
        groups = [self._group_out(r) for r in rows if path_matches(r[2], params.get("PathPrefix"))]
        _, out = paginate(groups, params, "Groups")
        return out

    def ListGroupsForUser(self, ctx, params):
        account = ctx.account_id
        name = self._user_row(account, params["UserName"])[0]
        rows = self.storage.all(
            "SELECT g.name, g.id, g.path, g.arn, g.created FROM iam_group_members m JOIN iam_groups g "
            "ON g.account = m.account AND g.name = m.group_name WHERE m.account = ? AND m.user_name = ? "
            "ORDER BY g.name COLLATE NOCASE", (account, name))
        _, out = paginate([self._group_out(r) for r in rows], params, "Groups")
        return out

    def UpdateGroup(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            row = self._group_row(account, params["GroupName"])
            name = row[0]
            target = params.get("NewGroupName") or name
            path = params.get("NewPath") or row[2]
            if target.lower() != name.lower() and self.storage.one(
                    "SELECT 1 FROM iam_groups WHERE account = ? AND name = ?", (account, target)):
                raise already_exists(f"Group with name {target} already exists.")
            self.storage.execute("UPDATE iam_groups SET name = ?, path = ?, arn = ? WHERE account = ? AND name = ?",
                                 (target, path, iam_arn(account, "group", path, target), account, name))
            if target != name:
                self.storage.execute("UPDATE iam_group_members SET group_name = ? WHERE account = ? AND group_name = ?",
                                     (target, account, name))
                for table in ("iam_inline_policies", "iam_attachments"):
                    self.storage.execute(f"UPDATE {table} SET entity = ? WHERE account = ? AND kind = 'group' "
                                         "AND entity = ?", (target, account, name))
        return {}

    def DeleteGroup(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name = self._group_row(account, params["GroupName"])[0]
            if self.storage.one("SELECT 1 FROM iam_group_members WHERE account = ? AND group_name = ?", (account, name)):
                raise delete_conflict("Cannot delete entity, must remove users from group first.")
            if self.storage.one("SELECT 1 FROM iam_inline_policies WHERE account = ? AND kind = 'group' AND entity = ?",
                                (account, name)):
                raise delete_conflict("Cannot delete entity, must delete policies first.")
            if self.storage.one("SELECT 1 FROM iam_attachments WHERE account = ? AND kind = 'group' AND entity = ?",
                                (account, name)):
                raise delete_conflict("Cannot delete entity, must detach all policies first.")
            self.storage.execute("DELETE FROM iam_groups WHERE account = ? AND name = ?", (account, name))
        return {}

    def AddUserToGroup(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            group = self._group_row(account, params["GroupName"])[0]
            user = self._user_row(account, params["UserName"])[0]
            count = self.storage.scalar("SELECT COUNT(*) FROM iam_group_members WHERE account = ? AND user_name = ?",
                                        (account, user))
            already = self.storage.one("SELECT 1 FROM iam_group_members WHERE account = ? AND group_name = ? "
                                       "AND user_name = ?", (account, group, user))
            if not already:
                if count >= GROUPS_PER_USER:
                    raise limit_exceeded(f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}")
                self.storage.execute("INSERT INTO iam_group_members (account, group_name, user_name) VALUES (?, ?, ?)",
                                     (account, group, user))
        return {}

    def RemoveUserFromGroup(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            group = self._group_row(account, params["GroupName"])[0]
            user = self._user_row(account, params["UserName"])[0]
            cur = self.storage.execute("DELETE FROM iam_group_members WHERE account = ? AND group_name = ? "
                                       "AND user_name = ?", (account, group, user))
            if cur.rowcount == 0:
                raise no_such_entity(f"The user with name {user} cannot be found.")
        return {}

    # -- roles -----------------------------------------------------------

    def _role_out(self, row, account: str, full: bool = False) -> dict:
        name, rid, path, arn, created, trust, description, max_session, boundary, last_used, last_region = row
        out = {"Path": path, "RoleName": name, "RoleId": rid, "Arn": arn, "CreateDate": created,
               "AssumeRolePolicyDocument": encode_document(trust), "MaxSessionDuration": max_session}
        if description is not None:
            out["Description"] = description
        if full:
            if boundary:
                out["PermissionsBoundary"] = {"PermissionsBoundaryType": "Policy", "PermissionsBoundaryArn": boundary}
            tags = self._tags(account, "role", name)
            if tags:
                out["Tags"] = tags
            used = {}
            if last_used:
                used = {"LastUsedDate": last_used, "Region": last_region}
            out["RoleLastUsed"] = used
        return out

    def CreateRole(self, ctx, params):
        account = ctx.account_id
        name = params["RoleName"]
        path = params.get("Path") or "/"
        trust = params["AssumeRolePolicyDocument"]
        self.check_policy_document(trust, "trust")
        max_session = params.get("MaxSessionDuration") or 3600
        boundary = params.get("PermissionsBoundary")
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_roles WHERE account = ? AND name = ?", (account, name)):
                raise already_exists(f"Role with name {name} already exists.")
            if boundary:
                self.require_attachable(account, boundary)
            self.storage.execute(
                "INSERT INTO iam_roles (account, name, id, path, arn, created, trust_policy, description, max_session, "
                "boundary) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, name, new_id(ROLE_ID), path, iam_arn(account, "role", path, name), self._now(), trust,
                 params.get("Description"), max_session, boundary))
            self._put_tags(account, "role", name, params.get("Tags"))
        out = self._role_out(self._role_row(account, name), account, full=True)
        out.pop("RoleLastUsed", None)
        return {"Role": out}

    def GetRole(self, ctx, params):
        return {"Role": self._role_out(self._role_row(ctx.account_id, params["RoleName"]), ctx.account_id, full=True)}

    def ListRoles(self, ctx, params):
        rows = self.storage.all(
            "SELECT name, id, path, arn, created, trust_policy, description, max_session, boundary, last_used, "
            "last_used_region FROM iam_roles WHERE account = ? ORDER BY name COLLATE NOCASE", (ctx.account_id,))
        roles = [self._role_out(r, ctx.account_id) for r in rows if path_matches(r[2], params.get("PathPrefix"))]
        _, out = paginate(roles, params, "Roles")
        return out

    def UpdateRole(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name = self._role_row(account, params["RoleName"])[0]
            if "Description" in params:
                self.storage.execute("UPDATE iam_roles SET description = ? WHERE account = ? AND name = ?",
                                     (params["Description"], account, name))
            if params.get("MaxSessionDuration"):
                self.storage.execute("UPDATE iam_roles SET max_session = ? WHERE account = ? AND name = ?",
                                     (params["MaxSessionDuration"], account, name))
        return {}

    def UpdateRoleDescription(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name = self._role_row(account, params["RoleName"])[0]
            self.storage.execute("UPDATE iam_roles SET description = ? WHERE account = ? AND name = ?",
                                 (params["Description"], account, name))
        out = self._role_out(self._role_row(account, name), account, full=True)
        return {"Role": out}

    def UpdateAssumeRolePolicy(self, ctx, params):
        account = ctx.account_id
        self.check_policy_document(params["PolicyDocument"], "trust")
        with self.storage.tx():
            name = self._role_row(account, params["RoleName"])[0]
            self.storage.execute("UPDATE iam_roles SET trust_policy = ? WHERE account = ? AND name = ?",
                                 (params["PolicyDocument"], account, name))
        return {}

    def DeleteRole(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name = self._role_row(account, params["RoleName"])[0]
            if self.storage.one("SELECT 1 FROM iam_instance_profile_roles WHERE account = ? AND role = ?", (account, name)):
                raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
            if self.storage.one("SELECT 1 FROM iam_inline_policies WHERE account = ? AND kind = 'role' AND entity = ?",
                                (account, name)):
                raise delete_conflict("Cannot delete entity, must delete policies first.")
            if self.storage.one("SELECT 1 FROM iam_attachments WHERE account = ? AND kind = 'role' AND entity = ?",
                                (account, name)):
                raise delete_conflict("Cannot delete entity, must detach all policies first.")
            self.storage.execute("DELETE FROM iam_roles WHERE account = ? AND name = ?", (account, name))
            self._drop_tags(account, "role", name)
        return {}

    def TagRole(self, ctx, params):
        with self.storage.tx():
            name = self._role_row(ctx.account_id, params["RoleName"])[0]
            self._put_tags(ctx.account_id, "role", name, params["Tags"])
        return {}

    def UntagRole(self, ctx, params):
        with self.storage.tx():
            name = self._role_row(ctx.account_id, params["RoleName"])[0]
            self._untag(ctx.account_id, "role", name, params["TagKeys"])
        return {}

    def ListRoleTags(self, ctx, params):
        name = self._role_row(ctx.account_id, params["RoleName"])[0]
        return self._list_tags(params, ctx.account_id, "role", name)

    def CreateServiceLinkedRole(self, ctx, params):
        """A role only the service can assume, at /aws-service-role/<service>/,
        named as AWS names them (AWSServiceRoleFor<Service>[_<suffix>])."""
        service = params["AWSServiceName"]
        if not service.endswith(".amazonaws.com"):
            raise invalid_input(f"Service name {service} is not a valid AWS service principal.")
        base = service.split(".")[0]
        stem = "".join(part[:1].upper() + part[1:] for part in base.replace("_", "-").split("-"))
        name = f"AWSServiceRoleFor{stem}"
        if params.get("CustomSuffix"):
            name += "_" + params["CustomSuffix"]
        path = f"/aws-service-role/{service}/"
        trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"'
                 + service + '"},"Action":"sts:AssumeRole"}]}')
        account = ctx.account_id
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_roles WHERE account = ? AND name = ?", (account, name)):
                raise invalid_input(f"Service role name {name} has been taken in this account, please try a different suffix.")
            self.storage.execute(
                "INSERT INTO iam_roles (account, name, id, path, arn, created, trust_policy, description, max_session) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 3600)",
                (account, name, new_id(ROLE_ID), path, iam_arn(account, "role", path, name), self._now(), trust,
                 params.get("Description")))
        out = self._role_out(self._role_row(account, name), account, full=True)
        out.pop("RoleLastUsed", None)
        return {"Role": out}

    def DeleteServiceLinkedRole(self, ctx, params):
        account = ctx.account_id
        row = self._role_row(account, params["RoleName"])
        if not row[2].startswith("/aws-service-role/"):
            raise invalid_input(f"Role {row[0]} is not a service-linked role.")
        task_id = f"task/aws-service-role/{row[2].split('/')[2]}/{row[0]}/{new_id('', 36).lower()}"
        with self.storage.tx():
            self.storage.execute("DELETE FROM iam_attachments WHERE account = ? AND kind = 'role' AND entity = ?",
                                 (account, row[0]))
            self.storage.execute("DELETE FROM iam_inline_policies WHERE account = ? AND kind = 'role' AND entity = ?",
                                 (account, row[0]))
            self.storage.execute("DELETE FROM iam_roles WHERE account = ? AND name = ?", (account, row[0]))
            self.storage.set_meta(f"iam.slr-deletion.{account}.{task_id}", "SUCCEEDED")
        return {"DeletionTaskId": task_id}

    def GetServiceLinkedRoleDeletionStatus(self, ctx, params):
        status = self.storage.get_meta(f"iam.slr-deletion.{ctx.account_id}.{params['DeletionTaskId']}")
        if status is None:
            raise no_such_entity(f"Deletion task {params['DeletionTaskId']} cannot be found.")
        return {"Status": status}

    # -- instance profiles ----------------------------------------------

    def _profile_out(self, row, account: str, full: bool = True) -> dict:
        name, pid, path, arn, created = row
        roles = self.storage.all(
            "SELECT r.name, r.id, r.path, r.arn, r.created, r.trust_policy, r.description, r.max_session, r.boundary, "
            "r.last_used, r.last_used_region FROM iam_instance_profile_roles p JOIN iam_roles r "
            "ON r.account = p.account AND r.name = p.role WHERE p.account = ? AND p.profile = ?", (account, name))
        out = {"Path": path, "InstanceProfileName": name, "InstanceProfileId": pid, "Arn": arn, "CreateDate": created,
               "Roles": [self._role_out(r, account) for r in roles]}
        tags = self._tags(account, "instance-profile", name) if full else []
        if tags:
            out["Tags"] = tags
        return out

    def CreateInstanceProfile(self, ctx, params):
        account = ctx.account_id
        name = params["InstanceProfileName"]
        path = params.get("Path") or "/"
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_instance_profiles WHERE account = ? AND name = ?", (account, name)):
                raise already_exists(f"Instance Profile {name} already exists.")
            self.storage.execute(
                "INSERT INTO iam_instance_profiles (account, name, id, path, arn, created) VALUES (?, ?, ?, ?, ?, ?)",
                (account, name, new_id(PROFILE_ID), path, iam_arn(account, "instance-profile", path, name), self._now()))
            self._put_tags(account, "instance-profile", name, params.get("Tags"))
        return {"InstanceProfile": self._profile_out(self._profile_row(account, name), account)}

    def GetInstanceProfile(self, ctx, params):
        return {"InstanceProfile": self._profile_out(self._profile_row(ctx.account_id, params["InstanceProfileName"]),
                                                     ctx.account_id)}

    def ListInstanceProfiles(self, ctx, params):
        rows = self.storage.all("SELECT name, id, path, arn, created FROM iam_instance_profiles WHERE account = ? "
                                "ORDER BY name COLLATE NOCASE", (ctx.account_id,))
        items = [self._profile_out(r, ctx.account_id, full=False) for r in rows
                 if path_matches(r[2], params.get("PathPrefix"))]
        _, out = paginate(items, params, "InstanceProfiles")
        return out

    def ListInstanceProfilesForRole(self, ctx, params):
        account = ctx.account_id
        role = self._role_row(account, params["RoleName"])[0]
        rows = self.storage.all(
            "SELECT i.name, i.id, i.path, i.arn, i.created FROM iam_instance_profile_roles p JOIN iam_instance_profiles i "
            "ON i.account = p.account AND i.name = p.profile WHERE p.account = ? AND p.role = ? "
            "ORDER BY i.name COLLATE NOCASE", (account, role))
        _, out = paginate([self._profile_out(r, account, full=False) for r in rows], params, "InstanceProfiles")
        return out

    def AddRoleToInstanceProfile(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            profile = self._profile_row(account, params["InstanceProfileName"])[0]
            role = self._role_row(account, params["RoleName"])[0]
            count = self.storage.scalar("SELECT COUNT(*) FROM iam_instance_profile_roles WHERE account = ? AND profile = ?",
                                        (account, profile))
            if count >= ROLES_PER_INSTANCE_PROFILE:
                raise limit_exceeded(f"Cannot exceed quota for InstanceSessionsPerInstanceProfile: {ROLES_PER_INSTANCE_PROFILE}")
            self.storage.execute("INSERT INTO iam_instance_profile_roles (account, profile, role) VALUES (?, ?, ?)",
                                 (account, profile, role))
        return {}

    def RemoveRoleFromInstanceProfile(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            profile = self._profile_row(account, params["InstanceProfileName"])[0]
            role = self._role_row(account, params["RoleName"])[0]
            cur = self.storage.execute("DELETE FROM iam_instance_profile_roles WHERE account = ? AND profile = ? "
                                       "AND role = ?", (account, profile, role))
            if cur.rowcount == 0:
                raise no_such_entity(f"The role with name {role} cannot be found.")
        return {}

    def DeleteInstanceProfile(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            profile = self._profile_row(account, params["InstanceProfileName"])[0]
            if self.storage.one("SELECT 1 FROM iam_instance_profile_roles WHERE account = ? AND profile = ?",
                                (account, profile)):
                raise delete_conflict("Cannot delete entity, must remove roles from instance profile first.")
            self.storage.execute("DELETE FROM iam_instance_profiles WHERE account = ? AND name = ?", (account, profile))
            self._drop_tags(account, "instance-profile", profile)
        return {}

    def TagInstanceProfile(self, ctx, params):
        with self.storage.tx():
            name = self._profile_row(ctx.account_id, params["InstanceProfileName"])[0]
            self._put_tags(ctx.account_id, "instance-profile", name, params["Tags"])
        return {}

    def UntagInstanceProfile(self, ctx, params):
        with self.storage.tx():
            name = self._profile_row(ctx.account_id, params["InstanceProfileName"])[0]
            self._untag(ctx.account_id, "instance-profile", name, params["TagKeys"])
        return {}

    def ListInstanceProfileTags(self, ctx, params):
        name = self._profile_row(ctx.account_id, params["InstanceProfileName"])[0]
        return self._list_tags(params, ctx.account_id, "instance-profile", name)
