"""Virtual MFA devices with real one-time codes (TOTP on the virtual clock):
creating and enabling a device, roles and policies that require MFA, and
STS refusing a wrong, stale, reused or foreign code."""

from __future__ import annotations

import base64
import csv
import io
import json

import pytest
from botocore.exceptions import ClientError

from cloudlet.services.iam.mfa import totp
from tests.services.test_iam_enforcement import allow, doc, error, user_with

ACCOUNT = "000000000000"
START = "2030-06-01T12:00:10Z"
INVALID_CODE = ("AccessDenied", 403, "MultiFactorAuthentication failed with invalid MFA one time pass code.")
FOREIGN = ("AccessDenied", 403, "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your "
                                "MFA serial number is valid and associated with this user.")


@pytest.fixture
def iam(cloudlet):
    cloudlet.clock.set(START)
    return cloudlet.client("iam")


def now(cloudlet) -> float:
    return cloudlet.clock.now()


def device_for(cloudlet, iam, user: str, name: str = "phone") -> tuple[str, str]:
    """(serial, seed) of a virtual device enabled for `user` with two
    consecutive codes, as a person types them from an authenticator app."""
    made = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]
    serial, seed = made["SerialNumber"], made["Base32StringSeed"].decode()
    iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1=totp(seed, now(cloudlet), -1),
                          AuthenticationCode2=totp(seed, now(cloudlet)))
    return serial, seed


def test_a_virtual_device_is_created_and_enabled_with_two_consecutive_codes(cloudlet, iam):
    made = iam.create_virtual_mfa_device(VirtualMFADeviceName="phone", Path="/team/",
                                         Tags=[{"Key": "owner", "Value": "ops"}])["VirtualMFADevice"]
    serial = made["SerialNumber"]
    assert serial == f"arn:aws:iam::{ACCOUNT}:mfa/team/phone"
    seed = made["Base32StringSeed"].decode()
    assert len(seed) == 64 and len(base64.b32decode(seed)) == 40
    assert made["QRCodePNG"].startswith(b"\x89PNG\r\n\x1a\n")
    assert made["Tags"] == [{"Key": "owner", "Value": "ops"}]
    with pytest.raises(ClientError) as exc:
        iam.create_virtual_mfa_device(VirtualMFADeviceName="phone", Path="/team/")
    assert error(exc) == ("EntityAlreadyExists", 409, "MFADevice entity at the same path and name already exists.")
    assert iam.list_virtual_mfa_devices(AssignmentStatus="Unassigned")["VirtualMFADevices"] == [
        {"SerialNumber": serial, "Tags": [{"Key": "owner", "Value": "ops"}]}]

    iam.create_user(UserName="alice")
    for codes in ((totp(seed, now(cloudlet)), totp(seed, now(cloudlet))),          # the same code twice
                  (totp(seed, now(cloudlet), -5), totp(seed, now(cloudlet))),      # not consecutive
                  ("123456", "654321")):
        with pytest.raises(ClientError) as exc:
            iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1=codes[0],
                                  AuthenticationCode2=codes[1])
        assert error(exc) == ("InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    # Codes typed a couple of minutes ago are still good.
    iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1=totp(seed, now(cloudlet), -4),
                          AuthenticationCode2=totp(seed, now(cloudlet), -3))
    with pytest.raises(ClientError) as exc:
        iam.enable_mfa_device(UserName="alice", SerialNumber=serial, AuthenticationCode1="000000",
                              AuthenticationCode2="000000")
    assert error(exc) == ("EntityAlreadyExists", 409, "MFA Device is already in use.")
    [listed] = iam.list_mfa_devices(UserName="alice")["MFADevices"]
    assert (listed["UserName"], listed["SerialNumber"]) == ("alice", serial)
    [assigned] = iam.list_virtual_mfa_devices(AssignmentStatus="Assigned")["VirtualMFADevices"]
    assert assigned["User"]["UserName"] == "alice" and assigned["EnableDate"] == listed["EnableDate"]
    assert iam.get_mfa_device(SerialNumber=serial)["UserName"] == "alice"
    summary = iam.get_account_summary()["SummaryMap"]
    assert (summary["MFADevices"], summary["MFADevicesInUse"]) == (1, 1)

    # A user with a device is not deleted until the device is gone.
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="alice")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete MFA device first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(exc) == ("DeleteConflict", 409, "MFA Device is still in use")
    iam.deactivate_mfa_device(UserName="alice", SerialNumber=serial)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    iam.delete_user(UserName="alice")
    with pytest.raises(ClientError) as exc:
        iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert error(exc) == ("NoSuchEntity", 404, f"VirtualMFADevice with serial number {serial} doesn't exist.")


def test_a_role_that_requires_mfa_is_assumed_only_with_a_fresh_code(cloudlet, iam):
    me, user_arn = user_with(cloudlet, "bob", doc(allow("sts:AssumeRole")), admin_iam=iam)
    iam.create_role(RoleName="admin", MaxSessionDuration=7200, AssumeRolePolicyDocument=doc({
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}))
    iam.put_role_policy(RoleName="admin", PolicyName="fresh-mfa", PolicyDocument=doc(allow(
        "iam:ListUsers", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})))
    role = f"arn:aws:iam::{ACCOUNT}:role/admin"
    serial, seed = device_for(cloudlet, iam, "bob")
    sts = me("sts")

    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role, RoleSessionName="s1")
    assert error(exc)[0] == "AccessDenied"  # the trust policy wants MFA
    cloudlet.clock.advance(30)  # (the codes that enabled the device are used up)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role, RoleSessionName="s1", SerialNumber=serial, TokenCode="000000")
    assert error(exc) == INVALID_CODE
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role, RoleSessionName="s1", SerialNumber=f"arn:aws:iam::{ACCOUNT}:mfa/other",
                        TokenCode=totp(seed, now(cloudlet)))
    assert error(exc) == FOREIGN
    code = totp(seed, now(cloudlet))
    creds = sts.assume_role(RoleArn=role, RoleSessionName="s1", SerialNumber=serial, TokenCode=code,
                            DurationSeconds=7200)["Credentials"]
    with pytest.raises(ClientError) as exc:  # a code works once
        sts.assume_role(RoleArn=role, RoleSessionName="s2", SerialNumber=serial, TokenCode=code)
    assert error(exc) == INVALID_CODE

    session_iam = cloudlet.client("iam", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                                  session_token=creds["SessionToken"])
    assert session_iam.list_users()["Users"][0]["UserName"] == "bob"
    cloudlet.clock.advance(3600)  # the MFA is an hour old now
    with pytest.raises(ClientError) as exc:
        session_iam.list_users()
    assert error(exc)[0] == "AccessDenied"

    # The next step's code is fresh again; one from two steps ago is not.
    cloudlet.clock.advance(30)
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role, RoleSessionName="s3", SerialNumber=serial, TokenCode=totp(seed, now(cloudlet), -2))
    assert error(exc) == INVALID_CODE
    sts.assume_role(RoleArn=role, RoleSessionName="s3", SerialNumber=serial, TokenCode=totp(seed, now(cloudlet)))


def test_get_session_token_with_mfa_makes_mfa_present(cloudlet, iam):
    me, _ = user_with(cloudlet, "carol", doc(allow("iam:GetUser", Condition={
        "Bool": {"aws:MultiFactorAuthPresent": "true"}})), admin_iam=iam)
    serial, seed = device_for(cloudlet, iam, "carol")
    with pytest.raises(ClientError) as exc:
        me("iam").get_user()
    assert error(exc)[0] == "AccessDenied"
    plain = me("sts").get_session_token()["Credentials"]
    with pytest.raises(ClientError) as exc:
        cloudlet.client("iam", access_key=plain["AccessKeyId"], secret_key=plain["SecretAccessKey"],
                        session_token=plain["SessionToken"]).get_user()
    assert error(exc)[0] == "AccessDenied"
    cloudlet.clock.advance(30)
    creds = me("sts").get_session_token(SerialNumber=serial, TokenCode=totp(seed, now(cloudlet)))["Credentials"]
    session = cloudlet.client("iam", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                              session_token=creds["SessionToken"])
    assert session.get_user()["User"]["UserName"] == "carol"
    # the credential report says so
    iam.generate_credential_report()
    report = {row["user"]: row for row in csv.DictReader(io.StringIO(iam.get_credential_report()["Content"].decode()))}
    assert (report["carol"]["mfa_active"], report["<root_account>"]["mfa_active"]) == ("true", "false")


def test_resync_and_tags(cloudlet, iam):
    iam.create_user(UserName="dave")
    serial, seed = device_for(cloudlet, iam, "dave")
    # A device whose clock ran ahead by half an hour: resync takes its codes.
    iam.resync_mfa_device(UserName="dave", SerialNumber=serial, AuthenticationCode1=totp(seed, now(cloudlet), -60),
                          AuthenticationCode2=totp(seed, now(cloudlet), -59))
    with pytest.raises(ClientError) as exc:
        iam.resync_mfa_device(UserName="dave", SerialNumber=serial, AuthenticationCode1="111111",
                              AuthenticationCode2="222222")
    assert error(exc)[:2] == ("InvalidAuthenticationCode", 403)
    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "k", "Value": "v"}])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "k", "Value": "v"}]
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["k"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == []
    assert json.loads(json.dumps(iam.list_mfa_devices(UserName="dave")["MFADevices"], default=str))[0][
        "SerialNumber"] == serial
