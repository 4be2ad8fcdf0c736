"""Our verifier years later, offline: a signature timestamp is proof of existence (ETSI EN 319 102-1 §5.6.2.4).

Signed with esign's own signer and TSA (tests.test_pdf_sign fixtures); checked through
verifier.pdf.verify_pdf with no network and a moved clock.
"""

from __future__ import annotations

from datetime import timedelta

from keys.x509 import parse_certificate
from tests.test_pdf_sign import AT, pdf, pki  # noqa: F401  (fixtures)
from verifier.pdf import verify_pdf
from verifier.pki import TrustStore
from verifier.report import Indication, SubIndication

LATER = AT + timedelta(days=3 * 365)  # the signer certificate (2 years) has expired; the TSA's (5 years) has not


def _trust(p):  # type: ignore[no-untyped-def]
    return TrustStore.of([parse_certificate(p.region.root.cert.der)])


def test_sm2_bt_passes_years_later_on_its_timestamp(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, "sm2", level="b-t")
    now = verify_pdf(data, trust=_trust(pki), at=AT + timedelta(minutes=2))
    assert now.indication is Indication.TOTAL_PASSED, now.reason.en
    later = verify_pdf(data, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.TOTAL_PASSED, later.reason.en
    sig = later.signatures[0]
    ts = [c for c in sig.checks if c.name.endswith("timestamp")]
    assert ts and ts[0].status.value == "passed" and "proves existence" in ts[0].detail_en


def test_expired_without_proof_is_indeterminate_not_failed(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = pki.sign(pdf, "sm2", level="b-b")
    later = verify_pdf(data, trust=_trust(pki), at=LATER)
    assert later.indication is Indication.INDETERMINATE
    assert later.signatures[0].sub_indication is SubIndication.OUT_OF_BOUNDS_NO_POE


def test_tampered_timestamped_pdf_still_fails_later(pki, pdf) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = bytearray(pki.sign(pdf, "sm2", level="b-t"))
    i = data.index(b"/Contents") - 40  # a byte inside the signed range, before the signature dictionary
    data[i] ^= 0x01
    later = verify_pdf(bytes(data), trust=_trust(pki), at=LATER)
    assert later.indication is not Indication.TOTAL_PASSED
