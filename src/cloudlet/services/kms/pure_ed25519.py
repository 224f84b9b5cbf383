"""Ed25519ph (RFC 8032, section 5.1, HashEdDSA with PH = SHA-512 and an
empty context), which KMS's ED25519_PH_SHA_512 signing algorithm is and
the `cryptography` package does not offer (it signs PureEdDSA only).

Pure Python on integers, after RFC 8032's own reference code (section 6)
with extended coordinates; not constant-time (cloudlet is an emulator,
not an HSM). The unit tests check it against RFC 8032's Ed25519ph test
vector (section 7.3) and its arithmetic against `cryptography`'s Ed25519
(public keys and PureEdDSA signatures, which are deterministic).
"""

from __future__ import annotations

import hashlib

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
_SQRT_M1 = pow(2, (P - 1) // 4, P)
# dom2(1, "") of RFC 8032 section 5.1: HashEdDSA, empty context.
_DOM2_PH = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])


def _recover_x(y: int, sign: int) -> int | None:
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * _SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
_G = (_GX, _GY, 1, _GX * _GY % P)
_ZERO = (0, 1, 1, 0)


def _add(p1: tuple, p2: tuple) -> tuple:
    x1, y1, z1, t1 = p1
    x2, y2, z2, t2 = p2
    a = (y1 - x1) * (y2 - x2) % P
    b = (y1 + x1) * (y2 + x2) % P
    c = 2 * t1 * t2 * D % P
    d = 2 * z1 * z2 % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(s: int, point: tuple) -> tuple:
    q = _ZERO
    while s > 0:
        if s & 1:
            q = _add(q, point)
        point = _add(point, point)
        s >>= 1
    return q


def _equal(p1: tuple, p2: tuple) -> bool:
    x1, y1, z1, _ = p1
    x2, y2, z2, _ = p2
    return (x1 * z2 - x2 * z1) % P == 0 and (y1 * z2 - y2 * z1) % P == 0


def _compress(point: tuple) -> bytes:
    x, y, z, _ = point
    zinv = pow(z, P - 2, P)
    x, y = x * zinv % P, y * zinv % P
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")


def _decompress(data: bytes) -> tuple | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    if x is None:
        return None
    return x, y, 1, x * y % P


def _sha512_int(data: bytes) -> int:
    return int.from_bytes(hashlib.sha512(data).digest(), "little")


def _secret_expand(seed: bytes) -> tuple[int, bytes]:
    if len(seed) != 32:
        raise ValueError("An Ed25519 private key is 32 bytes")
    h = hashlib.sha512(seed).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, h[32:]


def public_key(seed: bytes) -> bytes:
    """The 32-byte public key A of a 32-byte private key."""
    a, _ = _secret_expand(bytes(seed))
    return _compress(_multiply(a, _G))


def sign(seed: bytes, message: bytes, prehash: bool = True) -> bytes:
    """Ed25519ph of `message` (SHA-512 of it is what is signed), or
    PureEdDSA Ed25519 with prehash=False (for the tests that compare the
    arithmetic with `cryptography`)."""
    a, prefix = _secret_expand(bytes(seed))
    big_a = _compress(_multiply(a, _G))
    if prehash:
        dom, m = _DOM2_PH, hashlib.sha512(bytes(message)).digest()
    else:
        dom, m = b"", bytes(message)
    r = _sha512_int(dom + prefix + m) % L
    big_r = _compress(_multiply(r, _G))
    k = _sha512_int(dom + big_r + big_a + m) % L
    s = (r + k * a) % L
    return big_r + int.to_bytes(s, 32, "little")


def verify(public: bytes, message: bytes, signature: bytes, prehash: bool = True) -> bool:
    """Whether `signature` is an Ed25519ph (or, prehash=False, Ed25519)
    signature of `message` under the 32-byte public key."""
    public, signature = bytes(public), bytes(signature)
    if len(public) != 32 or len(signature) != 64:
        return False
    big_a = _decompress(public)
    big_r = _decompress(signature[:32])
    if big_a is None or big_r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    if prehash:
        dom, m = _DOM2_PH, hashlib.sha512(bytes(message)).digest()
    else:
        dom, m = b"", bytes(message)
    k = _sha512_int(dom + signature[:32] + public + m) % L
    # [S]B = R + [k]A
    return _equal(_multiply(s, _G), _add(big_r, _multiply(k, big_a)))
