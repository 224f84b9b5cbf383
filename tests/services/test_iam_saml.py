"""IAM SAML identity providers: metadata checked, private keys for
encrypted assertions, a hundred years of validity, tags, and AWS's words
for each refusal."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.services.test_iam_enforcement import error

ACCOUNT = "000000000000"
METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.com/saml">'
    '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
    '<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data>'
    f'<ds:X509Certificate>{"MIIC" + "A" * 900}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>'
    '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
    'Location="https://idp.example.com/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>')


def private_key() -> str:
    key = rsa.generate_private_key(65537, 2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def iam(cloudlet):
    cloudlet.clock.set("2030-06-01T12:00:00Z")
    return cloudlet.client("iam")


def test_a_provider_is_made_read_listed_changed_and_deleted(iam):
    out = iam.create_saml_provider(Name="Okta", SAMLMetadataDocument=METADATA, Tags=[{"Key": "team", "Value": "a"}])
    arn = f"arn:aws:iam::{ACCOUNT}:saml-provider/Okta"
    assert (out["SAMLProviderArn"], out["Tags"]) == (arn, [{"Key": "team", "Value": "a"}])
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["SAMLMetadataDocument"] == METADATA
    assert len(got["SAMLProviderUUID"]) == 22 and got["SAMLProviderUUID"].startswith("SAML")
    assert got["CreateDate"] == dt.datetime(2030, 6, 1, 12, tzinfo=dt.timezone.utc)
    assert got["ValidUntil"] == dt.datetime(2130, 6, 1, 12, tzinfo=dt.timezone.utc)
    assert "AssertionEncryptionMode" not in got and "PrivateKeyList" not in got
    assert iam.get_saml_provider(SAMLProviderArn=arn.replace("Okta", "OKTA"))["SAMLProviderUUID"] == \
        got["SAMLProviderUUID"]  # names are unique without case
    assert iam.list_saml_providers()["SAMLProviderList"] == [
        {"Arn": arn, "ValidUntil": got["ValidUntil"], "CreateDate": got["CreateDate"]}]
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="OKTA", SAMLMetadataDocument=METADATA)
    assert error(exc) == ("EntityAlreadyExists", 409, "SAMLProvider OKTA already exists.")

    other = METADATA.replace("idp.example.com", "other.example.com")
    assert iam.update_saml_provider(SAMLProviderArn=arn, SAMLMetadataDocument=other)["SAMLProviderArn"] == arn
    assert iam.get_saml_provider(SAMLProviderArn=arn)["SAMLMetadataDocument"] == other
    iam.tag_saml_provider(SAMLProviderArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    iam.untag_saml_provider(SAMLProviderArn=arn, TagKeys=["TEAM"])
    assert iam.list_saml_provider_tags(SAMLProviderArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert iam.get_account_summary()["SummaryMap"]["Providers"] == 1

    iam.delete_saml_provider(SAMLProviderArn=arn)
    for call in (iam.get_saml_provider, iam.delete_saml_provider):
        with pytest.raises(ClientError) as exc:
            call(SAMLProviderArn=arn)
        assert error(exc) == ("NoSuchEntity", 404, f"Manifest not found for arn {arn}")


def test_private_keys_for_encrypted_assertions(iam):
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="p", SAMLMetadataDocument=METADATA, AssertionEncryptionMode="Required")
    assert error(exc) == ("InvalidInput", 400, "Unable to set assertion encryption mode to Required because no "
                                                "private key is provided.")
    with pytest.raises(ClientError) as exc:
        iam.create_saml_provider(Name="p", SAMLMetadataDocument=METADATA, AddPrivateKey="not a key")
    assert error(exc) == ("InvalidInput", 400, "Invalid private key: Key format is not recognized.")
    arn = iam.create_saml_provider(Name="p", SAMLMetadataDocument=METADATA, AssertionEncryptionMode="Required",
                                   AddPrivateKey=private_key())["SAMLProviderArn"]
    iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=private_key())
    with pytest.raises(ClientError) as exc:
        iam.update_saml_provider(SAMLProviderArn=arn, AddPrivateKey=private_key())
    assert error(exc) == ("LimitExceeded", 409, "Private key limit of 2 is reached.")
    got = iam.get_saml_provider(SAMLProviderArn=arn)
    assert got["AssertionEncryptionMode"] == "Required"
    first, second = (k["KeyId"] for k in got["PrivateKeyList"])
    assert len(first) == 22 and first != second
    assert "PRIVATE KEY" not in str(got)  # never shown again

    refusals = [
        ({}, "Unable to update identity provider. No updates are defined for metadata or encryption assertion."),
        ({"AddPrivateKey": private_key(), "RemovePrivateKey": first},
         "Unable to add and remove private keys in the same request. Set a value for only one of the two "
         "parameters."),
        ({"RemovePrivateKey": "SAML" + "A" * 18},
         "Failed to remove private key because the Key ID does not match a private key."),
    ]
    for extra, message in refusals:
        with pytest.raises(ClientError) as exc:
            iam.update_saml_provider(SAMLProviderArn=arn, **extra)
        assert error(exc) == ("InvalidInput", 400, message)
    iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey=first)
    with pytest.raises(ClientError) as exc:  # the last key, while assertions must be encrypted
        iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey=second)
    assert error(exc) == ("InvalidInput", 400, "Failed to remove private key.")
    iam.update_saml_provider(SAMLProviderArn=arn, AssertionEncryptionMode="Allowed")
    iam.update_saml_provider(SAMLProviderArn=arn, RemovePrivateKey=second)
    assert "PrivateKeyList" not in iam.get_saml_provider(SAMLProviderArn=arn)


def test_metadata_iam_cannot_read_is_refused(iam):
    for document in (f"<a>{'x' * 1000}</a>", "<not xml" + "x" * 1000,
                     METADATA.replace("IDPSSODescriptor", "SPSSODescriptor")):
        with pytest.raises(ClientError) as exc:
            iam.create_saml_provider(Name="p", SAMLMetadataDocument=document)
        assert error(exc) == ("InvalidInput", 400, "Could not parse metadata")
    assert iam.list_saml_providers()["SAMLProviderList"] == []
