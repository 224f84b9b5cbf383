"""IAM enforcement end to end: real users, keys, roles and policies against a
running server; every denial is AWS's error with AWS's message."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

ACCOUNT = "000000000000"


def doc(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra):
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra):
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def error(exc) -> tuple[str, int, str]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Message"]


def user_with(cloudlet, name: str, policy: str | None = None, *, admin_iam=None, managed: list[str] = (),
              boundary: str | None = None, account_key: str = "test"):
    """Create a user (inline policy / managed policies / boundary) and
    return (its IAM client factory, its ARN)."""
    iam = admin_iam or cloudlet.client("iam", access_key=account_key)
    user = iam.create_user(UserName=name, **({"PermissionsBoundary": boundary} if boundary else {}))["User"]
    if policy:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy)
    for arn in managed:
        iam.attach_user_policy(UserName=name, PolicyArn=arn)
    key = iam.create_access_key(UserName=name)["AccessKey"]

    def client(service, **kw):
        return cloudlet.client(service, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"], **kw)
    client.key = key
    return client, user["Arn"]


def test_allowed_action_only(cloudlet):
    me, arn = user_with(cloudlet, "limited", doc(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/limited")))
    iam = me("iam")
    assert iam.get_user(UserName="limited")["User"]["Arn"] == arn
    assert me("sts").get_caller_identity()["Arn"] == arn
    with pytest.raises(ClientError) as exc:
        iam.list_users()
    assert error(exc) == ("AccessDenied", 403,
                          f"User: {arn} is not authorized to perform: iam:ListUsers on resource: "
                          f"arn:aws:iam::{ACCOUNT}:user/ because no identity-based policy allows the iam:ListUsers action")
    cloudlet.client("iam").create_user(UserName="other")
    with pytest.raises(ClientError) as exc:
        iam.get_user(UserName="other")
    assert error(exc)[0] == "AccessDenied"


def test_explicit_deny_beats_allow(cloudlet):
    me, arn = user_with(cloudlet, "admin1", doc(deny("iam:CreateUser")),
                        managed=["arn:aws:iam::aws:policy/AdministratorAccess"])
    iam = me("iam")
    iam.list_users()
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="x")
    assert error(exc) == ("AccessDenied", 403,
                          f"User: {arn} is not authorized to perform: iam:CreateUser on resource: "
                          f"arn:aws:iam::{ACCOUNT}:user/x with an explicit deny in an identity-based policy")


def test_permissions_boundary_caps_an_admin(cloudlet):
    admin = cloudlet.client("iam")
    boundary = admin.create_policy(PolicyName="read-only-boundary",
                                   PolicyDocument=doc(allow(["iam:Get*", "iam:List*"])))["Policy"]["Arn"]
    me, arn = user_with(cloudlet, "capped", managed=["arn:aws:iam::aws:policy/AdministratorAccess"],
                        boundary=boundary, admin_iam=admin)
    iam = me("iam")
    assert [u["UserName"] for u in iam.list_users()["Users"]] == ["capped"]
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="y")
    assert error(exc) == ("AccessDenied", 403,
                          f"User: {arn} is not authorized to perform: iam:CreateUser on resource: "
                          f"arn:aws:iam::{ACCOUNT}:user/y because no permissions boundary allows the iam:CreateUser action")


def _role(cloudlet, name: str, trust: dict, *, account_key: str = "test", policy: str | None = None, **kw):
    iam = cloudlet.client("iam", access_key=account_key)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), **kw)["Role"]
    if policy:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy)
    return role["Arn"]


def test_assume_role_honours_trust_policy_and_external_id(cloudlet):
    me, user_arn = user_with(cloudlet, "assumer", doc(allow("sts:AssumeRole")))
    role_arn = _role(cloudlet, "ext", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": "s3cret"}}}]}, policy=doc(allow("iam:ListRoles")))
    sts = me("sts")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert error(exc)[:2] == ("AccessDenied", 403)
    assert error(exc)[2].startswith(f"User: {user_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
    with pytest.raises(ClientError) as exc:
        sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="wrong")
    assert error(exc)[0] == "AccessDenied"
    out = sts.assume_role(RoleArn=role_arn, RoleSessionName="s1", ExternalId="s3cret")
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ext/s1"
    session = dict(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                   session_token=creds["SessionToken"])
    ident = cloudlet.client("sts", **session).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ext/s1"
    assert ident["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    role_iam = cloudlet.client("iam", **session)
    assert [r["RoleName"] for r in role_iam.list_roles()["Roles"]] == ["ext"]
    with pytest.raises(ClientError) as exc:
        role_iam.list_users()
    assert error(exc)[2] == (f"User: arn:aws:sts::{ACCOUNT}:assumed-role/ext/s1 is not authorized to perform: "
                             f"iam:ListUsers on resource: arn:aws:iam::{ACCOUNT}:user/ because no identity-based "
                             f"policy allows the iam:ListUsers action")


def test_session_credentials_expire_with_the_clock(cloudlet):
    cloudlet.clock.freeze()
    me, user_arn = user_with(cloudlet, "clocked", doc(allow("sts:AssumeRole")))
    role_arn = _role(cloudlet, "short", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]})
    creds = me("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=900)["Credentials"]
    sts = cloudlet.client("sts", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                          session_token=creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"].endswith("assumed-role/short/s1")
    cloudlet.clock.advance(899)
    sts.get_caller_identity()
    cloudlet.clock.advance(1)
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error(exc) == ("ExpiredToken", 403, "The security token included in the request is expired")


def test_root_cannot_assume_roles(cloudlet):
    role_arn = _role(cloudlet, "r", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    with pytest.raises(ClientError) as exc:
        cloudlet.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert error(exc) == ("AccessDenied", 403, "Roles may not be assumed by root accounts.")


def test_duration_limited_by_max_session(cloudlet):
    me, user_arn = user_with(cloudlet, "d", doc(allow("sts:AssumeRole")))
    role_arn = _role(cloudlet, "dur", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]})
    with pytest.raises(ClientError) as exc:
        me("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=7200)
    assert error(exc) == ("ValidationError", 400,
                          "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")


def test_cross_account_needs_both_sides(cloudlet):
    a, b = "111111111111", "222222222222"
    role_arn = _role(cloudlet, "shared", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{a}:root"}, "Action": "sts:AssumeRole"}]},
        account_key=b)
    assert role_arn == f"arn:aws:iam::{b}:role/shared"
    without, arn1 = user_with(cloudlet, "no-policy", account_key=a)
    with pytest.raises(ClientError) as exc:
        without("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1")
    assert error(exc) == ("AccessDenied", 403,
                          f"User: {arn1} is not authorized to perform: sts:AssumeRole on resource: {role_arn} "
                          f"because no identity-based policy allows the sts:AssumeRole action")
    with_policy, _ = user_with(cloudlet, "with-policy", doc(allow("sts:AssumeRole", role_arn)), account_key=a)
    out = with_policy("sts").assume_role(RoleArn=role_arn, RoleSessionName="x1")
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{b}:assumed-role/shared/x1"
    # A trust policy that does not name the other account refuses it whatever it allows itself.
    other = _role(cloudlet, "closed", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{b}:root"}, "Action": "sts:AssumeRole"}]},
        account_key=b)
    with pytest.raises(ClientError) as exc:
        with_policy("sts").assume_role(RoleArn=other, RoleSessionName="x1")
    assert error(exc)[0] == "AccessDenied"


def test_source_ip_condition(cloudlet):
    me, arn = user_with(cloudlet, "ip", doc(
        allow("iam:ListUsers", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow("iam:ListGroups", Condition={"IpAddress": {"aws:SourceIp": ["127.0.0.0/8", "::1/128"]}})))
    iam = me("iam")
    iam.list_groups()
    with pytest.raises(ClientError) as exc:
        iam.list_users()
    assert error(exc)[0] == "AccessDenied"


def test_request_tag_condition(cloudlet):
    me, arn = user_with(cloudlet, "tagger", doc(
        allow(["iam:CreateUser", "iam:TagUser"], Condition={"StringEquals": {"aws:RequestTag/team": "core"}})))
    iam = me("iam")
    iam.create_user(UserName="tagged", Tags=[{"Key": "team", "Value": "core"}])
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="untagged")
    assert error(exc)[0] == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        iam.create_user(UserName="wrong", Tags=[{"Key": "team", "Value": "ops"}])
    assert error(exc)[0] == "AccessDenied"


def test_inactive_and_deleted_keys(cloudlet):
    me, arn = user_with(cloudlet, "keys", doc(allow("iam:*")))
    admin = cloudlet.client("iam")
    sts = me("sts")
    sts.get_caller_identity()
    admin.update_access_key(UserName="keys", AccessKeyId=me.key["AccessKeyId"], Status="Inactive")
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error(exc) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")
    admin.delete_access_key(UserName="keys", AccessKeyId=me.key["AccessKeyId"])
    with pytest.raises(ClientError) as exc:
        sts.get_caller_identity()
    assert error(exc) == ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")


def test_wrong_secret_is_signature_mismatch(cloudlet):
    me, arn = user_with(cloudlet, "sig", doc(allow("iam:*")))
    bad = cloudlet.client("sts", access_key=me.key["AccessKeyId"], secret_key="x" * 40)
    with pytest.raises(ClientError) as exc:
        bad.get_caller_identity()
    code, status, message = error(exc)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert message.startswith("The request signature we calculated does not match the signature you provided.")


def test_get_session_token_and_federation(cloudlet):
    me, arn = user_with(cloudlet, "fed", doc(allow(["iam:ListUsers", "iam:ListGroups", "sts:GetFederationToken"])))
    creds = me("sts").get_session_token(DurationSeconds=900)["Credentials"]
    session_iam = cloudlet.client("iam", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                                  session_token=creds["SessionToken"])
    session_iam.list_users()
    out = me("sts").get_federation_token(Name="guest", Policy=doc(allow("iam:ListUsers")))
    assert out["FederatedUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:federated-user/guest"
    fed = out["Credentials"]
    fed_iam = cloudlet.client("iam", access_key=fed["AccessKeyId"], secret_key=fed["SecretAccessKey"],
                              session_token=fed["SessionToken"])
    fed_iam.list_users()
    with pytest.raises(ClientError) as exc:
        fed_iam.list_groups()  # the user may, the session policy does not
    assert error(exc)[2].endswith("because no session policy allows the iam:ListGroups action")


def test_soft_mode_allows_and_off_mode_skips(tmp_path):
    from cloudlet.testing import CloudletServer

    for mode in ("soft", "off"):
        with CloudletServer(str(tmp_path / mode), iam_mode=mode) as server:
            me, _ = user_with(server, "nobody")
            assert me("iam").list_users()["Users"][0]["UserName"] == "nobody"


def test_session_tags_need_tag_session_and_travel_transitively(cloudlet):
    me, user_arn = user_with(cloudlet, "tags", doc(allow(["sts:AssumeRole", "sts:TagSession"])))
    plain = _role(cloudlet, "no-tags", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]})
    with pytest.raises(ClientError) as exc:
        me("sts").assume_role(RoleArn=plain, RoleSessionName="s1", Tags=[{"Key": "team", "Value": "core"}])
    assert error(exc)[2].startswith(f"User: {user_arn} is not authorized to perform: sts:TagSession on resource: {plain}")
    chain_policy = doc(allow(["sts:AssumeRole", "sts:TagSession", "iam:ListUsers"],
                             Condition={"StringEquals": {"aws:PrincipalTag/team": "core"}}))
    tagging = _role(cloudlet, "tagging", {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": ["sts:AssumeRole", "sts:TagSession"]}]}, policy=chain_policy)
    out = me("sts").assume_role(RoleArn=tagging, RoleSessionName="s1", Tags=[{"Key": "team", "Value": "core"}],
                                TransitiveTagKeys=["team"])
    assert out["PackedPolicySize"] >= 1
    creds = out["Credentials"]
    session = dict(access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                   session_token=creds["SessionToken"])
    cloudlet.client("iam", **session).list_users()  # aws:PrincipalTag/team comes from the session tag
    chained = cloudlet.client("sts", **session).assume_role(RoleArn=tagging, RoleSessionName="s2")["Credentials"]
    cloudlet.client("iam", access_key=chained["AccessKeyId"], secret_key=chained["SecretAccessKey"],
                    session_token=chained["SessionToken"]).list_users()  # the transitive tag came along
    with pytest.raises(ClientError) as exc:
        cloudlet.client("sts", **session).assume_role(RoleArn=tagging, RoleSessionName="s3", DurationSeconds=7200)
    assert error(exc)[2] == ("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by "
                             "role chaining.")


def test_soft_mode_logs_a_decodable_message(tmp_path, caplog):
    import logging
    import re

    from cloudlet.testing import CloudletServer

    with CloudletServer(str(tmp_path), iam_mode="soft") as server:
        me, arn = user_with(server, "soft-user")
        with caplog.at_level(logging.WARNING, logger="cloudlet.iam"):
            me("iam").list_roles()
        line = next(r.getMessage() for r in caplog.records if "would deny" in r.getMessage())
        assert f"{arn} iam:ListRoles" in line
        encoded = re.search(r"Encoded authorization failure message: (\S+)", line).group(1)
        decoded = json.loads(server.client("sts").decode_authorization_message(EncodedMessage=encoded)[
            "DecodedMessage"])
        assert decoded["allowed"] is False and decoded["explicitDeny"] is False
        assert decoded["context"]["action"] == "iam:ListRoles"
        assert decoded["context"]["principal"]["arn"] == arn
        with pytest.raises(ClientError) as exc:
            server.client("sts").decode_authorization_message(EncodedMessage="not-a-message")
        assert error(exc)[0] == "InvalidAuthorizationMessageException"
