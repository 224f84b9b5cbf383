"""AWS Key Management Service.

Keys, material versions, aliases, grants and imports live in SQLite
(store.py); key material is sealed there under a master key kept in the
data directory (crypto.MasterKey), never stored in plaintext. The
cryptography is in crypto.py; the operations live in mixins by subject.

Authorization: the key policy is the key's resource policy, which must
allow even callers of the key's own account (the IAM engine's rule for
kms: actions); grants allow what policies leave implicitly denied; the
KMS condition keys (kms:EncryptionContext:*, kms:ViaService,
kms:CallerAccount, ...) come from `authz_context`.
"""

from __future__ import annotations

import os

from cloudlet.errors import AwsError
from cloudlet.services.base import Service
from cloudlet.services.kms.aliases import AliasOps
from cloudlet.services.kms.cryptoops import CryptoOps
from cloudlet.services.kms.grants import GrantOps
from cloudlet.services.kms.importing import ImportOps
from cloudlet.services.kms.keys import KeyOps
from cloudlet.services.kms.store import MIGRATIONS
from cloudlet.services.kms.usage import UsageOps

MASTER_KEY_FILE = "kms-master.key"
# Operations authorized as another action.
# RetireGrant: no policy is consulted; the grant names who may retire it.
_ACTIONS = {"ReEncrypt": "kms:ReEncryptFrom", "RetireGrant": ""}
# Operations that name no key.
_NO_KEY = frozenset({"CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants",
                     "CreateCustomKeyStore", "DescribeCustomKeyStores", "DeleteCustomKeyStore",
                     "ConnectCustomKeyStore", "DisconnectCustomKeyStore", "UpdateCustomKeyStore", "RetireGrant"})
# The grant operation each call needs when a grant is what allows it.
_GRANT_OPERATION = {"ReEncrypt": "ReEncryptFrom"}
_GRANTABLE = frozenset({"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncrypt",
                        "Sign", "Verify", "GetPublicKey", "CreateGrant", "DescribeKey", "GenerateDataKeyPair",
                        "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
                        "Encapsulate", "Decapsulate"})
# Parameters that become kms: condition keys.
_CONDITION_PARAMS = {"EncryptionAlgorithm": "kms:EncryptionAlgorithm", "SigningAlgorithm": "kms:SigningAlgorithm",
                     "MacAlgorithm": "kms:MacAlgorithm", "MessageType": "kms:MessageType",
                     "KeyPairSpec": "kms:DataKeyPairSpec", "GranteePrincipal": "kms:GranteePrincipal",
                     "RetiringPrincipal": "kms:RetiringPrincipal", "KeyAgreementAlgorithm":
                     "kms:KeyAgreementAlgorithm", "WrappingAlgorithm": "kms:WrappingAlgorithm",
                     "WrappingKeySpec": "kms:WrappingKeySpec", "ExpirationModel": "kms:ExpirationModel",
                     "PendingWindowInDays": "kms:ScheduleKeyDeletionPendingWindowInDays",
                     "RotationPeriodInDays": "kms:RotationPeriodInDays",
                     "BypassPolicyLockoutSafetyCheck": "kms:BypassPolicyLockoutSafetyCheck",
                     "ReplicaRegion": "kms:ReplicaRegion", "PrimaryRegion": "kms:PrimaryRegion"}


class KmsService(KeyOps, AliasOps, GrantOps, CryptoOps, ImportOps, UsageOps, Service):
    model_name = "kms"
    migrations = MIGRATIONS

    def __init__(self, cloud):
        super().__init__(cloud)
        self._master = None
        self._materials: dict = {}  # (key ARN, version) -> plaintext material, this process only
        self._keys_cache: dict = {}
        self._usage: dict = {}  # (account, region, key id) -> last use not yet written (usage.py)

    @property
    def master(self):
        if self._master is None:
            from cloudlet.services.kms.crypto import load_or_create_master_key

            self._master = load_or_create_master_key(os.path.join(self.cloud.data_dir, MASTER_KEY_FILE))
        return self._master

    def start(self) -> None:
        self.start_usage_tracking()
        row = self.storage.one("SELECT MIN(t) FROM (SELECT MIN(deletion_date) AS t FROM kms_keys UNION ALL "
                               "SELECT MIN(next_rotation) FROM kms_keys)", ())
        if row is not None and row[0] is not None:
            self.schedule_lifecycle(row[0])

    def schedule_lifecycle(self, when: float) -> None:
        """Have the lifecycle job (deletions and rotations that fall due)
        run at `when` on cloudlet's clock."""
        self.cloud.scheduler.at("kms-lifecycle", when, self._lifecycle)

    def _lifecycle(self, now: float) -> None:
        self.delete_due_keys(now)
        self.rotate_due_keys(now)
        self.expire_imported_material(now)
        row = self.storage.one("SELECT MIN(t) FROM (SELECT MIN(deletion_date) AS t FROM kms_keys UNION ALL "
                               "SELECT MIN(next_rotation) FROM kms_keys UNION ALL "
                               "SELECT MIN(valid_to) FROM kms_keys WHERE state != 'PendingImport')", ())
        if row is not None and row[0] is not None:
            self.schedule_lifecycle(max(row[0], now))

    def reset(self) -> None:
        self._materials.clear()
        self._keys_cache.clear()
        self._usage.clear()

    async def settle(self) -> None:
        """An admin clock move: write the key uses noted so far."""
        self.flush_usage()

    def stop(self) -> None:
        """Write what is still only in memory (key uses). Called when the
        cloud shuts down, where it calls its services' stop()."""
        self.flush_usage()

    # -- custom key stores: none exist here ------------------------------

    def DescribeCustomKeyStores(self, ctx, params):
        store_id, name = params.get("CustomKeyStoreId"), params.get("CustomKeyStoreName")
        if store_id or name:
            raise AwsError("CustomKeyStoreNotFoundException",
                           f"Custom key store {store_id or name} does not exist")
        return {"CustomKeyStores": [], "Truncated": False}

    def CreateCustomKeyStore(self, ctx, params):
        if (params.get("CustomKeyStoreType") or "AWS_CLOUDHSM") == "AWS_CLOUDHSM":
            raise AwsError("CloudHsmClusterNotFoundException",
                           f"AWS CloudHSM cluster {params.get('CloudHsmClusterId')} was not found.")
        raise AwsError("XksProxyUriUnreachableException",
                       f"KMS cannot reach the external key store proxy at {params.get('XksProxyUriEndpoint')}.")

    def _no_store(self, ctx, params):
        raise AwsError("CustomKeyStoreNotFoundException",
                       f"Custom key store {params.get('CustomKeyStoreId')} does not exist")

    DeleteCustomKeyStore = ConnectCustomKeyStore = DisconnectCustomKeyStore = UpdateCustomKeyStore = _no_store

    # -- authorization ---------------------------------------------------

    def authz_action(self, operation: str) -> str | None:
        return _ACTIONS.get(operation)

    def _param_key(self, operation: str, params: dict) -> str | None:
        if operation == "ReEncrypt":
            return params.get("SourceKeyId") or ("blob", params.get("CiphertextBlob"))
        if operation == "Decrypt" and not params.get("KeyId"):
            return ("blob", params.get("CiphertextBlob"))
        if operation in ("CreateAlias", "UpdateAlias"):
            return params.get("TargetKeyId")
        return params.get("KeyId")

    def _authz_key(self, ctx, operation: str, params: dict):
        """The key a call is about, read once per request."""
        if "kms_authz_key" in ctx.extra:
            return ctx.extra["kms_authz_key"]
        given = self._param_key(operation, params)
        key = None
        try:
            if isinstance(given, tuple):
                key = self.key_for_blob(ctx, given[1])
            elif given:
                key = self.key_for(ctx, given)
                ctx.extra["kms_key"], ctx.extra["kms_key_given"] = key, given
        except AwsError:
            key = None  # the handler answers NotFound / InvalidCiphertext
        ctx.extra["kms_authz_key"] = key
        return key

    def authz_resources(self, ctx, operation: str, params: dict) -> list[str]:
        if operation in _NO_KEY:
            return ["*"]
        if operation == "DeleteAlias":
            return [self.alias_arn(ctx.region, ctx.account_id, params.get("AliasName", ""))]
        key = self._authz_key(ctx, operation, params)
        resources = [key.arn] if key is not None else ["*"]
        if operation in ("CreateAlias", "UpdateAlias"):
            resources.insert(0, self.alias_arn(ctx.region, ctx.account_id, params.get("AliasName", "")))
        return resources

    def resource_policy(self, ctx, operation: str, resource: str, params: dict):
        key = ctx.extra.get("kms_authz_key")
        if key is None or key.arn != resource:
            return None
        return key.policy, key.account

    def authz_context(self, ctx, operation: str, params: dict) -> dict:
        out = {"kms:CallerAccount": ctx.principal.account_id}
        if ctx.invoked_by and ctx.invoked_by.endswith(".amazonaws.com"):
            service = ctx.invoked_by[: -len(".amazonaws.com")]
            out["kms:ViaService"] = f"{service}.{ctx.region}.amazonaws.com"
        context = params.get("EncryptionContext")
        if operation == "ReEncrypt":
            context = params.get("SourceEncryptionContext")
        if isinstance(context, dict):
            for k, v in context.items():
                out[f"kms:EncryptionContext:{k}"] = v
            out["kms:EncryptionContextKeys"] = list(context)
        for name, key_name in _CONDITION_PARAMS.items():
            if params.get(name) is not None:
                out[key_name] = params[name]
        if params.get("Operations"):
            out["kms:GrantOperations"] = params["Operations"]
        constraints = params.get("Constraints") or {}
        for kind in ("EncryptionContextEquals", "EncryptionContextSubset"):
            for k, v in (constraints.get(kind) or {}).items():
                out[f"kms:EncryptionContext:{k}"] = v
        given = params.get("KeyId") or ""
        if given.startswith("alias/") or ":alias/" in given:
            out["kms:RequestAlias"] = given if given.startswith("alias/") else "alias/" + given.split(":alias/", 1)[1]
        key = ctx.extra.get("kms_authz_key")
        if operation == "CreateKey":
            # The key to be: its properties as requested (AWS's defaults).
            spec = params.get("KeySpec") or params.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
            out.update({"kms:KeySpec": spec, "kms:KeyUsage": params.get("KeyUsage") or (
                "GENERATE_VERIFY_MAC" if spec.startswith("HMAC") else "ENCRYPT_DECRYPT"),
                "kms:KeyOrigin": params.get("Origin") or "AWS_KMS",
                "kms:MultiRegion": bool(params.get("MultiRegion"))})
            if params.get("MultiRegion"):
                out["kms:MultiRegionKeyType"] = "PRIMARY"
        elif key is not None:
            out.update({"kms:KeySpec": key.key_spec, "kms:KeyUsage": key.key_usage, "kms:KeyOrigin": key.origin,
                        "kms:KeyManager": key.manager, "kms:MultiRegion": key.multi_region})
            if key.multi_region:
                out["kms:MultiRegionKeyType"] = "PRIMARY" if key.region == key.primary_region else "REPLICA"
            for tag in key.tags:
                out[f"aws:ResourceTag/{tag['TagKey']}"] = tag["TagValue"]
            aliases = [r[0] for r in self.storage.all("SELECT name FROM kms_aliases WHERE account = ? AND "
                                                      "region = ? AND key_id = ?", (key.account, key.region, key.id))]
            if aliases:
                out["kms:ResourceAliases"] = aliases
        return out

    def authz_grant(self, ctx, operation: str, params: dict, resource: str) -> bool:
        """A grant allows what no policy allowed (explicit denies stand)."""
        if operation not in _GRANTABLE:
            return False
        key = ctx.extra.get("kms_authz_key")
        if key is None or key.arn != resource:
            return False
        context = params.get("SourceEncryptionContext") if operation == "ReEncrypt" else params.get(
            "EncryptionContext")
        return self.grant_allows(ctx, key, _GRANT_OPERATION.get(operation, operation), context)
