"""Imported key material: GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, and expiry at ValidTo on cloudlet's clock."""

from __future__ import annotations

import hashlib
import secrets

import orjson

from cloudlet.errors import AwsError
from cloudlet.services.kms.keys import validation

TOKEN_LIFETIME = 86_400.0  # "valid for 24 hours"


class ImportOps:
    """Mixin of KmsService."""

    def _external(self, key) -> None:
        if key.origin != "EXTERNAL":
            raise AwsError("UnsupportedOperationException",
                           f"{key.arn} origin is {key.origin} which is not valid for this operation.")

    def GetParametersForImport(self, ctx, params):
        from cloudlet.services.kms import crypto

        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        self._external(key)
        algorithm, spec = params["WrappingAlgorithm"], params["WrappingKeySpec"]
        if algorithm == "RSAES_PKCS1_V1_5":
            raise validation("The wrapping algorithm RSAES_PKCS1_V1_5 is no longer supported. Use "
                             "RSAES_OAEP_SHA_256 or RSA_AES_KEY_WRAP_SHA_256.")
        if spec == "SM2" or algorithm == "SM2PKE":
            raise validation("SM2 is only available in China Regions")
        private, public = crypto.wrapping_key_pair(spec)
        token = secrets.token_bytes(32)
        expires = self.clock.now() + TOKEN_LIFETIME
        sealed = self.master.seal(private, f"{key.arn}\nwrapping".encode())
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO kms_imports (account, region, key_id, token, wrapping_sealed, algorithm, wrapping_spec, "
                "expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account, region, key_id) DO UPDATE SET "
                "token = excluded.token, wrapping_sealed = excluded.wrapping_sealed, algorithm = excluded.algorithm, "
                "wrapping_spec = excluded.wrapping_spec, expires = excluded.expires",
                (key.account, key.region, key.id, token.hex(), sealed, algorithm, spec, expires))
        return {"KeyId": key.arn, "ImportToken": token, "PublicKey": public, "ParametersValidTo": expires}

    def ImportKeyMaterial(self, ctx, params):
        from cloudlet.services.kms import crypto

        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        self._external(key)
        row = self.storage.one("SELECT token, wrapping_sealed, algorithm, expires FROM kms_imports WHERE account = ? "
                               "AND region = ? AND key_id = ?", (key.account, key.region, key.id))
        if row is None or row[0] != bytes(params["ImportToken"]).hex():
            raise AwsError("InvalidImportTokenException", "The import token is invalid for this key.")
        if row[3] <= self.clock.now():
            raise AwsError("ExpiredImportTokenException", "The import token is expired.")
        model = params.get("ExpirationModel") or "KEY_MATERIAL_EXPIRES"
        valid_to = params.get("ValidTo")
        if model == "KEY_MATERIAL_EXPIRES":
            if valid_to is None:
                raise validation("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
            if valid_to <= self.clock.now():
                raise validation("The validTo date must be in the future")
        elif valid_to is not None:
            raise validation("A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE")
        private = self.master.open(row[1], f"{key.arn}\nwrapping".encode())
        try:
            material = crypto.unwrap_import(private, row[2], params["EncryptedKeyMaterial"])
        except (crypto.InvalidCiphertext, ValueError):
            raise AwsError("InvalidCiphertextException", "") from None
        if not crypto.material_fits(key.key_spec, material):
            raise AwsError("IncorrectKeyMaterialException",
                           "The key material is not valid for this KMS key's key spec.")
        digest = hashlib.sha256(material).hexdigest()
        previous = key.extra.get("imported_digest")
        if previous is not None and previous != digest:
            raise AwsError("IncorrectKeyMaterialException",
                           "You must import the same key material that was previously imported into this KMS key.")
        extra = dict(key.extra, imported_digest=digest)
        with self.storage.tx():
            version = self.new_material(key.arn, key.account, key.region, key.id, key.key_spec, material=material,
                                        imported=True)
            self.storage.execute("DELETE FROM kms_imports WHERE account = ? AND region = ? AND key_id = ?",
                                 (key.account, key.region, key.id))
            self.storage.execute(
                "UPDATE kms_keys SET state = ?, valid_to = ?, current_version = ?, extra = ? WHERE account = ? AND "
                "region = ? AND id = ?", ("Enabled" if key.state == "PendingImport" else key.state,
                                          valid_to if model == "KEY_MATERIAL_EXPIRES" else None, version,
                                          orjson.dumps(extra).decode(), key.account, key.region, key.id))
        self.forget_key(key)
        if valid_to is not None:
            self.schedule_lifecycle(valid_to)
        return {"KeyId": key.arn, "KeyMaterialId": version}

    def DeleteImportedKeyMaterial(self, ctx, params):
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled", "PendingImport"))
        self._external(key)
        self._drop_imported(key)
        return {"KeyId": key.arn}

    def _drop_imported(self, key) -> None:
        with self.storage.tx():
            self.storage.execute("DELETE FROM kms_material WHERE account = ? AND region = ? AND key_id = ?",
                                 (key.account, key.region, key.id))
            self.storage.execute("UPDATE kms_keys SET state = 'PendingImport', valid_to = NULL, current_version = NULL "
                                 "WHERE account = ? AND region = ? AND id = ?", (key.account, key.region, key.id))
        self._materials = {k: v for k, v in self._materials.items() if k[0] != key.arn}
        self.forget_key(key)

    def expire_imported_material(self, now: float) -> None:
        from cloudlet.services.kms.keys import Key, _COLUMNS

        for row in self.storage.all(f"SELECT {_COLUMNS} FROM kms_keys WHERE valid_to <= ? AND origin = 'EXTERNAL'",
                                    (now,)):
            self._drop_imported(Key(row))
