"""IAM server certificates, signing certificates and SSH public keys:
bodies parsed as IAM parses them, quotas, metadata, and what DeleteUser
and the credential report make of them."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.services.test_iam_enforcement import error

ACCOUNT = "000000000000"
NOW = dt.datetime(2030, 6, 1, 12, tzinfo=dt.timezone.utc)


def certificate(key=None, days: int = 365, common_name: str = "example.com", since: int = 1) -> tuple[str, str]:
    """(certificate PEM, private key PEM), self-signed, valid from `since`
    days before NOW to `days` days after it."""
    key = key or rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - dt.timedelta(days=since))
            .not_valid_after(NOW + dt.timedelta(days=days)).sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                            serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem.decode()


def ssh_key(bits: int = 2048) -> tuple[str, bytes]:
    """(OpenSSH line, the key blob)."""
    key = rsa.generate_private_key(65537, bits).public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return line + " me@laptop", base64.b64decode(line.split()[1])


@pytest.fixture
def iam(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    return cloudlet.client("iam")


def test_server_certificates(iam):
    body, key = certificate(days=90)
    chain, _ = certificate(common_name="Example CA")
    out = iam.upload_server_certificate(ServerCertificateName="web", Path="/cloudfront/", CertificateBody=body,
                                        PrivateKey=key, CertificateChain=chain, Tags=[{"Key": "k", "Value": "v"}])
    meta = out["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/cloudfront/web"
    assert meta["ServerCertificateId"].startswith("ASCA") and len(meta["ServerCertificateId"]) == 21
    assert meta["Expiration"] == NOW + dt.timedelta(days=90)
    assert meta["UploadDate"] == NOW and out["Tags"] == [{"Key": "k", "Value": "v"}]
    got = iam.get_server_certificate(ServerCertificateName="web")["ServerCertificate"]
    assert (got["CertificateBody"], got["CertificateChain"], got["ServerCertificateMetadata"]) == (body, chain, meta)
    assert [m["ServerCertificateName"] for m in
            iam.list_server_certificates(PathPrefix="/cloudfront/")["ServerCertificateMetadataList"]] == ["web"]
    assert iam.list_server_certificates(PathPrefix="/elb/")["ServerCertificateMetadataList"] == []

    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="web", CertificateBody=body, PrivateKey=key)
    assert error(exc) == ("EntityAlreadyExists", 409, "The Server Certificate with name web already exists.")
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="bad", CertificateBody="not pem", PrivateKey=key)
    assert error(exc) == ("MalformedCertificate", 400, "Unable to parse certificate. Please ensure the certificate "
                                                        "is in PEM format.")
    other_body, _ = certificate()
    with pytest.raises(ClientError) as exc:
        iam.upload_server_certificate(ServerCertificateName="bad", CertificateBody=other_body, PrivateKey=key)
    assert error(exc)[:2] == ("KeyPairMismatch", 400)

    iam.update_server_certificate(ServerCertificateName="web", NewServerCertificateName="site", NewPath="/elb/")
    meta = iam.get_server_certificate(ServerCertificateName="site")["ServerCertificate"]["ServerCertificateMetadata"]
    assert meta["Arn"] == f"arn:aws:iam::{ACCOUNT}:server-certificate/elb/site"
    assert iam.list_server_certificate_tags(ServerCertificateName="site")["Tags"] == [{"Key": "k", "Value": "v"}]
    assert iam.get_account_summary()["SummaryMap"]["ServerCertificates"] == 1
    iam.delete_server_certificate(ServerCertificateName="site")
    with pytest.raises(ClientError) as exc:
        iam.get_server_certificate(ServerCertificateName="site")
    assert error(exc) == ("NoSuchEntity", 404, "The Server Certificate with name site cannot be found.")


def test_signing_certificates(iam):
    iam.create_user(UserName="erin")
    body, _ = certificate()
    cert = iam.upload_signing_certificate(UserName="erin", CertificateBody=body)["Certificate"]
    der = x509.load_pem_x509_certificate(body.encode()).public_bytes(serialization.Encoding.DER)
    assert cert["CertificateId"] == base64.b32encode(hashlib.sha1(der).digest()).decode()
    assert (cert["UserName"], cert["Status"], cert["CertificateBody"], cert["UploadDate"]) == \
        ("erin", "Active", body, NOW)
    # the same certificate again: the same answer; for another user: refused
    assert iam.upload_signing_certificate(UserName="erin", CertificateBody=body)["Certificate"] == cert
    iam.create_user(UserName="frank")
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="frank", CertificateBody=body)
    assert error(exc) == ("DuplicateCertificate", 409, "The same certificate is already associated with another "
                                                        "user in this account.")
    iam.upload_signing_certificate(UserName="erin", CertificateBody=certificate()[0])
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="erin", CertificateBody=certificate()[0])
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for CertificatesPerUser: 2")
    expired, _ = certificate(days=-2, since=10)
    with pytest.raises(ClientError) as exc:
        iam.upload_signing_certificate(UserName="frank", CertificateBody=expired)
    assert error(exc) == ("MalformedCertificate", 400, "The certificate is not currently valid.")

    iam.update_signing_certificate(UserName="erin", CertificateId=cert["CertificateId"], Status="Inactive")
    listed = iam.list_signing_certificates(UserName="erin")["Certificates"]
    assert [(c["CertificateId"], c["Status"]) for c in listed][0] == (cert["CertificateId"], "Inactive")
    iam.generate_credential_report()
    report = {r["user"]: r for r in csv.DictReader(io.StringIO(iam.get_credential_report()["Content"].decode()))}
    assert (report["erin"]["cert_1_active"], report["erin"]["cert_2_active"]) == ("false", "true")
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="erin")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete signing certificates first.")
    for c in listed:
        iam.delete_signing_certificate(UserName="erin", CertificateId=c["CertificateId"])
    with pytest.raises(ClientError) as exc:
        iam.delete_signing_certificate(UserName="erin", CertificateId=cert["CertificateId"])
    assert error(exc) == ("NoSuchEntity", 404, f"The Certificate with id {cert['CertificateId']} cannot be found.")
    iam.delete_user(UserName="erin")


def test_ssh_public_keys(iam):
    iam.create_user(UserName="gina")
    line, blob = ssh_key()
    key = iam.upload_ssh_public_key(UserName="gina", SSHPublicKeyBody=line)["SSHPublicKey"]
    assert key["SSHPublicKeyId"].startswith("APKA") and len(key["SSHPublicKeyId"]) == 20
    assert key["Fingerprint"] == ":".join(f"{b:02x}" for b in hashlib.md5(blob).digest())
    assert (key["UserName"], key["Status"], key["SSHPublicKeyBody"]) == ("gina", "Active", line.rsplit(" ", 1)[0])
    pem = iam.get_ssh_public_key(UserName="gina", SSHPublicKeyId=key["SSHPublicKeyId"],
                                 Encoding="PEM")["SSHPublicKey"]["SSHPublicKeyBody"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="gina", SSHPublicKeyBody=line)
    assert error(exc) == ("DuplicateSSHPublicKey", 400, "The SSH public key is already associated with this user.")
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="gina", SSHPublicKeyBody="ssh-rsa AAAAnotakey")
    assert error(exc) == ("InvalidPublicKey", 400, "The public key is malformed or otherwise invalid.")
    small = rsa.generate_private_key(65537, 1024).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    ecdsa = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    for body in (small, ecdsa):
        with pytest.raises(ClientError) as exc:
            iam.upload_ssh_public_key(UserName="gina", SSHPublicKeyBody=body)
        assert error(exc) == ("InvalidPublicKey", 400, "The public key must be RSA with a bit length from 2048 to "
                                                        "16384.")
    for _ in range(4):
        iam.upload_ssh_public_key(UserName="gina", SSHPublicKeyBody=ssh_key()[0])
    with pytest.raises(ClientError) as exc:
        iam.upload_ssh_public_key(UserName="gina", SSHPublicKeyBody=ssh_key()[0])
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for SSHPublicKeysPerUser: 5")

    iam.update_ssh_public_key(UserName="gina", SSHPublicKeyId=key["SSHPublicKeyId"], Status="Inactive")
    listed = iam.list_ssh_public_keys(UserName="gina")["SSHPublicKeys"]
    assert len(listed) == 5 and listed[0] == {"UserName": "gina", "SSHPublicKeyId": key["SSHPublicKeyId"],
                                              "Status": "Inactive", "UploadDate": NOW}
    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="gina")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete SSH public keys first.")
    for k in listed:
        iam.delete_ssh_public_key(UserName="gina", SSHPublicKeyId=k["SSHPublicKeyId"])
    with pytest.raises(ClientError) as exc:
        iam.get_ssh_public_key(UserName="gina", SSHPublicKeyId=key["SSHPublicKeyId"], Encoding="SSH")
    assert error(exc) == ("NoSuchEntity", 404, f"The Public Key with id {key['SSHPublicKeyId']} cannot be found.")
    iam.delete_user(UserName="gina")


def test_service_specific_credentials(cloudlet, iam):
    iam.create_user(UserName="hana")
    made = iam.create_service_specific_credential(UserName="hana", ServiceName="codecommit.amazonaws.com")[
        "ServiceSpecificCredential"]
    assert made["ServiceSpecificCredentialId"].startswith("ACCA") and len(made["ServiceSpecificCredentialId"]) == 21
    assert (made["ServiceUserName"], made["UserName"], made["Status"], made["CreateDate"]) == \
        (f"hana-at-{ACCOUNT}", "hana", "Active", NOW)
    assert len(made["ServicePassword"]) == 44
    [listed] = iam.list_service_specific_credentials(UserName="hana")["ServiceSpecificCredentials"]
    assert "ServicePassword" not in listed and listed["ServiceUserName"] == made["ServiceUserName"]
    reset = iam.reset_service_specific_credential(UserName="hana", ServiceSpecificCredentialId=made[
        "ServiceSpecificCredentialId"])["ServiceSpecificCredential"]
    assert reset["ServicePassword"] != made["ServicePassword"]
    iam.create_service_specific_credential(UserName="hana", ServiceName="codecommit.amazonaws.com")
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName="hana", ServiceName="codecommit.amazonaws.com")
    assert error(exc) == ("LimitExceeded", 409, "Cannot exceed quota for ServiceSpecificCredentialsPerUserPerService: "
                                                "2")
    with pytest.raises(ClientError) as exc:
        iam.create_service_specific_credential(UserName="hana", ServiceName="s3.amazonaws.com")
    assert error(exc) == ("NotSupportedService", 404, "No such service s3.amazonaws.com is supported for Service "
                                                      "Specific Credentials")

    # A Bedrock API key: an alias and a secret, expiring by the clock.
    key = iam.create_service_specific_credential(UserName="hana", ServiceName="bedrock.amazonaws.com",
                                                 CredentialAgeDays=30)["ServiceSpecificCredential"]
    assert key["ServiceCredentialAlias"].startswith("BedrockAPIKey-") and key["ServiceCredentialSecret"].startswith(
        "ABSK")
    assert key["ExpirationDate"] == NOW + dt.timedelta(days=30) and "ServiceUserName" not in key
    cloudlet.clock.advance(30 * 86_400)
    [bedrock] = iam.list_service_specific_credentials(UserName="hana", ServiceName="bedrock.amazonaws.com")[
        "ServiceSpecificCredentials"]
    assert bedrock["Status"] == "Expired"

    with pytest.raises(ClientError) as exc:
        iam.delete_user(UserName="hana")
    assert error(exc) == ("DeleteConflict", 409, "Cannot delete entity, must delete service specific credentials "
                                                  "first.")
    for c in iam.list_service_specific_credentials(UserName="hana")["ServiceSpecificCredentials"]:
        iam.delete_service_specific_credential(UserName="hana", ServiceSpecificCredentialId=c[
            "ServiceSpecificCredentialId"])
    iam.delete_user(UserName="hana")
