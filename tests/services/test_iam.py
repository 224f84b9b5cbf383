"""IAM over the query protocol with boto3: entities, policies, keys, errors."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"
ALLOW_ALL = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
TRUST_ACCOUNT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})


def error(exc) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


@pytest.fixture
def iam(cloudlet):
    return cloudlet.client("iam")


def test_user_lifecycle(iam):
    created = iam.create_user(UserName="alice", Path="/eng/", Tags=[{"Key": "team", "Value": "core"}])["User"]
    assert created["UserName"] == "alice"
    assert created["Path"] == "/eng/"
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/eng/alice"
    assert created["UserId"].startswith("AIDA") and len(created["UserId"]) == 21
    assert created["Tags"] == [{"Key": "team", "Value": "core"}]
    got = iam.get_user(UserName="ALICE")["User"]  # names are case-insensitive
    assert got["UserName"] == "alice"
    assert got["CreateDate"] == created["CreateDate"]
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["alice"]
    assert iam.list_users(PathPrefix="/ops/")["Users"] == []
    iam.update_user(UserName="alice", NewUserName="alicia", NewPath="/ops/")
    assert iam.get_user(UserName="alicia")["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/ops/alicia"
    assert iam.list_user_tags(UserName="alicia")["Tags"] == [{"Key": "team", "Value": "core"}]
    iam.delete_user(UserName="alicia")
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="alicia")
    assert error(exc) == ("NoSuchEntity", 404, "The user with name alicia cannot be found.")


def test_duplicate_user(iam):
    iam.create_user(UserName="bob")
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="Bob")
    assert error(exc) == ("EntityAlreadyExists", 409, "User with name Bob already exists.")


def test_invalid_user_name(cloudlet):
    iam = cloudlet.client("iam", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="bad name")
    assert error(exc) == ("ValidationError", 400,
                          "1 validation error detected: Value 'bad name' at 'userName' failed to satisfy constraint: "
                          "Member must satisfy regular expression pattern: [\\w+=,.@-]+")


def test_groups_and_membership(iam):
    iam.create_user(UserName="u1")
    group = iam.create_group(GroupName="devs")["Group"]
    assert group["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/devs"
    iam.add_user_to_group(GroupName="devs", UserName="u1")
    out = iam.get_group(GroupName="devs")
    assert [u["UserName"] for u in out["Users"]] == ["u1"]
    assert [g["GroupName"] for g in iam.list_groups_for_user(UserName="u1")["Groups"]] == ["devs"]
    with pytest.raises(ClientError) as exc:
        iam.delete_group(GroupName="devs")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must remove users from group first.")
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="u1")
    assert error(exc)[0] == "DeleteConflict"
    iam.remove_user_from_group(GroupName="devs", UserName="u1")
    iam.delete_group(GroupName="devs")
    iam.delete_user(UserName="u1")


def test_roles(iam):
    role = iam.create_role(RoleName="app", AssumeRolePolicyDocument=TRUST_ACCOUNT, Description="the app",
                           MaxSessionDuration=7200)["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/app"
    assert role["RoleId"].startswith("AROA")
    assert role["MaxSessionDuration"] == 7200
    # boto3 decodes the URL-encoded document IAM returns.
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST_ACCOUNT)
    got = iam.get_role(RoleName="app")["Role"]
    assert got["Description"] == "the app"
    assert got["RoleLastUsed"] == {}
    iam.update_role(RoleName="app", MaxSessionDuration=3600)
    assert iam.get_role(RoleName="app")["Role"]["MaxSessionDuration"] == 3600
    with pytest.raises(ClientError) as exc:
        iam.create_role(RoleName="bad", AssumeRolePolicyDocument="{not json")
    assert error(exc) == ("MalformedPolicyDocument", 400, "This policy contains invalid Json")


def test_managed_policy_versions(iam):
    arn = iam.create_policy(PolicyName="p", PolicyDocument=ALLOW_ALL, Description="d")["Policy"]["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/p"
    for i in range(4):
        v = iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_ALL, SetAsDefault=(i == 3))
        assert v["PolicyVersion"]["VersionId"] == f"v{i + 2}"
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v5"
    with pytest.raises(ClientError) as exc:
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_ALL)
    assert error(exc) == ("LimitExceeded", 409, "A managed policy can have up to 5 versions. Before you create a "
                                                 "new version, you must delete an existing version.")
    with pytest.raises(ClientError) as exc:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v5")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete the default version of a policy.")
    versions = [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]]
    assert versions == ["v5", "v4", "v3", "v2", "v1"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId="v1")["PolicyVersion"]["Document"]
    assert doc == json.loads(ALLOW_ALL)


def test_attach_and_delete_conflicts(iam):
    iam.create_user(UserName="carol")
    arn = iam.create_policy(PolicyName="p2", PolicyDocument=ALLOW_ALL)["Policy"]["Arn"]
    iam.attach_user_policy(UserName="carol", PolicyArn=arn)
    iam.attach_user_policy(UserName="carol", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    attached = iam.list_attached_user_policies(UserName="carol")["AttachedPolicies"]
    assert sorted(p["PolicyName"] for p in attached) == ["ReadOnlyAccess", "p2"]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as exc:
        iam.delete_policy(PolicyArn=arn)
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete a policy attached to entities.")
    entities = iam.list_entities_for_policy(PolicyArn=arn)
    assert [u["UserName"] for u in entities["PolicyUsers"]] == ["carol"]
    with pytest.raises(ClientError) as exc:
        iam.attach_user_policy(UserName="carol", PolicyArn=f"arn:aws:iam::{ACCOUNT}:policy/nope")
    assert error(exc) == ("NoSuchEntity", 404,
                          f"Policy arn:aws:iam::{ACCOUNT}:policy/nope does not exist or is not attachable.")
    iam.detach_user_policy(UserName="carol", PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)


def test_aws_managed_policies_are_real(iam):
    policy = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    assert policy["PolicyName"] == "AdministratorAccess"
    assert policy["Path"] == "/"
    version = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])
    assert version["PolicyVersion"]["Document"]["Statement"] == [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
    names = {p["PolicyName"] for p in iam.list_policies(Scope="AWS", MaxItems=1000)["Policies"]}
    assert {"AdministratorAccess", "ReadOnlyAccess", "AmazonSQSFullAccess", "AmazonS3ReadOnlyAccess"} <= names
    assert iam.list_policies(Scope="Local")["Policies"] == []


def test_inline_policies_and_size_limit(iam):
    iam.create_user(UserName="dave")
    iam.put_user_policy(UserName="dave", PolicyName="inline", PolicyDocument=ALLOW_ALL)
    assert iam.list_user_policies(UserName="dave")["PolicyNames"] == ["inline"]
    got = iam.get_user_policy(UserName="dave", PolicyName="inline")
    assert got["PolicyDocument"] == json.loads(ALLOW_ALL)
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::bucket-{i:05d}/*"} for i in range(100)]})
    assert len(big) > 7000
    with pytest.raises(ClientError) as exc:
        iam.put_user_policy(UserName="dave", PolicyName="big", PolicyDocument=big)
    assert error(exc) == ("LimitExceeded", 409, "Maximum policy size of 2048 bytes exceeded for user dave")
    with pytest.raises(ClientError) as exc:
        iam.create_policy(PolicyName="big", PolicyDocument=big)
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for PolicySize: 6144")
    with pytest.raises(ClientError) as exc:
        iam.get_user_policy(UserName="dave", PolicyName="missing")
    assert error(exc) == ("NoSuchEntity", 404, "The user policy with name missing cannot be found.")


def test_access_keys(iam):
    iam.create_user(UserName="erin")
    k1 = iam.create_access_key(UserName="erin")["AccessKey"]
    assert k1["AccessKeyId"].startswith("AKIA") and len(k1["AccessKeyId"]) == 20
    assert len(k1["SecretAccessKey"]) == 40
    assert k1["Status"] == "Active"
    iam.create_access_key(UserName="erin")
    with pytest.raises(ClientError) as exc:
        iam.create_access_key(UserName="erin")
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for AccessKeysPerUser: 2")
    iam.update_access_key(UserName="erin", AccessKeyId=k1["AccessKeyId"], Status="Inactive")
    statuses = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="erin")["AccessKeyMetadata"]}
    assert statuses[k1["AccessKeyId"]] == "Inactive"
    last = iam.get_access_key_last_used(AccessKeyId=k1["AccessKeyId"])
    assert last["UserName"] == "erin"
    assert last["AccessKeyLastUsed"] == {"ServiceName": "N/A", "Region": "N/A"}
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="erin")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete access keys first.")


def test_login_profile_and_instance_profile(iam):
    iam.create_user(UserName="fay")
    profile = iam.create_login_profile(UserName="fay", Password="correct horse 1", PasswordResetRequired=True)
    assert profile["LoginProfile"]["PasswordResetRequired"] is True
    with pytest.raises(ClientError) as exc:
        iam.create_login_profile(UserName="fay", Password="another one 2")
    assert error(exc)[0] == "EntityAlreadyExists"
    iam.create_role(RoleName="ec2", AssumeRolePolicyDocument=TRUST_ACCOUNT)
    ip = iam.create_instance_profile(InstanceProfileName="ip")["InstanceProfile"]
    assert ip["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/ip"
    iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="ec2")
    assert [r["RoleName"] for r in iam.get_instance_profile(InstanceProfileName="ip")["InstanceProfile"]["Roles"]] == ["ec2"]
    with pytest.raises(ClientError) as exc:
        iam.delete_role(RoleName="ec2")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must remove roles from instance profile first.")


def test_account_alias_and_summary(iam):
    iam.create_account_alias(AccountAlias="my-corp")
    assert iam.list_account_aliases()["AccountAliases"] == ["my-corp"]
    iam.create_user(UserName="g1")
    summary = iam.get_account_summary()["SummaryMap"]
    assert summary["Users"] == 1
    assert summary["UsersQuota"] == 5000
    assert summary["AccessKeysPerUserQuota"] == 2


def test_authorization_details_and_credential_report(iam):
    iam.create_user(UserName="h1")
    iam.put_user_policy(UserName="h1", PolicyName="inl", PolicyDocument=ALLOW_ALL)
    details = iam.get_account_authorization_details(Filter=["User"])
    user = details["UserDetailList"][0]
    assert user["UserName"] == "h1"
    assert user["UserPolicyList"][0]["PolicyName"] == "inl"
    assert iam.generate_credential_report()["State"] == "STARTED"
    assert iam.generate_credential_report()["State"] == "COMPLETE"
    report = iam.get_credential_report()
    lines = report["Content"].decode().splitlines()
    assert lines[0].startswith("user,arn,user_creation_time,password_enabled")
    assert lines[1].startswith(f"<root_account>,arn:aws:iam::{ACCOUNT}:root,")
    assert lines[2].startswith(f"h1,arn:aws:iam::{ACCOUNT}:user/h1,")


def test_service_linked_role(iam):
    role = iam.create_service_linked_role(AWSServiceName="elasticbeanstalk.amazonaws.com")["Role"]
    assert role["RoleName"] == "AWSServiceRoleForElasticbeanstalk"
    assert role["Path"] == "/aws-service-role/elasticbeanstalk.amazonaws.com/"
    task = iam.delete_service_linked_role(RoleName=role["RoleName"])["DeletionTaskId"]
    assert iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"


def test_policy_documents_are_url_encoded_on_the_wire(cloudlet):
    from tests.http import send

    iam = cloudlet.client("iam")
    iam.create_role(RoleName="enc", AssumeRolePolicyDocument=TRUST_ACCOUNT)
    resp = send(cloudlet.endpoint, "POST", "/", body=b"Action=GetRole&Version=2010-05-08&RoleName=enc",
                headers={"Content-Type": "application/x-www-form-urlencoded"}, service="iam")
    body = resp.body.decode()
    start = body.index("<AssumeRolePolicyDocument>") + len("<AssumeRolePolicyDocument>")
    encoded = body[start:body.index("</AssumeRolePolicyDocument>")]
    assert "%22Version%22" in encoded
    assert json.loads(unquote(encoded)) == json.loads(TRUST_ACCOUNT)
