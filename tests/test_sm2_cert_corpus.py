"""The X.509 rows of ../shared/interop/sm2-sm3/CASES.csv, read in place."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keys.algorithms import KeyType
from keys.x509 import parse_certificate, parse_certificates
from verifier import Indication, SubIndication, TrustStore, validate_path

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "interop" / "sm2-sm3"
TS = CORPUS / "tongsuo-certs"
AT = datetime(2025, 1, 1, tzinfo=UTC)


def _certs(*names: str) -> list:
    return [c for n in names for c in parse_certificates((CORPUS / n).read_bytes())]


def _validate(leaf: str, anchors: list, inter: list = (), at: datetime = AT):
    return validate_path(_certs(leaf)[0], trust=TrustStore.of(anchors), intermediates=list(inter), at=at)


def test_cases_csv_lists_the_rows_we_cover() -> None:
    rows = {r["case_id"] for r in csv.DictReader((CORPUS / "CASES.csv").open(encoding="utf-8"))}
    for case in (
        "verify-sm2-id",
        "verify-sm2-noza",
        "tlcp-chain-valid",
        "tlcp-expired",
        "tls-leaf-chain",
        "rfc8998-ca",
        "server_sign2/server_enc2",
        "gmssl-chain",
        "sheca-ca",
        "openssl3-spki",
    ):
        assert case in rows


def test_verify_sm2_id_valid() -> None:
    rep = _validate("tongsuo-certs/sm2-cert.pem", _certs("tongsuo-certs/sm2-root-cert.pem"))
    assert rep.indication is Indication.TOTAL_PASSED, rep.reason.en


def test_sm2_noza_is_invalid_for_a_conformant_verifier() -> None:
    rep = _validate("tongsuo-certs/sm2-noza-cert.pem", _certs("tongsuo-certs/sm2-noza-root-cert.pem"))
    assert rep.indication is Indication.TOTAL_FAILED
    assert rep.sub_indication is SubIndication.SIG_CRYPTO_FAILURE


def _tlcp_trust():
    ca = _certs("tongsuo-certs/sm2/chain-ca.crt")
    return [c for c in ca if c.self_issued], [c for c in ca if not c.self_issued]


@pytest.mark.parametrize("name", ["server_sign", "server_enc", "client_sign", "client_enc"])
def test_tlcp_chain_valid(name: str) -> None:
    anchors, inter = _tlcp_trust()
    assert len(anchors) == 1 and len(inter) == 1
    rep = _validate(f"tongsuo-certs/sm2/{name}.crt", anchors, inter, at=datetime(2024, 6, 1, tzinfo=UTC))
    assert rep.passed, rep.reason.en
    assert len(rep.chain) == 3


@pytest.mark.parametrize("name", ["server_sign", "server_enc", "client_sign", "client_enc"])
def test_tlcp_expired(name: str) -> None:
    anchors, inter = _tlcp_trust()
    rep = _validate(f"tongsuo-certs/sm2/{name}_expire.crt", anchors, inter, at=datetime(2024, 6, 1, tzinfo=UTC))
    assert rep.indication is Indication.TOTAL_FAILED and rep.sub_indication is SubIndication.EXPIRED


def test_tls_leaf_chain_valid() -> None:
    ca = _certs("tongsuo-certs/sm2-chain-ca.crt")
    rep = _validate(
        "tongsuo-certs/sm2-leaf.crt", [c for c in ca if c.self_issued], [c for c in ca if not c.self_issued]
    )
    assert rep.passed, rep.reason.en


def test_rfc8998_ca_issued_by_sm2_root() -> None:
    rep = _validate("tongsuo-certs/sm2-first-crt.pem", _certs("tongsuo-certs/sm2-root-cert.pem"))
    assert rep.passed, rep.reason.en


@pytest.mark.parametrize("name", ["server_sign2", "server_enc2"])
def test_server2_has_no_chain(name: str) -> None:
    anchors, inter = _tlcp_trust()
    rep = _validate(f"tongsuo-certs/sm2/{name}.crt", anchors, inter)
    assert rep.indication is Indication.INDETERMINATE
    assert rep.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    assert "SUBCA SM2" in rep.reason.en


def test_gmssl_chain_middle_signed_by_root() -> None:
    certs = _certs("emmansun-gmsm-samples/gmssl_cn_sm2_cert_chain.p7b.pem")
    root = next(c for c in certs if c.self_issued)
    middle = next(c for c in certs if not c.self_issued)
    assert "MiddleCA" in middle.subject_str
    middle.verify_issued_by(root.public_key())
    at = max(root.not_before, middle.not_before)
    rep = validate_path(middle, trust=TrustStore.of([root]), at=at)
    assert rep.passed, rep.reason.en


def test_sheca_and_openssl3_spki_parse() -> None:
    sheca = parse_certificate(
        (CORPUS / "emmansun-gmsm-samples/sheca_sm2_ca_cert_issued_by_nrcac_rootca.pem").read_bytes()
    )
    assert "SHECA SM2" in sheca.subject_str and sheca.is_ca
    assert sheca.public_key().key_type is KeyType.SM2
    assert sheca.signature_algorithm["algorithm"].dotted == "1.2.156.10197.1.501"
    # The NRCAC root is not in the corpus: no chain.
    rep = validate_path(sheca, trust=TrustStore.of(_certs("tongsuo-certs/sm2-root-cert.pem")), at=AT)
    assert rep.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND
    o3 = parse_certificate((CORPUS / "emmansun-gmsm-samples/openssl3_sm2_selfsigned_sm2_spki_oid.pem").read_bytes())
    assert o3.public_key().key_type is KeyType.SM2
    assert o3.signature_algorithm["algorithm"].dotted == "1.2.156.10197.1.501"
