"""KMS aliases and AWS managed keys (alias/aws/<service>), which KMS
creates the first time a service, or DescribeKey, names them."""

from __future__ import annotations

import uuid

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.kms.keys import not_found, validation

# The services whose AWS managed keys cloudlet's services use or users name.
AWS_MANAGED = ("acm", "dynamodb", "ebs", "elasticfilesystem", "es", "glue", "kinesis", "kinesisvideo", "lambda",
               "logs", "rds", "redshift", "s3", "secretsmanager", "sns", "sqs", "ssm", "xray", "cloudtrail")


def aws_managed_policy(account: str, service: str, region: str) -> str:
    """The key policy of an AWS managed key: the account's principals may
    use it through the service, and describe it directly."""
    via = f"{service}.{region}.amazonaws.com"
    return orjson.dumps({
        "Version": "2012-10-17", "Id": f"auto-{service}-1",
        "Statement": [
            {"Sid": f"Allow access through {service} for all principals in the account that are authorized to use "
                    f"{service}", "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant",
                        "kms:DescribeKey"],
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": via, "kms:CallerAccount": account}}},
            {"Sid": "Allow direct access to key metadata to the account", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"], "Resource": "*"},
        ]}).decode()


class AliasOps:
    """Mixin of KmsService."""

    def alias_target(self, account: str, region: str, name: str) -> str | None:
        row = self.storage.one("SELECT key_id FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
                               (account, region, name))
        if row is not None:
            return row[0]
        service = name[len("alias/aws/"):] if name.startswith("alias/aws/") else None
        if service in AWS_MANAGED:
            return self.aws_managed_key(account, region, service)
        return None

    def aws_managed_key(self, account: str, region: str, service: str) -> str:
        """The id of the AWS managed key alias/aws/<service>, created on first use."""
        name = f"alias/aws/{service}"
        with self.storage.tx():
            row = self.storage.one("SELECT key_id FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
                                   (account, region, name))
            if row is not None:
                return row[0]
            key_id = str(uuid.uuid4())
            arn = self.key_arn(region, account, key_id)
            now = self.clock.now()
            version = self.new_material(arn, account, region, key_id, "SYMMETRIC_DEFAULT")
            self._insert_key({
                "account": account, "region": region, "id": key_id, "arn": arn, "created": now,
                "description": f"Default key that protects my {service.upper()} data when no other key is defined",
                "key_spec": "SYMMETRIC_DEFAULT", "key_usage": "ENCRYPT_DECRYPT", "origin": "AWS_KMS",
                "manager": "AWS", "state": "Enabled", "policy": aws_managed_policy(account, service, region),
                "tags": "[]", "multi_region": 0, "primary_region": None, "current_version": version, "extra": "{}"})
            # AWS managed keys rotate every year, always.
            self.storage.execute("UPDATE kms_keys SET rotation_period = 365, next_rotation = ? WHERE account = ? "
                                 "AND region = ? AND id = ?", (now + 365 * 86_400, account, region, key_id))
            self.storage.execute("INSERT INTO kms_aliases (account, region, name, key_id, created, updated) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (account, region, name, key_id, now, now))
        return key_id

    # -- the calls -------------------------------------------------------

    @staticmethod
    def _check_alias_name(name: str, *, creating: bool) -> None:
        if not name.startswith("alias/"):
            raise validation('Alias must start with the prefix "alias/". Please see '
                             "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
        if creating and name.startswith("alias/aws/"):
            raise AwsError("InvalidAliasNameException",
                           "Alias must not begin with 'alias/aws/'")

    def _target_key(self, ctx, given: str):
        if given.startswith("alias/") or ":alias/" in given:
            raise validation("Aliases must refer to keys. Not aliases")
        key = self.key_for(ctx, given, states=("Enabled", "Disabled", "PendingImport"))
        if key.account != ctx.account_id:
            raise not_found(f"Key '{key.arn}' does not exist")
        if key.manager == "AWS":
            raise AwsError("UnsupportedOperationException",
                           f"{key.arn} is an AWS managed key; its aliases cannot be changed.")
        return key

    def CreateAlias(self, ctx, params):
        name = params["AliasName"]
        self._check_alias_name(name, creating=True)
        key = self._target_key(ctx, params["TargetKeyId"])
        now = self.clock.now()
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
                                (ctx.account_id, ctx.region, name)) is not None:
                raise AwsError("AlreadyExistsException", f"An alias with the name "
                                                         f"{self.alias_arn(ctx.region, ctx.account_id, name)} "
                                                         "already exists")
            self.storage.execute("INSERT INTO kms_aliases (account, region, name, key_id, created, updated) "
                                 "VALUES (?, ?, ?, ?, ?, ?)", (ctx.account_id, ctx.region, name, key.id, now, now))
        return {}

    def UpdateAlias(self, ctx, params):
        name = params["AliasName"]
        self._check_alias_name(name, creating=True)
        current = self.storage.one("SELECT key_id FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
                                   (ctx.account_id, ctx.region, name))
        if current is None:
            raise not_found(f"Alias {self.alias_arn(ctx.region, ctx.account_id, name)} is not found.")
        key = self._target_key(ctx, params["TargetKeyId"])
        old = self.find_key(ctx.account_id, ctx.region, current[0])
        if old is not None and (old.key_spec, old.key_usage) != (key.key_spec, key.key_usage):
            raise validation(f"Alias {name} cannot be changed from a {old.key_spec} {old.key_usage} key to a "
                             f"{key.key_spec} {key.key_usage} key.")
        with self.storage.tx():
            self.storage.execute("UPDATE kms_aliases SET key_id = ?, updated = ? WHERE account = ? AND region = ? "
                                 "AND name = ?", (key.id, self.clock.now(), ctx.account_id, ctx.region, name))
        return {}

    def DeleteAlias(self, ctx, params):
        name = params["AliasName"]
        self._check_alias_name(name, creating=True)
        with self.storage.tx():
            cur = self.storage.execute("DELETE FROM kms_aliases WHERE account = ? AND region = ? AND name = ?",
                                       (ctx.account_id, ctx.region, name))
        if not cur.rowcount:
            raise not_found(f"Alias {self.alias_arn(ctx.region, ctx.account_id, name)} is not found.")
        return {}

    def ListAliases(self, ctx, params):
        limit = self.limit(params, 100, 50)
        start = self.marker(params)
        where, args = "account = ? AND region = ?", [ctx.account_id, ctx.region]
        if params.get("KeyId"):
            key = self.key_for(ctx, params["KeyId"])
            where += " AND key_id = ?"
            args.append(key.id)
        rows = self.storage.all(f"SELECT name, key_id, created, updated FROM kms_aliases WHERE {where} "
                                "ORDER BY name LIMIT ? OFFSET ?", (*args, limit + 1, start))
        aliases = [{"AliasName": name, "AliasArn": self.alias_arn(ctx.region, ctx.account_id, name),
                    "TargetKeyId": key_id, "CreationDate": created, "LastUpdatedDate": updated}
                   for name, key_id, created, updated in rows[:limit]]
        out: dict = {"Aliases": aliases, "Truncated": len(rows) > limit}
        if len(rows) > limit:
            out["NextMarker"] = str(start + limit)
        return out
