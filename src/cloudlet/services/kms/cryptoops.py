"""KMS's cryptographic operations: Encrypt, Decrypt, ReEncrypt, data keys
and data key pairs, GenerateRandom, Sign / Verify, GetPublicKey, MACs,
DeriveSharedSecret, Encapsulate / Decapsulate.

Symmetric ciphertext blobs name their key and material version, so Decrypt
needs no KeyId and old ciphertexts still decrypt after rotation.

Each successful cryptographic operation notes the key's last use
(`note_usage`, kept in memory and written behind: see usage.py).
"""

from __future__ import annotations

from cloudlet.errors import AwsError
from cloudlet.services.kms import crypto
from cloudlet.services.kms.keys import validation

_ENABLED = ("Enabled",)
_DRY_RUN = "The request would have succeeded, but the DryRun option is set."
_DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}


def _usage_error(key, operation: str) -> AwsError:
    return AwsError("InvalidKeyUsageException",
                    f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.")


def _dry_run(params: dict) -> None:
    if params.get("DryRun"):
        raise AwsError("DryRunOperationException", _DRY_RUN)


class CryptoOps:
    """Mixin of KmsService."""

    # -- keys of a call ----------------------------------------------------

    def _crypto_key(self, ctx, given: str, operation: str, usage: str):
        key = self.key_for(ctx, given, states=_ENABLED)
        if key.key_usage != usage:
            raise _usage_error(key, operation)
        return key

    def key_for_blob(self, ctx, blob: bytes):
        """The key a symmetric ciphertext blob names (any account's key in
        this region: the blob carries the key id)."""
        found = ctx.extra.get("kms_blob_key")
        if found is not None and found[0] is blob:
            return found[1]  # authorization looked it up already
        key_id = self._parsed_blob(ctx, blob).key_id
        key = self.find_key(ctx.account_id, ctx.region, key_id)  # the caller's own: cached
        if key is None:
            row = self.storage.one("SELECT account FROM kms_keys WHERE id = ? AND region = ?", (key_id, ctx.region))
            if row is None:
                raise AwsError("InvalidCiphertextException", "")
            key = self.find_key(row[0], ctx.region, key_id)
        ctx.extra["kms_blob_key"] = (blob, key)
        return key

    @staticmethod
    def _parsed_blob(ctx, blob: bytes):
        """The blob taken apart, once per request."""
        found = ctx.extra.get("kms_parsed_blob")
        if found is not None and found[0] is blob:
            return found[1]
        try:
            parsed = crypto.parse_blob(blob)
        except crypto.InvalidCiphertext:
            raise AwsError("InvalidCiphertextException", "") from None
        ctx.extra["kms_parsed_blob"] = (blob, parsed)
        return parsed

    def _algorithm(self, key, given: str | None, field: str, operation: str) -> str:
        algorithms = crypto.algorithms(key.key_spec, key.key_usage).get(field, [])
        algorithm = given or ("SYMMETRIC_DEFAULT" if field == "EncryptionAlgorithms" else None)
        if algorithm not in algorithms:
            raise AwsError("InvalidKeyUsageException",
                           f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.")
        return algorithm

    # -- encryption --------------------------------------------------------

    def _encrypt(self, key, plaintext: bytes, context: dict | None, algorithm: str) -> bytes:
        if algorithm == "SYMMETRIC_DEFAULT":
            return crypto.encrypt_symmetric(key.id, key.current_version, self.material(key), plaintext, context)
        limit = crypto.rsa_plaintext_limit(key.key_spec, algorithm)
        if len(plaintext) > limit:
            raise validation(f"Algorithm {algorithm} and key spec {key.key_spec} cannot encrypt data larger than "
                             f"{limit} bytes.")
        return crypto.rsa_encrypt(self.material(key), algorithm, plaintext)

    def _decrypt(self, ctx, params: dict, blob: bytes, context: dict | None, given_key: str | None,
                 algorithm: str | None, operation: str):
        """(key, plaintext, algorithm) of a ciphertext."""
        if given_key:
            key = self.key_for(ctx, given_key, states=_ENABLED)
        else:
            if algorithm not in (None, "SYMMETRIC_DEFAULT"):
                raise validation("KeyId is required for asymmetric decryption")
            key = self.key_for_blob(ctx, blob)
            self.check_state(key, _ENABLED)
        if key.key_usage != "ENCRYPT_DECRYPT":
            raise _usage_error(key, operation)
        algorithm = self._algorithm(key, algorithm, "EncryptionAlgorithms", operation)
        if algorithm == "SYMMETRIC_DEFAULT":
            parsed = self._parsed_blob(ctx, blob)
            if parsed.key_id != key.id:
                raise AwsError("IncorrectKeyException", "The key ID in the request does not identify a CMK that can "
                                                        "perform this operation.")
            try:
                plaintext = crypto.decrypt_with(self.material(key, parsed.version), parsed, context)
            except (crypto.InvalidCiphertext, AwsError):
                raise AwsError("InvalidCiphertextException", "") from None
        else:
            try:
                plaintext = crypto.rsa_decrypt(self.material(key), algorithm, blob)
            except crypto.InvalidCiphertext:
                raise AwsError("InvalidCiphertextException", "") from None
        return key, plaintext, algorithm

    def Encrypt(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "Encrypt", "ENCRYPT_DECRYPT")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params.get("EncryptionAlgorithm"), "EncryptionAlgorithms", "Encrypt")
        if algorithm != "SYMMETRIC_DEFAULT" and params.get("EncryptionContext"):
            raise validation("EncryptionContext is not supported for asymmetric encryption")
        _dry_run(params)
        blob = self._encrypt(key, params["Plaintext"], params.get("EncryptionContext"), algorithm)
        self.note_usage(ctx, key, "Encrypt")
        return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}

    def Decrypt(self, ctx, params):
        self.check_grant_tokens(params.get("GrantTokens"))
        key, plaintext, algorithm = self._decrypt(ctx, params, params["CiphertextBlob"],
                                                  params.get("EncryptionContext"), params.get("KeyId"),
                                                  params.get("EncryptionAlgorithm"), "Decrypt")
        _dry_run(params)
        if params.get("Recipient"):
            out = {"KeyId": key.arn, "EncryptionAlgorithm": algorithm,
                   "CiphertextForRecipient": self._for_recipient(params["Recipient"], plaintext)}
        else:
            out = {"KeyId": key.arn, "Plaintext": plaintext, "EncryptionAlgorithm": algorithm}
        self.note_usage(ctx, key, "Decrypt")
        return out

    def ReEncrypt(self, ctx, params):
        self.check_grant_tokens(params.get("GrantTokens"))
        source, plaintext, source_algorithm = self._decrypt(
            ctx, params, params["CiphertextBlob"], params.get("SourceEncryptionContext"), params.get("SourceKeyId"),
            params.get("SourceEncryptionAlgorithm"), "ReEncrypt")
        destination = self.key_for(ctx, params["DestinationKeyId"], states=_ENABLED)
        if destination.key_usage != "ENCRYPT_DECRYPT":
            raise _usage_error(destination, "ReEncrypt")
        context = params.get("DestinationEncryptionContext")
        # The destination needs kms:ReEncryptTo (or a grant of ReEncryptTo).
        authz_params = dict(params, EncryptionContext=context)
        self.cloud.authorizer.require(
            ctx, self, ctx.op_model, authz_params, "kms:ReEncryptTo", destination.arn,
            (destination.policy, destination.account),
            grant=lambda: self.grant_allows(ctx, destination, "ReEncryptTo", context))
        algorithm = self._algorithm(destination, params.get("DestinationEncryptionAlgorithm"),
                                    "EncryptionAlgorithms", "ReEncrypt")
        _dry_run(params)
        blob = self._encrypt(destination, plaintext, context, algorithm)
        # Both keys record the use (GetKeyLastUsage's documentation).
        self.note_usage(ctx, source, "ReEncrypt")
        self.note_usage(ctx, destination, "ReEncrypt")
        return {"CiphertextBlob": blob, "SourceKeyId": source.arn, "KeyId": destination.arn,
                "SourceEncryptionAlgorithm": source_algorithm, "DestinationEncryptionAlgorithm": algorithm}

    # -- data keys -----------------------------------------------------------

    def _data_key_size(self, params: dict) -> int:
        spec, size = params.get("KeySpec"), params.get("NumberOfBytes")
        if spec and size is not None:
            raise validation("Please specify either number of bytes or key spec.")
        if spec is None and size is None:
            raise validation("Please specify either number of bytes or key spec.")
        return _DATA_KEY_BYTES[spec] if spec else size

    def _data_key(self, ctx, params: dict, operation: str) -> dict:
        key = self._crypto_key(ctx, params["KeyId"], operation, "ENCRYPT_DECRYPT")
        if key.key_spec != "SYMMETRIC_DEFAULT":
            raise AwsError("InvalidKeyUsageException",
                           f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.")
        self.check_grant_tokens(params.get("GrantTokens"))
        size = self._data_key_size(params)
        _dry_run(params)
        plaintext = crypto.generate_random(size)
        blob = self._encrypt(key, plaintext, params.get("EncryptionContext"), "SYMMETRIC_DEFAULT")
        if not params.get("Recipient"):
            self.note_usage(ctx, key, operation)
        return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn}

    def GenerateDataKey(self, ctx, params):
        out = self._data_key(ctx, params, "GenerateDataKey")
        if params.get("Recipient"):
            out["CiphertextForRecipient"] = self._for_recipient(params["Recipient"], out.pop("Plaintext"))
        return out

    def GenerateDataKeyWithoutPlaintext(self, ctx, params):
        out = self._data_key(ctx, params, "GenerateDataKeyWithoutPlaintext")
        del out["Plaintext"]
        return out

    def _data_key_pair(self, ctx, params: dict, operation: str) -> dict:
        key = self._crypto_key(ctx, params["KeyId"], operation, "ENCRYPT_DECRYPT")
        if key.key_spec != "SYMMETRIC_DEFAULT":
            raise _usage_error(key, operation)
        self.check_grant_tokens(params.get("GrantTokens"))
        spec = params["KeyPairSpec"]
        if spec == "SM2":
            raise validation("KeyPairSpec SM2 is only available in China Regions")
        _dry_run(params)
        try:
            private, public = crypto.generate_key_pair(spec)
        except crypto.UnsupportedSpec as exc:
            raise validation(exc.message) from None
        blob = self._encrypt(key, private, params.get("EncryptionContext"), "SYMMETRIC_DEFAULT")
        if not params.get("Recipient"):
            self.note_usage(ctx, key, operation)
        return {"PrivateKeyCiphertextBlob": blob, "PrivateKeyPlaintext": private, "PublicKey": public,
                "KeyId": key.arn, "KeyPairSpec": spec}

    def GenerateDataKeyPair(self, ctx, params):
        out = self._data_key_pair(ctx, params, "GenerateDataKeyPair")
        if params.get("Recipient"):
            out["CiphertextForRecipient"] = self._for_recipient(params["Recipient"], out.pop("PrivateKeyPlaintext"))
        return out

    def GenerateDataKeyPairWithoutPlaintext(self, ctx, params):
        out = self._data_key_pair(ctx, params, "GenerateDataKeyPairWithoutPlaintext")
        del out["PrivateKeyPlaintext"]
        return out

    def GenerateRandom(self, ctx, params):
        if params.get("CustomKeyStoreId"):
            raise AwsError("CustomKeyStoreNotFoundException",
                           f"Custom key store {params['CustomKeyStoreId']} does not exist")
        size = params.get("NumberOfBytes")
        if size is None:
            raise validation("NumberOfBytes is required.")
        if params.get("Recipient"):
            return {"CiphertextForRecipient": self._for_recipient(params["Recipient"], crypto.generate_random(size))}
        return {"Plaintext": crypto.generate_random(size)}

    def _for_recipient(self, recipient: dict, plaintext: bytes) -> bytes:
        """Nitro Enclaves attestation (Recipient) needs an enclave's signed
        document; cloudlet has no enclaves to attest."""
        raise validation("The attestation document is not valid: it is not signed by AWS Nitro Enclaves.")

    # -- signatures ----------------------------------------------------------

    def Sign(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "Sign", "SIGN_VERIFY")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params["SigningAlgorithm"], "SigningAlgorithms", "Sign")
        message_type = params.get("MessageType") or "RAW"
        _dry_run(params)
        try:
            signature = crypto.sign(self.material(key), key.key_spec, algorithm, params["Message"], message_type)
        except ValueError as exc:
            raise validation(str(exc)) from None
        self.note_usage(ctx, key, "Sign")
        return {"KeyId": key.arn, "Signature": signature, "SigningAlgorithm": algorithm}

    def Verify(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "Verify", "SIGN_VERIFY")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params["SigningAlgorithm"], "SigningAlgorithms", "Verify")
        message_type = params.get("MessageType") or "RAW"
        _dry_run(params)
        try:
            valid = crypto.verify(self.material(key), key.key_spec, algorithm, params["Message"], message_type,
                                  params["Signature"])
        except ValueError as exc:
            raise validation(str(exc)) from None
        if not valid:
            raise AwsError("KMSInvalidSignatureException", "")
        self.note_usage(ctx, key, "Verify")
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": algorithm}

    def GetPublicKey(self, ctx, params):
        # Works for disabled keys too, as on AWS (the key-state table says
        # otherwise; the service does not).
        key = self.key_for(ctx, params["KeyId"], states=("Enabled", "Disabled"))
        if key.key_spec == "SYMMETRIC_DEFAULT" or key.key_spec.startswith("HMAC"):
            raise AwsError("UnsupportedOperationException",
                           f"{key.arn} key usage is {key.key_usage} which is not valid for GetPublicKey.")
        self.check_grant_tokens(params.get("GrantTokens"))
        out = {"KeyId": key.arn, "PublicKey": crypto.public_key_der(self.material(key)), "KeySpec": key.key_spec,
               "CustomerMasterKeySpec": key.key_spec, "KeyUsage": key.key_usage}
        out.update(crypto.algorithms(key.key_spec, key.key_usage))
        return out

    # -- MACs ----------------------------------------------------------------

    def GenerateMac(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "GenerateMac", "GENERATE_VERIFY_MAC")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params["MacAlgorithm"], "MacAlgorithms", "GenerateMac")
        _dry_run(params)
        mac = crypto.generate_mac(self.material(key), algorithm, params["Message"])
        self.note_usage(ctx, key, "GenerateMac")
        return {"Mac": mac, "MacAlgorithm": algorithm, "KeyId": key.arn}

    def VerifyMac(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "VerifyMac", "GENERATE_VERIFY_MAC")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params["MacAlgorithm"], "MacAlgorithms", "VerifyMac")
        _dry_run(params)
        if not crypto.verify_mac(self.material(key), algorithm, params["Message"], params["Mac"]):
            raise AwsError("KMSInvalidMacException", "")
        self.note_usage(ctx, key, "VerifyMac")
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": algorithm}

    # -- key agreement ---------------------------------------------------------

    def DeriveSharedSecret(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "DeriveSharedSecret", "KEY_AGREEMENT")
        self.check_grant_tokens(params.get("GrantTokens"))
        _dry_run(params)
        try:
            secret = crypto.derive_shared_secret(self.material(key), key.key_spec, params["PublicKey"])
        except ValueError as exc:
            raise validation(str(exc) or "The public key is not valid for this key agreement.") from None
        if params.get("Recipient"):
            out = {"KeyId": key.arn, "CiphertextForRecipient": self._for_recipient(params["Recipient"], secret),
                   "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": key.origin}
        else:
            out = {"KeyId": key.arn, "SharedSecret": secret, "KeyAgreementAlgorithm": "ECDH", "KeyOrigin": key.origin}
        self.note_usage(ctx, key, "DeriveSharedSecret")
        return out

    # -- key encapsulation -------------------------------------------------------

    def Encapsulate(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "Encapsulate", "ENCAPSULATE_DECAPSULATE")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params["EncapsulationAlgorithm"], "EncapsulationAlgorithms", "Encapsulate")
        _dry_run(params)
        secret, ciphertext = crypto.encapsulate(self.material(key), key.key_spec)
        self.note_usage(ctx, key, "Encapsulate")
        return {"KeyId": key.arn, "SharedSecret": secret, "SharedSecretCiphertextBlob": ciphertext,
                "EncapsulationAlgorithm": algorithm}

    def Decapsulate(self, ctx, params):
        key = self._crypto_key(ctx, params["KeyId"], "Decapsulate", "ENCAPSULATE_DECAPSULATE")
        self.check_grant_tokens(params.get("GrantTokens"))
        algorithm = self._algorithm(key, params["EncapsulationAlgorithm"], "EncapsulationAlgorithms", "Decapsulate")
        _dry_run(params)
        try:
            secret = crypto.decapsulate(self.material(key), key.key_spec, params["SharedSecretCiphertextBlob"])
        except crypto.InvalidCiphertext:
            raise AwsError("InvalidCiphertextException", "") from None
        self.note_usage(ctx, key, "Decapsulate")
        return {"KeyId": key.arn, "SharedSecret": secret, "EncapsulationAlgorithm": algorithm}
