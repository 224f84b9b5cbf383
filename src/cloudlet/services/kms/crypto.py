"""The cryptographic core of KMS: key specs, key material, ciphertext blobs,
signatures, MACs, key agreement, key encapsulation, key import, and the
master key that seals key material at rest.

Pure functions over bytes: no storage, no clock, no I/O (except
`load_or_create_master_key`, which reads or creates the master key file).
Everything uses the `cryptography` package.

Key material as stored (what `generate_material` returns, what `seal` takes):

    SYMMETRIC_DEFAULT   32 random bytes (an AES-256 key)
    HMAC_224..HMAC_512  28 / 32 / 48 / 64 random bytes
    RSA_*, ECC_*        the private key, PKCS#8 DER (unencrypted)
    ML_DSA_*, ML_KEM_*  the private key, PKCS#8 DER in the IETF "seed"
                        form (32 / 64 bytes of seed), as AWS's data key
                        pairs hold ML-KEM keys

ML-KEM-512 and Ed25519ph (ED25519_PH_SHA_512) are not in `cryptography`:
they come from pure_mlkem.py and pure_ed25519.py.

Facts from the KMS Developer Guide ("Key spec reference", "Asymmetric key
specs", "HMAC keys in AWS KMS", "Importing key material") and the API
Reference (DescribeKey's examples give the order of the algorithm lists).
Errors carry the AWS error code the provider raises (`error.code`) and a
message close to AWS's where it is known.
"""

from __future__ import annotations

import functools
import hmac as _hmac
import os
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.exceptions import InvalidTag
from cryptography.exceptions import UnsupportedAlgorithm as _CryptoUnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, keywrap, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, mldsa, mlkem, padding, rsa, utils
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cloudlet.services.kms import pure_ed25519, pure_mlkem

# -- errors ------------------------------------------------------------------


class KmsCryptoError(Exception):
    """Base of this module's errors; `code` is the AWS error code."""

    code = "KMSInternalException"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class InvalidCiphertext(KmsCryptoError):
    """The ciphertext (or its encryption context) is corrupt, or was made
    under other key material; ImportKeyMaterial's wrapped material could
    not be decrypted. AWS sends this with an empty message."""

    code = "InvalidCiphertextException"


class IncorrectKey(KmsCryptoError):
    """Decrypt named a KeyId other than the one the ciphertext was made
    under."""

    code = "IncorrectKeyException"

    def __init__(self, message: str = "") -> None:
        super().__init__(message or "The key ID in the request does not identify a CMK that can perform this "
                                    "operation.")


class InvalidSignature(KmsCryptoError):
    """For callers that prefer raising to `verify`'s bool."""

    code = "KMSInvalidSignatureException"


class InvalidMac(KmsCryptoError):
    """For callers that prefer raising to `verify_mac`'s bool."""

    code = "KMSInvalidMacException"


class ValidationError(KmsCryptoError, ValueError):
    """A bad input: the provider answers ValidationException."""

    code = "ValidationException"


class UnsupportedAlgorithm(KmsCryptoError, ValueError):
    """The algorithm (or operation) does not go with the key's spec or usage.
    The provider answers InvalidKeyUsageException; a spec cloudlet does not
    build (SM2) is a ValidationException (`UnsupportedSpec`)."""

    code = "InvalidKeyUsageException"


class UnsupportedSpec(ValidationError):
    """A key spec / key pair spec / wrapping key spec cloudlet cannot make."""


class PlaintextTooLong(ValidationError):
    """RSAES_OAEP plaintext over the key's limit."""


class InvalidDigestLength(ValidationError):
    """MessageType DIGEST with a message that is not one digest long (or
    EXTERNAL_MU with one that is not 64 bytes)."""


class InvalidMessageType(ValidationError):
    """A MessageType the key's signing algorithm does not take (Ed25519's
    two algorithms each take one; ML-DSA takes RAW and EXTERNAL_MU)."""


class InvalidPublicKey(ValidationError):
    """DeriveSharedSecret's PublicKey is not an SPKI key on the key's curve."""


class InvalidKeyMaterial(ValidationError):
    """Imported key material that does not fit the key spec."""


class SealedDataError(KmsCryptoError):
    """A sealed blob that the master key cannot open (wrong master key,
    wrong associated data, or corruption): an internal failure."""


# -- key specs, usages and algorithms ----------------------------------------

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
RSA_2048, RSA_3072, RSA_4096 = "RSA_2048", "RSA_3072", "RSA_4096"
ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521 = "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521"
ECC_SECG_P256K1 = "ECC_SECG_P256K1"
ECC_NIST_EDWARDS25519 = "ECC_NIST_EDWARDS25519"
ML_DSA_44, ML_DSA_65, ML_DSA_87 = "ML_DSA_44", "ML_DSA_65", "ML_DSA_87"
ML_KEM_512, ML_KEM_768, ML_KEM_1024 = "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024"
HMAC_224, HMAC_256, HMAC_384, HMAC_512 = "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"
SM2 = "SM2"

ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"
ENCAPSULATE_DECAPSULATE = "ENCAPSULATE_DECAPSULATE"

RSA_SPECS = (RSA_2048, RSA_3072, RSA_4096)
ECC_SPECS = (ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1)
HMAC_SPECS = (HMAC_224, HMAC_256, HMAC_384, HMAC_512)
ML_DSA_SPECS = (ML_DSA_44, ML_DSA_65, ML_DSA_87)
ML_KEM_SPECS = (ML_KEM_512, ML_KEM_768, ML_KEM_1024)
KEY_SPECS = (SYMMETRIC_DEFAULT, *RSA_SPECS, *ECC_SPECS, ECC_NIST_EDWARDS25519, *HMAC_SPECS, *ML_DSA_SPECS,
             *ML_KEM_SPECS)
# In botocore's model but not built here: SM2 (China Regions only).
UNSUPPORTED_KEY_SPECS = ("SM2",)

RSA_BITS = {RSA_2048: 2048, RSA_3072: 3072, RSA_4096: 4096}
_CURVES: dict[str, type[ec.EllipticCurve]] = {
    ECC_NIST_P256: ec.SECP256R1, ECC_NIST_P384: ec.SECP384R1, ECC_NIST_P521: ec.SECP521R1,
    ECC_SECG_P256K1: ec.SECP256K1}
_CURVE_SPEC = {cls.name: spec for spec, cls in _CURVES.items()}
HMAC_KEY_BYTES = {HMAC_224: 28, HMAC_256: 32, HMAC_384: 48, HMAC_512: 64}
SYMMETRIC_KEY_BYTES = 32
DATA_KEY_SPEC_BYTES = {"AES_256": 32, "AES_128": 16}
_ML_DSA_CLASSES = {ML_DSA_44: mldsa.MLDSA44PrivateKey, ML_DSA_65: mldsa.MLDSA65PrivateKey,
                   ML_DSA_87: mldsa.MLDSA87PrivateKey}
# ML-KEM-512 is pure_mlkem's (cryptography has 768 and 1024 only).
_ML_KEM_CLASSES = {ML_KEM_768: mlkem.MLKEM768PrivateKey, ML_KEM_1024: mlkem.MLKEM1024PrivateKey}
# The key object classes of each spec that has one of its own.
_KEY_CLASS_SPEC = {ed25519.Ed25519PrivateKey: ECC_NIST_EDWARDS25519,
                   **{cls: spec for spec, cls in _ML_DSA_CLASSES.items()},
                   **{cls: spec for spec, cls in _ML_KEM_CLASSES.items()}}
# Ciphertext (encapsulated secret) lengths: EncapsulateResponse's documentation.
ML_KEM_CIPHERTEXT_BYTES = {ML_KEM_512: 768, ML_KEM_768: 1088, ML_KEM_1024: 1568}

RSA_ENCRYPTION = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
# DescribeKey's order (API Reference, DescribeKey example "RSA asymmetric KMS key").
RSA_SIGNING = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
               "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512"]
# The one ECDSA algorithm of each curve (Developer Guide, "Elliptic curve key specs").
ECDSA_ALGORITHM = {ECC_NIST_P256: "ECDSA_SHA_256", ECC_NIST_P384: "ECDSA_SHA_384",
                   ECC_NIST_P521: "ECDSA_SHA_512", ECC_SECG_P256K1: "ECDSA_SHA_256"}
HMAC_ALGORITHM = {HMAC_224: "HMAC_SHA_224", HMAC_256: "HMAC_SHA_256", HMAC_384: "HMAC_SHA_384",
                  HMAC_512: "HMAC_SHA_512"}
# CreateKey's KeySpec documentation: ECC_NIST_EDWARDS25519 is for signing
# only, ED25519_SHA_512 (PureEdDSA) takes MessageType RAW and
# ED25519_PH_SHA_512 (HashEdDSA) takes DIGEST. The order is the model's.
ED25519_SIGNING = ["ED25519_SHA_512", "ED25519_PH_SHA_512"]
ML_DSA_ALGORITHM = "ML_DSA_SHAKE_256"
ML_KEM_ALGORITHM = "ML_KEM"

# (spec, usage) -> {DescribeKey field: algorithms}. A pair not here is not a
# valid combination.
_ALGORITHMS: dict[tuple[str, str], dict[str, list[str]]] = {
    (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT): {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]},
}
for _spec in RSA_SPECS:
    _ALGORITHMS[(_spec, ENCRYPT_DECRYPT)] = {"EncryptionAlgorithms": RSA_ENCRYPTION}
    _ALGORITHMS[(_spec, SIGN_VERIFY)] = {"SigningAlgorithms": RSA_SIGNING}
for _spec in ECC_SPECS:
    _ALGORITHMS[(_spec, SIGN_VERIFY)] = {"SigningAlgorithms": [ECDSA_ALGORITHM[_spec]]}
for _spec in (ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521):  # not secp256k1
    _ALGORITHMS[(_spec, KEY_AGREEMENT)] = {"KeyAgreementAlgorithms": ["ECDH"]}
_ALGORITHMS[(ECC_NIST_EDWARDS25519, SIGN_VERIFY)] = {"SigningAlgorithms": ED25519_SIGNING}
for _spec in HMAC_SPECS:
    _ALGORITHMS[(_spec, GENERATE_VERIFY_MAC)] = {"MacAlgorithms": [HMAC_ALGORITHM[_spec]]}
for _spec in ML_DSA_SPECS:
    _ALGORITHMS[(_spec, SIGN_VERIFY)] = {"SigningAlgorithms": [ML_DSA_ALGORITHM]}
for _spec in ML_KEM_SPECS:
    _ALGORITHMS[(_spec, ENCAPSULATE_DECAPSULATE)] = {"EncapsulationAlgorithms": [ML_KEM_ALGORITHM]}
del _spec

KEY_USAGES: dict[str, tuple[str, ...]] = {}
for (_spec, _usage) in _ALGORITHMS:
    KEY_USAGES.setdefault(_spec, ())
    KEY_USAGES[_spec] += (_usage,)
del _spec, _usage


def algorithms(key_spec: str, key_usage: str) -> dict[str, list[str]]:
    """The algorithm lists DescribeKey reports for a key, as
    {"EncryptionAlgorithms" | "SigningAlgorithms" | "MacAlgorithms" |
    "KeyAgreementAlgorithms" | "EncapsulationAlgorithms": [...]}; {} when
    the spec and usage do not go together (or the spec is not built)."""
    found = _ALGORITHMS.get((key_spec, key_usage))
    return {name: list(values) for name, values in found.items()} if found else {}


def is_compatible(key_spec: str, key_usage: str) -> bool:
    return (key_spec, key_usage) in _ALGORITHMS


def check_key_spec(key_spec: str) -> None:
    if key_spec == SM2:
        raise UnsupportedSpec("KeySpec SM2 is only available in China Regions")
    if key_spec not in KEY_SPECS:
        raise UnsupportedSpec(f"KeySpec {key_spec} is not supported")


def check_algorithm(key_spec: str, key_usage: str, field: str, algorithm: str) -> None:
    """Raise UnsupportedAlgorithm unless `algorithm` is one of the key's
    `field` algorithms (e.g. "SigningAlgorithms")."""
    allowed = _ALGORITHMS.get((key_spec, key_usage), {}).get(field, [])
    if algorithm not in allowed:
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")


# -- key material --------------------------------------------------------------


def generate_material(key_spec: str) -> bytes:
    """New key material for a KMS key of `key_spec` (see the module doc)."""
    if key_spec == SYMMETRIC_DEFAULT:
        return os.urandom(SYMMETRIC_KEY_BYTES)
    if key_spec in HMAC_KEY_BYTES:
        return os.urandom(HMAC_KEY_BYTES[key_spec])
    if key_spec in _ASYMMETRIC:
        return _private_der(_new_private_key(key_spec))
    check_key_spec(key_spec)
    raise AssertionError(key_spec)  # check_key_spec raised


_ASYMMETRIC = frozenset((*RSA_SPECS, *ECC_SPECS, ECC_NIST_EDWARDS25519, *ML_DSA_SPECS, *ML_KEM_SPECS))


def _new_private_key(spec: str):
    if spec in RSA_BITS:
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS[spec])
    if spec in _CURVES:
        return ec.generate_private_key(_CURVES[spec]())
    if spec == ECC_NIST_EDWARDS25519:
        return ed25519.Ed25519PrivateKey.generate()
    if spec in _ML_DSA_CLASSES:
        return _ML_DSA_CLASSES[spec].generate()
    if spec in _ML_KEM_CLASSES:
        return _ML_KEM_CLASSES[spec].generate()
    if spec == ML_KEM_512:
        return pure_mlkem.PrivateKey.generate("ML-KEM-512")
    raise UnsupportedSpec(f"KeySpec {spec} is not supported")


# ML-KEM-512 in DER, which `cryptography` cannot read or write: the IETF's
# forms (draft-ietf-lamps-kyber-certificates), id-alg-ml-kem-512 =
# 2.16.840.1.101.3.4.4.1 with no parameters; the private key in the "seed"
# form, [0] IMPLICIT OCTET STRING (SIZE (64)), as `cryptography` writes
# ML-KEM-768 and ML-KEM-1024 (and AWS its ML-KEM data key pairs).
_ML_KEM_512_ALGORITHM_ID = bytes.fromhex("300b0609608648016503040401")
_ML_KEM_512_PKCS8_PREFIX = bytes.fromhex("3054020100") + _ML_KEM_512_ALGORITHM_ID + bytes.fromhex("04428040")
_ML_KEM_512_SPKI_PREFIX = bytes.fromhex("30820332") + _ML_KEM_512_ALGORITHM_ID + bytes.fromhex("0382032100")


def _private_der(key) -> bytes:
    if isinstance(key, pure_mlkem.PrivateKey):
        return _ML_KEM_512_PKCS8_PREFIX + key.private_bytes_raw()
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _public_der(public_key) -> bytes:
    if isinstance(public_key, pure_mlkem.PublicKey):
        return _ML_KEM_512_SPKI_PREFIX + public_key.public_bytes_raw()
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


_PRIVATE_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, *_ML_DSA_CLASSES.values(),
                  *_ML_KEM_CLASSES.values(), pure_mlkem.PrivateKey)


@functools.lru_cache(maxsize=256)
def _load_private(material: bytes):
    """The key object of PKCS#8 DER material (cached: RSA key loading checks
    the key, which costs milliseconds; an ML-KEM-512 key is expanded from
    its seed in Python)."""
    material = bytes(material)
    if len(material) == len(_ML_KEM_512_PKCS8_PREFIX) + pure_mlkem.SEED_BYTES and \
            material.startswith(_ML_KEM_512_PKCS8_PREFIX):
        return pure_mlkem.PrivateKey("ML-KEM-512", material[len(_ML_KEM_512_PKCS8_PREFIX):])
    try:
        key = serialization.load_der_private_key(material, password=None)
    except (ValueError, TypeError, _CryptoUnsupportedAlgorithm) as error:
        raise InvalidKeyMaterial("The key material is not a valid PKCS#8 DER private key") from error
    if not isinstance(key, _PRIVATE_TYPES):
        raise InvalidKeyMaterial("The key material is not a private key of a KMS key spec")
    return key


@functools.lru_cache(maxsize=256)
def _load_public(der: bytes):
    """A public key from SPKI DER, or the public half of PKCS#8 DER."""
    der = bytes(der)
    if der.startswith(_ML_KEM_512_SPKI_PREFIX):
        try:
            return pure_mlkem.PublicKey("ML-KEM-512", der[len(_ML_KEM_512_SPKI_PREFIX):])
        except ValueError:
            raise InvalidKeyMaterial("The key is not a valid ML-KEM-512 public key") from None
    try:
        return serialization.load_der_public_key(der)
    except (ValueError, TypeError, _CryptoUnsupportedAlgorithm):
        pass
    return _load_private(der).public_key()


def _spec_of_key(key) -> str:
    """The KeySpec of a private key object."""
    if isinstance(key, rsa.RSAPrivateKey):
        for spec, bits in RSA_BITS.items():
            if key.key_size == bits:
                return spec
        raise InvalidKeyMaterial(f"RSA keys of {key.key_size} bits are not supported")
    if isinstance(key, ec.EllipticCurvePrivateKey):
        spec = _CURVE_SPEC.get(key.curve.name)
        if spec is None:
            raise InvalidKeyMaterial(f"The curve {key.curve.name} is not supported")
        return spec
    if isinstance(key, pure_mlkem.PrivateKey):
        return ML_KEM_512
    for cls, spec in _KEY_CLASS_SPEC.items():
        if isinstance(key, cls):
            return spec
    raise InvalidKeyMaterial("The key material is not a private key of a KMS key spec")


def key_spec_of(material: bytes) -> str:
    """The KeySpec of asymmetric (PKCS#8 DER) material."""
    return _spec_of_key(_load_private(material))


def _key_for_spec(material: bytes, key_spec: str, algorithm: str):
    """The private key of `material`, which must be of `key_spec`."""
    key = _load_private(material)
    if _spec_of_key(key) != key_spec:
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
    return key


def public_key_der(material: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo of asymmetric material (GetPublicKey's
    PublicKey): RFC 8410's for Ed25519, the IETF LAMPS drafts' for ML-DSA
    and ML-KEM (the raw public key in the BIT STRING)."""
    return _public_der(_load_private(material).public_key())


def check_import_material(key_spec: str, material: bytes) -> None:
    """Raise InvalidKeyMaterial unless `material` (unwrapped) fits `key_spec`:
    32 bytes for SYMMETRIC_DEFAULT, between the digest and the block size of
    the hash for HMAC, a PKCS#8 private key of the spec's size, curve or
    parameter set for the asymmetric specs."""
    if key_spec == SYMMETRIC_DEFAULT:
        if len(material) != SYMMETRIC_KEY_BYTES:
            raise InvalidKeyMaterial("Symmetric key material must be 256 bits (32 bytes)")
        return
    if key_spec in HMAC_KEY_BYTES:
        low = HMAC_KEY_BYTES[key_spec]
        high = 64 if key_spec in (HMAC_224, HMAC_256) else 128
        if not low <= len(material) <= high:
            raise InvalidKeyMaterial(f"{key_spec} key material must be {low} to {high} bytes")
        return
    if key_spec in _ASYMMETRIC:
        if key_spec_of(material) != key_spec:
            raise InvalidKeyMaterial(f"The key material does not match key spec {key_spec}")
        return
    check_key_spec(key_spec)


def material_id(key_id: str, material: bytes) -> str:
    """A key material id (64 hex digits, like AWS's KeyMaterialId) that
    depends only on the key id and the material, so re-importing the same
    material into a key gives back the same id, and the blobs made under
    it decrypt again. HMAC-SHA-256 keyed by the material: reveals nothing of
    it. (AWS derives its id "based on the KMS key ID and the imported key
    material"; its exact function is not published.)"""
    return _hmac.new(bytes(material), b"cloudlet kms material id\n" + key_id.encode("utf-8"), "sha256").hexdigest()


def material_fits(key_spec: str, material: bytes) -> bool:
    """check_import_material as a bool."""
    try:
        check_import_material(key_spec, material)
    except ValidationError:
        return False
    return True


def generate_random(number_of_bytes: int) -> bytes:
    """GenerateRandom: 1 to 1024 random bytes."""
    if isinstance(number_of_bytes, bool) or not isinstance(number_of_bytes, int) or \
            not 1 <= number_of_bytes <= 1024:
        raise ValidationError(f"1 validation error detected: Value '{number_of_bytes}' at 'numberOfBytes' failed "
                              "to satisfy constraint: Member must have value between 1 and 1024")
    return os.urandom(number_of_bytes)


# -- symmetric ciphertext blobs -------------------------------------------------
#
# Blob layout, format 1 (all of it before the IV is the "header"):
#
#   offset  size  field
#   0       1     format byte, 0x01
#   1       1+n   key id, packed (below)
#   ...     1+m   key material version, packed
#   ...     12    AES-GCM IV (random per blob)
#   ...     len   ciphertext (len = plaintext length)
#   ...     16    GCM tag
#
# A packed id is a kind byte and a payload:
#   0x01  16 bytes   a key UUID "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (lowercase)
#   0x02  16 bytes   a multi-Region key id "mrk-" + 32 lowercase hex digits
#   0x03  32 bytes   64 lowercase hex digits (a key material id)
#   0x00  1+n bytes  anything else: one length byte (1..255), then UTF-8
#
# The cipher is AES-256-GCM under the key material with associated data
#   header || canonical(encryption context)
# so changing the key id, the version, the context or any byte fails the tag.
# canonical(context) is a big-endian u16 count, then for each pair in order
# of the keys' code points (= UTF-8 byte order): u16 length + UTF-8 of the
# key, u16 length + UTF-8 of the value. None and {} are both b"\x00\x00".
# A 32-byte plaintext makes a 111-byte blob; 4096 bytes make 4175.

BLOB_FORMAT = 1
IV_BYTES = 12
TAG_BYTES = 16
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MRK_RE = re.compile(r"^mrk-[0-9a-f]{32}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")


def _pack_id(value: str) -> bytes:
    if _UUID_RE.match(value):
        return b"\x01" + bytes.fromhex(value.replace("-", ""))
    if _MRK_RE.match(value):
        return b"\x02" + bytes.fromhex(value[4:])
    if _HEX64_RE.match(value):
        return b"\x03" + bytes.fromhex(value)
    raw = value.encode("utf-8")
    if not 1 <= len(raw) <= 255:
        raise ValueError(f"an id of {len(raw)} bytes cannot be put in a ciphertext blob")
    return b"\x00" + bytes([len(raw)]) + raw


def _unpack_id(blob: bytes, at: int) -> tuple[str, int]:
    kind = blob[at]
    if kind == 1:
        h = blob[at + 1:at + 17].hex()
        if len(h) != 32:
            raise IndexError
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", at + 17
    if kind == 2:
        h = blob[at + 1:at + 17].hex()
        if len(h) != 32:
            raise IndexError
        return "mrk-" + h, at + 17
    if kind == 3:
        h = blob[at + 1:at + 33].hex()
        if len(h) != 64:
            raise IndexError
        return h, at + 33
    if kind == 0:
        n = blob[at + 1]
        raw = blob[at + 2:at + 2 + n]
        if n == 0 or len(raw) != n:
            raise IndexError
        return raw.decode("utf-8"), at + 2 + n
    raise IndexError


_CONTEXTS: dict[tuple, bytes] = {}  # contexts recur (a tenant, a purpose): packed once


def canonical_context(context: Mapping[str, str] | None) -> bytes:
    """The encryption context as bound into a blob (see the layout above)."""
    if not context:
        return b"\x00\x00"
    try:
        memo = tuple(context.items())
        packed = _CONTEXTS.get(memo)
    except (AttributeError, TypeError):
        memo = packed = None
    if packed is None:
        packed = _pack_context(context)
        if memo is not None:
            if len(_CONTEXTS) >= 4096:
                _CONTEXTS.clear()
            _CONTEXTS[memo] = packed
    return packed


def _pack_context(context) -> bytes:
    if not isinstance(context, Mapping):
        raise ValidationError("EncryptionContext must be a map of strings to strings")
    items = []
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValidationError("EncryptionContext must be a map of strings to strings")
        items.append((key, value))
    items.sort()
    out = [struct.pack(">H", len(items))]
    for key, value in items:
        for text in (key, value):
            raw = text.encode("utf-8")
            out.append(struct.pack(">H", len(raw)))
            out.append(raw)
    return b"".join(out)


@dataclass(frozen=True)
class ParsedBlob:
    """A symmetric ciphertext blob taken apart (no key needed)."""

    key_id: str
    version: str
    header: bytes
    iv: bytes
    ciphertext: bytes  # with the GCM tag at its end
    format: int = BLOB_FORMAT


_AEADS: dict[bytes, AESGCM] = {}  # material -> its cipher (set-up costs as much as a small encryption)


def _aes_key(material: bytes) -> AESGCM:
    aead = _AEADS.get(material)
    if aead is None:
        if len(material) != SYMMETRIC_KEY_BYTES:
            raise InvalidKeyMaterial("Symmetric key material must be 32 bytes")
        if len(_AEADS) >= 1024:
            _AEADS.clear()
        aead = _AEADS[material] = AESGCM(material)
    return aead


def encrypt_symmetric(key_id: str, version: str, material: bytes, plaintext: bytes,
                      context: Mapping[str, str] | None = None) -> bytes:
    """Encrypt under a SYMMETRIC_DEFAULT key's material: the blob Encrypt
    and GenerateDataKey return."""
    header = bytes([BLOB_FORMAT]) + _pack_id(key_id) + _pack_id(version)
    iv = os.urandom(IV_BYTES)
    sealed = _aes_key(material).encrypt(iv, bytes(plaintext), header + canonical_context(context))
    return header + iv + sealed


def parse_blob(blob: bytes) -> ParsedBlob:
    """The key id and material version a blob was made under; raises
    InvalidCiphertext for anything that is not one of cloudlet's blobs."""
    blob = bytes(blob)
    try:
        if not blob or blob[0] != BLOB_FORMAT:
            raise IndexError
        key_id, at = _unpack_id(blob, 1)
        version, at = _unpack_id(blob, at)
    except (IndexError, UnicodeDecodeError):
        raise InvalidCiphertext() from None
    if len(blob) < at + IV_BYTES + TAG_BYTES:
        raise InvalidCiphertext()
    return ParsedBlob(key_id=key_id, version=version, header=blob[:at], iv=blob[at:at + IV_BYTES],
                      ciphertext=blob[at + IV_BYTES:])


def decrypt_with(material: bytes, parsed: ParsedBlob, context: Mapping[str, str] | None = None) -> bytes:
    """The plaintext of a parsed blob; InvalidCiphertext when the material,
    the context or any byte is not the one it was made with."""
    try:
        return _aes_key(material).decrypt(parsed.iv, parsed.ciphertext, parsed.header + canonical_context(context))
    except (InvalidTag, InvalidKeyMaterial):
        raise InvalidCiphertext() from None


def decrypt_symmetric(blob: bytes, lookup: Callable[[str, str], bytes],
                      context: Mapping[str, str] | None = None, key_id: str | None = None) -> tuple[str, str, bytes]:
    """Parse, find the material with lookup(key_id, version), decrypt:
    returns (key_id, version, plaintext). With `key_id`, a blob made under
    another key raises IncorrectKey."""
    parsed = parse_blob(blob)
    if key_id is not None and key_id != parsed.key_id:
        raise IncorrectKey()
    return parsed.key_id, parsed.version, decrypt_with(lookup(parsed.key_id, parsed.version), parsed, context)


# -- RSA encryption --------------------------------------------------------------

_OAEP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256}


def _oaep(algorithm: str) -> padding.OAEP:
    hash_cls = _OAEP_HASH.get(algorithm)
    if hash_cls is None:
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is not an RSAES_OAEP algorithm.")
    return padding.OAEP(mgf=padding.MGF1(algorithm=hash_cls()), algorithm=hash_cls(), label=None)


def rsa_plaintext_limit(key_spec: str, algorithm: str) -> int:
    """Largest plaintext Encrypt takes: key bytes - 2 * hash bytes - 2
    (RSA_2048: 214 with SHA-1, 190 with SHA-256)."""
    if key_spec not in RSA_BITS:
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
    hash_cls = _OAEP_HASH.get(algorithm)
    if hash_cls is None:
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
    return RSA_BITS[key_spec] // 8 - 2 * hash_cls.digest_size - 2


max_plaintext_length = rsa_plaintext_limit


def _rsa_public(material: bytes) -> rsa.RSAPublicKey:
    key = _load_public(material)
    if not isinstance(key, rsa.RSAPublicKey):
        raise UnsupportedAlgorithm("The key is not an RSA key.")
    return key


def rsa_encrypt(material: bytes, algorithm: str, plaintext: bytes) -> bytes:
    """RSAES_OAEP_SHA_1 / _256 under the public key of `material` (PKCS#8
    private or SPKI public DER)."""
    key = _rsa_public(material)
    oaep = _oaep(algorithm)
    limit = key.key_size // 8 - 2 * _OAEP_HASH[algorithm].digest_size - 2
    if len(plaintext) > limit:
        raise PlaintextTooLong(f"Plaintext of {len(plaintext)} bytes is too long for {algorithm} with an RSA key of "
                               f"{key.key_size} bits: the maximum is {limit} bytes.")
    return key.encrypt(bytes(plaintext), oaep)


def rsa_decrypt(material: bytes, algorithm: str, ciphertext: bytes) -> bytes:
    key = _load_private(material)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedAlgorithm("The key is not an RSA key.")
    oaep = _oaep(algorithm)
    if len(ciphertext) != key.key_size // 8:
        raise InvalidCiphertext()
    try:
        return key.decrypt(bytes(ciphertext), oaep)
    except ValueError:
        raise InvalidCiphertext() from None


# -- signing ---------------------------------------------------------------------

_SIGNING_HASH = {
    "RSASSA_PSS_SHA_256": hashes.SHA256, "RSASSA_PSS_SHA_384": hashes.SHA384, "RSASSA_PSS_SHA_512": hashes.SHA512,
    "RSASSA_PKCS1_V1_5_SHA_256": hashes.SHA256, "RSASSA_PKCS1_V1_5_SHA_384": hashes.SHA384,
    "RSASSA_PKCS1_V1_5_SHA_512": hashes.SHA512,
    "ECDSA_SHA_256": hashes.SHA256, "ECDSA_SHA_384": hashes.SHA384, "ECDSA_SHA_512": hashes.SHA512,
}
MESSAGE_TYPES = ("RAW", "DIGEST", "EXTERNAL_MU")
ML_DSA_MU_BYTES = 64  # FIPS 204's mu: SHAKE256(tr || M'), 64 bytes
ED25519_DIGEST_BYTES = 64  # ED25519_PH_SHA_512's DIGEST: a SHA-512 digest


def digest_length(algorithm: str) -> int:
    """The length a DIGEST message (EXTERNAL_MU for ML-DSA) must have for a
    signing algorithm."""
    if algorithm == "ED25519_PH_SHA_512":
        return ED25519_DIGEST_BYTES
    if algorithm == ML_DSA_ALGORITHM:
        return ML_DSA_MU_BYTES
    hash_cls = _SIGNING_HASH.get(algorithm)
    if hash_cls is None:
        raise UnsupportedAlgorithm(f"Signing algorithm {algorithm} is not supported.")
    return hash_cls.digest_size


def _signing_parts(key_spec: str, algorithm: str, message: bytes, message_type: str):
    """(hash algorithm or Prehashed, padding or None) for a Sign/Verify."""
    check_algorithm(key_spec, SIGN_VERIFY, "SigningAlgorithms", algorithm)
    hash_alg = _SIGNING_HASH[algorithm]()
    if message_type == "DIGEST":
        if len(message) != hash_alg.digest_size:
            raise InvalidDigestLength(f"Digest is invalid length for algorithm {algorithm}.")
        chosen = utils.Prehashed(hash_alg)
    elif message_type == "RAW" or message_type is None:
        chosen = hash_alg
    elif message_type == "EXTERNAL_MU":
        raise ValidationError("MessageType EXTERNAL_MU is supported only for ML_DSA key specs.")
    else:
        raise ValidationError(f"1 validation error detected: Value '{message_type}' at 'messageType' failed to "
                              "satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]")
    if algorithm.startswith("RSASSA_PSS_"):
        # AWS: MGF1 with the same hash, salt as long as the digest.
        pad = padding.PSS(mgf=padding.MGF1(hash_alg), salt_length=hash_alg.digest_size)
    elif algorithm.startswith("RSASSA_PKCS1_V1_5_"):
        pad = padding.PKCS1v15()
    else:
        pad = None
    return chosen, pad


def _message_type_check(message_type: str | None) -> str:
    message_type = message_type or "RAW"
    if message_type not in MESSAGE_TYPES:
        raise ValidationError(f"1 validation error detected: Value '{message_type}' at 'messageType' failed to "
                              "satisfy constraint: Member must satisfy enum value set: [RAW, DIGEST, EXTERNAL_MU]")
    return message_type


def _eddsa_mldsa_mode(key_spec: str, algorithm: str, message: bytes, message_type: str | None) -> str:
    """How an Ed25519 or ML-DSA key signs: "pure" (the message itself),
    "prehash" (Ed25519ph of a 64-byte DIGEST, which is SHA-512'd again as
    FIPS 186-5 7.8.1 step 1 does: AWS's ED25519_PH_SHA_512) or "mu" (ML-DSA
    over an EXTERNAL_MU, FIPS 204 section 6.2's 64-byte mu). AWS's Sign
    documentation: ED25519_SHA_512 requires RAW, ED25519_PH_SHA_512 DIGEST;
    ML-DSA takes RAW (up to 4096 bytes) or EXTERNAL_MU (64 bytes)."""
    check_algorithm(key_spec, SIGN_VERIFY, "SigningAlgorithms", algorithm)
    message_type = _message_type_check(message_type)
    if key_spec == ECC_NIST_EDWARDS25519:
        required = "RAW" if algorithm == "ED25519_SHA_512" else "DIGEST"
        if message_type != required:
            raise InvalidMessageType(f"Message type {message_type} is incompatible with algorithm {algorithm}.")
        if required == "RAW":
            return "pure"
        if len(message) != ED25519_DIGEST_BYTES:
            raise InvalidDigestLength(f"Digest is invalid length for algorithm {algorithm}.")
        return "prehash"
    if message_type == "DIGEST":
        raise InvalidMessageType(f"Message type {message_type} is incompatible with key spec {key_spec}.")
    if message_type == "EXTERNAL_MU":
        if len(message) != ML_DSA_MU_BYTES:
            raise InvalidDigestLength(f"Digest is invalid length for algorithm {algorithm}.")
        return "mu"
    return "pure"


def _eddsa_mldsa_sign(material: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str | None) -> bytes:
    mode = _eddsa_mldsa_mode(key_spec, algorithm, message, message_type)
    key = _key_for_spec(material, key_spec, algorithm)
    if mode == "pure":
        return key.sign(message)  # Ed25519: RFC 8032 PureEdDSA; ML-DSA: FIPS 204, empty context
    if mode == "mu":
        return key.sign_mu(message)
    return pure_ed25519.sign(key.private_bytes_raw(), message)


def _eddsa_mldsa_verify(material: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str | None,
                        signature: bytes) -> bool:
    mode = _eddsa_mldsa_mode(key_spec, algorithm, message, message_type)
    key = _load_public(material)
    expected = _PUBLIC_CLASS[key_spec]
    if not isinstance(key, expected):
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
    if mode == "prehash":
        return pure_ed25519.verify(key.public_bytes_raw(), message, signature)
    try:
        if mode == "mu":
            key.verify_mu(signature, message)
        else:
            key.verify(signature, message)
    except (_CryptoInvalidSignature, ValueError):
        return False
    return True


_PUBLIC_CLASS = {ECC_NIST_EDWARDS25519: ed25519.Ed25519PublicKey, ML_DSA_44: mldsa.MLDSA44PublicKey,
                 ML_DSA_65: mldsa.MLDSA65PublicKey, ML_DSA_87: mldsa.MLDSA87PublicKey}


def sign(material: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str = "RAW") -> bytes:
    """Sign: PKCS#1 signatures for RSA, DER-encoded (X9.62 / RFC 3279)
    ECDSA signatures, 64-byte R || S for Ed25519 (RFC 8032), FIPS 204's
    encoding for ML-DSA."""
    if key_spec in _PUBLIC_CLASS:
        return _eddsa_mldsa_sign(material, key_spec, algorithm, bytes(message), message_type)
    chosen, pad = _signing_parts(key_spec, algorithm, bytes(message), message_type)
    key = _load_private(material)
    if pad is not None:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
        return key.sign(bytes(message), pad, chosen)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
    return key.sign(bytes(message), ec.ECDSA(chosen))


def verify(material: bytes, key_spec: str, algorithm: str, message: bytes, message_type: str,
           signature: bytes) -> bool:
    """True when `signature` is valid; False for a wrong or malformed one
    (the caller answers KMSInvalidSignatureException). The arguments are
    sign's, then the signature. `material` may be the private (PKCS#8) or
    public (SPKI) DER. A digest of the wrong length raises
    InvalidDigestLength, as Sign does."""
    if key_spec in _PUBLIC_CLASS:
        return _eddsa_mldsa_verify(material, key_spec, algorithm, bytes(message), message_type, bytes(signature))
    chosen, pad = _signing_parts(key_spec, algorithm, bytes(message), message_type)
    key = _load_public(material)
    if pad is not None and not isinstance(key, rsa.RSAPublicKey) or \
            pad is None and not isinstance(key, ec.EllipticCurvePublicKey):
        raise UnsupportedAlgorithm(f"Algorithm {algorithm} is incompatible with key spec {key_spec}.")
    try:
        if pad is not None:
            key.verify(bytes(signature), bytes(message), pad, chosen)
        else:
            key.verify(bytes(signature), bytes(message), ec.ECDSA(chosen))
    except (_CryptoInvalidSignature, ValueError):
        return False
    return True


# -- MACs ------------------------------------------------------------------------

_MAC_HASH = {"HMAC_SHA_224": hashes.SHA224, "HMAC_SHA_256": hashes.SHA256, "HMAC_SHA_384": hashes.SHA384,
             "HMAC_SHA_512": hashes.SHA512}


def _mac_hash(algorithm: str, key_spec: str | None) -> str:
    if algorithm not in _MAC_HASH:
        raise UnsupportedAlgorithm(f"MAC algorithm {algorithm} is not supported.")
    if key_spec is not None:
        check_algorithm(key_spec, GENERATE_VERIFY_MAC, "MacAlgorithms", algorithm)
    return _MAC_HASH[algorithm].name


def generate_mac(material: bytes, algorithm: str, message: bytes, key_spec: str | None = None) -> bytes:
    """HMAC (RFC 2104) of `message`; with `key_spec`, the algorithm must be
    that spec's (HMAC_256 -> HMAC_SHA_256)."""
    return _hmac.new(bytes(material), bytes(message), _mac_hash(algorithm, key_spec)).digest()


def verify_mac(material: bytes, algorithm: str, message: bytes, mac: bytes, key_spec: str | None = None) -> bool:
    expected = generate_mac(material, algorithm, message, key_spec)
    return _hmac.compare_digest(expected, bytes(mac))


# -- key agreement -------------------------------------------------------------------


def derive_shared_secret(private_material: bytes, key_spec: str, peer_public_key_der: bytes) -> bytes:
    """DeriveSharedSecret (ECDH): the raw shared secret (the x coordinate,
    as long as the curve's field) of our private key and the peer's SPKI
    public key on the same curve."""
    check_algorithm(key_spec, KEY_AGREEMENT, "KeyAgreementAlgorithms", "ECDH")
    private = _load_private(private_material)
    try:
        peer = serialization.load_der_public_key(bytes(peer_public_key_der))
    except (ValueError, TypeError, _CryptoUnsupportedAlgorithm):
        raise InvalidPublicKey("PublicKey is not a valid DER-encoded SubjectPublicKeyInfo.") from None
    if not isinstance(peer, ec.EllipticCurvePublicKey) or peer.curve.name != private.curve.name:
        raise InvalidPublicKey(f"PublicKey is not a valid public key for key spec {key_spec}.")
    return private.exchange(ec.ECDH(), peer)


# -- key encapsulation ----------------------------------------------------------------


def encapsulate(material: bytes, key_spec: str) -> tuple[bytes, bytes]:
    """Encapsulate (ML-KEM, FIPS 203): (32-byte shared secret, its
    ciphertext) under the public key of `material` (PKCS#8)."""
    check_algorithm(key_spec, ENCAPSULATE_DECAPSULATE, "EncapsulationAlgorithms", ML_KEM_ALGORITHM)
    return _key_for_spec(material, key_spec, ML_KEM_ALGORITHM).public_key().encapsulate()


def decapsulate(material: bytes, key_spec: str, ciphertext: bytes) -> bytes:
    """Decapsulate: the shared secret of `ciphertext`. A ciphertext of the
    wrong length raises InvalidCiphertext; any other gives 32 bytes
    (FIPS 203's implicit rejection: a pseudo-random secret for a corrupt or
    foreign ciphertext), as AWS documents."""
    check_algorithm(key_spec, ENCAPSULATE_DECAPSULATE, "EncapsulationAlgorithms", ML_KEM_ALGORITHM)
    ciphertext = bytes(ciphertext)
    if len(ciphertext) != ML_KEM_CIPHERTEXT_BYTES[key_spec]:
        raise InvalidCiphertext()
    key = _key_for_spec(material, key_spec, ML_KEM_ALGORITHM)
    try:
        return key.decapsulate(ciphertext)
    except ValueError:
        raise InvalidCiphertext() from None


# -- data key pairs ------------------------------------------------------------------

# The model's DataKeyPairSpec (SM2 aside): no ML-DSA data key pairs.
DATA_KEY_PAIR_SPECS = (*RSA_SPECS, *ECC_SPECS, ECC_NIST_EDWARDS25519, *ML_KEM_SPECS)


def generate_key_pair(key_pair_spec: str) -> tuple[bytes, bytes]:
    """GenerateDataKeyPair: (PKCS#8 DER private key, SPKI DER public key)."""
    if key_pair_spec not in DATA_KEY_PAIR_SPECS:
        if key_pair_spec == SM2:
            raise UnsupportedSpec("KeyPairSpec SM2 is only available in China Regions")
        raise UnsupportedSpec(f"KeyPairSpec {key_pair_spec} is not supported")
    key = _new_private_key(key_pair_spec)
    return _private_der(key), _public_der(key.public_key())


# -- importing key material -------------------------------------------------------------

WRAPPING_KEY_SPECS = RSA_SPECS
WRAPPING_ALGORITHMS = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1", "RSA_AES_KEY_WRAP_SHA_256")
_WRAP_HASH = {"RSAES_OAEP_SHA_1": hashes.SHA1, "RSAES_OAEP_SHA_256": hashes.SHA256,
              "RSA_AES_KEY_WRAP_SHA_1": hashes.SHA1, "RSA_AES_KEY_WRAP_SHA_256": hashes.SHA256}


def wrapping_key_pair(wrapping_key_spec: str) -> tuple[bytes, bytes]:
    """GetParametersForImport's RSA wrapping key: (PKCS#8 DER private key to
    keep, SPKI DER public key to hand out)."""
    if wrapping_key_spec not in WRAPPING_KEY_SPECS:
        if wrapping_key_spec == SM2:
            raise UnsupportedSpec("WrappingKeySpec SM2 is only available in China Regions")
        raise UnsupportedSpec(f"WrappingKeySpec {wrapping_key_spec} is not supported")
    key = _new_private_key(wrapping_key_spec)
    return _private_der(key), _public_der(key.public_key())


def check_wrapping_algorithm(wrapping_algorithm: str) -> None:
    if wrapping_algorithm == "RSAES_PKCS1_V1_5":
        raise UnsupportedAlgorithm("The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported.")
    if wrapping_algorithm == "SM2PKE":
        raise UnsupportedSpec("WrappingAlgorithm SM2PKE is only available in China Regions")
    if wrapping_algorithm not in WRAPPING_ALGORITHMS:
        raise UnsupportedAlgorithm(f"WrappingAlgorithm {wrapping_algorithm} is not supported.")


def unwrap_import(private_der: bytes, wrapping_algorithm: str, encrypted_material: bytes) -> bytes:
    """ImportKeyMaterial's EncryptedKeyMaterial, unwrapped.

    RSAES_OAEP_SHA_*: the material encrypted with RSA-OAEP (same hash for
    OAEP and MGF1, empty label). RSA_AES_KEY_WRAP_SHA_* (PKCS#11
    CKM_RSA_AES_KEY_WRAP): an ephemeral AES key encrypted with RSA-OAEP
    (modulus-length bytes), followed by the material wrapped with that key
    by AES key wrap with padding (RFC 5649). Anything that does not unwrap
    raises InvalidCiphertext."""
    check_wrapping_algorithm(wrapping_algorithm)
    key = _load_private(private_der)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise UnsupportedAlgorithm("The wrapping key is not an RSA key.")
    hash_cls = _WRAP_HASH[wrapping_algorithm]
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hash_cls()), algorithm=hash_cls(), label=None)
    size = key.key_size // 8
    data = bytes(encrypted_material)
    try:
        if wrapping_algorithm.startswith("RSAES_OAEP_"):
            if len(data) != size:
                raise ValueError
            return key.decrypt(data, oaep)
        if len(data) <= size:
            raise ValueError
        kek = key.decrypt(data[:size], oaep)
        if len(kek) not in (16, 24, 32):
            raise ValueError
        return keywrap.aes_key_unwrap_with_padding(kek, data[size:])
    except (ValueError, keywrap.InvalidUnwrap):
        raise InvalidCiphertext() from None


# -- the master key: key material at rest -------------------------------------------------

MASTER_KEY_BYTES = 32
SEAL_FORMAT = 1


class MasterKey:
    """AES-256-GCM over key material before it is stored, so the database
    never holds material in plaintext. `aad` names what is sealed (e.g. the
    key ARN and material version), so a sealed value cannot be moved.

    Sealed layout: format byte 0x01, 12-byte nonce, ciphertext, 16-byte tag.
    """

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != MASTER_KEY_BYTES:
            raise ValueError(f"the master key must be {MASTER_KEY_BYTES} bytes")
        self._aead = AESGCM(bytes(key))

    def seal(self, material: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(IV_BYTES)
        return bytes([SEAL_FORMAT]) + nonce + self._aead.encrypt(nonce, bytes(material), bytes(aad))

    def open(self, sealed: bytes, aad: bytes) -> bytes:
        sealed = bytes(sealed)
        if len(sealed) < 1 + IV_BYTES + TAG_BYTES or sealed[0] != SEAL_FORMAT:
            raise SealedDataError("sealed key material is malformed")
        try:
            return self._aead.decrypt(sealed[1:1 + IV_BYTES], sealed[1 + IV_BYTES:], bytes(aad))
        except InvalidTag:
            raise SealedDataError("sealed key material does not open with this master key") from None

    def __repr__(self) -> str:
        return "MasterKey(<secret>)"


def load_or_create_master_key(path: str | os.PathLike) -> MasterKey:
    """The master key kept in `path` (32 raw bytes, mode 0600), created
    first if absent: written to a temporary file in the same directory,
    fsynced, then linked into place without replacing a file another process
    made meanwhile (whose key then wins), and the directory fsynced."""
    path = os.fspath(path)
    try:
        return MasterKey(_read_master_key(path))
    except FileNotFoundError:
        pass
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    key = os.urandom(MASTER_KEY_BYTES)
    tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)          # fails if the file exists: never replaces a key
        except FileExistsError:
            return MasterKey(_read_master_key(path))
        except OSError:                 # no hard links on this file system
            if os.path.exists(path):
                return MasterKey(_read_master_key(path))
            os.replace(tmp, path)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    _fsync_directory(directory)
    return MasterKey(key)


def _read_master_key(path: str) -> bytes:
    with open(path, "rb") as f:
        key = f.read()
    if len(key) != MASTER_KEY_BYTES:
        raise ValueError(f"{path}: a master key file holds exactly {MASTER_KEY_BYTES} bytes, found {len(key)}")
    return key


def _fsync_directory(directory: str) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
