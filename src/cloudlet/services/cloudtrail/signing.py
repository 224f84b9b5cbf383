"""CloudTrail's digest signing keys: one RSA 2048 key pair per region at a
time, rotated every ROTATION seconds of clock time; old keys are kept so
digests they signed stay verifiable (ListPublicKeys).

Private keys are sealed (AES-GCM) under a master key kept in the data
directory (`cloudtrail-master.key`), as KMS seals key material.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ROTATION = 30 * 86400
MASTER_KEY_FILE = "cloudtrail-master.key"
ALGORITHM = "SHA256withRSA"


class SigningKeys:
    def __init__(self, cloud):
        self.cloud = cloud
        self.storage = cloud.storage
        self._master = None
        self._private: dict = {}  # fingerprint -> private key object

    @property
    def master(self):
        if self._master is None:
            from cloudlet.services.kms.crypto import load_or_create_master_key

            self._master = load_or_create_master_key(os.path.join(self.cloud.data_dir, MASTER_KEY_FILE))
        return self._master

    def current(self, region: str, now: float) -> tuple[str, object]:
        """(fingerprint, private key) of the region's key valid at `now`,
        made first when there is none (the previous one has expired)."""
        row = self.storage.one("SELECT fingerprint, private FROM cloudtrail_signing_keys WHERE region = ? AND "
                               "valid_from <= ? AND valid_to > ? ORDER BY valid_from DESC LIMIT 1",
                               (region, now, now))
        if row is not None:
            fingerprint = row[0]
            key = self._private.get(fingerprint)
            if key is None:
                der = self.master.open(row[1], f"cloudtrail\n{region}\n{fingerprint}".encode())
                key = self._private[fingerprint] = serialization.load_der_private_key(der, None)
            return fingerprint, key
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
        fingerprint = hashlib.md5(public).hexdigest()
        private = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        sealed = self.master.seal(private, f"cloudtrail\n{region}\n{fingerprint}".encode())
        with self.storage.tx():
            self.storage.execute(
                "INSERT INTO cloudtrail_signing_keys (region, fingerprint, valid_from, valid_to, public, private) "
                "VALUES (?, ?, ?, ?, ?, ?)", (region, fingerprint, now, now + ROTATION, public, sealed))
        self._private[fingerprint] = key
        return fingerprint, key

    def public_keys(self, region: str, start: float, end: float) -> list[tuple]:
        """(DER public key, valid from, valid to, fingerprint) of the keys
        valid at some time in [start, end], oldest first."""
        return self.storage.all("SELECT public, valid_from, valid_to, fingerprint FROM cloudtrail_signing_keys "
                                "WHERE region = ? AND valid_from <= ? AND valid_to >= ? ORDER BY valid_from",
                                (region, end, start))

    def forget(self) -> None:
        self._private.clear()


def sign(key, data: bytes) -> str:
    """SHA256withRSA (PKCS #1 v1.5), hex."""
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256()).hex()
