"""OpenID Connect tokens for AssumeRoleWithWebIdentity: decoding a JWT and
checking its signature against the issuer's JSON Web Key Set."""

from __future__ import annotations

import base64
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from cloudlet.errors import AwsError

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def invalid_token(message: str) -> AwsError:
    return AwsError("InvalidIdentityToken", message)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _int(part: str) -> int:
    return int.from_bytes(_b64(part), "big")


class Jwt:
    def __init__(self, token: str):
        parts = token.split(".")
        if len(parts) != 3:
            raise invalid_token("The ID Token provided is not a valid JWT. (You may see this error if you sent an "
                                "Access Token)")
        try:
            self.header = json.loads(_b64(parts[0]))
            self.claims = json.loads(_b64(parts[1]))
            self.signature = _b64(parts[2])
        except (ValueError, json.JSONDecodeError):
            raise invalid_token("The ID Token provided is not a valid JWT. (You may see this error if you sent an "
                                "Access Token)") from None
        if not isinstance(self.header, dict) or not isinstance(self.claims, dict):
            raise invalid_token("The ID Token provided is not a valid JWT.")
        self.signed = f"{parts[0]}.{parts[1]}".encode()

    def verify(self, jwks: dict) -> None:
        alg = self.header.get("alg", "")
        kid = self.header.get("kid")
        keys = [k for k in jwks.get("keys", []) if kid is None or k.get("kid") == kid]
        if not keys or alg[:2] not in ("RS", "ES", "PS") or alg[2:] not in _HASHES:
            raise invalid_token("Couldn't verify the signature of the token: no matching key")
        algorithm = _HASHES[alg[2:]]()
        for jwk in keys:
            try:
                if alg.startswith(("RS", "PS")) and jwk.get("kty") == "RSA":
                    key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
                    pad = (padding.PKCS1v15() if alg.startswith("RS")
                           else padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH))
                    key.verify(self.signature, self.signed, pad, algorithm)
                    return
                if alg.startswith("ES") and jwk.get("kty") == "EC":
                    curve = _CURVES[jwk["crv"]]()
                    key = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve).public_key()
                    half = len(self.signature) // 2
                    der = encode_dss_signature(int.from_bytes(self.signature[:half], "big"),
                                               int.from_bytes(self.signature[half:], "big"))
                    key.verify(der, self.signed, ec.ECDSA(algorithm))
                    return
            except (InvalidSignature, KeyError, ValueError):
                continue
        raise invalid_token("Couldn't verify the signature of the token")
