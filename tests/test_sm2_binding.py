"""The SM2 binding (keys._sm2) against GB/T 32918.5 Annex A and hostile inputs.

Known answers come from ``../shared/interop/sm2-sm3/gbt32918_sm2_signature_examples.json``
(values from GM/T 0003.5 / GB/T 32918.5 Annex A as used by the OpenSSL and Tongsuo test
suites), read in place, never copied.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import _sm2
from keys._sm2 import (
    DEFAULT_UID,
    SM2_N,
    SM2PrivateKey,
    SM2PublicKey,
    der_to_raw,
    raw_to_der,
    self_test,
    sm2_z,
)
from keys.errors import (
    BackendUnavailableError,
    BadInputError,
    EsignError,
    InvalidSignatureError,
    KeyFormatError,
    SignatureFormatError,
)
from keys.hashing import sm3
from keys.keypairs import Sm2SigningKey, generate_key

INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"
EXAMPLES = json.loads((INTEROP / "sm2-sm3" / "gbt32918_sm2_signature_examples.json").read_text())
ANNEX_A = EXAMPLES["vectors"][0]
NO_PUBKEY = EXAMPLES["vectors"][1]
assert ANNEX_A["id"] == "gmt0003.5-annexA-sign"
assert NO_PUBKEY["id"] == "gmt0003.5-annexA-no-pubkey"

A_POINT = bytes.fromhex(ANNEX_A["public_key_uncompressed_derived"])
A_D = bytes.fromhex(ANNEX_A["private_key"])
A_MSG = ANNEX_A["message"].encode()
A_UID = ANNEX_A["user_id"].encode()
A_RAW = bytes.fromhex(ANNEX_A["r"] + ANNEX_A["s"])
A_DER = bytes.fromhex(ANNEX_A["signature_der_derived"])
A_Z = bytes.fromhex(ANNEX_A["za_derived"])
A_E = bytes.fromhex(ANNEX_A["e_derived"])


@pytest.fixture(scope="module")
def a_pub() -> SM2PublicKey:
    return SM2PublicKey.from_point(A_POINT)


@pytest.fixture(scope="module")
def key() -> SM2PrivateKey:
    return SM2PrivateKey.generate()


def _flip(b: bytes, i: int, bit: int = 1) -> bytes:
    return b[:i] + bytes([b[i] ^ bit]) + b[i + 1 :]


# --- GB/T 32918.5 Annex A ---------------------------------------------------------------


class TestAnnexA:
    def test_uid_is_the_standard_default(self) -> None:
        assert A_UID == DEFAULT_UID

    def test_z_a(self) -> None:
        assert sm2_z(A_POINT, A_UID) == A_Z
        assert sm2_z(A_POINT) == A_Z  # default ID is 1234567812345678

    def test_e(self) -> None:
        assert sm3(sm2_z(A_POINT) + A_MSG) == A_E

    def test_der_encoding_of_r_s(self) -> None:
        assert raw_to_der(A_RAW) == A_DER
        assert der_to_raw(A_DER) == A_RAW

    def test_verify(self, a_pub: SM2PublicKey) -> None:
        a_pub.verify(A_DER, A_MSG, uid=A_UID)
        a_pub.verify(A_DER, A_MSG)

    def test_verify_digest(self, a_pub: SM2PublicKey) -> None:
        a_pub.verify_digest(A_DER, A_E)

    @pytest.mark.parametrize("index", [0, 15, 31, 32, 47, 63])
    def test_tampered_signature_fails(self, a_pub: SM2PublicKey, index: int) -> None:
        with pytest.raises(InvalidSignatureError):
            a_pub.verify(raw_to_der(_flip(A_RAW, index)), A_MSG)

    def test_tampered_message_fails(self, a_pub: SM2PublicKey) -> None:
        with pytest.raises(InvalidSignatureError):
            a_pub.verify(A_DER, b"message digesT")
        with pytest.raises(InvalidSignatureError):
            a_pub.verify_digest(A_DER, _flip(A_E, 31))

    def test_scalar_import_yields_public_key(self) -> None:
        k = SM2PrivateKey.from_scalar(A_D)
        assert k.public_key().point() == A_POINT
        # and the imported key signs something the Annex A public key accepts
        SM2PublicKey.from_point(A_POINT).verify(k.sign(A_MSG), A_MSG)
        SM2PublicKey.from_point(A_POINT).verify_digest(k.sign_digest(A_E), A_E)

    def test_scalar_import_round_trips_through_pkcs8(self) -> None:
        k = SM2PrivateKey.from_scalar(A_D)
        again = SM2PrivateKey.from_der(k.to_der())
        assert again.public_key() == k.public_key()
        assert A_D.hex() not in repr(k) and repr(k) == "<SM2PrivateKey>"

    def test_point_forms(self) -> None:
        assert SM2PublicKey.from_point(A_POINT[1:]) == SM2PublicKey.from_point(A_POINT)
        with pytest.raises(KeyFormatError):
            SM2PublicKey.from_point(b"\x02" + A_POINT[1:33])  # compressed form not accepted
        with pytest.raises(KeyFormatError):
            SM2PublicKey.from_point(A_POINT[:-1] + bytes([A_POINT[-1] ^ 1]))  # not on the curve


class TestNoPublicPart:
    """Upstream negative ``gmt0003.5-annexA-no-pubkey``: signing with a key object lacking its
    public point must fail. Our API cannot build such an object: SM2PrivateKey only comes from
    generate(), from_der() or from_scalar(), and each derives or checks the public point
    (EVP_PKEY_check) before returning; SM2PublicKey has no signing method. So we test that
    (a) a PKCS#8 without the optional public key gets it derived, and (b) a PKCS#8 whose public
    key does not match d is refused with KeyFormatError.
    """

    def test_upstream_expectation(self) -> None:
        assert NO_PUBKEY["expected"].startswith("error")

    def test_public_part_is_derived(self) -> None:
        # from_scalar builds an ECPrivateKey without the [1] publicKey field
        k = SM2PrivateKey.from_scalar(A_D)
        assert k.public_key().point() == A_POINT
        SM2PublicKey.from_point(A_POINT).verify(k.sign(b"x"), b"x")

    def test_mismatched_public_part_is_refused(self, key: SM2PrivateKey) -> None:
        other = SM2PrivateKey.generate().public_key().point()
        der = key.to_der()
        mine = key.public_key().point()
        assert der.count(mine) == 1
        with pytest.raises(KeyFormatError):
            SM2PrivateKey.from_der(der.replace(mine, other))

    def test_public_key_cannot_sign(self) -> None:
        assert not hasattr(SM2PublicKey, "sign") and not hasattr(SM2PublicKey, "sign_digest")


# --- DER <-> raw -------------------------------------------------------------------------


def _int(v: bytes) -> bytes:
    return b"\x02" + bytes([len(v)]) + v


def _seq(body: bytes) -> bytes:
    return b"\x30" + bytes([len(body)]) + body


R32 = A_RAW[:32]
S32 = A_RAW[32:]
R_DER = b"\x00" + R32  # r has its top bit set, so DER needs the 0x00
S_DER = b"\x00" + S32

BAD_DER = {
    "ber-long-form-seq-length": b"\x30\x81" + bytes([len(A_DER) - 2]) + A_DER[2:],
    "ber-long-form-int-length": _seq(b"\x02\x81\x21" + R_DER + _int(S_DER)),
    "indefinite-length": b"\x30\x80" + A_DER[2:] + b"\x00\x00",
    "leading-zero-r": _seq(_int(b"\x00" + R_DER) + _int(S_DER)),
    "leading-zero-small": _seq(_int(b"\x00\x01") + _int(S_DER)),
    "negative-r": _seq(_int(R32) + _int(S_DER)),
    "negative-s": _seq(_int(R_DER) + _int(S32)),
    "r-zero": _seq(_int(b"\x00") + _int(S_DER)),
    "s-zero": _seq(_int(R_DER) + _int(b"\x00")),
    "s-equals-n": _seq(_int(R_DER) + _int(b"\x00" + SM2_N.to_bytes(32, "big"))),
    "s-above-n": _seq(_int(R_DER) + _int(b"\x00" + (SM2_N + 1).to_bytes(32, "big"))),
    "r-equals-n": _seq(_int(b"\x00" + SM2_N.to_bytes(32, "big")) + _int(S_DER)),
    "trailing-bytes": A_DER + b"\x00",
    "trailing-inside-seq": _seq(_int(R_DER) + _int(S_DER) + b"\x05\x00"),
    "one-integer": _seq(_int(R_DER)),
    "three-integers": _seq(_int(R_DER) + _int(S_DER) + _int(b"\x01")),
    "empty-integer": _seq(b"\x02\x00" + _int(S_DER)),
    "wrong-outer-tag": b"\x31" + A_DER[1:],
    "wrong-inner-tag": _seq(b"\x04\x21" + R_DER + _int(S_DER)),
    "seq-length-too-long": b"\x30" + bytes([A_DER[1] + 1]) + A_DER[2:],
    "seq-length-too-short": b"\x30" + bytes([A_DER[1] - 1]) + A_DER[2:],
    "truncated": A_DER[:-1],
    "empty": b"",
    "raw-64-bytes": A_RAW,
    "huge-integer": _seq(_int(b"\x01" + bytes(33)) + _int(S_DER)),
}


class TestDerRaw:
    def test_round_trip_both_ways(self, key: SM2PrivateKey) -> None:
        for _ in range(20):
            der = key.sign(b"round trip")
            raw = der_to_raw(der)
            assert len(raw) == 64
            assert raw_to_der(raw) == der

    def test_small_values_are_minimal(self) -> None:
        raw = (1).to_bytes(32, "big") + (0x80).to_bytes(32, "big")
        der = raw_to_der(raw)
        assert der == bytes.fromhex("3007020101020200 80".replace(" ", ""))
        assert der_to_raw(der) == raw

    @pytest.mark.parametrize("name", sorted(BAD_DER))
    def test_strict_der_rejection(self, name: str, a_pub: SM2PublicKey) -> None:
        bad = BAD_DER[name]
        with pytest.raises(SignatureFormatError):
            der_to_raw(bad)
        # verify() applies the same strict check before OpenSSL (which is more lenient) sees it
        with pytest.raises(SignatureFormatError):
            a_pub.verify(bad, A_MSG)
        with pytest.raises(SignatureFormatError):
            a_pub.verify_digest(bad, A_E)

    @pytest.mark.parametrize(
        "raw",
        [
            A_RAW[:63],
            A_RAW + b"\x00",
            bytes(32) + S32,
            R32 + bytes(32),
            SM2_N.to_bytes(32, "big") + S32,
            R32 + b"\xff" * 32,
        ],
        ids=["63-bytes", "65-bytes", "r-zero", "s-zero", "r-equals-n", "s-above-n"],
    )
    def test_raw_rejection(self, raw: bytes) -> None:
        with pytest.raises(SignatureFormatError):
            raw_to_der(raw)

    @settings(max_examples=200, deadline=None)
    @given(r=st.integers(1, SM2_N - 1), s=st.integers(1, SM2_N - 1))
    def test_property_round_trip(self, r: int, s: int) -> None:
        raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        der = raw_to_der(raw)
        assert der_to_raw(der) == raw
        # pyca's DER encoder (independent) agrees on the encoding
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        assert encode_dss_signature(r, s) == der


# --- distinguishing ID -------------------------------------------------------------------


def _z_empty_id(point: bytes) -> bytes:
    """Z_A with ENTL = 0 and no ID bytes: what OpenSSL uses when no ID is set."""
    a = _sm2._A.to_bytes(32, "big") + _sm2._B.to_bytes(32, "big")
    g = _sm2._GX.to_bytes(32, "big") + _sm2._GY.to_bytes(32, "big")
    return sm3(b"\x00\x00" + a + g + point[1:])


class TestDistinguishingId:
    @pytest.mark.parametrize("uid", [None, b"", ""])
    def test_unset_or_empty_id_refused(self, key: SM2PrivateKey, uid: object) -> None:
        pub = key.public_key()
        sig = key.sign(b"m")
        with pytest.raises(BadInputError) as e1:
            key.sign(b"m", uid=uid)  # type: ignore[arg-type]
        with pytest.raises(BadInputError):
            pub.verify(sig, b"m", uid=uid)  # type: ignore[arg-type]
        with pytest.raises(BadInputError):
            sm2_z(pub.point(), uid)  # type: ignore[arg-type]
        assert e1.value.field == "id"
        assert not isinstance(e1.value, InvalidSignatureError)

    def test_overlong_id_refused(self, key: SM2PrivateKey) -> None:
        with pytest.raises(BadInputError):
            key.sign(b"m", uid=b"x" * 8192)
        # OpenSSL's sm2_compute_z_digest refuses id_len >= UINT16_MAX / 8 = 8191, so 8190 is the largest usable
        key.public_key().verify(key.sign(b"m", uid=b"x" * 8190), b"m", uid=b"x" * 8190)

    def test_8191_byte_id_is_bad_input(self, key: SM2PrivateKey) -> None:
        """8191 bytes passes ENTL's 16 bits but OpenSSL refuses it: it must be our BadInputError, not exit 3."""
        for call in (lambda: key.sign(b"m", uid=b"x" * 8191), lambda: sm2_z(key.public_key().point(), b"x" * 8191)):
            with pytest.raises(BadInputError) as exc:
                call()
            assert not isinstance(exc.value, BackendUnavailableError)
        with pytest.raises(BadInputError) as exc:
            key.public_key().verify(key.sign(b"m"), b"m", uid=b"x" * 8191)
        assert not isinstance(exc.value, BackendUnavailableError)

    def test_different_id_fails(self, key: SM2PrivateKey) -> None:
        sig = key.sign(b"payload", uid=b"alice@example.cn")
        key.public_key().verify(sig, b"payload", uid=b"alice@example.cn")
        key.public_key().verify(sig, b"payload", uid="alice@example.cn")  # str is UTF-8
        for other in (DEFAULT_UID, b"alice@example.cN", b"alice@example.cn\x00"):
            with pytest.raises(InvalidSignatureError):
                key.public_key().verify(sig, b"payload", uid=other)

    def test_default_id_is_not_the_empty_id(self, key: SM2PrivateKey) -> None:
        pub = key.public_key()
        msg = b"interop trap"
        # a signature made the way OpenSSL does when no ID is set (ENTL = 0)
        empty_id_sig = key.sign_digest(sm3(_z_empty_id(pub.point()) + msg))
        pub.verify_digest(empty_id_sig, sm3(_z_empty_id(pub.point()) + msg))  # it is a real signature
        with pytest.raises(InvalidSignatureError):
            pub.verify(empty_id_sig, msg)  # default ID
        # and the wrapper's uid=None means 1234567812345678, never the empty ID
        wrapped = Sm2SigningKey(key)
        with pytest.raises(InvalidSignatureError):
            wrapped.public_key().verify(empty_id_sig, msg, uid=None)
        sig = wrapped.sign(msg, uid=None)
        pub.verify(sig, msg, uid=DEFAULT_UID)
        pub.verify_digest(sig, sm3(sm2_z(pub.point(), DEFAULT_UID) + msg))

    def test_sign_is_sm3_of_z_and_message(self, key: SM2PrivateKey) -> None:
        pub = key.public_key()
        msg = os.urandom(300)
        uid = b"bob"
        pub.verify_digest(key.sign(msg, uid=uid), sm3(sm2_z(pub.point(), uid) + msg))
        pub.verify(key.sign_digest(sm3(sm2_z(pub.point(), uid) + msg)), msg, uid=uid)

    def test_digest_must_be_32_bytes(self, key: SM2PrivateKey) -> None:
        with pytest.raises(BadInputError):
            key.sign_digest(b"\x00" * 31)
        with pytest.raises(BadInputError):
            key.public_key().verify_digest(key.sign(b"m"), b"\x00" * 33)


# --- encryption --------------------------------------------------------------------------


class TestEncryption:
    @pytest.mark.parametrize("size", [1, 16, 32, 33, 1000])
    def test_round_trip(self, key: SM2PrivateKey, size: int) -> None:
        pt = os.urandom(size)
        ct = key.public_key().encrypt(pt)
        assert ct != key.public_key().encrypt(pt)  # randomised
        assert key.decrypt(ct) == pt

    def test_empty_plaintext_refused(self, key: SM2PrivateKey) -> None:
        with pytest.raises(BadInputError):
            key.public_key().encrypt(b"")

    def test_wrong_key_or_tampered(self, key: SM2PrivateKey) -> None:
        ct = key.public_key().encrypt(b"secret")
        with pytest.raises(BadInputError):
            SM2PrivateKey.generate().decrypt(ct)
        with pytest.raises(BadInputError):
            key.decrypt(_flip(ct, len(ct) - 1))
        with pytest.raises(BadInputError):
            key.decrypt(ct[:-3])
        with pytest.raises(BadInputError):
            key.decrypt(b"")


# --- threads, self-test, backend failures -------------------------------------------------


def test_two_threads_sign_concurrently() -> None:
    shared = SM2PrivateKey.generate()
    results: list[tuple[SM2PrivateKey, bytes, bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        own = SM2PrivateKey.generate()
        try:
            barrier.wait()
            for i in range(150):
                for k in (shared, own):
                    msg = f"thread {n} msg {i}".encode()
                    sig = k.sign(msg)
                    with lock:
                        results.append((k, msg, sig))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 2 * 150 * 2
    for k, msg, sig in results:
        k.public_key().verify(sig, msg)


def test_self_test_passes() -> None:
    self_test()
    assert _sm2._self_test_done


def test_libcrypto_version_is_3() -> None:
    assert _sm2.libcrypto_version().startswith("OpenSSL 3.")


class TestBackendWithoutSm2:
    """Simulate a Red Hat / Alpine style ``no-sm2`` libcrypto."""

    def test_keygen_unavailable(self, monkeypatch: pytest.MonkeyPatch) -> None:
        lib = _sm2._load()
        monkeypatch.setattr(lib, "EVP_PKEY_CTX_new_from_name", lambda *a: None)
        with pytest.raises(BackendUnavailableError) as exc:
            SM2PrivateKey.generate()
        assert "SM2" in str(exc.value)
        assert exc.value.exit_code == 3

    def test_self_test_fails_closed_when_keys_are_not_sm2(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # In a no-sm2 build an SM2 SPKI loads as a plain EC key, so EVP_PKEY_is_a("SM2") is false.
        lib = _sm2._load()
        monkeypatch.setattr(lib, "EVP_PKEY_is_a", lambda *a: 0)
        monkeypatch.setattr(_sm2, "_self_test_done", False)
        with pytest.raises(BackendUnavailableError) as exc:
            self_test()
        msg = str(exc.value)
        assert "self-test failed" in msg and "SM2" in msg and "ESIGN_LIBCRYPTO" in msg
        assert exc.value.message_zh

    def test_self_test_fails_when_verify_is_broken(self, monkeypatch: pytest.MonkeyPatch) -> None:
        lib = _sm2._load()
        monkeypatch.setattr(lib, "EVP_DigestVerify", lambda *a: 0)
        monkeypatch.setattr(_sm2, "_self_test_done", False)
        with pytest.raises(BackendUnavailableError, match="self-test failed"):
            self_test()

    @pytest.mark.parametrize(
        ("libname", "needle"),
        [("/nonexistent/libcrypto.so.3", "cannot load OpenSSL libcrypto"), ("libz.so.1", "OpenSSL 3.0 or newer")],
    )
    def test_bogus_library_in_subprocess(self, libname: str, needle: str) -> None:
        code = (
            "from keys import _sm2\n"
            "from keys.errors import BackendUnavailableError\n"
            "try:\n"
            "    _sm2.self_test()\n"
            "except BackendUnavailableError as e:\n"
            "    print('TYPED', e)\n"
        )
        env = dict(os.environ, ESIGN_LIBCRYPTO=libname)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("TYPED") and needle in out.stdout, out.stdout


# --- hypothesis ----------------------------------------------------------------------------


_HKEY = SM2PrivateKey.generate()
_HMSG = b"a signed licence"
_HSIG = _HKEY.sign(_HMSG)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=st.binary(max_size=2048), uid=st.binary(min_size=1, max_size=64))
def test_property_sign_verify(msg: bytes, uid: bytes) -> None:
    sig = _HKEY.sign(msg, uid=uid)
    _HKEY.public_key().verify(sig, msg, uid=uid)
    wrapped = Sm2SigningKey(_HKEY)
    wrapped.public_key().verify(wrapped.sign(msg, uid=uid), msg, uid=uid)


@st.composite
def _mutations(draw: st.DrawFn) -> bytes:
    sig = bytearray(_HSIG)
    kind = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "append"]))
    if kind == "flip":
        i = draw(st.integers(0, len(sig) - 1))
        sig[i] ^= draw(st.integers(1, 255))
    elif kind == "set":
        i = draw(st.integers(0, len(sig) - 1))
        sig[i] = draw(st.integers(0, 255))
    elif kind == "truncate":
        del sig[draw(st.integers(0, len(sig) - 1)) :]
    elif kind == "insert":
        i = draw(st.integers(0, len(sig)))
        sig[i:i] = draw(st.binary(min_size=1, max_size=4))
    elif kind == "delete":
        i = draw(st.integers(0, len(sig) - 1))
        del sig[i : i + draw(st.integers(1, 4))]
    else:
        sig += draw(st.binary(min_size=1, max_size=8))
    return bytes(sig)


@settings(max_examples=400, deadline=None)
@given(bad=_mutations())
def test_property_mutated_signature_never_verifies(bad: bytes) -> None:
    if bad == _HSIG:
        return  # "set" may write the same byte back
    pub = _HKEY.public_key()
    with pytest.raises((InvalidSignatureError, SignatureFormatError)):
        pub.verify(bad, _HMSG)
    with pytest.raises((InvalidSignatureError, SignatureFormatError)):
        pub.verify_digest(bad, sm3(sm2_z(pub.point()) + _HMSG))


@settings(max_examples=200, deadline=None)
@given(blob=st.binary(max_size=200))
def test_property_random_bytes_as_key_or_signature(blob: bytes) -> None:
    for fn in (SM2PrivateKey.from_der, SM2PublicKey.from_der, SM2PublicKey.from_point):
        try:
            fn(blob)
        except KeyFormatError:
            pass
    try:
        _HKEY.public_key().verify(blob, _HMSG)
    except (InvalidSignatureError, SignatureFormatError):
        pass
    else:
        raise AssertionError("random bytes verified")


def test_generate_key_wrapper_is_sm2() -> None:
    k = generate_key("sm2")
    assert isinstance(k, Sm2SigningKey)
    with pytest.raises(EsignError):
        generate_key("sm9")
