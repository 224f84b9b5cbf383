"""SAML identity providers: their metadata documents (parsed, as IAM
refuses one it cannot read), the private keys that decrypt encrypted
assertions (at most 2; AssertionEncryptionMode Required needs one), tags,
and AWS's words for each refusal. A provider is valid for a hundred years
from its creation, as IAM sets ValidUntil.

(AssumeRoleWithSAML, which would use them, is not built yet.)
"""

from __future__ import annotations

import base64
import datetime
import xml.etree.ElementTree as ElementTree

import orjson

from cloudlet.services.iam.util import already_exists, iam_arn, invalid_input, limit_exceeded, new_id, no_such_entity

MAX_PROVIDERS = 100
MAX_KEYS = 2
_REQUIRED_WITHOUT_KEY = "Unable to set assertion encryption mode to Required because no private key is provided."
_COLUMNS = "name, arn, uuid, metadata, encryption, keys, created, extra"


def _valid_until(created: int) -> int:
    """A hundred years after `created`, the same day and time (February
    29th becoming the 28th)."""
    moment = datetime.datetime.fromtimestamp(created, datetime.UTC)
    try:
        later = moment.replace(year=moment.year + 100)
    except ValueError:
        later = moment.replace(year=moment.year + 100, day=28)
    return int(later.timestamp())


def _check_metadata(document: str) -> None:
    """An IdP's SAML metadata: an EntityDescriptor naming its entityID,
    with an IDPSSODescriptor."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        root = None
    ok = (root is not None and root.tag.rsplit("}", 1)[-1] == "EntityDescriptor" and root.get("entityID")
          and any(child.tag.rsplit("}", 1)[-1] == "IDPSSODescriptor" for child in root))
    if not ok:
        raise invalid_input("Could not parse metadata")


def _private_key_der(pem: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise invalid_input("Invalid private key: Key format is not recognized.") from None
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class SamlOps:
    """Mixed into IamService."""

    def _saml_row(self, account: str, arn: str):
        prefix = f"arn:aws:iam::{account}:saml-provider/"
        row = None
        if arn.lower().startswith(prefix.lower()):
            row = self.storage.one(f"SELECT {_COLUMNS} FROM iam_saml_providers WHERE account = ? AND name = ?",
                                   (account, arn[len(prefix):]))
        if row is None:
            raise no_such_entity(f"Manifest not found for arn {arn}")
        return row

    def _new_saml_key(self, pem: str) -> dict:
        der = _private_key_der(pem)
        return {"KeyId": new_id("SAML", 22), "Timestamp": self._now(), "der": base64.b64encode(der).decode()}

    def CreateSAMLProvider(self, ctx, params):
        account = ctx.account_id
        name = params["Name"]
        document = params["SAMLMetadataDocument"]
        _check_metadata(document)
        encryption = params.get("AssertionEncryptionMode")
        if encryption == "Required" and not params.get("AddPrivateKey"):
            raise invalid_input(_REQUIRED_WITHOUT_KEY)
        keys = [self._new_saml_key(params["AddPrivateKey"])] if params.get("AddPrivateKey") else []
        extra = {k: params[k] for k in ("ContextProvider", "IdentityCenterInstanceArn") if params.get(k)}
        arn = iam_arn(account, "saml-provider/", "", name)
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_saml_providers WHERE account = ? AND name = ?", (account, name)):
                raise already_exists(f"SAMLProvider {name} already exists.")
            if self.storage.scalar("SELECT COUNT(*) FROM iam_saml_providers WHERE account = ?",
                                   (account,)) >= MAX_PROVIDERS:
                raise limit_exceeded(f"Cannot exceed quota for SAMLProvidersPerAccount: {MAX_PROVIDERS}")
            self.storage.execute(
                f"INSERT INTO iam_saml_providers (account, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, name, arn, new_id("SAML", 22), document, encryption, orjson.dumps(keys).decode(),
                 self._now(), orjson.dumps(extra).decode()))
            self._put_tags(account, "saml-provider", arn, params.get("Tags"))
        out = {"SAMLProviderArn": arn}
        tags = self._tags(account, "saml-provider", arn)
        if tags:
            out["Tags"] = tags
        return out

    def GetSAMLProvider(self, ctx, params):
        account = ctx.account_id
        _, arn, uuid, document, encryption, keys, created, extra = self._saml_row(account, params["SAMLProviderArn"])
        out = {"SAMLProviderUUID": uuid, "SAMLMetadataDocument": document, "CreateDate": created,
               "ValidUntil": _valid_until(created)}
        tags = self._tags(account, "saml-provider", arn)
        if tags:
            out["Tags"] = tags
        if encryption:
            out["AssertionEncryptionMode"] = encryption
        keys = orjson.loads(keys)
        if keys:
            out["PrivateKeyList"] = [{"KeyId": k["KeyId"], "Timestamp": k["Timestamp"]} for k in keys]
        out.update(orjson.loads(extra))
        return out

    def ListSAMLProviders(self, ctx, params):
        rows = self.storage.all("SELECT arn, created FROM iam_saml_providers WHERE account = ? "
                                "ORDER BY lower(arn)", (ctx.account_id,))
        return {"SAMLProviderList": [{"Arn": arn, "ValidUntil": _valid_until(created), "CreateDate": created}
                                     for arn, created in rows]}

    def UpdateSAMLProvider(self, ctx, params):
        account = ctx.account_id
        document, add, remove = params.get("SAMLMetadataDocument"), params.get("AddPrivateKey"), \
            params.get("RemovePrivateKey")
        mode = params.get("AssertionEncryptionMode")
        changes_extra = any(params.get(k) for k in ("ContextProvider", "IdentityCenterInstanceArn",
                                                    "RemoveContextProvider", "RemoveIdentityCenterInstance"))
        if document is None and mode is None and add is None and remove is None and not changes_extra:
            raise invalid_input("Unable to update identity provider. No updates are defined for metadata or "
                                "encryption assertion.")
        if add is not None and remove is not None:
            raise invalid_input("Unable to add and remove private keys in the same request. Set a value for only "
                                "one of the two parameters.")
        if document is not None:
            _check_metadata(document)
        with self.storage.tx():
            name, arn, _, current_doc, encryption, keys, _, extra = self._saml_row(account, params["SAMLProviderArn"])
            keys = orjson.loads(keys)
            extra = orjson.loads(extra)
            if mode is not None:
                encryption = mode
            if add is not None:
                if len(keys) >= MAX_KEYS:
                    raise limit_exceeded(f"Private key limit of {MAX_KEYS} is reached.")
                keys.append(self._new_saml_key(add))
            if remove is not None:
                at = next((i for i, k in enumerate(keys) if k["KeyId"] == remove), None)
                if at is None:
                    raise invalid_input("Failed to remove private key because the Key ID does not match a private "
                                        "key.")
                if len(keys) == 1 and encryption == "Required":
                    raise invalid_input("Failed to remove private key.")
                keys.pop(at)
            if encryption == "Required" and not keys:
                raise invalid_input(_REQUIRED_WITHOUT_KEY)
            for key in ("ContextProvider", "IdentityCenterInstanceArn"):
                if params.get(key):
                    extra[key] = params[key]
            if params.get("RemoveContextProvider"):
                extra.pop("ContextProvider", None)
            if params.get("RemoveIdentityCenterInstance"):
                extra.pop("IdentityCenterInstanceArn", None)
            self.storage.execute(
                "UPDATE iam_saml_providers SET metadata = ?, encryption = ?, keys = ?, extra = ? "
                "WHERE account = ? AND name = ?",
                (document if document is not None else current_doc, encryption, orjson.dumps(keys).decode(),
                 orjson.dumps(extra).decode(), account, name))
        return {"SAMLProviderArn": arn}

    def DeleteSAMLProvider(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name, arn = self._saml_row(account, params["SAMLProviderArn"])[:2]
            self.storage.execute("DELETE FROM iam_saml_providers WHERE account = ? AND name = ?", (account, name))
            self._drop_tags(account, "saml-provider", arn)
        return {}

    def TagSAMLProvider(self, ctx, params):
        with self.storage.tx():
            arn = self._saml_row(ctx.account_id, params["SAMLProviderArn"])[1]
            self._put_tags(ctx.account_id, "saml-provider", arn, params["Tags"])
        return {}

    def UntagSAMLProvider(self, ctx, params):
        with self.storage.tx():
            arn = self._saml_row(ctx.account_id, params["SAMLProviderArn"])[1]
            self._untag(ctx.account_id, "saml-provider", arn, params["TagKeys"])
        return {}

    def ListSAMLProviderTags(self, ctx, params):
        arn = self._saml_row(ctx.account_id, params["SAMLProviderArn"])[1]
        return self._list_tags(params, ctx.account_id, "saml-provider", arn)

