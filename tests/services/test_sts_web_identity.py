"""AssumeRoleWithWebIdentity: an OIDC provider registered in IAM, a token
signed by a key the test publishes, the role's trust policy conditions."""

from __future__ import annotations

import base64
import json

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.http import send

ISSUER = "https://oidc.example.com/tenant"
HOST_PATH = "oidc.example.com/tenant"
ACCOUNT = "000000000000"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwks(key) -> dict:
    numbers = key.public_key().public_numbers()
    return {"keys": [{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
                      "n": b64(numbers.n.to_bytes(256, "big")), "e": b64(numbers.e.to_bytes(3, "big"))}]}


def token(key, **claims) -> str:
    header = b64(json.dumps({"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{b64(signature)}"


@pytest.fixture
def provider(cloudlet, signing_key):
    iam = cloudlet.client("iam")
    arn = iam.create_open_id_connect_provider(Url=ISSUER, ClientIDList=["my-app"],
                                              ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{HOST_PATH}"
    resp = send(cloudlet.endpoint, "POST", "/_cloudlet/sts/jwks",
                body=json.dumps({"issuer": ISSUER, "jwks": jwks(signing_key)}).encode())
    assert resp.status == 200
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{HOST_PATH}:aud": "my-app", f"{HOST_PATH}:sub": "user-1"}}}]}
    iam.create_role(RoleName="web", AssumeRolePolicyDocument=json.dumps(trust))
    return arn


def assume(cloudlet, tok):
    sts = cloudlet.client("sts")
    return sts.assume_role_with_web_identity(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/web", RoleSessionName="web1",
                                             WebIdentityToken=tok)


def test_valid_token(cloudlet, provider, signing_key):
    now = int(cloudlet.clock.now())
    out = assume(cloudlet, token(signing_key, iss=ISSUER, aud="my-app", sub="user-1", exp=now + 600, iat=now))
    assert out["SubjectFromWebIdentityToken"] == "user-1"
    assert out["Audience"] == "my-app"
    assert out["Provider"] == HOST_PATH
    assert out["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/web/web1"
    creds = out["Credentials"]
    ident = cloudlet.client("sts", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                            session_token=creds["SessionToken"]).get_caller_identity()
    assert ident["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/web/web1"


def test_trust_condition_on_subject(cloudlet, provider, signing_key):
    now = int(cloudlet.clock.now())
    with pytest.raises(ClientError) as exc:
        assume(cloudlet, token(signing_key, iss=ISSUER, aud="my-app", sub="user-2", exp=now + 600))
    assert exc.value.response["Error"]["Code"] == "AccessDenied"


def test_bad_signature(cloudlet, provider):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(cloudlet.clock.now())
    with pytest.raises(ClientError) as exc:
        assume(cloudlet, token(other, iss=ISSUER, aud="my-app", sub="user-1", exp=now + 600))
    assert exc.value.response["Error"]["Code"] == "InvalidIdentityToken"


def test_wrong_audience_and_expired(cloudlet, provider, signing_key):
    now = int(cloudlet.clock.now())
    with pytest.raises(ClientError) as exc:
        assume(cloudlet, token(signing_key, iss=ISSUER, aud="other-app", sub="user-1", exp=now + 600))
    assert exc.value.response["Error"] == {"Type": "Sender", "Code": "InvalidIdentityToken",
                                           "Message": "Incorrect token audience"}
    with pytest.raises(ClientError) as exc:
        assume(cloudlet, token(signing_key, iss=ISSUER, aud="my-app", sub="user-1", exp=now - 1))
    assert exc.value.response["Error"]["Code"] == "ExpiredTokenException"


def test_unknown_provider(cloudlet, signing_key):
    cloudlet.client("iam").create_role(RoleName="web", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"},
                                               "Action": "sts:AssumeRoleWithWebIdentity"}]}))
    with pytest.raises(ClientError) as exc:
        assume(cloudlet, token(signing_key, iss="https://nobody.example.com", aud="a", sub="s"))
    assert exc.value.response["Error"]["Message"] == ("No OpenIDConnect provider found in your account for "
                                                      "https://nobody.example.com")
