"""The front door: PDF detection and registration, bad input, plain anchors vs a trust registry."""

from __future__ import annotations

import pytest

from keys.x509 import parse_certificate
from tests._pdf_fixtures import NOW, make_pki, minimal_pdf, sign
from verifier.pki import TrustStore
from verifier.report import Indication, SubIndication
from verifier.trust import TrustRegistry
from verifier.verifier import UnsupportedArtefactError, detect_kind, verify_artefact


@pytest.fixture(scope="module")
def signed_pdf():  # type: ignore[no-untyped-def]
    pki = make_pki("p256")
    return pki, sign(minimal_pdf(), pki, field="Sig1")


def test_pdf_is_detected_and_verified(signed_pdf) -> None:  # type: ignore[no-untyped-def]
    pki, data = signed_pdf
    assert detect_kind(data) == "pdf"
    r = verify_artefact(data, trust=pki.trust, at=NOW)
    assert r.artefact == "pdf" and r.indication is Indication.TOTAL_PASSED, r.reason.en
    assert "trust_context" not in r.to_dict()  # plain anchors: no registry, no trust context


def test_no_trust_at_all_is_never_passed(signed_pdf) -> None:  # type: ignore[no-untyped-def]
    _, data = signed_pdf
    r = verify_artefact(data, at=NOW)
    assert r.indication is Indication.INDETERMINATE and r.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_registry_with_local_anchors_uses_local_rule(signed_pdf) -> None:  # type: ignore[no-untyped-def]
    pki, data = signed_pdf
    reg = TrustRegistry(local_region="440000")
    r = verify_artefact(data, trust=pki.trust, registry=reg, at=NOW)
    assert r.passed, r.reason.en
    assert r.trust_context["rule"] == "local-region" and r.trust_context["region"] == "440000"
    assert r.signatures[0].trust_context["local"] is True
    empty = verify_artefact(data, registry=reg, at=NOW)
    assert empty.indication is Indication.INDETERMINATE and empty.trust_context["recognised"] is False


@pytest.mark.parametrize("payload", [b"%PDF-1.7\n", b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n"])
def test_truncated_pdf_is_bad_input(payload: bytes) -> None:
    with pytest.raises(UnsupportedArtefactError):
        verify_artefact(payload, trust=TrustStore(anchors=()), at=NOW)


def test_broken_pdf_with_trailer_is_a_format_failure() -> None:
    r = verify_artefact(b"%PDF-1.7\ngarbage\n%%EOF\n", trust=TrustStore(anchors=()), at=NOW)
    assert r.indication is Indication.TOTAL_FAILED and r.sub_indication is SubIndication.FORMAT_FAILURE


def test_certificate_through_registry_local_anchor(signed_pdf) -> None:  # type: ignore[no-untyped-def]
    pki, _ = signed_pdf
    from keys.x509 import cert_to_pem

    chain = cert_to_pem(pki.cert_der)
    r = verify_artefact(chain, trust=TrustStore.of([parse_certificate(pki.root_der)]),
                        registry=TrustRegistry(local_region="110000"), at=NOW)
    assert r.passed and r.trust_context["local"] is True
    assert {c.name for c in r.checks} >= {"trust_list", "recognition"}
