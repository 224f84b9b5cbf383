"""KMS keys: create, describe, list, enable/disable, descriptions, deletion
windows, tags, key policies, rotation and multi-Region replicas.

A key is a row of kms_keys; its material versions are rows of
kms_material (sealed). Which states each operation accepts follows the
"Key states of KMS keys" table of the KMS Developer Guide.
"""

from __future__ import annotations

import re
import secrets
import uuid

import orjson

from cloudlet.errors import AwsError

DAY = 86_400.0
MAX_TAGS = 50
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MRK = re.compile(r"^mrk-[0-9a-f]{32}$")
_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):key/(.+)$")
_ALIAS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):(\d{12}):(alias/.+)$")
_STATE_WORDS = {"PendingDeletion": "pending deletion", "PendingImport": "pending import",
                "PendingReplicaDeletion": "pending replica deletion", "Unavailable": "unavailable",
                "Disabled": "disabled", "Enabled": "enabled", "Creating": "creating", "Updating": "updating"}
_COLUMNS = ("account, region, id, arn, created, description, key_spec, key_usage, origin, manager, state, policy, "
            "tags, deletion_date, pending_window, rotation_period, next_rotation, multi_region, primary_region, "
            "valid_to, current_version, extra")


def not_found(message: str) -> AwsError:
    return AwsError("NotFoundException", message)


def validation(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def default_policy(account: str) -> str:
    """The key policy KMS writes when CreateKey has none: the account (and
    so IAM policies) may do everything with the key."""
    return orjson.dumps({
        "Version": "2012-10-17", "Id": "key-default-1",
        "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}],
    }, option=orjson.OPT_INDENT_2).decode().replace('": ', '" : ')


class Key:
    __slots__ = ("account", "region", "id", "arn", "created", "description", "key_spec", "key_usage", "origin",
                 "manager", "state", "policy", "tags", "deletion_date", "pending_window", "rotation_period",
                 "next_rotation", "multi_region", "primary_region", "valid_to", "current_version", "extra")

    def __init__(self, row):
        (self.account, self.region, self.id, self.arn, self.created, self.description, self.key_spec,
         self.key_usage, self.origin, self.manager, self.state, self.policy, tags, self.deletion_date,
         self.pending_window, self.rotation_period, self.next_rotation, multi_region, self.primary_region,
         self.valid_to, self.current_version, extra) = row
        self.tags: list[dict] = orjson.loads(tags)
        self.multi_region = bool(multi_region)
        self.extra: dict = orjson.loads(extra)

    @property
    def enabled(self) -> bool:
        return self.state == "Enabled"


class KeyOps:
    """Mixin of KmsService."""

    # -- naming and lookup -----------------------------------------------

    @staticmethod
    def key_arn(region: str, account: str, key_id: str) -> str:
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"

    @staticmethod
    def alias_arn(region: str, account: str, name: str) -> str:
        return f"arn:aws:kms:{region}:{account}:{name}"

    def find_key(self, account: str, region: str, key_id: str) -> Key | None:
        """A key row, cached per process (every write to a key forgets it)."""
        cache_key = (account, region, key_id)
        key = self._keys_cache.get(cache_key)
        if key is None:
            row = self.storage.one(f"SELECT {_COLUMNS} FROM kms_keys WHERE account = ? AND region = ? AND id = ?",
                                   (account, region, key_id))
            if row is None:
                return None
            if len(self._keys_cache) > 10_000:
                self._keys_cache.clear()
            key = self._keys_cache[cache_key] = Key(row)
        return key

    def forget_key(self, key: Key) -> None:
        self._keys_cache.pop((key.account, key.region, key.id), None)

    def locate(self, ctx, given: str) -> tuple[str, str, str, str | None]:
        """(account, region, key id, alias name or None) named by a KeyId
        parameter: a key id, a key ARN, an alias name or an alias ARN (other
        accounts only by ARN). Raises NotFoundException as KMS does."""
        if not given:
            raise validation("KeyId is a required parameter")
        account, region = ctx.account_id, ctx.region
        alias = None
        if given.startswith("arn:"):
            m = _KEY_ARN.match(given)
            if m is not None:
                region, account, key_id = m.groups()
                if region != ctx.region:
                    raise not_found(f"Invalid arn {region}")
                return account, region, key_id, None
            m = _ALIAS_ARN.match(given)
            if m is None:
                raise not_found(f"Invalid keyId '{given}'")
            region, account, alias = m.groups()
            if region != ctx.region:
                raise not_found(f"Invalid arn {region}")
        elif given.startswith("alias/"):
            alias = given
        if alias is not None:
            key_id = self.alias_target(account, region, alias)
            if key_id is None:
                raise not_found(f"Alias {self.alias_arn(region, account, alias)} is not found.")
            return account, region, key_id, alias
        if not (_UUID.match(given) or _MRK.match(given)):
            raise not_found(f"Invalid keyId '{given}'")
        return account, region, given, None

    def key_for(self, ctx, given: str, *, states: tuple[str, ...] = ("Enabled", "Disabled", "PendingDeletion",
                                                                        "PendingImport", "Unavailable",
                                                                        "PendingReplicaDeletion")) -> Key:
        """The key a request names, in a state the operation accepts (the
        authorizer may have read it already for this request)."""
        key = ctx.extra.get("kms_key")
        if key is None or ctx.extra.get("kms_key_given") != given:
            account, region, key_id, _ = self.locate(ctx, given)
            key = self.find_key(account, region, key_id)
            if key is None:
                raise not_found(f"Key '{self.key_arn(region, account, key_id)}' does not exist")
        self.check_state(key, states)
        return key

    @staticmethod
    def check_state(key: Key, states: tuple[str, ...]) -> None:
        if key.state in states:
            return
        if key.state == "Disabled":
            raise AwsError("DisabledException", f"{key.arn} is disabled.")
        raise AwsError("KMSInvalidStateException", f"{key.arn} is {_STATE_WORDS.get(key.state, key.state)}.")

    # -- metadata --------------------------------------------------------

    def metadata(self, key: Key) -> dict:
        from cloudlet.services.kms import crypto

        out = {"AWSAccountId": key.account, "KeyId": key.id, "Arn": key.arn, "CreationDate": key.created,
               "Enabled": key.state == "Enabled", "Description": key.description, "KeyUsage": key.key_usage,
               "KeyState": key.state, "Origin": key.origin, "KeyManager": key.manager,
               "CustomerMasterKeySpec": key.key_spec, "KeySpec": key.key_spec}
        if key.deletion_date is not None:
            out["DeletionDate"] = key.deletion_date
            if key.state == "PendingDeletion":
                out["PendingDeletionWindowInDays"] = key.pending_window
        if key.origin == "EXTERNAL":
            out["ExpirationModel"] = "KEY_MATERIAL_EXPIRES" if key.valid_to else "KEY_MATERIAL_DOES_NOT_EXPIRE"
            if key.valid_to:
                out["ValidTo"] = key.valid_to
        for field_name, values in crypto.algorithms(key.key_spec, key.key_usage).items():
            out[field_name] = values
        out["MultiRegion"] = key.multi_region
        if key.multi_region:
            out["MultiRegionConfiguration"] = self._multi_region_configuration(key)
        if key.current_version is not None:
            out["CurrentKeyMaterialId"] = key.current_version
        return out

    def _multi_region_configuration(self, key: Key) -> dict:
        rows = self.storage.all("SELECT region, arn FROM kms_keys WHERE account = ? AND id = ? ORDER BY region",
                                (key.account, key.id))
        primary = next(({"Arn": arn, "Region": region} for region, arn in rows if region == key.primary_region),
                       None)
        return {"MultiRegionKeyType": "PRIMARY" if key.region == key.primary_region else "REPLICA",
                "PrimaryKey": primary,
                "ReplicaKeys": [{"Arn": arn, "Region": region} for region, arn in rows
                                if region != key.primary_region]}

    # -- writing ---------------------------------------------------------

    def _insert_key(self, key: dict) -> None:
        self.storage.execute(
            "INSERT INTO kms_keys (account, region, id, arn, created, description, key_spec, key_usage, origin, "
            "manager, state, policy, tags, multi_region, primary_region, current_version, extra, tracking_start) "
            "VALUES (:account, :region, :id, :arn, :created, :description, :key_spec, :key_usage, :origin, "
            ":manager, :state, :policy, :tags, :multi_region, :primary_region, :current_version, :extra, :created)",
            key)

    def _update(self, key: Key, **columns) -> None:
        sets = ", ".join(f"{name} = ?" for name in columns)
        with self.storage.tx():
            self.storage.execute(f"UPDATE kms_keys SET {sets} WHERE account = ? AND region = ? AND id = ?",
                                 (*columns.values(), key.account, key.region, key.id))
        self.forget_key(key)

    def new_material(self, key_arn: str, account: str, region: str, key_id: str, key_spec: str,
                     rotation_type: str | None = None, material: bytes | None = None,
                     imported: bool = False) -> str:
        """Store a new material version for a key (inside the caller's
        unit); returns its id. Imported material's id depends only on the
        key and the material, so importing it again brings back the blobs
        made under it."""
        from cloudlet.services.kms import crypto

        if imported:
            version = crypto.material_id(key_id, material)
            self.storage.execute("DELETE FROM kms_material WHERE account = ? AND region = ? AND key_id = ? AND "
                                 "version = ?", (account, region, key_id, version))
        else:
            version = secrets.token_hex(32)
        material = material if material is not None else crypto.generate_material(key_spec)
        sealed = self.master.seal(material, f"{key_arn}\n{version}".encode())
        self.storage.execute(
            "INSERT INTO kms_material (account, region, key_id, version, sealed, created, rotation_type, imported) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (account, region, key_id, version, sealed, self.clock.now(), rotation_type, int(imported)))
        self._materials[(key_arn, version)] = material
        return version

    def material(self, key: Key, version: str | None = None) -> bytes:
        """A material version in plaintext (the current one by default),
        unsealed once per process."""
        version = version or key.current_version
        if version is None:
            raise AwsError("KMSInvalidStateException", f"{key.arn} is pending import.")
        cached = self._materials.get((key.arn, version))
        if cached is not None:
            return cached
        row = self.storage.one("SELECT sealed FROM kms_material WHERE account = ? AND region = ? AND key_id = ? "
                               "AND version = ?", (key.account, key.region, key.id, version))
        if row is None:
            raise AwsError("InvalidCiphertextException", "")
        material = self.master.open(row[0], f"{key.arn}\n{version}".encode())
        if len(self._materials) > 10_000:
            self._materials.clear()
        self._materials[(key.arn, version)] = material
        return material

    # -- the calls -------------------------------------------------------

    def CreateKey(self, ctx, params):
        from cloudlet.services.kms import crypto

        if params.get("CustomerMasterKeySpec") and params.get("KeySpec"):
            raise validation("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                             "CustomerMasterKeySpec parameter is deprecated. Use KeySpec only.")
        spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
        usage = params.get("KeyUsage") or "ENCRYPT_DECRYPT"
        if spec == "SM2":
            raise validation("KeySpec SM2 is only available in China Regions")
        if spec in crypto.UNSUPPORTED_KEY_SPECS:
            # Honest rather than half-built: these keys need algorithms
            # cloudlet does not implement yet (see docs/SERVICES.md).
            raise AwsError("UnsupportedOperationException", f"KeySpec {spec} is not supported by cloudlet yet.")
        if not crypto.algorithms(spec, usage):
            raise validation(f"KeyUsage {usage} is not compatible with KeySpec {spec}")
        origin = params.get("Origin") or "AWS_KMS"
        if origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE") or params.get("CustomKeyStoreId"):
            raise AwsError("CustomKeyStoreNotFoundException",
                           f"Custom key store {params.get('CustomKeyStoreId') or ''} does not exist".replace("  ", " "))
        multi_region = bool(params.get("MultiRegion"))
        tags = self.check_tags(params.get("Tags") or [])
        if tags:
            # Tagging at creation needs kms:TagResource too (an IAM policy's:
            # the key, and so its policy, does not exist yet).
            self.cloud.authorizer.require(ctx, self, ctx.op_model, params, "kms:TagResource", "*", None)
        account, region = ctx.account_id, ctx.region
        key_id = f"mrk-{uuid.uuid4().hex}" if multi_region else str(uuid.uuid4())
        arn = self.key_arn(region, account, key_id)
        policy = params.get("Policy")
        if policy is not None:
            self.check_policy(ctx, policy, arn, account, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        else:
            policy = default_policy(account)
        row = {"account": account, "region": region, "id": key_id, "arn": arn, "created": self.clock.now(),
               "description": params.get("Description") or "", "key_spec": spec, "key_usage": usage,
               "origin": origin, "manager": "CUSTOMER", "state": "PendingImport" if origin == "EXTERNAL" else "Enabled",
               "policy": policy, "tags": orjson.dumps(tags).decode(), "multi_region": int(multi_region),
               "primary_region": region if multi_region else None, "current_version": None, "extra": "{}"}
        with self.storage.tx():
            if origin != "EXTERNAL":
                row["current_version"] = self.new_material(arn, account, region, key_id, spec)
            self._insert_key(row)
        return {"KeyMetadata": self.metadata(self.find_key(account, region, key_id))}

    def DescribeKey(self, ctx, params):
        return {"KeyMetadata": self.metadata(self.key_for(ctx, params["KeyId"]))}

    def ListKeys(self, ctx, params):
        limit = self.limit(params, 1000, 100)
        start = self.marker(params)
        rows = self.storage.all("SELECT id, arn FROM kms_keys WHERE account = ? AND region = ? ORDER BY created, id "
                                "LIMIT ? OFFSET ?", (ctx.account_id, ctx.region, limit + 1, start))
        out: dict = {"Keys": [{"KeyId": i, "KeyArn": a} for i, a in rows[:limit]], "Truncated": len(rows) > limit}
        if len(rows) > limit:
            out["NextMarker"] = str(start + limit)
        return out

    def EnableKey(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled"))
        self._update(key, state="Enabled")
        return {}

    def DisableKey(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled"))
        self._update(key, state="Disabled")
        return {}

    def UpdateKeyDescription(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        self._update(key, description=params.get("Description") or "")
        return {}

    # -- deletion --------------------------------------------------------

    def ScheduleKeyDeletion(self, ctx, params):
        window = params.get("PendingWindowInDays")
        window = 30 if window is None else window
        if not 7 <= window <= 30:
            raise validation(f"PendingWindowInDays should be between 7 and 30, but it is {window}")
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport", "Unavailable"))
        if key.multi_region and key.region == key.primary_region:
            replicas = self.storage.scalar("SELECT COUNT(*) FROM kms_keys WHERE account = ? AND id = ? AND region != ?",
                                           (key.account, key.id, key.region))
            if replicas:
                raise AwsError("UnsupportedOperationException",
                               f"{key.arn} has replica keys and cannot be scheduled for deletion.")
        when = self.clock.now() + window * DAY
        self._update(key, state="PendingDeletion", deletion_date=when, pending_window=window)
        self.schedule_lifecycle(when)
        return {"KeyId": key.arn, "DeletionDate": when, "KeyState": "PendingDeletion", "PendingWindowInDays": window}

    def CancelKeyDeletion(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("PendingDeletion",))
        self._update(key, state="Disabled", deletion_date=None, pending_window=None)
        return {"KeyId": key.arn}

    def delete_due_keys(self, now: float) -> None:
        rows = self.storage.all("SELECT account, region, id, arn FROM kms_keys WHERE deletion_date <= ?", (now,))
        with self.storage.tx():
            for account, region, key_id, arn in rows:
                for table, column in (("kms_keys", "id"), ("kms_material", "key_id"), ("kms_aliases", "key_id"),
                                      ("kms_grants", "key_id"), ("kms_imports", "key_id")):
                    self.storage.execute(f"DELETE FROM {table} WHERE account = ? AND region = ? AND {column} = ?",
                                         (account, region, key_id))
                self._materials = {k: v for k, v in self._materials.items() if k[0] != arn}
        self._keys_cache.clear()

    # -- tags ------------------------------------------------------------

    @staticmethod
    def check_tags(tags: list) -> list:
        for tag in tags:
            if tag["TagKey"].lower().startswith("aws:"):
                raise AwsError("TagException", "Tags beginning with aws: are reserved")
        if len({t["TagKey"] for t in tags}) > MAX_TAGS:
            raise AwsError("LimitExceededException", f"The number of tags exceeds the limit of {MAX_TAGS}.")
        merged: dict = {}
        for tag in tags:
            merged[tag["TagKey"]] = tag["TagValue"]
        return [{"TagKey": k, "TagValue": v} for k, v in merged.items()]

    def TagResource(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        merged = {t["TagKey"]: t["TagValue"] for t in key.tags}
        for tag in self.check_tags(params["Tags"]):
            merged[tag["TagKey"]] = tag["TagValue"]
        if len(merged) > MAX_TAGS:
            raise AwsError("LimitExceededException", f"The number of tags exceeds the limit of {MAX_TAGS}.")
        self._update(key, tags=orjson.dumps([{"TagKey": k, "TagValue": v} for k, v in merged.items()]).decode())
        return {}

    def UntagResource(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        drop = set(params["TagKeys"])
        self._update(key, tags=orjson.dumps([t for t in key.tags if t["TagKey"] not in drop]).decode())
        return {}

    def ListResourceTags(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"])
        limit = self.limit(params, 50, 50)
        start = self.marker(params)
        page = key.tags[start:start + limit]
        out: dict = {"Tags": page, "Truncated": start + limit < len(key.tags)}
        if out["Truncated"]:
            out["NextMarker"] = str(start + limit)
        return out

    # -- key policies ----------------------------------------------------

    def check_policy(self, ctx, policy: str, key_arn: str, account: str, bypass: bool) -> None:
        """A key policy must parse, and (unless the caller bypasses the
        lockout safety check) must let the caller change it later."""
        from cloudlet.iam import PolicyError, parse_policy

        try:
            parse_policy(policy, "resource")
        except PolicyError as exc:
            raise AwsError("MalformedPolicyDocumentException", exc.message) from None
        if bypass or self.cloud.authorizer.mode == "off":
            return
        decision = self.cloud.authorizer.decide(ctx, self, ctx.op_model, {}, "kms:PutKeyPolicy", key_arn,
                                                (policy, account))
        if not decision.allowed:
            raise AwsError("MalformedPolicyDocumentException",
                           "The new key policy will not allow you to update the key policy in the future.")

    def GetKeyPolicy(self, ctx, params):
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise not_found("Invalid PolicyName")
        key = self.key_for(ctx, params["KeyId"])
        return {"Policy": key.policy, "PolicyName": "default"}

    def PutKeyPolicy(self, ctx, params):
        name = params.get("PolicyName") or "default"
        if name != "default":
            raise not_found("Invalid PolicyName")
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        self.check_policy(ctx, params["Policy"], key.arn, key.account, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        self._update(key, policy=params["Policy"])
        return {}

    def ListKeyPolicies(self, ctx, params):
        self.key_for(ctx, params["KeyId"])
        return {"PolicyNames": ["default"], "Truncated": False}

    # -- rotation --------------------------------------------------------

    def _rotatable(self, key: Key) -> None:
        if key.key_spec != "SYMMETRIC_DEFAULT" or key.origin != "AWS_KMS":
            raise AwsError("UnsupportedOperationException", f"{key.arn} origin is {key.origin} which is not valid "
                                                            "for this operation." if key.origin != "AWS_KMS" else
                           f"{key.arn} key spec is {key.key_spec} which is not valid for this operation.")
        if key.multi_region and key.region != key.primary_region:
            raise AwsError("UnsupportedOperationException",
                           f"{key.arn} is a multi-region replica key. Rotation is managed by the primary key.")

    def EnableKeyRotation(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled",))
        self._rotatable(key)
        period = params.get("RotationPeriodInDays")
        period = 365 if period is None else period
        if not 90 <= period <= 2560:
            raise validation(f"1 validation error detected: Value '{period}' at 'rotationPeriodInDays' failed to "
                             "satisfy constraint: Member must have value "
                             + ("greater than or equal to 90" if period < 90 else "less than or equal to 2560"))
        last = self.storage.scalar("SELECT MAX(created) FROM kms_material WHERE account = ? AND region = ? "
                                   "AND key_id = ?", (key.account, key.region, key.id)) or key.created
        when = max(last, self.clock.now() - period * DAY) + period * DAY
        self._update(key, rotation_period=period, next_rotation=when)
        self.schedule_lifecycle(when)
        return {}

    def DisableKeyRotation(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled",))
        self._rotatable(key)
        self._update(key, rotation_period=None, next_rotation=None)
        return {}

    def GetKeyRotationStatus(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"])
        out = {"KeyRotationEnabled": key.rotation_period is not None, "KeyId": key.arn}
        if key.rotation_period is not None:
            out.update(RotationPeriodInDays=key.rotation_period, NextRotationDate=key.next_rotation)
        on_demand = self.storage.scalar("SELECT MAX(created) FROM kms_material WHERE account = ? AND region = ? "
                                        "AND key_id = ? AND rotation_type = 'ON_DEMAND'",
                                        (key.account, key.region, key.id))
        if on_demand is not None and self.clock.now() - on_demand < 7 * DAY:
            out["OnDemandRotationStartDate"] = on_demand
        return out

    def RotateKeyOnDemand(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled",))
        self._rotatable(key)
        done = self.storage.scalar("SELECT COUNT(*) FROM kms_material WHERE account = ? AND region = ? AND key_id = ? "
                                   "AND rotation_type = 'ON_DEMAND'", (key.account, key.region, key.id))
        if done >= 25:
            raise AwsError("LimitExceededException", f"{key.arn} has reached the maximum number of on-demand "
                                                     "rotations.")
        self.rotate(key, "ON_DEMAND")
        return {"KeyId": key.id}

    def rotate(self, key: Key, rotation_type: str) -> None:
        with self.storage.tx():
            version = self.new_material(key.arn, key.account, key.region, key.id, key.key_spec, rotation_type)
            # Replicas of a multi-Region key share its material.
            self.storage.execute("UPDATE kms_keys SET current_version = ? WHERE account = ? AND id = ? AND region = ?",
                                 (version, key.account, key.id, key.region))
            if key.multi_region:
                material = self._materials[(key.arn, version)]
                for region, arn in self.storage.all("SELECT region, arn FROM kms_keys WHERE account = ? AND id = ? "
                                                    "AND region != ?", (key.account, key.id, key.region)):
                    sealed = self.master.seal(material, f"{arn}\n{version}".encode())
                    self.storage.execute(
                        "INSERT INTO kms_material (account, region, key_id, version, sealed, created, rotation_type) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)", (key.account, region, key.id, version, sealed,
                                                          self.clock.now(), rotation_type))
                    self.storage.execute("UPDATE kms_keys SET current_version = ? WHERE account = ? AND id = ? "
                                         "AND region = ?", (version, key.account, key.id, region))
        self._keys_cache.clear()

    def rotate_due_keys(self, now: float) -> None:
        rows = self.storage.all(f"SELECT {_COLUMNS} FROM kms_keys WHERE next_rotation <= ? AND state = 'Enabled'",
                                (now,))
        for row in rows:
            key = Key(row)
            self.rotate(key, "AUTOMATIC")
            self._update(key, next_rotation=key.next_rotation + key.rotation_period * DAY)

    def ListKeyRotations(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"])
        if key.key_spec != "SYMMETRIC_DEFAULT" or key.origin != "AWS_KMS":
            self._rotatable(key)
        limit = self.limit(params, 1000, 100)
        start = self.marker(params)
        rows = self.storage.all("SELECT version, created, rotation_type FROM kms_material WHERE account = ? AND "
                                "region = ? AND key_id = ? AND rotation_type IS NOT NULL ORDER BY created, rowid "
                                "LIMIT ? OFFSET ?", (key.account, key.region, key.id, limit + 1, start))
        rotations = [{"KeyId": key.arn, "KeyMaterialId": version, "RotationDate": created, "RotationType": kind,
                      "KeyMaterialState": "CURRENT" if version == key.current_version else "NON_CURRENT"}
                     for version, created, kind in rows[:limit]]
        out: dict = {"Rotations": rotations, "Truncated": len(rows) > limit}
        if len(rows) > limit:
            out["NextMarker"] = str(start + limit)
        return out

    # -- multi-Region keys -----------------------------------------------

    def ReplicateKey(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled"))
        if not key.multi_region:
            raise AwsError("UnsupportedOperationException", f"Unable to replicate a non-MultiRegion key {key.id}")
        target = params["ReplicaRegion"]
        if target == key.region:
            raise validation(f"The replica region {target} cannot be the same as the primary region.")
        if self.find_key(key.account, target, key.id) is not None:
            raise AwsError("AlreadyExistsException", f"Unable to replicate key {key.id} to region {target}, as the "
                                                     "key already exist there")
        arn = self.key_arn(target, key.account, key.id)
        policy = params.get("Policy")
        if policy is not None:
            self.check_policy(ctx, policy, arn, key.account, bool(params.get("BypassPolicyLockoutSafetyCheck")))
        tags = self.check_tags(params.get("Tags") or [])
        row = {"account": key.account, "region": target, "id": key.id, "arn": arn, "created": self.clock.now(),
               "description": params.get("Description") if params.get("Description") is not None else key.description,
               "key_spec": key.key_spec, "key_usage": key.key_usage, "origin": key.origin, "manager": key.manager,
               "state": key.state, "policy": policy or key.policy, "tags": orjson.dumps(tags).decode(),
               "multi_region": 1, "primary_region": key.primary_region, "current_version": key.current_version,
               "extra": "{}"}
        with self.storage.tx():
            self._insert_key(row)
            for version, created, rotation_type, imported in self.storage.all(
                    "SELECT version, created, rotation_type, imported FROM kms_material WHERE account = ? AND "
                    "region = ? AND key_id = ?", (key.account, key.region, key.id)):
                material = self.material(key, version)
                self.storage.execute(
                    "INSERT INTO kms_material (account, region, key_id, version, sealed, created, rotation_type, "
                    "imported) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key.account, target, key.id, version, self.master.seal(material, f"{arn}\n{version}".encode()),
                     created, rotation_type, imported))
        replica = self.find_key(key.account, target, key.id)
        return {"ReplicaKeyMetadata": self.metadata(replica), "ReplicaPolicy": replica.policy,
                "ReplicaTags": replica.tags}

    def UpdatePrimaryRegion(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled"))
        if not key.multi_region:
            raise AwsError("UnsupportedOperationException", f"{key.arn} is not a multi-region key.")
        target = params["PrimaryRegion"]
        if self.find_key(key.account, target, key.id) is None:
            raise not_found(f"Key '{self.key_arn(target, key.account, key.id)}' does not exist")
        with self.storage.tx():
            self.storage.execute("UPDATE kms_keys SET primary_region = ? WHERE account = ? AND id = ?",
                                 (target, key.account, key.id))
        self._keys_cache.clear()
        return {}

    # -- paging ------------------------------------------------------------

    @staticmethod
    def limit(params: dict, most: int, default: int) -> int:
        value = params.get("Limit")
        return default if value is None else min(value, most)

    @staticmethod
    def marker(params: dict) -> int:
        marker = params.get("Marker")
        if marker is None:
            return 0
        if not marker.isdigit():
            raise AwsError("InvalidMarkerException", "Invalid marker")
        return int(marker)
