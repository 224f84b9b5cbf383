"""ML-KEM (FIPS 203, final) in pure Python, for the parameter set the
`cryptography` package does not offer: ML-KEM-512 (it has ML-KEM-768 and
ML-KEM-1024, which KMS uses from there).

All three parameter sets are implemented by the same code, so the unit
tests check this module against `cryptography` on ML-KEM-768 and 1024
(same keys from the same seeds, each side decapsulating the other's
ciphertexts, the same implicit-rejection secrets for corrupt ones), and
against C2SP's accumulated vectors (CCTV, 10 000 deterministic key
generations, encapsulations and decapsulations per parameter set).

Only hashlib and integers; not constant-time (cloudlet is an emulator, not
an HSM). Keys are kept as FIPS 203's 64-byte seed d || z, as AWS KMS and
the IETF's PKCS#8 "seed" format do.

Algorithms are numbered as in FIPS 203.
"""

from __future__ import annotations

import hashlib
import os

N = 256
Q = 3329

# name -> (k, eta1, eta2, du, dv)
PARAMS = {
    "ML-KEM-512": (2, 3, 2, 10, 4),
    "ML-KEM-768": (3, 2, 2, 10, 4),
    "ML-KEM-1024": (4, 2, 2, 11, 5),
}
SEED_BYTES = 64
SHARED_SECRET_BYTES = 32


def _bitrev7(i: int) -> int:
    return int(f"{i:07b}"[::-1], 2)


_ZETAS = [pow(17, _bitrev7(i), Q) for i in range(128)]
_GAMMAS = [pow(17, 2 * _bitrev7(i) + 1, Q) for i in range(128)]


# -- hashes (section 4.1) ------------------------------------------------------

def _g(data: bytes) -> tuple[bytes, bytes]:
    out = hashlib.sha3_512(data).digest()
    return out[:32], out[32:]


def _h(data: bytes) -> bytes:
    return hashlib.sha3_256(data).digest()


def _j(data: bytes) -> bytes:
    return hashlib.shake_256(data).digest(32)


def _prf(eta: int, seed: bytes, b: int) -> bytes:
    return hashlib.shake_256(seed + bytes([b])).digest(64 * eta)


# -- encoding, compression (section 4.2.1) ------------------------------------------

def _byte_encode(d: int, f: list[int]) -> bytes:
    """Algorithm 5: 256 d-bit integers, little-endian bit order."""
    value = 0
    for i in range(N - 1, -1, -1):
        value = (value << d) | f[i]
    return value.to_bytes(32 * d, "little")


def _byte_decode(d: int, data: bytes) -> list[int]:
    """Algorithm 6 (for d = 12, coefficients are taken modulo q)."""
    value = int.from_bytes(data, "little")
    mask = (1 << d) - 1
    out = [(value >> (d * i)) & mask for i in range(N)]
    if d == 12:
        out = [x % Q for x in out]
    return out


def _compress(d: int, f: list[int]) -> list[int]:
    # round(2^d / q * x) mod 2^d; q is odd, so there are no ties.
    mask = (1 << d) - 1
    return [(((x << (d + 1)) + Q) // (2 * Q)) & mask for x in f]


def _decompress(d: int, f: list[int]) -> list[int]:
    half = 1 << (d - 1)
    return [(y * Q + half) >> d for y in f]


# -- sampling (section 4.2.2) ------------------------------------------------------------

def _sample_ntt(seed: bytes) -> list[int]:
    """Algorithm 7: rejection sampling from SHAKE128(seed)."""
    out: list[int] = []
    length = 840  # enough for all but ~2^-100 of seeds; read more if not
    stream = hashlib.shake_128(seed).digest(length)
    pos = 0
    while len(out) < N:
        if pos + 3 > len(stream):
            length *= 2
            stream = hashlib.shake_128(seed).digest(length)
        c0, c1, c2 = stream[pos], stream[pos + 1], stream[pos + 2]
        pos += 3
        d1 = c0 + 256 * (c1 & 15)
        d2 = (c1 >> 4) + 16 * c2
        if d1 < Q:
            out.append(d1)
        if d2 < Q and len(out) < N:
            out.append(d2)
    return out


def _sample_cbd(eta: int, data: bytes) -> list[int]:
    """Algorithm 8: centered binomial distribution."""
    bits = int.from_bytes(data, "little")
    out = []
    mask = (1 << eta) - 1
    for i in range(N):
        chunk = bits >> (2 * eta * i)
        x = bin(chunk & mask).count("1")
        y = bin((chunk >> eta) & mask).count("1")
        out.append((x - y) % Q)
    return out


# -- the NTT (section 4.3) -------------------------------------------------------------------

def _ntt(f: list[int]) -> list[int]:
    """Algorithm 9."""
    f = list(f)
    i = 1
    length = 128
    while length >= 2:
        for start in range(0, N, 2 * length):
            zeta = _ZETAS[i]
            i += 1
            for j in range(start, start + length):
                t = zeta * f[j + length] % Q
                f[j + length] = (f[j] - t) % Q
                f[j] = (f[j] + t) % Q
        length //= 2
    return f


def _ntt_inverse(f: list[int]) -> list[int]:
    """Algorithm 10."""
    f = list(f)
    i = 127
    length = 2
    while length <= 128:
        for start in range(0, N, 2 * length):
            zeta = _ZETAS[i]
            i -= 1
            for j in range(start, start + length):
                t = f[j]
                f[j] = (t + f[j + length]) % Q
                f[j + length] = zeta * (f[j + length] - t) % Q
        length *= 2
    return [x * 3303 % Q for x in f]


def _multiply_ntts(f: list[int], g: list[int]) -> list[int]:
    """Algorithms 11 and 12."""
    out = [0] * N
    for i in range(128):
        a0, a1, b0, b1 = f[2 * i], f[2 * i + 1], g[2 * i], g[2 * i + 1]
        out[2 * i] = (a0 * b0 + a1 * b1 * _GAMMAS[i]) % Q
        out[2 * i + 1] = (a0 * b1 + a1 * b0) % Q
    return out


def _add(f: list[int], g: list[int]) -> list[int]:
    return [(a + b) % Q for a, b in zip(f, g)]


def _dot(fs: list[list[int]], gs: list[list[int]]) -> list[int]:
    acc = [0] * N
    for f, g in zip(fs, gs):
        acc = _add(acc, _multiply_ntts(f, g))
    return acc


# -- K-PKE (section 5) --------------------------------------------------------------------------

def _matrix(rho: bytes, k: int) -> list[list[list[int]]]:
    # A_hat[i][j] = SampleNTT(rho || j || i)
    return [[_sample_ntt(rho + bytes([j, i])) for j in range(k)] for i in range(k)]


def _pke_keygen(params: tuple, d: bytes) -> tuple[bytes, bytes]:
    """Algorithm 13."""
    k, eta1 = params[0], params[1]
    rho, sigma = _g(d + bytes([k]))
    a_hat = _matrix(rho, k)
    s = [_sample_cbd(eta1, _prf(eta1, sigma, i)) for i in range(k)]
    e = [_sample_cbd(eta1, _prf(eta1, sigma, k + i)) for i in range(k)]
    s_hat = [_ntt(p) for p in s]
    e_hat = [_ntt(p) for p in e]
    t_hat = [_add(_dot(a_hat[i], s_hat), e_hat[i]) for i in range(k)]
    ek = b"".join(_byte_encode(12, p) for p in t_hat) + rho
    dk = b"".join(_byte_encode(12, p) for p in s_hat)
    return ek, dk


def _pke_encrypt(params: tuple, ek: bytes, m: bytes, r: bytes) -> bytes:
    """Algorithm 14."""
    k, eta1, eta2, du, dv = params
    t_hat = [_byte_decode(12, ek[384 * i:384 * (i + 1)]) for i in range(k)]
    rho = ek[384 * k:]
    a_hat = _matrix(rho, k)
    y = [_sample_cbd(eta1, _prf(eta1, r, i)) for i in range(k)]
    e1 = [_sample_cbd(eta2, _prf(eta2, r, k + i)) for i in range(k)]
    e2 = _sample_cbd(eta2, _prf(eta2, r, 2 * k))
    y_hat = [_ntt(p) for p in y]
    u = [_add(_ntt_inverse(_dot([a_hat[j][i] for j in range(k)], y_hat)), e1[i]) for i in range(k)]
    mu = _decompress(1, _byte_decode(1, m))
    v = _add(_add(_ntt_inverse(_dot(t_hat, y_hat)), e2), mu)
    c1 = b"".join(_byte_encode(du, _compress(du, p)) for p in u)
    return c1 + _byte_encode(dv, _compress(dv, v))


def _pke_decrypt(params: tuple, dk: bytes, c: bytes) -> bytes:
    """Algorithm 15."""
    k, _, _, du, dv = params
    split = 32 * du * k
    u = [_decompress(du, _byte_decode(du, c[32 * du * i:32 * du * (i + 1)])) for i in range(k)]
    v = _decompress(dv, _byte_decode(dv, c[split:]))
    s_hat = [_byte_decode(12, dk[384 * i:384 * (i + 1)]) for i in range(k)]
    w = [(a - b) % Q for a, b in zip(v, _ntt_inverse(_dot(s_hat, [_ntt(p) for p in u])))]
    return _byte_encode(1, _compress(1, w))


# -- ML-KEM (section 6) ----------------------------------------------------------------------------

def sizes(name: str) -> dict[str, int]:
    """Byte lengths: encapsulation key, expanded decapsulation key,
    ciphertext."""
    k, _, _, du, dv = PARAMS[name]
    return {"ek": 384 * k + 32, "dk": 768 * k + 96, "ct": 32 * (du * k + dv)}


def keygen_internal(name: str, d: bytes, z: bytes) -> tuple[bytes, bytes]:
    """Algorithm 16: (ek, dk) from the seeds d and z."""
    ek, dk_pke = _pke_keygen(PARAMS[name], bytes(d))
    return ek, dk_pke + ek + _h(ek) + bytes(z)


def encaps_internal(name: str, ek: bytes, m: bytes) -> tuple[bytes, bytes]:
    """Algorithm 17: (shared secret, ciphertext)."""
    shared, r = _g(bytes(m) + _h(ek))
    return shared, _pke_encrypt(PARAMS[name], ek, bytes(m), r)


def decaps_internal(name: str, dk: bytes, c: bytes) -> bytes:
    """Algorithm 18, with implicit rejection: a ciphertext that does not
    re-encrypt to itself gives J(z || c)."""
    params = PARAMS[name]
    k = params[0]
    dk_pke, ek = dk[:384 * k], dk[384 * k:768 * k + 32]
    h, z = dk[768 * k + 32:768 * k + 64], dk[768 * k + 64:]
    m = _pke_decrypt(params, dk_pke, c)
    shared, r = _g(m + h)
    rejected = _j(z + c)
    return shared if _pke_encrypt(params, ek, m, r) == c else rejected


def check_encapsulation_key(name: str, ek: bytes) -> None:
    """Section 7.2's input checks: the length, and every coefficient
    reduced modulo q."""
    k = PARAMS[name][0]
    if len(ek) != 384 * k + 32:
        raise ValueError(f"An {name} encapsulation key is {384 * k + 32} bytes")
    for i in range(k):
        chunk = ek[384 * i:384 * (i + 1)]
        if _byte_encode(12, _byte_decode(12, chunk)) != chunk:
            raise ValueError(f"Invalid {name} encapsulation key")


class PrivateKey:
    """An ML-KEM decapsulation key made from its 64-byte seed, with the
    interface of `cryptography`'s MLKEM768PrivateKey that KMS uses."""

    __slots__ = ("name", "seed", "_ek", "_dk")

    def __init__(self, name: str, seed: bytes) -> None:
        if name not in PARAMS:
            raise ValueError(f"unknown ML-KEM parameter set {name}")
        seed = bytes(seed)
        if len(seed) != SEED_BYTES:
            raise ValueError(f"An ML-KEM seed is {SEED_BYTES} bytes")
        self.name, self.seed = name, seed
        self._ek, self._dk = keygen_internal(name, seed[:32], seed[32:])

    @classmethod
    def generate(cls, name: str) -> "PrivateKey":
        return cls(name, os.urandom(SEED_BYTES))

    def public_key(self) -> "PublicKey":
        return PublicKey(self.name, self._ek)

    def private_bytes_raw(self) -> bytes:
        return self.seed

    def decapsulate(self, ciphertext: bytes) -> bytes:
        ciphertext = bytes(ciphertext)
        if len(ciphertext) != sizes(self.name)["ct"]:
            raise ValueError(f"Invalid {self.name} ciphertext")
        return decaps_internal(self.name, self._dk, ciphertext)


class PublicKey:
    __slots__ = ("name", "_ek")

    def __init__(self, name: str, ek: bytes) -> None:
        check_encapsulation_key(name, bytes(ek))
        self.name, self._ek = name, bytes(ek)

    def public_bytes_raw(self) -> bytes:
        return self._ek

    def encapsulate(self) -> tuple[bytes, bytes]:
        """(shared secret, ciphertext), as `cryptography` returns them."""
        return encaps_internal(self.name, self._ek, os.urandom(32))
