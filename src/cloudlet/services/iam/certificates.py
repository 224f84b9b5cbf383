"""Certificates and keys IAM keeps for others to use: server certificates
(for load balancers and CloudFront), users' X.509 signing certificates, and
users' SSH public keys (for CodeCommit). Each is parsed as IAM parses it
(a body it cannot read is refused with IAM's code), counted against IAM's
quotas, and listed with IAM's metadata (a server certificate's Expiration
is its notAfter; an SSH key's Fingerprint the MD5 of its key blob)."""

from __future__ import annotations

import base64
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cloudlet.errors import AwsError
from cloudlet.services.iam.util import (
    already_exists, iam_arn, invalid_input, limit_exceeded, new_id, no_such_entity, paginate, path_matches,
)

MAX_SERVER_CERTIFICATES = 20
MAX_SIGNING_CERTIFICATES = 2
MAX_SSH_KEYS = 5
_PEM_ERROR = "Unable to parse certificate. Please ensure the certificate is in PEM format."


def _certificate(body: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(body.strip().encode())
    except ValueError:
        raise AwsError("MalformedCertificate", _PEM_ERROR) from None


def _status(status: str) -> str:
    if status not in ("Active", "Inactive"):
        raise invalid_input("Invalid status. Status must be Active or Inactive.")
    return status


def _ssh_key(body: str) -> rsa.RSAPublicKey:
    """An SSH public key in OpenSSH or PEM form: RSA, 2048 to 16384 bits."""
    text = body.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            key = serialization.load_ssh_public_key(text.encode())
    except (ValueError, TypeError):
        raise AwsError("InvalidPublicKey", "The public key is malformed or otherwise invalid.") from None
    except Exception:  # an encoding cryptography does not know
        raise AwsError("UnrecognizedPublicKeyEncoding", "The public key encoding format is unsupported or "
                                                        "unrecognized.") from None
    if not isinstance(key, rsa.RSAPublicKey) or not 2048 <= key.key_size <= 16384:
        raise AwsError("InvalidPublicKey", "The public key must be RSA with a bit length from 2048 to 16384.")
    return key


def _ssh_blob(key: rsa.RSAPublicKey) -> bytes:
    openssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(openssh.split()[1])


class CertificateOps:
    """Mixed into IamService."""

    # -- server certificates ----------------------------------------------------

    def _server_cert_row(self, account: str, name: str):
        row = self.storage.one("SELECT name, id, path, arn, body, chain, uploaded, expires FROM "
                               "iam_server_certificates WHERE account = ? AND name = ?", (account, name))
        if row is None:
            raise no_such_entity(f"The Server Certificate with name {name} cannot be found.")
        return row

    @staticmethod
    def _server_cert_metadata(row) -> dict:
        name, cid, path, arn, _, _, uploaded, expires = row
        return {"Path": path, "ServerCertificateName": name, "ServerCertificateId": cid, "Arn": arn,
                "UploadDate": uploaded, "Expiration": expires}

    def UploadServerCertificate(self, ctx, params):
        account = ctx.account_id
        name = params["ServerCertificateName"]
        path = params.get("Path") or "/"
        body = params["CertificateBody"]
        cert = _certificate(body)
        try:
            key = serialization.load_pem_private_key(params["PrivateKey"].strip().encode(), password=None)
        except (ValueError, TypeError):
            raise AwsError("MalformedCertificate", "Unable to parse private key. Please ensure the private key is in "
                                                   "PEM format.") from None
        public = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
                cert.public_key().public_bytes(serialization.Encoding.DER, public):
            raise AwsError("KeyPairMismatch", "The private key does not match the public key in the certificate.")
        chain = params.get("CertificateChain")
        if chain:
            try:
                x509.load_pem_x509_certificates(chain.strip().encode())
            except ValueError:
                raise AwsError("MalformedCertificate", "Unable to parse certificate chain. Please ensure the "
                                                       "certificate chain is in PEM format.") from None
        arn = iam_arn(account, "server-certificate", path, name)
        with self.storage.tx():
            if self.storage.one("SELECT 1 FROM iam_server_certificates WHERE account = ? AND name = ?",
                                (account, name)):
                raise already_exists(f"The Server Certificate with name {name} already exists.")
            if self.storage.scalar("SELECT COUNT(*) FROM iam_server_certificates WHERE account = ?",
                                   (account,)) >= MAX_SERVER_CERTIFICATES:
                raise limit_exceeded(f"Cannot exceed quota for ServerCertificatesPerAccount: "
                                     f"{MAX_SERVER_CERTIFICATES}")
            self.storage.execute(
                "INSERT INTO iam_server_certificates (account, name, id, path, arn, body, chain, uploaded, expires) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (account, name, new_id("ASCA"), path, arn, body, chain, self._now(),
                 int(cert.not_valid_after_utc.timestamp())))
            self._put_tags(account, "server-certificate", name, params.get("Tags"))
        out = {"ServerCertificateMetadata": self._server_cert_metadata(self._server_cert_row(account, name))}
        tags = self._tags(account, "server-certificate", name)
        if tags:
            out["Tags"] = tags
        return out

    def GetServerCertificate(self, ctx, params):
        account = ctx.account_id
        row = self._server_cert_row(account, params["ServerCertificateName"])
        certificate = {"ServerCertificateMetadata": self._server_cert_metadata(row), "CertificateBody": row[4]}
        if row[5]:
            certificate["CertificateChain"] = row[5]
        tags = self._tags(account, "server-certificate", row[0])
        if tags:
            certificate["Tags"] = tags
        return {"ServerCertificate": certificate}

    def ListServerCertificates(self, ctx, params):
        prefix = params.get("PathPrefix") or "/"
        rows = self.storage.all("SELECT name, id, path, arn, body, chain, uploaded, expires FROM "
                                "iam_server_certificates WHERE account = ? ORDER BY name COLLATE NOCASE",
                                (ctx.account_id,))
        items = [self._server_cert_metadata(r) for r in rows if path_matches(r[2], prefix)]
        _, out = paginate(items, params, "ServerCertificateMetadataList")
        return out

    def UpdateServerCertificate(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name, _, path, _, _, _, _, _ = self._server_cert_row(account, params["ServerCertificateName"])
            new_name = params.get("NewServerCertificateName") or name
            new_path = params.get("NewPath") or path
            if new_name.lower() != name.lower() and self.storage.one(
                    "SELECT 1 FROM iam_server_certificates WHERE account = ? AND name = ?", (account, new_name)):
                raise already_exists(f"The Server Certificate with name {new_name} already exists.")
            self.storage.execute("UPDATE iam_server_certificates SET name = ?, path = ?, arn = ? "
                                 "WHERE account = ? AND name = ?",
                                 (new_name, new_path, iam_arn(account, "server-certificate", new_path, new_name),
                                  account, name))
            self.storage.execute("UPDATE iam_tags SET entity = ? WHERE account = ? AND kind = 'server-certificate' "
                                 "AND entity = ?", (new_name, account, name))
        return {}

    def DeleteServerCertificate(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            name = self._server_cert_row(account, params["ServerCertificateName"])[0]
            self.storage.execute("DELETE FROM iam_server_certificates WHERE account = ? AND name = ?",
                                 (account, name))
            self._drop_tags(account, "server-certificate", name)
        return {}

    def TagServerCertificate(self, ctx, params):
        with self.storage.tx():
            name = self._server_cert_row(ctx.account_id, params["ServerCertificateName"])[0]
            self._put_tags(ctx.account_id, "server-certificate", name, params["Tags"])
        return {}

    def UntagServerCertificate(self, ctx, params):
        with self.storage.tx():
            name = self._server_cert_row(ctx.account_id, params["ServerCertificateName"])[0]
            self._untag(ctx.account_id, "server-certificate", name, params["TagKeys"])
        return {}

    def ListServerCertificateTags(self, ctx, params):
        name = self._server_cert_row(ctx.account_id, params["ServerCertificateName"])[0]
        return self._list_tags(params, ctx.account_id, "server-certificate", name)

    # -- signing certificates ----------------------------------------------------

    def _signing_owner(self, ctx, params) -> str | None:
        """The user a call names, else the calling user; None for the root
        user's own certificates."""
        if params.get("UserName"):
            return self._user_row(ctx.account_id, params["UserName"])[0]
        principal = ctx.principal
        return principal.name if principal.type == "IAMUser" else None

    def _signing_out(self, row, user: str | None, account: str) -> dict:
        cid, body, status, uploaded = row
        return {"UserName": user or account, "CertificateId": cid, "CertificateBody": body, "Status": status,
                "UploadDate": uploaded}

    def UploadSigningCertificate(self, ctx, params):
        account = ctx.account_id
        body = params["CertificateBody"]
        cert = _certificate(body)
        now = self.clock.now()
        if not cert.not_valid_before_utc.timestamp() <= now < cert.not_valid_after_utc.timestamp():
            raise AwsError("MalformedCertificate", "The certificate is not currently valid.")
        # IAM names a signing certificate by its fingerprint.
        cid = base64.b32encode(hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).digest()).decode()
        with self.storage.tx():
            user = self._signing_owner(ctx, params)
            existing = self.storage.one("SELECT user_name FROM iam_signing_certificates WHERE account = ? AND id = ?",
                                        (account, cid))
            if existing is not None:
                if (existing[0] or "").lower() != (user or "").lower():
                    raise AwsError("DuplicateCertificate", "The same certificate is already associated with another "
                                                           "user in this account.", 409)
            elif self.storage.scalar("SELECT COUNT(*) FROM iam_signing_certificates WHERE account = ? "
                                     "AND user_name IS ?", (account, user)) >= MAX_SIGNING_CERTIFICATES:
                raise limit_exceeded(f"Cannot exceed quota for CertificatesPerUser: {MAX_SIGNING_CERTIFICATES}")
            else:
                self.storage.execute(
                    "INSERT INTO iam_signing_certificates (account, id, user_name, body, status, uploaded) "
                    "VALUES (?, ?, ?, ?, 'Active', ?)", (account, cid, user, body, self._now()))
            row = self.storage.one("SELECT id, body, status, uploaded FROM iam_signing_certificates "
                                   "WHERE account = ? AND id = ?", (account, cid))
        return {"Certificate": self._signing_out(row, user, account)}

    def _signing_row(self, ctx, params):
        user = self._signing_owner(ctx, params)
        row = self.storage.one("SELECT id, body, status, uploaded FROM iam_signing_certificates WHERE account = ? "
                               "AND id = ? AND user_name IS ?", (ctx.account_id, params["CertificateId"], user))
        if row is None:
            raise no_such_entity(f"The Certificate with id {params['CertificateId']} cannot be found.")
        return row

    def ListSigningCertificates(self, ctx, params):
        user = self._signing_owner(ctx, params)
        rows = self.storage.all("SELECT id, body, status, uploaded FROM iam_signing_certificates WHERE account = ? "
                                "AND user_name IS ? ORDER BY uploaded, rowid", (ctx.account_id, user))
        _, out = paginate([self._signing_out(r, user, ctx.account_id) for r in rows], params, "Certificates")
        return out

    def UpdateSigningCertificate(self, ctx, params):
        with self.storage.tx():
            cid = self._signing_row(ctx, params)[0]
            self.storage.execute("UPDATE iam_signing_certificates SET status = ? WHERE account = ? AND id = ?",
                                 (_status(params["Status"]), ctx.account_id, cid))
        return {}

    def DeleteSigningCertificate(self, ctx, params):
        with self.storage.tx():
            cid = self._signing_row(ctx, params)[0]
            self.storage.execute("DELETE FROM iam_signing_certificates WHERE account = ? AND id = ?",
                                 (ctx.account_id, cid))
        return {}

    # -- SSH public keys ----------------------------------------------------------

    def UploadSSHPublicKey(self, ctx, params):
        account = ctx.account_id
        body = params["SSHPublicKeyBody"]
        blob = _ssh_blob(_ssh_key(body))
        fingerprint = ":".join(f"{b:02x}" for b in hashlib.md5(blob, usedforsecurity=False).digest())
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            if self.storage.one("SELECT 1 FROM iam_ssh_keys WHERE account = ? AND user_name = ? AND fingerprint = ?",
                                (account, user, fingerprint)):
                raise AwsError("DuplicateSSHPublicKey", "The SSH public key is already associated with this user.")
            if self.storage.scalar("SELECT COUNT(*) FROM iam_ssh_keys WHERE account = ? AND user_name = ?",
                                   (account, user)) >= MAX_SSH_KEYS:
                raise limit_exceeded(f"Cannot exceed quota for SSHPublicKeysPerUser: {MAX_SSH_KEYS}")
            key_id = new_id("APKA", 20)
            self.storage.execute(
                "INSERT INTO iam_ssh_keys (account, id, user_name, body, fingerprint, status, uploaded) "
                "VALUES (?, ?, ?, ?, ?, 'Active', ?)", (account, key_id, user, body, fingerprint, self._now()))
        return {"SSHPublicKey": self._ssh_out(self._ssh_row(account, user, key_id), "SSH")}

    def _ssh_row(self, account: str, user: str, key_id: str):
        row = self.storage.one("SELECT user_name, id, fingerprint, body, status, uploaded FROM iam_ssh_keys "
                               "WHERE account = ? AND user_name = ? AND id = ?", (account, user, key_id))
        if row is None:
            raise no_such_entity(f"The Public Key with id {key_id} cannot be found.")
        return row

    @staticmethod
    def _ssh_out(row, encoding: str) -> dict:
        user, key_id, fingerprint, body, status, uploaded = row
        if encoding == "PEM":
            body = _ssh_key(body).public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        else:
            body = _ssh_key(body).public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
        return {"UserName": user, "SSHPublicKeyId": key_id, "Fingerprint": fingerprint, "SSHPublicKeyBody": body,
                "Status": status, "UploadDate": uploaded}

    def GetSSHPublicKey(self, ctx, params):
        user = self._user_row(ctx.account_id, params["UserName"])[0]
        return {"SSHPublicKey": self._ssh_out(self._ssh_row(ctx.account_id, user, params["SSHPublicKeyId"]),
                                              params["Encoding"])}

    def ListSSHPublicKeys(self, ctx, params):
        account = ctx.account_id
        if params.get("UserName"):
            user = self._user_row(account, params["UserName"])[0]
        else:
            user = ctx.principal.name if ctx.principal.type == "IAMUser" else None
        rows = self.storage.all("SELECT user_name, id, status, uploaded FROM iam_ssh_keys WHERE account = ? "
                                "AND user_name = ? ORDER BY uploaded, rowid", (account, user)) if user else []
        _, out = paginate([{"UserName": u, "SSHPublicKeyId": i, "Status": s, "UploadDate": d}
                           for u, i, s, d in rows], params, "SSHPublicKeys")
        return out

    def UpdateSSHPublicKey(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            key_id = self._ssh_row(account, user, params["SSHPublicKeyId"])[1]
            self.storage.execute("UPDATE iam_ssh_keys SET status = ? WHERE account = ? AND id = ?",
                                 (_status(params["Status"]), account, key_id))
        return {}

    def DeleteSSHPublicKey(self, ctx, params):
        account = ctx.account_id
        with self.storage.tx():
            user = self._user_row(account, params["UserName"])[0]
            key_id = self._ssh_row(account, user, params["SSHPublicKeyId"])[1]
            self.storage.execute("DELETE FROM iam_ssh_keys WHERE account = ? AND id = ?", (account, key_id))
        return {}
