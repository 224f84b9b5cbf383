"""KMS through boto3 against a real server: keys, aliases, symmetric and
asymmetric cryptography checked with `cryptography` directly, data keys,
lifecycle on the virtual clock, imported material."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

import pytest
from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

ACCOUNT = "000000000000"
DAY = 86_400


@pytest.fixture
def kms(cloudlet):
    return cloudlet.client("kms")


def error(exc) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


# -- keys ---------------------------------------------------------------------

def test_create_and_describe_a_key(kms):
    meta = kms.create_key(Description="orders")["KeyMetadata"]
    key_id = meta["KeyId"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key_id)
    expected = {"AWSAccountId": ACCOUNT, "KeyId": key_id, "Arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}",
                "Enabled": True, "Description": "orders", "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled",
                "Origin": "AWS_KMS", "KeyManager": "CUSTOMER", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
                "KeySpec": "SYMMETRIC_DEFAULT", "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "MultiRegion": False}
    described = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    for name in ("CreationDate", "CurrentKeyMaterialId"):
        described.pop(name)
        meta.pop(name)
    assert described == expected == meta
    policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert policy == {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "kms:*", "Resource": "*"}]}
    assert kms.list_keys()["Keys"] == [{"KeyId": key_id, "KeyArn": expected["Arn"]}]
    assert kms.list_key_policies(KeyId=key_id)["PolicyNames"] == ["default"]


@pytest.mark.parametrize("given, message", [
    ("not-a-key", "Invalid keyId 'not-a-key'"),
    ("1234abcd-12ab-34cd-56ef-1234567890ab",
     f"Key 'arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab' does not exist"),
    ("alias/missing", f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/missing is not found."),
])
def test_unknown_keys(kms, given, message):
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=given)
    assert error(exc) == ("NotFoundException", message)


def test_key_specs_and_usages(kms):
    for spec, usage, field, values in [
        ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        ("RSA_3072", "SIGN_VERIFY", "SigningAlgorithms",
         ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
          "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]),
        ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
        ("ECC_NIST_P256", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
        ("HMAC_512", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_512"]),
    ]:
        meta = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        assert (meta["KeySpec"], meta["KeyUsage"], sorted(meta[field])) == (spec, usage, sorted(values))
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="HMAC_256", KeyUsage="ENCRYPT_DECRYPT")
    assert error(exc)[0] == "ValidationException"


def test_enable_disable_and_description(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    kms.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error(exc) == ("DisabledException", f"{arn} is disabled.")
    kms.enable_key(KeyId=key_id)
    kms.update_key_description(KeyId=key_id, Description="new")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["Description"]) == ("Enabled", True, "new")


def test_aliases(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/app", TargetKeyId=key_id)
    assert error(exc) == ("AlreadyExistsException",
                          f"An alias with the name arn:aws:kms:us-east-1:{ACCOUNT}:alias/app already exists")
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == key_id
    assert kms.describe_key(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app")["KeyMetadata"]["KeyId"] == key_id
    [entry] = kms.list_aliases(KeyId=key_id)["Aliases"]
    assert (entry["AliasName"], entry["AliasArn"], entry["TargetKeyId"]) == (
        "alias/app", f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/app", key_id)
    kms.update_alias(AliasName="alias/app", TargetKeyId=other)
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == other
    kms.delete_alias(AliasName="alias/app")
    with pytest.raises(ClientError) as exc:
        kms.delete_alias(AliasName="alias/app")
    assert error(exc) == ("NotFoundException", f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/app is not found.")
    with pytest.raises(ClientError) as exc:
        kms.create_alias(AliasName="alias/aws/mine", TargetKeyId=key_id)
    assert error(exc)[0] == "InvalidAliasNameException"


def test_aws_managed_key_is_created_on_first_use(kms):
    meta = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert (meta["KeyManager"], meta["KeySpec"], meta["KeyState"]) == ("AWS", "SYMMETRIC_DEFAULT", "Enabled")
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == meta["KeyId"]
    assert kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] is True
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/aws/s3" in names


def test_tags(kms):
    key_id = kms.create_key(Tags=[{"TagKey": "team", "TagValue": "a"}])["KeyMetadata"]["KeyId"]
    kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "env", "TagValue": "dev"}, {"TagKey": "team", "TagValue": "b"}])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "team", "TagValue": "b"},
                                                           {"TagKey": "env", "TagValue": "dev"}]
    kms.untag_resource(KeyId=key_id, TagKeys=["team"])
    assert kms.list_resource_tags(KeyId=key_id)["Tags"] == [{"TagKey": "env", "TagValue": "dev"}]
    with pytest.raises(ClientError) as exc:
        kms.tag_resource(KeyId=key_id, Tags=[{"TagKey": "aws:x", "TagValue": "1"}])
    assert error(exc) == ("TagException", "Tags beginning with aws: are reserved")


# -- symmetric cryptography ----------------------------------------------------------

def test_encrypt_decrypt_with_context(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    context = {"purpose": "test", "tenant": "t1"}
    out = kms.encrypt(KeyId=key_id, Plaintext=b"secret", EncryptionContext=context)
    assert (out["KeyId"], out["EncryptionAlgorithm"]) == (arn, "SYMMETRIC_DEFAULT")
    blob = out["CiphertextBlob"]
    assert b"secret" not in blob
    # No KeyId needed: the blob names its key.
    back = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(list(context.items()))))
    assert (back["Plaintext"], back["KeyId"], back["EncryptionAlgorithm"]) == (b"secret", arn, "SYMMETRIC_DEFAULT")
    for wrong in ({}, {"purpose": "test"}, {"purpose": "test", "tenant": "t2"}):
        with pytest.raises(ClientError) as exc:
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
        assert error(exc)[0] == "InvalidCiphertextException"
    tampered = bytearray(blob)
    tampered[-1] ^= 1
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=bytes(tampered), EncryptionContext=context)
    assert error(exc)[0] == "InvalidCiphertextException"
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=context, KeyId=other)
    assert error(exc) == ("IncorrectKeyException",
                          "The key ID in the request does not identify a CMK that can perform this operation.")


def test_reencrypt(kms):
    a = kms.create_key()["KeyMetadata"]["KeyId"]
    b = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=a, Plaintext=b"move me", EncryptionContext={"k": "1"})["CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"k": "1"}, DestinationKeyId=b,
                         DestinationEncryptionContext={"k": "2"})
    assert out["SourceKeyId"].endswith(a) and out["KeyId"].endswith(b)
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"k": "2"})
    assert (back["Plaintext"], back["KeyId"].endswith(b)) == (b"move me", True)


def test_data_keys(kms):
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    out = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext={"f": "x"})
    assert len(out["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"f": "x"})["Plaintext"] == \
        out["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key_id, NumberOfBytes=64)["Plaintext"]) == 64
    assert len(kms.generate_data_key(KeyId=key_id, KeySpec="AES_128")["Plaintext"]) == 16
    bare = kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    assert "Plaintext" not in bare and len(kms.decrypt(CiphertextBlob=bare["CiphertextBlob"])["Plaintext"]) == 32
    with pytest.raises(ClientError) as exc:
        kms.generate_data_key(KeyId=key_id)
    assert error(exc) == ("ValidationException", "Please specify either number of bytes or key spec.")
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P256")
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    public = serialization.load_der_public_key(pair["PublicKey"])
    assert private.public_key().public_numbers() == public.public_numbers()
    assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == pair["PrivateKeyPlaintext"]
    assert len(kms.generate_random(NumberOfBytes=1024)["Plaintext"]) == 1024


# -- asymmetric cryptography ------------------------------------------------------------

def test_rsa_encryption(kms):
    key_id = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048
    # Encrypted outside KMS with the public key, decrypted by KMS.
    local = public.encrypt(b"offline", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    assert kms.decrypt(CiphertextBlob=local, KeyId=key_id, EncryptionAlgorithm="RSAES_OAEP_SHA_256")[
        "Plaintext"] == b"offline"
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x" * 214, EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId=key_id, EncryptionAlgorithm="RSAES_OAEP_SHA_1")[
        "Plaintext"] == b"x" * 214
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x" * 191, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert error(exc) == ("ValidationException",
                          "Algorithm RSAES_OAEP_SHA_256 and key spec RSA_2048 cannot encrypt data larger than "
                          "190 bytes.")


@pytest.mark.parametrize("spec, algorithm", [
    ("RSA_2048", "RSASSA_PSS_SHA_256"), ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_512"),
    ("ECC_NIST_P256", "ECDSA_SHA_256"), ("ECC_NIST_P521", "ECDSA_SHA_512"), ("ECC_SECG_P256K1", "ECDSA_SHA_256"),
])
def test_sign_and_verify(kms, spec, algorithm):
    key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    digest = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}[algorithm[-3:]]
    message = b"release 1.2.3"
    signature = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm=algorithm)["Signature"]

    def local_verify(sig: bytes, data: bytes, prehashed: bool = False) -> None:
        algo = Prehashed(digest) if prehashed else digest
        if spec.startswith("ECC"):
            public.verify(sig, data, ec.ECDSA(algo))
        elif "PSS" in algorithm:
            public.verify(sig, data, padding.PSS(padding.MGF1(digest), digest.digest_size), algo)
        else:
            public.verify(sig, data, padding.PKCS1v15(), algo)

    local_verify(signature, message)  # raises if invalid
    assert kms.verify(KeyId=key_id, Message=message, Signature=signature, SigningAlgorithm=algorithm)[
        "SignatureValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=key_id, Message=b"release 1.2.4", Signature=signature, SigningAlgorithm=algorithm)
    assert error(exc)[0] == "KMSInvalidSignatureException"
    h = hashes.Hash(digest)
    h.update(message)
    hashed = h.finalize()
    by_digest = kms.sign(KeyId=key_id, Message=hashed, MessageType="DIGEST", SigningAlgorithm=algorithm)["Signature"]
    local_verify(by_digest, hashed, prehashed=True)
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=hashed[:-1], MessageType="DIGEST", SigningAlgorithm=algorithm)
    assert error(exc)[0] == "ValidationException"


def test_wrong_key_usage(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error(exc) == ("InvalidKeyUsageException",
                          f"{arn} key usage is SIGN_VERIFY which is not valid for Encrypt.")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=b"x", SigningAlgorithm="ECDSA_SHA_384")
    assert error(exc)[0] == "InvalidKeyUsageException"


def test_macs(kms):
    key_id = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    mac = kms.generate_mac(KeyId=key_id, Message=b"payload", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    assert kms.verify_mac(KeyId=key_id, Message=b"payload", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify_mac(KeyId=key_id, Message=b"payloaD", Mac=mac, MacAlgorithm="HMAC_SHA_256")
    assert error(exc)[0] == "KMSInvalidMacException"
    with pytest.raises(ClientError) as exc:
        kms.generate_mac(KeyId=key_id, Message=b"payload", MacAlgorithm="HMAC_SHA_384")
    assert error(exc)[0] == "InvalidKeyUsageException"


def test_derive_shared_secret(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]["KeyId"]
    kms_public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_der = peer.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    secret = kms.derive_shared_secret(KeyId=key_id, KeyAgreementAlgorithm="ECDH", PublicKey=peer_der)["SharedSecret"]
    assert secret == peer.exchange(ec.ECDH(), kms_public)


# -- lifecycle on the clock ---------------------------------------------------------------

def test_deletion_window(kms, cloudlet):
    cloudlet.clock.freeze()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    for days in (6, 31):
        with pytest.raises(ClientError) as exc:
            kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=days)
        assert error(exc) == ("ValidationException",
                              f"PendingWindowInDays should be between 7 and 30, but it is {days}")
    out = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert (out["KeyId"], out["KeyState"], out["PendingWindowInDays"]) == (arn, "PendingDeletion", 7)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    assert error(exc) == ("KMSInvalidStateException", f"{arn} is pending deletion.")
    assert kms.cancel_key_deletion(KeyId=key_id)["KeyId"] == arn
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    cloudlet.clock.advance(7 * DAY - 1)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    cloudlet.clock.advance(1)
    with pytest.raises(ClientError) as exc:
        kms.describe_key(KeyId=key_id)
    assert error(exc) == ("NotFoundException", f"Key '{arn}' does not exist")


def test_rotation_keeps_old_ciphertexts_readable(kms, cloudlet):
    cloudlet.clock.freeze()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    first_material = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    old = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        cloudlet.client("kms", parameter_validation=False).enable_key_rotation(KeyId=key_id, RotationPeriodInDays=89)
    assert error(exc) == ("ValidationException", "1 validation error detected: Value '89' at 'rotationPeriodInDays' "
                                                 "failed to satisfy constraint: Member must have value greater than "
                                                 "or equal to 90")
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 90)
    cloudlet.clock.advance(90 * DAY)
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    current = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert current != first_material and rotations[0]["KeyMaterialId"] == current
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    new = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    kms.rotate_key_on_demand(KeyId=key_id)
    assert [r["RotationType"] for r in kms.list_key_rotations(KeyId=key_id)["Rotations"]] == ["AUTOMATIC",
                                                                                             "ON_DEMAND"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    cloudlet.clock.advance(90 * DAY)
    assert len(kms.list_key_rotations(KeyId=key_id)["Rotations"]) == 3


def test_imported_key_material_and_its_expiry(kms, cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")  # a whole second: ValidTo travels as a float
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    material = os.urandom(32)
    encrypted = wrapping.encrypt(material, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    now = cloudlet.clock.now()
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=encrypted,
                            ValidTo=now + 10 * DAY, ExpirationModel="KEY_MATERIAL_EXPIRES")
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["ExpirationModel"]) == ("Enabled", "KEY_MATERIAL_EXPIRES")
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"imported")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"
    cloudlet.clock.advance(10 * DAY - 1)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    cloudlet.clock.advance(1)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == ("KMSInvalidStateException", f"{arn} is pending import.")
    # The same material brings the key, and its old ciphertexts, back.
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                           WrappingKeySpec="RSA_2048")
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"],
                            EncryptedKeyMaterial=wrapping.encrypt(material, padding.OAEP(
                                padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"


def test_no_plaintext_key_material_on_disk(kms, cloudlet):
    """Imported material is the one material the test knows: it must not
    be anywhere in the data directory (database, WAL, other files)."""
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    params = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                           WrappingKeySpec="RSA_3072")
    material = os.urandom(32)
    wrapping = serialization.load_der_public_key(params["PublicKey"])
    kms.import_key_material(KeyId=key_id, ImportToken=params["ImportToken"], ExpirationModel=
                            "KEY_MATERIAL_DOES_NOT_EXPIRE", EncryptedKeyMaterial=wrapping.encrypt(
                                material, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)))
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="RSA_2048")
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    secrets_seen = [material, pair["PrivateKeyPlaintext"][-64:], data_key, base64.b64encode(material)]
    found = []
    for root, _, files in os.walk(cloudlet.settings.data_dir):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                content = f.read()
            found += [(name, i) for i, s in enumerate(secrets_seen) if s in content]
    assert found == []


# -- Ed25519, ML-DSA and ML-KEM keys ------------------------------------------------------

ED25519 = "ECC_NIST_EDWARDS25519"
SIGNATURE_BYTES = {"ML_DSA_44": 2420, "ML_DSA_65": 3309, "ML_DSA_87": 4627}
KEM_CIPHERTEXT_BYTES = {"ML_KEM_512": 768, "ML_KEM_768": 1088, "ML_KEM_1024": 1568}
# The IETF (LAMPS) algorithm identifiers GetPublicKey's SubjectPublicKeyInfo names.
SPKI_OIDS = {ED25519: "1.3.101.112", "ML_DSA_44": "2.16.840.1.101.3.4.3.17",
             "ML_DSA_65": "2.16.840.1.101.3.4.3.18", "ML_DSA_87": "2.16.840.1.101.3.4.3.19",
             "ML_KEM_512": "2.16.840.1.101.3.4.4.1", "ML_KEM_768": "2.16.840.1.101.3.4.4.2",
             "ML_KEM_1024": "2.16.840.1.101.3.4.4.3"}


def _oid(der: bytes) -> str:
    """The algorithm OID of a DER SubjectPublicKeyInfo (read by hand: no
    library here reads an ML-KEM-512 key)."""
    at = 4 if der[1] == 0x82 else 2  # outer SEQUENCE header
    at += 2 if der[at + 1] < 0x80 else 4  # AlgorithmIdentifier SEQUENCE header
    assert der[at] == 0x06
    body = der[at + 2:at + 2 + der[at + 1]]
    parts, value = [str(body[0] // 40), str(body[0] % 40)], 0
    for byte in body[1:]:
        value = value << 7 | byte & 0x7F
        if not byte & 0x80:
            parts.append(str(value))
            value = 0
    return ".".join(parts)


def test_new_key_specs_describe_and_public_keys(kms):
    arn_of = {}
    for spec, usage, field, values in [
        (ED25519, "SIGN_VERIFY", "SigningAlgorithms", ["ED25519_SHA_512", "ED25519_PH_SHA_512"]),
        ("ML_DSA_44", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
        ("ML_DSA_65", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
        ("ML_DSA_87", "SIGN_VERIFY", "SigningAlgorithms", ["ML_DSA_SHAKE_256"]),
        ("ML_KEM_512", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"]),
        ("ML_KEM_768", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"]),
        ("ML_KEM_1024", "ENCAPSULATE_DECAPSULATE", "EncapsulationAlgorithms", ["ML_KEM"]),
    ]:
        meta = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
        arn_of[spec] = meta["Arn"]
        described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
        for m in (meta, described):
            assert (m["KeySpec"], m["CustomerMasterKeySpec"], m["KeyUsage"], m[field]) == (spec, spec, usage, values)
            others = {"EncryptionAlgorithms", "SigningAlgorithms", "MacAlgorithms", "KeyAgreementAlgorithms",
                      "EncapsulationAlgorithms"} - {field}
            assert not others & set(m)
        public = kms.get_public_key(KeyId=meta["KeyId"])
        assert (public["KeyId"], public["KeySpec"], public["KeyUsage"], public[field]) == (
            meta["Arn"], spec, usage, values)
        der = public["PublicKey"]
        assert _oid(der) == SPKI_OIDS[spec]
        if spec != "ML_KEM_512":
            loaded = serialization.load_der_public_key(der)  # cryptography reads it
            assert loaded.public_bytes(serialization.Encoding.DER,
                                       serialization.PublicFormat.SubjectPublicKeyInfo) == der
    assert len(kms.get_public_key(KeyId=arn_of["ML_KEM_512"])["PublicKey"]) == 822  # 800-byte key + 22
    assert len(kms.get_public_key(KeyId=arn_of[ED25519])["PublicKey"]) == 44  # RFC 8410: 12 + 32


@pytest.mark.parametrize("spec, usage", [
    (ED25519, "KEY_AGREEMENT"), (ED25519, "ENCRYPT_DECRYPT"), ("ML_DSA_65", "ENCRYPT_DECRYPT"),
    ("ML_DSA_44", "ENCAPSULATE_DECAPSULATE"), ("ML_KEM_768", "SIGN_VERIFY"), ("ECC_NIST_P256", "ENCAPSULATE_DECAPSULATE"),
])
def test_new_key_specs_refuse_other_usages(kms, spec, usage):
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert error(exc) == ("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}")


def test_ml_kem_needs_its_key_usage(kms):
    # KeyUsage defaults to ENCRYPT_DECRYPT, which no ML-KEM key has.
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="ML_KEM_768")
    assert error(exc) == ("ValidationException", "KeyUsage ENCRYPT_DECRYPT is not compatible with KeySpec ML_KEM_768")
    with pytest.raises(ClientError) as exc:
        kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    assert error(exc) == ("ValidationException", "KeySpec SM2 is only available in China Regions")


def test_ed25519_sign_and_verify(kms):
    from cloudlet.services.kms import pure_ed25519

    key_id = kms.create_key(KeySpec=ED25519, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    assert isinstance(public, ed25519.Ed25519PublicKey)
    message = b"release 1.2.3"
    out = kms.sign(KeyId=key_id, Message=message, MessageType="RAW", SigningAlgorithm="ED25519_SHA_512")
    assert (out["KeyId"], out["SigningAlgorithm"], len(out["Signature"])) == (arn, "ED25519_SHA_512", 64)
    public.verify(out["Signature"], message)  # PureEdDSA (RFC 8032): raises if invalid
    # Ed25519 is deterministic: the same message, the same signature.
    assert kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ED25519_SHA_512")["Signature"] == \
        out["Signature"]
    assert kms.verify(KeyId=key_id, Message=message, Signature=out["Signature"],
                      SigningAlgorithm="ED25519_SHA_512")["SignatureValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=key_id, Message=b"release 1.2.4", Signature=out["Signature"],
                   SigningAlgorithm="ED25519_SHA_512")
    assert error(exc) == ("KMSInvalidSignatureException", "")

    # ED25519_PH_SHA_512 takes a SHA-512 digest and hashes it again (HashEdDSA,
    # RFC 8032 Ed25519ph over the digest): not PureEdDSA over the digest.
    digest = hashlib.sha512(message).digest()
    prehashed = kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST",
                         SigningAlgorithm="ED25519_PH_SHA_512")["Signature"]
    assert len(prehashed) == 64
    assert pure_ed25519.verify(public.public_bytes_raw(), digest, prehashed)  # RFC 8032's Ed25519ph (unit-tested)
    with pytest.raises(InvalidSignature):
        public.verify(prehashed, digest)
    assert kms.verify(KeyId=key_id, Message=digest, MessageType="DIGEST", Signature=prehashed,
                      SigningAlgorithm="ED25519_PH_SHA_512")["SignatureValid"] is True
    with pytest.raises(ClientError) as exc:
        kms.verify(KeyId=key_id, Message=hashlib.sha512(b"other").digest(), MessageType="DIGEST",
                   Signature=prehashed, SigningAlgorithm="ED25519_PH_SHA_512")
    assert error(exc) == ("KMSInvalidSignatureException", "")

    # Each algorithm takes one MessageType (CreateKey's KeySpec documentation).
    for algorithm, message_type, given in [("ED25519_SHA_512", "DIGEST", digest),
                                           ("ED25519_PH_SHA_512", "RAW", digest),
                                           ("ED25519_SHA_512", "EXTERNAL_MU", digest)]:
        with pytest.raises(ClientError) as exc:
            kms.sign(KeyId=key_id, Message=given, MessageType=message_type, SigningAlgorithm=algorithm)
        assert error(exc) == ("ValidationException",
                              f"Message type {message_type} is incompatible with algorithm {algorithm}.")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=digest[:32], MessageType="DIGEST", SigningAlgorithm="ED25519_PH_SHA_512")
    assert error(exc) == ("ValidationException", "Digest is invalid length for algorithm ED25519_PH_SHA_512.")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ECDSA_SHA_256")
    assert error(exc) == ("InvalidKeyUsageException", f"Algorithm ECDSA_SHA_256 is incompatible with key spec {ED25519}.")


@pytest.mark.parametrize("spec", ["ML_DSA_44", "ML_DSA_65", "ML_DSA_87"])
def test_ml_dsa_sign_and_verify(kms, spec):
    key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    public = serialization.load_der_public_key(der)
    message = b"x" * 4096  # RAW takes up to 4 KB
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    assert len(signature) == SIGNATURE_BYTES[spec]
    public.verify(signature, message)  # FIPS 204 ML-DSA, empty context: raises if invalid
    # EXTERNAL_MU: mu = SHAKE256(SHAKE256(pk, 64) || 0x00 || 0x00 || M, 64) (FIPS 204, 6.2), computed
    # here with hashlib; the signature verifies as a signature of M itself.
    raw_public = public.public_bytes_raw()
    big = os.urandom(100_000)
    mu = hashlib.shake_256(hashlib.shake_256(raw_public).digest(64) + b"\x00\x00" + big).digest(64)
    by_mu = kms.sign(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU",
                     SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    public.verify(by_mu, big)
    assert kms.verify(KeyId=key_id, Message=mu, MessageType="EXTERNAL_MU", Signature=by_mu,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    assert kms.verify(KeyId=key_id, Message=message, Signature=signature,
                      SigningAlgorithm="ML_DSA_SHAKE_256")["SignatureValid"] is True
    tampered = bytearray(signature)
    tampered[100] ^= 1
    for given, sig in ((message[:-1] + b"y", signature), (message, bytes(tampered))):
        with pytest.raises(ClientError) as exc:
            kms.verify(KeyId=key_id, Message=given, Signature=sig, SigningAlgorithm="ML_DSA_SHAKE_256")
        assert error(exc) == ("KMSInvalidSignatureException", "")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=mu, MessageType="DIGEST", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error(exc) == ("ValidationException", f"Message type DIGEST is incompatible with key spec {spec}.")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=mu[:32], MessageType="EXTERNAL_MU", SigningAlgorithm="ML_DSA_SHAKE_256")
    assert error(exc) == ("ValidationException", "Digest is invalid length for algorithm ML_DSA_SHAKE_256.")
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="RSASSA_PSS_SHA_256")
    assert error(exc) == ("InvalidKeyUsageException", f"Algorithm RSASSA_PSS_SHA_256 is incompatible with key spec "
                                                      f"{spec}.")


def test_external_mu_is_for_ml_dsa_only(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    with pytest.raises(ClientError) as exc:
        kms.sign(KeyId=key_id, Message=bytes(64), MessageType="EXTERNAL_MU", SigningAlgorithm="ECDSA_SHA_256")
    assert error(exc) == ("ValidationException", "MessageType EXTERNAL_MU is supported only for ML_DSA key specs.")


@pytest.mark.parametrize("spec", ["ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"])
def test_ml_kem_encapsulate_and_decapsulate(kms, spec):
    from cloudlet.services.kms import pure_mlkem

    key_id = kms.create_key(KeySpec=spec, KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}"
    out = kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    secret, ciphertext = out["SharedSecret"], out["SharedSecretCiphertextBlob"]
    assert (out["KeyId"], out["EncapsulationAlgorithm"], len(secret), len(ciphertext)) == (
        arn, "ML_KEM", 32, KEM_CIPHERTEXT_BYTES[spec])
    back = kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=ciphertext, EncapsulationAlgorithm="ML_KEM")
    assert (back["KeyId"], back["SharedSecret"], back["EncapsulationAlgorithm"]) == (arn, secret, "ML_KEM")
    # The other party encapsulates offline, to GetPublicKey's key.
    der = kms.get_public_key(KeyId=key_id)["PublicKey"]
    if spec == "ML_KEM_512":  # cryptography has no ML-KEM-512: the module checked against C2SP's vectors
        public = pure_mlkem.PublicKey("ML-KEM-512", der[22:])
    else:
        public = serialization.load_der_public_key(der)
    offline_secret, offline_ciphertext = public.encapsulate()
    assert kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=offline_ciphertext,
                           EncapsulationAlgorithm="ML_KEM")["SharedSecret"] == offline_secret
    # Implicit rejection: a changed ciphertext gives another 32-byte secret, no error.
    tampered = bytearray(ciphertext)
    tampered[0] ^= 1
    other = kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=bytes(tampered),
                            EncapsulationAlgorithm="ML_KEM")["SharedSecret"]
    assert len(other) == 32 and other != secret
    for wrong in (ciphertext[:-1], ciphertext + b"\x00"):
        with pytest.raises(ClientError) as exc:
            kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=wrong, EncapsulationAlgorithm="ML_KEM")
        assert error(exc) == ("InvalidCiphertextException", "")
    with pytest.raises(ClientError) as exc:
        kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM", DryRun=True)
    assert error(exc) == ("DryRunOperationException",
                          "The request would have succeeded, but the DryRun option is set.")


def test_ml_kem_decapsulates_only_with_its_own_key(kms):
    a = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    b = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    out = kms.encapsulate(KeyId=a, EncapsulationAlgorithm="ML_KEM")
    other = kms.decapsulate(KeyId=b, SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
                            EncapsulationAlgorithm="ML_KEM")["SharedSecret"]
    assert len(other) == 32 and other != out["SharedSecret"]


def test_wrong_key_usage_for_the_new_operations(kms):
    symmetric = kms.create_key()["KeyMetadata"]["Arn"]
    kem = kms.create_key(KeySpec="ML_KEM_1024", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["Arn"]
    dsa = kms.create_key(KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    cases = [
        (lambda: kms.encapsulate(KeyId=symmetric, EncapsulationAlgorithm="ML_KEM"),
         f"{symmetric} key usage is ENCRYPT_DECRYPT which is not valid for Encapsulate."),
        (lambda: kms.decapsulate(KeyId=dsa, SharedSecretCiphertextBlob=bytes(1568), EncapsulationAlgorithm="ML_KEM"),
         f"{dsa} key usage is SIGN_VERIFY which is not valid for Decapsulate."),
        (lambda: kms.encrypt(KeyId=kem, Plaintext=b"x"),
         f"{kem} key usage is ENCAPSULATE_DECAPSULATE which is not valid for Encrypt."),
        (lambda: kms.sign(KeyId=kem, Message=b"x", SigningAlgorithm="ML_DSA_SHAKE_256"),
         f"{kem} key usage is ENCAPSULATE_DECAPSULATE which is not valid for Sign."),
        (lambda: kms.generate_data_key(KeyId=kem, KeySpec="AES_256"),
         f"{kem} key usage is ENCAPSULATE_DECAPSULATE which is not valid for GenerateDataKey."),
    ]
    for call, message in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == ("InvalidKeyUsageException", message)


def test_data_key_pairs_of_the_new_specs(kms, cloudlet):
    from cloudlet.services.kms import pure_mlkem

    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=ED25519)
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    assert private.public_key().public_bytes_raw() == \
        serialization.load_der_public_key(pair["PublicKey"]).public_bytes_raw()
    assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"])["Plaintext"] == pair["PrivateKeyPlaintext"]
    lengths = set()
    for spec in ("ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"):
        pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec=spec)
        assert pair["KeyPairSpec"] == spec and _oid(pair["PublicKey"]) == SPKI_OIDS[spec]
        lengths.add(len(pair["PrivateKeyPlaintext"]))
        seed = pair["PrivateKeyPlaintext"][-64:]  # PKCS#8 in the seed form
        if spec == "ML_KEM_512":
            derived = pure_mlkem.PrivateKey("ML-KEM-512", seed).public_key().public_bytes_raw()
        else:
            private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], None)
            derived = private.public_key().public_bytes_raw()
        assert pair["PublicKey"].endswith(derived)
        bare = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec=spec)
        assert "PrivateKeyPlaintext" not in bare and len(bare["PublicKey"]) == len(pair["PublicKey"])
    assert lengths == {86}  # "the length of the private key is the same for all ML-KEM key pair specs"
    with pytest.raises(ClientError) as exc:  # not a DataKeyPairSpec
        cloudlet.client("kms", parameter_validation=False).generate_data_key_pair(KeyId=key_id,
                                                                                  KeyPairSpec="ML_DSA_44")
    assert error(exc)[0] == "ValidationException"


def test_grants_for_encapsulate_and_decapsulate(cloudlet, kms):
    from tests.services.test_iam_enforcement import user_with

    key_id = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    me, arn = user_with(cloudlet, "kem-user")
    user_kms = me("kms")
    with pytest.raises(ClientError) as exc:
        user_kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    assert error(exc)[0] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key_id, GranteePrincipal=arn, Operations=["Encrypt"])
    assert error(exc)[0] == "ValidationException"
    kms.create_grant(KeyId=key_id, GranteePrincipal=arn, Operations=["Encapsulate", "GetPublicKey"])
    out = user_kms.encapsulate(KeyId=key_id, EncapsulationAlgorithm="ML_KEM")
    assert len(user_kms.get_public_key(KeyId=key_id)["PublicKey"]) == 1206
    with pytest.raises(ClientError) as exc:
        user_kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
                             EncapsulationAlgorithm="ML_KEM")
    assert error(exc)[0] == "AccessDeniedException"
    kms.create_grant(KeyId=key_id, GranteePrincipal=arn, Operations=["Decapsulate"])
    assert user_kms.decapsulate(KeyId=key_id, SharedSecretCiphertextBlob=out["SharedSecretCiphertextBlob"],
                                EncapsulationAlgorithm="ML_KEM")["SharedSecret"] == out["SharedSecret"]


# -- GetKeyLastUsage ------------------------------------------------------------------------

def _when(value) -> float:
    return value.timestamp()


def test_key_last_usage(kms, cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    start = cloudlet.clock.now()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    out = kms.get_key_last_usage(KeyId=key_id)
    assert (out["KeyId"], out["KeyLastUsage"], _when(out["TrackingStartDate"]), _when(out["KeyCreationDate"])) == (
        key_id, {}, start, start)
    cloudlet.clock.advance(60)
    encrypted = kms.encrypt(KeyId=key_id, Plaintext=b"x")
    usage = kms.get_key_last_usage(KeyId=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/{key_id}")["KeyLastUsage"]
    assert usage == {"Operation": "Encrypt", "Timestamp": usage["Timestamp"],
                     "KmsRequestId": encrypted["ResponseMetadata"]["RequestId"],
                     "CloudTrailEventId": usage["CloudTrailEventId"]}
    assert _when(usage["Timestamp"]) == start + 60
    # the eventID of the Encrypt call's CloudTrail record
    events = cloudlet.client("cloudtrail").lookup_events(
        LookupAttributes=[{"AttributeKey": "EventId", "AttributeValue": usage["CloudTrailEventId"]}],
        StartTime=start, EndTime=start + 3600)["Events"]
    assert [(e["EventName"], json.loads(e["CloudTrailEvent"])["requestID"]) for e in events] == [
        ("Encrypt", encrypted["ResponseMetadata"]["RequestId"])]
    # Not cryptographic: no change. A failed or dry-run call: no change.
    kms.describe_key(KeyId=key_id)
    kms.get_key_rotation_status(KeyId=key_id)
    cloudlet.clock.advance(5)
    with pytest.raises(ClientError):
        kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"], EncryptionContext={"wrong": "context"})
    with pytest.raises(ClientError):
        kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=True)
    assert kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"] == usage
    cloudlet.clock.advance(5)
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    usage = kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
    assert (usage["Operation"], _when(usage["Timestamp"]), usage["KmsRequestId"]) == (
        "Decrypt", start + 70, decrypted["ResponseMetadata"]["RequestId"])
    assert usage["CloudTrailEventId"] != events[0]["EventId"]
    with pytest.raises(ClientError) as exc:
        kms.get_key_last_usage(KeyId="alias/anything")
    assert error(exc) == ("NotFoundException", "Invalid keyId 'alias/anything'")


def test_key_last_usage_of_both_re_encrypt_keys_and_other_operations(kms, cloudlet):
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    start = cloudlet.clock.now()
    a, b = (kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(2))
    blob = kms.encrypt(KeyId=a, Plaintext=b"move me")["CiphertextBlob"]
    cloudlet.clock.advance(1)
    moved = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b)
    for key_id in (a, b):
        usage = kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
        assert (usage["Operation"], _when(usage["Timestamp"]), usage["KmsRequestId"]) == (
            "ReEncrypt", start + 1, moved["ResponseMetadata"]["RequestId"])
    signing = kms.create_key(KeySpec="ML_DSA_44", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    kem = kms.create_key(KeySpec="ML_KEM_768", KeyUsage="ENCAPSULATE_DECAPSULATE")["KeyMetadata"]["KeyId"]
    mac = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["KeyId"]
    signature = kms.sign(KeyId=signing, Message=b"m", SigningAlgorithm="ML_DSA_SHAKE_256")["Signature"]
    with pytest.raises(ClientError):
        kms.verify(KeyId=signing, Message=b"other", Signature=signature, SigningAlgorithm="ML_DSA_SHAKE_256")
    steps = [
        (b, lambda: kms.generate_data_key(KeyId=b, KeySpec="AES_256"), "GenerateDataKey"),
        (b, lambda: kms.generate_data_key_without_plaintext(KeyId=b, KeySpec="AES_256"),
         "GenerateDataKeyWithoutPlaintext"),
        (b, lambda: kms.generate_data_key_pair(KeyId=b, KeyPairSpec="ECC_NIST_P256"), "GenerateDataKeyPair"),
        (b, lambda: kms.generate_data_key_pair_without_plaintext(KeyId=b, KeyPairSpec="ECC_NIST_P256"),
         "GenerateDataKeyPairWithoutPlaintext"),
        (signing, lambda: kms.get_key_last_usage(KeyId=signing), "Sign"),  # the failed Verify left Sign
        (signing, lambda: kms.verify(KeyId=signing, Message=b"m", Signature=signature,
                                     SigningAlgorithm="ML_DSA_SHAKE_256"), "Verify"),
        (mac, lambda: kms.generate_mac(KeyId=mac, Message=b"m", MacAlgorithm="HMAC_SHA_256"), "GenerateMac"),
        (kem, lambda: kms.encapsulate(KeyId=kem, EncapsulationAlgorithm="ML_KEM"), "Encapsulate"),
        (kem, lambda: kms.decapsulate(KeyId=kem, SharedSecretCiphertextBlob=bytes(1088),
                                      EncapsulationAlgorithm="ML_KEM"), "Decapsulate"),
    ]
    for key_id, call, operation in steps:
        call()
        assert kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]["Operation"] == operation


def test_key_last_usage_is_written_behind(kms, cloudlet):
    """Uses are kept in memory and written a clock-second later in one
    statement: no write on the Encrypt path; nothing lost once written."""
    cloudlet.clock.set("2030-01-01T00:00:00Z")
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    storage = cloudlet.cloud.storage

    def stored():
        return storage.one("SELECT last_operation, last_used, last_request_id FROM kms_keys WHERE id = ?", (key_id,))

    for _ in range(3):
        kms.encrypt(KeyId=key_id, Plaintext=b"x")
    last = kms.encrypt(KeyId=key_id, Plaintext=b"x")["ResponseMetadata"]["RequestId"]
    assert stored() == (None, None, None)
    cloudlet.clock.advance(1)  # the write-behind job falls due
    assert stored() == ("Encrypt", cloudlet.clock.now() - 1, last)
    service = cloudlet.cloud.service("kms")
    assert service._usage == {}
    usage = kms.get_key_last_usage(KeyId=key_id)["KeyLastUsage"]
    assert (usage["Operation"], usage["KmsRequestId"]) == ("Encrypt", last)
    # Stopping writes what is still only in memory.
    kms.generate_data_key(KeyId=key_id, KeySpec="AES_128")
    service.stop()
    assert stored()[0] == "GenerateDataKey"
