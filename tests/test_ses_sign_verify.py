"""Seals and seal signatures made by esign: sign, verify every GB/T 38540 step, refuse bad input."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from esign.formats.ses import parse_unverified_seal, parse_unverified_ses_signature
from esign.ports import MemorySealRegister, SealStatus
from esign.ses import (
    SealNotValidError,
    SealStatusError,
    SignerCertificateNotValidError,
    SignerNotAuthorisedError,
    detect_picture_type,
    make_seal,
    sign_with_seal,
)
from keys.errors import AlgorithmNotAllowedError, BadInputError, KeyFormatError
from keys.hashing import sm3
from keys.interfaces import SigningKey
from keys.keypairs import generate_key
from keys.x509 import build_certificate, ext_basic_constraints, ext_key_usage, ext_subject_key_identifier, make_name
from verifier.pki import TrustStore
from verifier.report import CheckStatus, Indication, SubIndication
from verifier.ses import verify_seal, verify_ses, verify_ses_signature

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def png_bytes(size: int = 40) -> bytes:
    """A small red-circle PNG made with Pillow."""
    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((2, 2, size - 3, size - 3), outline=(200, 0, 0, 255), width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Pki:
    """A root, a seal maker and two signers (SM2), all valid from T0 - 1 day for two years."""

    root_key: SigningKey
    root: bytes
    maker_key: SigningKey
    maker: bytes
    signer_key: SigningKey
    signer: bytes
    other_key: SigningKey
    other: bytes

    @property
    def trust(self) -> TrustStore:
        from keys.x509 import parse_certificate

        return TrustStore.of([parse_certificate(self.root)])


def _issue(root_key: SigningKey, root_name: Any, cn: str, *, key: SigningKey, start: datetime,
           days: int = 730, ku: tuple[str, ...] = ("digital_signature", "non_repudiation")) -> bytes:
    spki = key.public_key().spki_der()
    return build_certificate(subject=make_name({"C": "CN", "O": "Test", "CN": cn}), issuer=root_name,
                             subject_spki=spki, issuer_key=root_key, not_before=start,
                             not_after=start + timedelta(days=days),
                             extensions=[ext_basic_constraints(ca=False), ext_key_usage(ku),
                                         ext_subject_key_identifier(spki)])


def make_pki(start: datetime = T0 - timedelta(days=1)) -> Pki:
    """Fresh SM2 PKI."""
    root_key = generate_key("sm2")
    name = make_name({"C": "CN", "O": "Test", "CN": "Test Root"})
    spki = root_key.public_key().spki_der()
    root = build_certificate(subject=name, issuer=name, subject_spki=spki, issuer_key=root_key, not_before=start,
                             not_after=start + timedelta(days=3650),
                             extensions=[ext_basic_constraints(ca=True, path_len=1),
                                         ext_key_usage({"key_cert_sign", "crl_sign"}),
                                         ext_subject_key_identifier(spki)])
    mk, sk, ok = generate_key("sm2"), generate_key("sm2"), generate_key("sm2")
    return Pki(root_key, root, mk, _issue(root_key, name, "Seal Maker", key=mk, start=start),
               sk, _issue(root_key, name, "Signer A", key=sk, start=start),
               ok, _issue(root_key, name, "Signer B", key=ok, start=start))


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def new_seal(pki: Pki, **kw: Any) -> bytes:
    args: dict[str, Any] = dict(
        maker_key=pki.maker_key, maker_cert_der=pki.maker, seal_id="44000020250301000001", seal_type=1,
        name="测试有限公司合同专用章", signer_certs=[pki.signer], valid_from=T0, valid_to=T0 + timedelta(days=365),
        picture=png_bytes(), width_mm=40, height_mm=40, at=T0,
    )
    args.update(kw)
    return make_seal(**args)


@pytest.fixture(scope="module")
def seal(pki: Pki) -> bytes:
    return new_seal(pki)


def sign(pki: Pki, seal: bytes, data: bytes = b"contract text", **kw: Any) -> bytes:
    args: dict[str, Any] = dict(seal_der=seal, signer_key=pki.signer_key, signer_cert_der=pki.signer, data=data,
                                at=T0 + timedelta(hours=1), property_info="contract-0001")
    args.update(kw)
    return sign_with_seal(**args)


# --- making seals ------------------------------------------------------------------------------


def test_made_seal_round_trips_and_verifies(pki: Pki, seal: bytes) -> None:
    s = parse_unverified_seal(seal)
    assert (s.version, s.header_version, s.seal_id, s.name) == (4, 4, "44000020250301000001", "测试有限公司合同专用章")
    assert s.signer_certs == (pki.signer,) and s.picture.type == "PNG" and s.picture.width_mm == 40
    assert s.tbs_der == s.seal_info_der
    rep = verify_seal(seal, trust=pki.trust, at=T0 + timedelta(days=1))
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    assert [c.name for c in rep.checks][:3] == ["format", "maker_signature", "maker_certificate"]


def test_seal_outside_validity_window_fails(pki: Pki, seal: bytes) -> None:
    rep = verify_seal(seal, trust=pki.trust, at=T0 + timedelta(days=400))
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.EXPIRED)


def test_seal_without_trust_is_indeterminate(seal: bytes) -> None:
    rep = verify_seal(seal, trust=None, at=T0 + timedelta(days=1))
    assert (rep.indication, rep.sub_indication) == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert {c.name: c.status for c in rep.checks}["maker_signature"] is CheckStatus.PASSED


@pytest.mark.parametrize("picture", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a broken",
                                     b"<?xml version='1.0'?><html/>", b""])
def test_picture_that_is_not_an_image_is_bad_input(pki: Pki, picture: bytes) -> None:
    with pytest.raises(BadInputError):
        new_seal(pki, picture=picture)


def test_picture_types_detected() -> None:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("P", (8, 8)).save(buf, format="GIF")
    assert detect_picture_type(buf.getvalue()) == "GIF"
    assert detect_picture_type(png_bytes()) == "PNG"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><circle r="4"/></svg>'
    assert detect_picture_type(svg) == "SVG"
    with pytest.raises(BadInputError):
        detect_picture_type(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>')


def test_make_seal_refuses_wrong_key_and_type(pki: Pki) -> None:
    with pytest.raises(KeyFormatError):
        new_seal(pki, maker_key=pki.other_key)
    with pytest.raises(AlgorithmNotAllowedError):
        new_seal(pki, maker_key=generate_key("p256"))
    with pytest.raises(BadInputError):
        new_seal(pki, picture_type="GIF")
    with pytest.raises(BadInputError):
        new_seal(pki, valid_to=T0 - timedelta(days=1))
    with pytest.raises(SignerCertificateNotValidError):
        new_seal(pki, at=T0 + timedelta(days=3000), valid_from=T0 + timedelta(days=3000),
                 valid_to=T0 + timedelta(days=3100))


# --- signing and verifying ---------------------------------------------------------------------


def test_sign_and_verify_all_steps_pass(pki: Pki, seal: bytes) -> None:
    der = sign(pki, seal)
    sig = parse_unverified_ses_signature(der)
    assert sig.version == 4 and sig.data_hash == sm3(b"contract text") and sig.property_info == "contract-0001"
    assert sig.seal.der == seal and sig.signer_cert_der == pki.signer
    rep = verify_ses_signature(der, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=2))
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    names = [c.name for c in rep.checks]
    order = ["format", "signature", "signer_in_seal", "seal.maker_signature", "seal_validity",
             "signer_certificate", "data_hash"]
    assert [n for n in names if n in order] == order
    assert rep.signer["seal_id"] == "44000020250301000001" and rep.trust_anchor
    # the same through the front-door handler and with a precomputed hash
    assert verify_ses(der, trust=pki.trust, at=T0 + timedelta(days=2), signed_data=b"contract text").passed
    assert verify_ses_signature(der, data_hash=sm3(b"contract text"), trust=pki.trust, at=T0 + timedelta(days=2)).passed


def test_changed_data_is_hash_failure(pki: Pki, seal: bytes) -> None:
    rep = verify_ses_signature(sign(pki, seal), data=b"contract text!", trust=pki.trust, at=T0 + timedelta(days=2))
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_without_data_or_trust_never_passes(pki: Pki, seal: bytes) -> None:
    der = sign(pki, seal)
    rep = verify_ses_signature(der, trust=pki.trust, at=T0 + timedelta(days=2))
    assert (rep.indication, rep.sub_indication) == (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)
    rep = verify_ses_signature(der, data=b"contract text", trust=None, at=T0 + timedelta(days=2))
    assert (rep.indication, rep.sub_indication) == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    assert {c.name: c.status for c in rep.checks}["signature"] is CheckStatus.PASSED


def test_tampered_signature_value_is_crypto_failure(pki: Pki, seal: bytes) -> None:
    der = bytearray(sign(pki, seal))
    i = der.index(b"contract-0001")
    der[i] ^= 0x01  # change propertyInfo inside TBS_Sign
    rep = verify_ses_signature(bytes(der), data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=2))
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.SIG_CRYPTO_FAILURE)


def test_signer_not_in_list_refused_and_reported(pki: Pki, seal: bytes) -> None:
    with pytest.raises(SignerNotAuthorisedError):
        sign(pki, seal, signer_key=pki.other_key, signer_cert_der=pki.other)
    # forge one by hand: a signature by B over a TBS_Sign carrying a seal that lists only A
    from esign.formats.ses import encode_ses_signature_v4, encode_tbs_sign_v4

    tbs = encode_tbs_sign_v4(seal_der=seal, signing_time=T0 + timedelta(hours=1), data_hash=sm3(b"x"),
                             property_info="p")
    der = encode_ses_signature_v4(tbs_der=tbs, signer_cert_der=pki.other, signature=pki.other_key.sign(tbs))
    rep = verify_ses_signature(der, data=b"x", trust=pki.trust, at=T0 + timedelta(days=2))
    assert rep.sub_indication is SubIndication.SIG_CONSTRAINTS_FAILURE
    assert {c.name: c.status for c in rep.checks}["signature"] is CheckStatus.PASSED


def test_seal_past_validity_refused(pki: Pki, seal: bytes) -> None:
    with pytest.raises(SealNotValidError):
        sign(pki, seal, at=T0 + timedelta(days=366))
    with pytest.raises(SealNotValidError):
        sign(pki, seal, at=T0 - timedelta(hours=1))


def test_revoked_and_suspended_seal_refused(pki: Pki) -> None:
    seal = new_seal(pki, seal_id="REG-1")
    reg = MemorySealRegister()
    reg.add(seal, region="440000", enterprise="91440000MA00000001", at=T0, actor="p_admin")
    der = sign(pki, seal, seal_register=reg)
    reg.set_status("REG-1", SealStatus.SUSPENDED, reason="lost", at=T0 + timedelta(hours=2), actor="p_admin")
    with pytest.raises(SealStatusError):
        sign(pki, seal, seal_register=reg, at=T0 + timedelta(hours=3))
    # made before the suspension, but nothing proves it: indeterminate
    rep = verify_ses_signature(der, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=1),
                               seal_status=reg)
    assert (rep.indication, rep.sub_indication) == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)
    reg.set_status("REG-1", SealStatus.REVOKED, reason="closed", at=T0 + timedelta(hours=4), actor="p_admin")
    with pytest.raises(SealStatusError):
        sign(pki, seal, seal_register=reg, at=T0 + timedelta(hours=5))
    late = sign(pki, seal, at=T0 + timedelta(hours=5))  # signing without the register check...
    rep = verify_ses_signature(late, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=1),
                               seal_status=reg)  # ...is caught by the verifier
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    with pytest.raises(SealStatusError):
        sign(pki, new_seal(pki, seal_id="NOT-REGISTERED"), seal_register=reg)


def test_signer_certificate_expired_at_signing(pki: Pki) -> None:
    short = make_pki(start=T0 - timedelta(days=800))  # certificates expired at T0 - 70 days
    seal = new_seal(short, at=T0 - timedelta(days=100), valid_from=T0 - timedelta(days=100))
    with pytest.raises(SignerCertificateNotValidError):
        sign(short, seal)


def test_wrong_signer_key_refused(pki: Pki, seal: bytes) -> None:
    with pytest.raises(KeyFormatError):
        sign(pki, seal, signer_key=pki.other_key)
    with pytest.raises(BadInputError):
        sign(pki, seal, data=None)
    with pytest.raises(BadInputError):
        sign(pki, seal, data=None, data_hash=b"short")
    with pytest.raises(BadInputError):
        sign(pki, seal, property_info="非 ASCII")


def test_forged_seal_refused(pki: Pki, seal: bytes) -> None:
    forged = bytearray(seal)
    i = forged.index("测试有限公司".encode())
    forged[i + 1] ^= 0x01
    with pytest.raises(SealNotValidError):
        sign(pki, bytes(forged))


def test_timestamp_imprint_checked(pki: Pki, seal: bytes) -> None:
    """A timestamper is called with the signature value; a token over something else is refused."""
    from verifier.ses import verify_ses_signature as v

    tsa_key = generate_key("sm2")
    tsa_name = make_name({"C": "CN", "O": "Test", "CN": "Test TSA"})
    tsa_cert = _issue(pki.root_key, make_name({"C": "CN", "O": "Test", "CN": "Test Root"}), "Test TSA",
                      key=tsa_key, start=T0 - timedelta(days=1))
    assert tsa_name  # the certificate subject above
    try:
        from esign.tsa import LocalTimeStamper, TimeStampAuthority
    except ImportError:  # pragma: no cover - the TSA lives in another module of this issue
        pytest.fail("esign.tsa is required for the timestamp test")

    class _Clock:
        def now(self) -> datetime:
            return T0 + timedelta(hours=1, seconds=5)

    try:
        tsa = TimeStampAuthority(key=tsa_key, cert_der=tsa_cert, policy_oid="1.2.3.4", clock=_Clock())
    except Exception:
        from keys.x509 import ext_extended_key_usage

        spki = tsa_key.public_key().spki_der()
        tsa_cert = build_certificate(
            subject=tsa_name, issuer=make_name({"C": "CN", "O": "Test", "CN": "Test Root"}), subject_spki=spki,
            issuer_key=pki.root_key, not_before=T0 - timedelta(days=1), not_after=T0 + timedelta(days=700),
            extensions=[ext_basic_constraints(ca=False), ext_key_usage({"digital_signature", "non_repudiation"}),
                        ext_subject_key_identifier(spki), ext_extended_key_usage(["time_stamping"], critical=True)])
        tsa = TimeStampAuthority(key=tsa_key, cert_der=tsa_cert, policy_oid="1.2.3.4", clock=_Clock())
    stamper = LocalTimeStamper(tsa)
    der = sign(pki, seal, timestamper=stamper)
    sig = parse_unverified_ses_signature(der)
    assert sig.timestamp is not None
    rep = v(der, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=2))
    statuses = {c.name: c.status for c in rep.checks}
    assert statuses["timestamp"] is CheckStatus.PASSED
    # The TSA's own signature and certificate are judged by verifier.tsp.
    assert statuses["timestamp.tsa"] is CheckStatus.PASSED, rep.to_dict()
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    # a signature whose timestamp covers something else is a hash failure
    from esign.formats.ses import encode_ses_signature_v4

    forged = encode_ses_signature_v4(tbs_der=sig.tbs_der, signer_cert_der=sig.signer_cert_der,
                                     signature=sig.signature, timestamp=stamper.stamp(b"other", hash_name="sm3"))
    rep = v(forged, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=2))
    assert (rep.indication, rep.sub_indication) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    other = stamper.stamp(b"something else", hash_name="sm3")
    with pytest.raises(BadInputError):
        sign(pki, seal, timestamp=other)


def _root_crl(pki: Pki, at: datetime, revoked: tuple[tuple[int, datetime, str | None], ...] = ()) -> Any:
    from keys.x509 import build_crl, parse_certificate, parse_crl

    root = parse_certificate(pki.root)
    return parse_crl(build_crl(issuer=root.subject, issuer_key=pki.root_key, issuer_key_id=root.ski, this_update=at,
                               next_update=at + timedelta(days=7), crl_number=int(at.timestamp()), revoked=revoked))


def test_only_a_later_crl_covers_the_signing_time(pki: Pki, seal: bytes) -> None:
    # A verifier holds the CA's current CRL, issued after the signature: it tells the status at the
    # signing time (not listed), as long as nothing in the path is revoked or expired now.
    der = sign(pki, seal)  # signed at T0 + 1 h
    later = _root_crl(pki, T0 + timedelta(days=1))
    rep = verify_ses_signature(der, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=2), crls=[later],
                               require_revocation=True)
    assert rep.indication is Indication.TOTAL_PASSED, rep.to_dict()
    path = next(c for c in rep.checks if c.name == "signer_certificate_path")
    assert "CRLs issued later" in path.detail_en


def test_a_later_crl_does_not_vouch_for_a_signer_revoked_since(pki: Pki, seal: bytes) -> None:
    # The signing time is the signer's word: a certificate revoked after it (and a signature dated
    # before the revocation) is not vouched for by the later CRL.
    from keys.x509 import parse_certificate

    der = sign(pki, seal)
    serial = parse_certificate(pki.signer).serial
    later = _root_crl(pki, T0 + timedelta(days=1), revoked=((serial, T0 + timedelta(hours=12), "key_compromise"),))
    rep = verify_ses_signature(der, data=b"contract text", trust=pki.trust, at=T0 + timedelta(days=2), crls=[later],
                               require_revocation=True)
    assert rep.indication is not Indication.TOTAL_PASSED
