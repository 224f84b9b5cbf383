"""Signatures on the messages SNS sends to HTTP/S endpoints.

SNS signs every Notification, SubscriptionConfirmation and
UnsubscribeConfirmation it POSTs, and names in `SigningCertURL` the X.509
certificate whose public key verifies the signature. cloudlet holds one RSA
2048 key and a self-signed certificate (CN sns.amazonaws.com) per database,
created on first use and kept in `_meta` as PEM text, so a signature stays
valid across restarts; the caller serves `certificate_pem()` at the URL it
puts in `SigningCertURL`.

The string to sign is AWS's (Amazon SNS Developer Guide, "Verifying the
signatures of Amazon SNS messages"): for each name the message type calls for,
in byte order, the name, a newline, the value, a newline.

    Notification:             Message, MessageId, Subject (only if present),
                              Timestamp, TopicArn, Type
    SubscriptionConfirmation,
    UnsubscribeConfirmation:  Message, MessageId, SubscribeURL, Timestamp,
                              Token, TopicArn, Type

The string is UTF-8 encoded and signed with RSA PKCS#1 v1.5: SHA1withRSA for
SignatureVersion "1", SHA256withRSA for "2" (the topic's SignatureVersion
attribute). `SigningCertURL`, `UnsubscribeURL`, `SignatureVersion` and
`Signature` are not signed.
"""

from __future__ import annotations

import base64
import binascii
import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

KEY_META = "sns.signing-key"            # PKCS#8 PEM of the RSA private key
CERTIFICATE_META = "sns.signing-certificate"  # PEM of the self-signed certificate

COMMON_NAME = "sns.amazonaws.com"
# A fixed window, far from any time a real or virtual clock will show.
_NOT_BEFORE = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)
_NOT_AFTER = datetime.datetime(2099, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)

_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
SIGNED_KEYS = {
    "Notification": _NOTIFICATION_KEYS,
    "SubscriptionConfirmation": _CONFIRMATION_KEYS,
    "UnsubscribeConfirmation": _CONFIRMATION_KEYS,
}
_OPTIONAL = frozenset({"Subject"})
# Every name some message type signs. Validators that sign whatever of these
# a message carries (AWS's PHP validator does) see the same string as the
# documented per-type rule only when a message carries none of the others.
_ALL_SIGNABLE = frozenset(_NOTIFICATION_KEYS) | frozenset(_CONFIRMATION_KEYS)

_HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}


def string_to_sign(message: dict) -> str:
    """AWS's canonical string for `message` (see the module docstring).

    Raises ValueError for an unknown Type or a missing required name, and
    TypeError for a value that is not a string."""
    kind = message.get("Type")
    keys = SIGNED_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        raise ValueError(f"no SNS string to sign for message Type {kind!r}")
    parts = []
    for key in keys:  # already in byte order
        value = message.get(key)
        if value is None:
            if key in _OPTIONAL:
                continue
            raise ValueError(f"{kind} message has no {key}")
        if not isinstance(value, str):
            raise TypeError(f"{key} must be a string, not {type(value).__name__}")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts)


def _hash(version) -> hashes.HashAlgorithm:
    try:
        return _HASHES[version]()
    except (KeyError, TypeError):
        raise ValueError(f"unsupported SignatureVersion {version!r} (SNS has '1' and '2')") from None


class Signer:
    """The key and certificate cloudlet signs SNS messages with."""

    def __init__(self, storage):
        self.storage = storage
        key_pem, cert_pem = storage.get_meta(KEY_META), storage.get_meta(CERTIFICATE_META)
        if key_pem is None or cert_pem is None:
            key_pem, cert_pem = self._create()
        self._key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
        self._cert_pem = cert_pem.encode("ascii")

    def _create(self) -> tuple[str, str]:
        # Generated outside the unit (RSA generation takes a moment), stored
        # inside it after a second look: a node that shares the database and
        # got there first wins, and both then sign with the same key.
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode("ascii")
        cert_pem = _self_signed(key).public_bytes(serialization.Encoding.PEM).decode("ascii")
        with self.storage.tx():
            stored_key = self.storage.get_meta(KEY_META)
            stored_cert = self.storage.get_meta(CERTIFICATE_META)
            if stored_key is not None and stored_cert is not None:
                return stored_key, stored_cert
            self.storage.set_meta(KEY_META, key_pem)
            self.storage.set_meta(CERTIFICATE_META, cert_pem)
        return key_pem, cert_pem

    def certificate_pem(self) -> bytes:
        """The certificate to serve at SigningCertURL (PEM)."""
        return self._cert_pem

    def sign(self, message: dict, version: str = "1") -> dict:
        """A copy of `message` with SignatureVersion and Signature added.

        SignatureVersion and Signature go right after Timestamp, where SNS
        puts them; everything else keeps its place, so a SigningCertURL or
        UnsubscribeURL already in the message stays after them (one added
        later goes at the end: neither is signed). A Subject that is None
        or empty is dropped, as SNS leaves out a Subject not given: the
        validators disagree on whether an empty one is signed. A message
        carrying a signable name its Type does not sign (a Token on a
        Notification, a Subject on a confirmation) is refused, since
        validators that sign every such name present would disagree."""
        algorithm = _hash(version)
        body = {k: v for k, v in message.items() if k not in ("SignatureVersion", "Signature")}
        if "Subject" in body and body["Subject"] in (None, ""):
            del body["Subject"]
        keys = SIGNED_KEYS.get(body.get("Type"), ()) if isinstance(body.get("Type"), str) else ()
        stray = sorted(k for k in body if k in _ALL_SIGNABLE and k not in keys) if keys else []
        if stray:
            raise ValueError(f"a {body['Type']} message does not carry {', '.join(stray)}")
        data = string_to_sign(body).encode("utf-8")
        signature = base64.b64encode(self._key.sign(data, padding.PKCS1v15(), algorithm)).decode("ascii")
        signed = {}
        for key, value in body.items():
            signed[key] = value
            if key == "Timestamp":
                signed["SignatureVersion"] = version
                signed["Signature"] = signature
        return signed


def verify(message: dict, certificate_pem: bytes) -> bool:
    """What a subscriber does once it holds the certificate: True when the
    message's Signature is valid for its SignatureVersion under the
    certificate's public key."""
    try:
        algorithm = _hash(message.get("SignatureVersion"))
        data = string_to_sign(message).encode("utf-8")
        signature = base64.b64decode(message["Signature"], validate=True)
        public_key = x509.load_pem_x509_certificate(certificate_pem).public_key()
        if not isinstance(public_key, rsa.RSAPublicKey):
            return False
        public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        return True
    except (InvalidSignature, ValueError, TypeError, KeyError, UnicodeError, binascii.Error):
        return False


def _self_signed(key: rsa.RSAPrivateKey) -> x509.Certificate:
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cloudlet"),
    ])
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(COMMON_NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
