"""Cross-check against gmssl 3.2.2, an independent pure-Python SM2/SM3 (tests only).

gmssl is used here as a second opinion and nothing else; it must never be imported by
non-test code (it draws nonces from ``random``, see ../shared/reference/sm2.md, defect 1).
Its API quirks handled here:

* keys and signatures are hex strings; signatures are raw ``r||s`` (``asn1=False``);
* ``CryptSM2.__init__`` does ``public_key.lstrip("04")`` when the key starts with ``04``,
  which strips *characters*: any key whose x starts with hex ``0`` or ``4`` after the
  prefix is corrupted. We set ``.public_key`` after construction instead;
* the ID is hard-wired to ``1234567812345678`` (``_sm3_z``);
* ``decrypt`` never checks C3 (it computes it and throws it away), so only round-trips of
  valid ciphertexts are compared.
"""

from __future__ import annotations

import os

import pytest
from asn1crypto import core
from gmssl import func, sm2, sm3
from hypothesis import given, settings
from hypothesis import strategies as st

from keys._sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey, der_to_raw, raw_to_der, sm2_z
from keys.errors import InvalidSignatureError, KeyFormatError
from keys.hashing import sm3 as our_sm3

ANNEX_D = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8"
ANNEX_XY = (
    "09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
    "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13"
)


def _gm(public_xy_hex: str, private_hex: str = "", mode: int = 1) -> sm2.CryptSM2:
    """A gmssl object with the public key set *after* __init__ (dodges the lstrip bug)."""
    c = sm2.CryptSM2(private_key=private_hex, public_key="", mode=mode)
    c.public_key = public_xy_hex.lower()
    return c


def _nonce() -> str:
    # gmssl's own default nonce comes from `random`; in a test we hand it a CSPRNG value
    return os.urandom(32).hex()


def _scalar_hex() -> tuple[str, SM2PrivateKey]:
    while True:
        d = os.urandom(32)
        try:
            return d.hex(), SM2PrivateKey.from_scalar(d)
        except KeyFormatError:  # d out of range (probability ~2^-32): draw again
            continue


def test_lstrip_bug_is_real() -> None:
    """Documented defect: the Annex A key (x = 09F9...) is corrupted by gmssl's constructor."""
    broken = sm2.CryptSM2(private_key="", public_key="04" + ANNEX_XY)
    assert broken.public_key != ANNEX_XY.lower() and len(broken.public_key) < 128
    assert _gm(ANNEX_XY).public_key == ANNEX_XY.lower()


def test_gmssl_verifies_annex_a() -> None:
    r_s = (
        "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
        "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
    )
    assert _gm(ANNEX_XY).verify_with_sm3(r_s.lower(), b"message digest")


def test_gmssl_sign_kat_matches_annex_a() -> None:
    """gmssl accepts an injected k, so it reproduces the Annex A signature exactly."""
    c = _gm(ANNEX_XY, ANNEX_D)
    sig = c.sign_with_sm3(b"message digest", "59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21")
    SM2PublicKey.from_point(bytes.fromhex("04" + ANNEX_XY)).verify(raw_to_der(bytes.fromhex(sig)), b"message digest")
    assert sig.upper().startswith("F5A03B06")


def test_our_signatures_verify_in_gmssl() -> None:
    for i in range(12):
        d_hex, key = _scalar_hex()
        xy = key.public_key().point()[1:].hex()
        assert key.public_key().point()[1:] == bytes.fromhex(xy)
        msg = os.urandom(i * 13)
        raw = der_to_raw(key.sign(msg))
        c = _gm(xy)
        assert c.verify_with_sm3(raw.hex(), msg), i
        bad = raw[:-1] + bytes([raw[-1] ^ 1])
        assert not c.verify_with_sm3(bad.hex(), msg)
        # gmssl derives the same public key from d
        assert _gm("", d_hex)._kg(int(d_hex, 16), sm2.default_ecc_table["g"]) == xy


def test_gmssl_signatures_verify_in_ours() -> None:
    for i in range(12):
        d_hex, key = _scalar_hex()
        xy = key.public_key().point()[1:].hex()
        msg = os.urandom(i * 17 + 1)
        sig_hex = _gm(xy, d_hex).sign_with_sm3(msg, _nonce())
        assert sig_hex is not None and len(sig_hex) == 128
        der = raw_to_der(bytes.fromhex(sig_hex))
        key.public_key().verify(der, msg)
        key.public_key().verify(der, msg, uid=DEFAULT_UID)
        with pytest.raises(InvalidSignatureError):
            key.public_key().verify(der, msg, uid=b"another id")


def test_z_a_agrees() -> None:
    _, key = _scalar_hex()
    point = key.public_key().point()
    c = _gm(point[1:].hex())
    msg = b"z check"
    # gmssl returns e = SM3(Z_A || M) as hex
    assert c._sm3_z(msg) == our_sm3(sm2_z(point) + msg).hex()


class _Ct(core.Sequence):
    _fields = [("x", core.Integer), ("y", core.Integer), ("hash", core.OctetString), ("ciphertext", core.OctetString)]


def _c1c3c2(der: bytes) -> bytes:
    ct = _Ct.load(der)
    return (
        ct["x"].native.to_bytes(32, "big")
        + ct["y"].native.to_bytes(32, "big")
        + ct["hash"].native
        + ct["ciphertext"].native
    )


def _gmssl_retry(op, *args):  # type: ignore[no-untyped-def]
    """gmssl returns None when the KDF output t is all zero (GB/T 32918.4 step A5 says: pick a
    new k and retry; gmssl does not retry). With a 1-byte message that happens 1 time in 256,
    so the cross-check retries with a fresh k / ciphertext, as a conforming encryptor would."""
    for _ in range(16):
        out = op(*args)
        if out is not None:
            return out
    raise AssertionError("gmssl kept returning None (t all zero 16 times in a row)")


def test_encryption_both_ways() -> None:
    d_hex, key = _scalar_hex()
    c = _gm(key.public_key().point()[1:].hex(), d_hex, mode=1)  # mode 1: C1||C3||C2
    for plain in (b"x", b"cross-check encryption", os.urandom(100)):
        # ours -> gmssl (GM/T 0009 DER unwrapped to C1||C3||C2); a fresh ciphertext per try
        got = _gmssl_retry(lambda p=plain: c.decrypt(_c1c3c2(key.public_key().encrypt(p))))
        assert got == plain
        # gmssl -> ours (wrapped into GM/T 0009 DER)
        g = _gmssl_retry(c.encrypt, plain)
        der = _Ct({"x": int.from_bytes(g[:32], "big"), "y": int.from_bytes(g[32:64], "big"),
                   "hash": g[64:96], "ciphertext": g[96:]}).dump()  # fmt: skip
        assert key.decrypt(der) == plain


@settings(max_examples=40, deadline=None)
@given(data=st.binary(max_size=300))
def test_sm3_agrees(data: bytes) -> None:
    assert sm3.sm3_hash(func.bytes_to_list(data)) == our_sm3(data).hex()


def test_sm3_agrees_on_block_boundaries() -> None:
    for n in (0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000):
        data = os.urandom(n)
        assert sm3.sm3_hash(func.bytes_to_list(data)) == our_sm3(data).hex(), n
