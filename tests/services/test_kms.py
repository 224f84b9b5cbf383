"""KMS through boto3 against a real server: keys, aliases, symmetric and
asymmetric cryptography checked with `cryptography` directly, data keys,
lifecycle on the virtual clock, imported material."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
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
