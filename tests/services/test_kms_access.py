"""Who may use a KMS key: key policies against IAM policies (AWS's rules:
the key policy must allow, even within the account), grants and their
constraints, the policy lockout check, DryRun; and real clients no one
here wrote: the AWS CLI and the AWS Encryption SDK."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError

from tests.services.test_iam_enforcement import allow, deny, doc, error, user_with
from tests.services.test_iam_simulation import aws

A = "000000000000"


def key_policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROOT_STATEMENT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                  "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}


def denial(arn: str, action: str, key_arn: str, why: str) -> tuple:
    return ("AccessDeniedException", 400,
            f"User: {arn} is not authorized to perform: {action} on resource: {key_arn} {why}")


@pytest.fixture
def kms(cloudlet):
    return cloudlet.client("kms")


def new_key(kms, **kw) -> tuple[str, str]:
    meta = kms.create_key(**kw)["KeyMetadata"]
    return meta["KeyId"], meta["Arn"]


# -- key policies and IAM policies ---------------------------------------------

def test_default_key_policy_lets_iam_policies_decide(cloudlet, kms):
    key_id, key_arn = new_key(kms)
    me, arn = user_with(cloudlet, "app", doc(allow("kms:Encrypt", key_arn)))
    user_kms = me("kms")
    blob = user_kms.encrypt(KeyId=key_id, Plaintext=b"ok")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        user_kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == denial(arn, "kms:Decrypt", key_arn,
                                "because no identity-based policy allows the kms:Decrypt action")


def test_key_policy_explicit_deny_beats_an_iam_allow(cloudlet, kms):
    me, arn = user_with(cloudlet, "app", doc(allow("kms:*")))
    key_id, key_arn = new_key(kms, Policy=key_policy(ROOT_STATEMENT, {
        "Effect": "Deny", "Principal": {"AWS": arn}, "Action": "kms:Decrypt", "Resource": "*"}))
    user_kms = me("kms")
    blob = user_kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        user_kms.decrypt(CiphertextBlob=blob)
    assert error(exc) == denial(arn, "kms:Decrypt", key_arn, "with an explicit deny in a resource-based policy")


def test_key_policy_naming_a_user_needs_no_iam_policy(cloudlet, kms):
    me, arn = user_with(cloudlet, "app")
    key_id, _ = new_key(kms, Policy=key_policy(ROOT_STATEMENT, {
        "Effect": "Allow", "Principal": {"AWS": arn}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*"}))
    user_kms = me("kms")
    blob = user_kms.encrypt(KeyId=key_id, Plaintext=b"key policy alone")["CiphertextBlob"]
    assert user_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"key policy alone"


def test_iam_policy_alone_is_not_enough_when_the_key_policy_leaves_out_the_account(cloudlet, kms):
    admin_arn = f"arn:aws:iam::{A}:root"
    me, arn = user_with(cloudlet, "app", doc(allow("kms:*")))
    key_id, key_arn = new_key(kms, BypassPolicyLockoutSafetyCheck=True, Policy=key_policy({
        "Effect": "Allow", "Principal": {"AWS": admin_arn}, "Action": "kms:*", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalType": "Account"}}}))
    with pytest.raises(ClientError) as exc:
        me("kms").encrypt(KeyId=key_id, Plaintext=b"x")
    assert error(exc) == denial(arn, "kms:Encrypt", key_arn,
                                "because no resource-based policy allows the kms:Encrypt action")
    # The root user, whom the policy names, still may.
    assert kms.encrypt(KeyId=key_id, Plaintext=b"x")["KeyId"] == key_arn


def test_encryption_context_condition_in_a_key_policy(cloudlet, kms):
    me, arn = user_with(cloudlet, "tenant")
    key_id, key_arn = new_key(kms, Policy=key_policy(ROOT_STATEMENT, {
        "Effect": "Allow", "Principal": {"AWS": arn}, "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "blue"}}}))
    user_kms = me("kms")
    blob = user_kms.encrypt(KeyId=key_id, Plaintext=b"blue", EncryptionContext={"tenant": "blue"})["CiphertextBlob"]
    assert user_kms.decrypt(CiphertextBlob=blob, EncryptionContext={"tenant": "blue"})["Plaintext"] == b"blue"
    with pytest.raises(ClientError) as exc:
        user_kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "red"})
    assert error(exc) == denial(arn, "kms:Encrypt", key_arn,
                                "because no identity-based policy allows the kms:Encrypt action")


def test_identity_policy_deny_on_key_spec(cloudlet, kms):
    me, arn = user_with(cloudlet, "app", doc(allow("kms:*"), deny("kms:CreateKey", Condition={
        "StringLike": {"kms:KeySpec": "RSA_*"}})))
    user_kms = me("kms")
    assert user_kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeySpec"] == \
        "ECC_NIST_P256"
    with pytest.raises(ClientError) as exc:
        user_kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    assert error(exc) == ("AccessDeniedException", 400,
                          f"User: {arn} is not authorized to perform: kms:CreateKey on resource: * "
                          "with an explicit deny in an identity-based policy")


def test_tags_at_creation_need_tag_resource(cloudlet):
    me, arn = user_with(cloudlet, "creator", doc(allow("kms:CreateKey")))
    user_kms = me("kms")
    with pytest.raises(ClientError) as exc:
        user_kms.create_key(Tags=[{"TagKey": "team", "TagValue": "core"}])
    assert error(exc) == ("AccessDeniedException", 400, f"User: {arn} is not authorized to perform: kms:TagResource "
                          "because no identity-based policy allows the kms:TagResource action")
    assert cloudlet.client("kms").list_keys()["Keys"] == []
    assert user_kms.create_key()["KeyMetadata"]["KeyState"] == "Enabled"


def test_policy_lockout_safety_check(cloudlet, kms):
    lockout = key_policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"},
                          "Action": "kms:Encrypt", "Resource": "*"})
    with pytest.raises(ClientError) as exc:
        kms.create_key(Policy=lockout)
    assert (exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]) == (
        "MalformedPolicyDocumentException",
        "The new key policy will not allow you to update the key policy in the future.")
    key_id, key_arn = new_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=lockout)
    assert exc.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"
    kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=lockout, BypassPolicyLockoutSafetyCheck=True)
    assert kms.encrypt(KeyId=key_id, Plaintext=b"still usable")["KeyId"] == key_arn
    # Locked out indeed: not even the root user may read or change the policy now.
    with pytest.raises(ClientError) as exc:
        kms.get_key_policy(KeyId=key_id)
    assert error(exc) == denial(f"arn:aws:iam::{A}:root", "kms:GetKeyPolicy", key_arn,
                                "because no resource-based policy allows the kms:GetKeyPolicy action")
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=key_policy(ROOT_STATEMENT))
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key_id, PolicyName="custom", Policy=key_policy(ROOT_STATEMENT))
    assert exc.value.response["Error"]["Code"] == "AccessDeniedException"


def test_malformed_key_policies(kms):
    key_id, _ = new_key(kms)
    for policy in ("not json", json.dumps({"Statement": "no"})):
        with pytest.raises(ClientError) as exc:
            kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=policy)
        assert exc.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"
    with pytest.raises(ClientError) as exc:
        kms.put_key_policy(KeyId=key_id, PolicyName="other", Policy=key_policy(ROOT_STATEMENT))
    assert exc.value.response["Error"]["Code"] == "NotFoundException"


# -- grants --------------------------------------------------------------------

def test_grant_with_encryption_context_constraint(cloudlet, kms):
    key_id, key_arn = new_key(kms)
    me, arn = user_with(cloudlet, "worker")
    user_kms = me("kms")
    blob_blue = kms.encrypt(KeyId=key_id, Plaintext=b"blue", EncryptionContext={"tenant": "blue"})["CiphertextBlob"]
    blob_red = kms.encrypt(KeyId=key_id, Plaintext=b"red", EncryptionContext={"tenant": "red"})["CiphertextBlob"]
    with pytest.raises(ClientError) as exc:
        user_kms.decrypt(CiphertextBlob=blob_blue, EncryptionContext={"tenant": "blue"})
    assert error(exc) == denial(arn, "kms:Decrypt", key_arn,
                                "because no identity-based policy allows the kms:Decrypt action")
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=arn, Operations=["Decrypt"], Name="blue-only",
                             Constraints={"EncryptionContextEquals": {"tenant": "blue"}})
    assert user_kms.decrypt(CiphertextBlob=blob_blue, EncryptionContext={"tenant": "blue"},
                            GrantTokens=[grant["GrantToken"]])["Plaintext"] == b"blue"
    assert user_kms.decrypt(CiphertextBlob=blob_blue, EncryptionContext={"tenant": "blue"})["Plaintext"] == b"blue"
    for blob, context in ((blob_red, {"tenant": "red"}), (blob_blue, {"tenant": "blue", "extra": "x"})):
        with pytest.raises(ClientError) as exc:
            user_kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
        assert error(exc) == denial(arn, "kms:Decrypt", key_arn,
                                    "because no identity-based policy allows the kms:Decrypt action")
    with pytest.raises(ClientError) as exc:  # Decrypt only: not Encrypt
        user_kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"tenant": "blue"})
    assert error(exc)[0] == "AccessDeniedException"
    listed = kms.list_grants(KeyId=key_id)["Grants"]
    assert [(g["GrantId"], g["Name"], g["GranteePrincipal"], g["Operations"], g["Constraints"], g["KeyId"])
            for g in listed] == [(grant["GrantId"], "blue-only", arn, ["Decrypt"],
                                  {"EncryptionContextEquals": {"tenant": "blue"}}, key_arn)]
    kms.revoke_grant(KeyId=key_id, GrantId=grant["GrantId"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    with pytest.raises(ClientError) as exc:
        user_kms.decrypt(CiphertextBlob=blob_blue, EncryptionContext={"tenant": "blue"})
    assert error(exc)[0] == "AccessDeniedException"


def test_grant_subset_constraint_and_retiring(cloudlet, kms):
    key_id, key_arn = new_key(kms)
    worker, worker_arn = user_with(cloudlet, "worker")
    retirer, retirer_arn = user_with(cloudlet, "retirer", doc(allow("kms:ListRetirableGrants")))
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=worker_arn, RetiringPrincipal=retirer_arn,
                             Operations=["Encrypt", "GenerateDataKey"],
                             Constraints={"EncryptionContextSubset": {"app": "orders"}})
    user_kms = worker("kms")
    assert user_kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"app": "orders", "id": "7"})["KeyId"] \
        == key_arn
    assert len(user_kms.generate_data_key(KeyId=key_id, KeySpec="AES_128",
                                          EncryptionContext={"app": "orders"})["Plaintext"]) == 16
    with pytest.raises(ClientError) as exc:
        user_kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"id": "7"})
    assert error(exc)[0] == "AccessDeniedException"
    retirable = retirer("kms").list_retirable_grants(RetiringPrincipal=retirer_arn)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    with pytest.raises(ClientError) as exc:  # only the retiring principal (or grantee with RetireGrant) may
        user_kms.retire_grant(KeyId=key_arn, GrantId=grant["GrantId"])
    assert error(exc)[0] == "AccessDeniedException"
    retirer("kms").retire_grant(GrantToken=grant["GrantToken"])
    assert kms.list_grants(KeyId=key_id)["Grants"] == []
    with pytest.raises(ClientError) as exc:
        user_kms.encrypt(KeyId=key_id, Plaintext=b"x", EncryptionContext={"app": "orders"})
    assert error(exc)[0] == "AccessDeniedException"


def test_grant_validation(cloudlet, kms):
    key_id, _ = new_key(kms)
    _, arn = user_with(cloudlet, "worker")
    with pytest.raises(ClientError) as exc:
        kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"],
                    GrantTokens=["not-a-token"])
    assert (exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]) == (
        "InvalidGrantTokenException", "Invalid grant token")
    with pytest.raises(ClientError) as exc:
        kms.revoke_grant(KeyId=key_id, GrantId="0" * 64)
    assert (exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]) == (
        "NotFoundException", f"Grant ID {'0' * 64} not found")
    sign_key, _ = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=sign_key, GranteePrincipal=arn, Operations=["Encrypt"])
    assert exc.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        kms.create_grant(KeyId=key_id, GranteePrincipal=arn, Operations=["Decrypt"], DryRun=True)
    assert exc.value.response["Error"]["Code"] == "DryRunOperationException"
    assert kms.list_grants(KeyId=key_id)["Grants"] == []


def test_dry_run(kms):
    key_id, _ = new_key(kms)
    with pytest.raises(ClientError) as exc:
        kms.encrypt(KeyId=key_id, Plaintext=b"x", DryRun=True)
    assert (exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]) == (
        "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")


# -- real clients ----------------------------------------------------------------

def test_aws_cli_encrypt_decrypt_round_trip(cloudlet, kms, tmp_path):
    key_id, key_arn = new_key(kms)
    kms.create_alias(AliasName="alias/cli", TargetKeyId=key_id)
    (tmp_path / "plain.txt").write_bytes(b"from the AWS CLI")
    out = aws(cloudlet, "kms", "encrypt", "--key-id", "alias/cli", "--plaintext", f"fileb://{tmp_path / 'plain.txt'}",
              "--encryption-context", "purpose=test")
    assert (out["KeyId"], out["EncryptionAlgorithm"]) == (key_arn, "SYMMETRIC_DEFAULT")
    (tmp_path / "blob").write_bytes(base64.b64decode(out["CiphertextBlob"]))
    back = aws(cloudlet, "kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
               "--encryption-context", "purpose=test")
    assert (base64.b64decode(back["Plaintext"]), back["KeyId"]) == (b"from the AWS CLI", key_arn)


def test_aws_encryption_sdk_round_trip(cloudlet, kms, monkeypatch):
    import aws_encryption_sdk
    import botocore.session
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    _, key_arn = new_key(kms)
    for name, value in (("AWS_ENDPOINT_URL", cloudlet.endpoint), ("AWS_ACCESS_KEY_ID", "test"),
                        ("AWS_SECRET_ACCESS_KEY", "test"), ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn],
                                                                botocore_session=botocore.session.Session())
    message = b"envelope encryption through cloudlet " * 100
    ciphertext, header = client.encrypt(source=message, key_provider=provider,
                                        encryption_context={"order": "42"})
    assert ciphertext != message and header.encryption_context["order"] == "42"
    assert [k.key_provider.key_info for k in header.encrypted_data_keys] == [key_arn.encode()]
    plaintext, decrypted_header = client.decrypt(source=ciphertext, key_provider=provider)
    assert plaintext == message
    assert decrypted_header.encryption_context["order"] == "42"
