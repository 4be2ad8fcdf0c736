"""The fast paths of licence issuance and licence rendering give the same results as the slow ones.

- TBS_Sign and SES_Signature are written directly: byte-equal to the asn1crypto schema encoding.
- :class:`esign.ses.SealSigner` (checks done once) signs what :func:`esign.ses.sign_with_seal` signs
  and refuses what it refuses.
- The SQL audit log remembers its head but the row decides: a stale guess never forks the chain.
- Savepoints of a licence transaction open lazily and still undo what happened inside them.
- A B-B PDF signature's ``/Contents`` reservation is pyHanko's estimate, made once per signer set-up.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import core, x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.validation import validate_pdf_signature
from sqlalchemy import text

from esign.formats.ses import (
    SM2_SM3_OID,
    SESSignatureV4,
    TBSSignV4,
    encode_ses_signature_v4,
    encode_tbs_sign_v4,
    parse_unverified_ses_signature,
)
from esign.pdf import sign_pdf
from esign.ports import MemorySealRegister, SealStatus
from esign.ses import (
    SealNotValidError,
    SealSigner,
    SealStatusError,
    SignerCertificateNotValidError,
    SignerNotAuthorisedError,
    sign_with_seal,
)
from keys.errors import BadInputError, EsignError, KeyFormatError
from keys.hashing import sm3
from licences.model import LicenceStatus
from tests.test_issuance import ID_CARD, T0, World, make_world, person_fields
from tests.test_pdf_sign import AT as PDF_AT
from tests.test_pdf_sign import Pki as PdfPki
from tests.test_pdf_sign import blank_pdf, vc
from tests.test_ses_sign_verify import Pki, make_pki, new_seal
from verifier.ses import verify_ses_signature

SIGN_AT = T0 + timedelta(hours=1)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def seal(pki: Pki) -> bytes:
    return new_seal(pki)


# -- direct DER encoders ------------------------------------------------------------------------


def _reference_tbs(seal: bytes, at: datetime, digest: bytes, prop: str, version: int) -> bytes:
    return bytes(TBSSignV4({
        "version": version, "eseal": core.Any.load(seal),
        "time_info": x509.Time(name="general_time", value=at.astimezone(UTC).replace(microsecond=0)),
        "data_hash": core.OctetBitString(digest), "property_info": core.IA5String(prop),
    }).dump())


@pytest.mark.parametrize("at", [datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
                                datetime(2025, 12, 31, 23, 59, 59, 999_999, tzinfo=timezone(timedelta(hours=8))),
                                datetime(2049, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-5)))])
@pytest.mark.parametrize("prop", ["", "1.2.156.3005.2.x", "p" * 127, "q" * 128, "r" * 4000])
@pytest.mark.parametrize("version", [4, 5])
def test_tbs_sign_is_byte_equal_to_the_schema_encoding(seal: bytes, at: datetime, prop: str, version: int) -> None:
    digest = sm3(prop.encode())
    got = encode_tbs_sign_v4(seal_der=seal, signing_time=at, data_hash=digest, property_info=prop, version=version)
    assert got == _reference_tbs(seal, at, digest, prop, version)
    assert TBSSignV4.load(got, strict=True)["property_info"].native == prop


@pytest.mark.parametrize("timestamp", [None, b"\x30\x03\x02\x01\x05", b"t" * 300])
def test_ses_signature_is_byte_equal_to_the_schema_encoding(pki: Pki, seal: bytes, timestamp: bytes | None) -> None:
    tbs = encode_tbs_sign_v4(seal_der=seal, signing_time=SIGN_AT, data_hash=bytes(32), property_info="x")
    sig = b"\x30\x45" + b"s" * 69
    got = encode_ses_signature_v4(tbs_der=tbs, signer_cert_der=pki.signer, signature=sig, timestamp=timestamp)
    fields: dict[str, Any] = {"to_sign": TBSSignV4.load(tbs), "cert": pki.signer, "signature_alg_id": SM2_SM3_OID,
                              "signature": core.OctetBitString(sig)}
    if timestamp is not None:
        fields["time_stamp"] = core.OctetBitString(timestamp)
    assert got == bytes(SESSignatureV4(fields).dump())


def test_tbs_sign_refuses_non_ascii_property_and_naive_time(seal: bytes) -> None:
    with pytest.raises(BadInputError):
        encode_tbs_sign_v4(seal_der=seal, signing_time=SIGN_AT, data_hash=bytes(32), property_info="证照")
    with pytest.raises(BadInputError):
        encode_tbs_sign_v4(seal_der=seal, signing_time=datetime(2025, 3, 1), data_hash=bytes(32), property_info="x")


# -- SealSigner -----------------------------------------------------------------------------------


def test_seal_signer_signs_what_sign_with_seal_signs(pki: Pki, seal: bytes) -> None:
    s = SealSigner(seal_der=seal, signer_key=pki.signer_key, signer_cert_der=pki.signer)
    fast = s.sign(data=b"licence document", at=SIGN_AT, property_info="lic-1")
    slow = sign_with_seal(seal_der=seal, signer_key=pki.signer_key, signer_cert_der=pki.signer,
                          data=b"licence document", at=SIGN_AT, property_info="lic-1")
    a, b = parse_unverified_ses_signature(fast), parse_unverified_ses_signature(slow)
    assert a.tbs_der == b.tbs_der and a.signer_cert_der == b.signer_cert_der == pki.signer
    assert len(fast) == len(slow) or abs(len(fast) - len(slow)) <= 2  # only the DER SM2 value's length varies
    rep = verify_ses_signature(fast, data=b"licence document", trust=pki.trust, at=T0 + timedelta(days=2))
    assert rep.passed, rep.to_dict()
    assert not verify_ses_signature(fast, data=b"another document", trust=pki.trust, at=T0 + timedelta(days=2)).passed
    hashed = s.sign(data_hash=sm3(b"licence document"), at=SIGN_AT, property_info="lic-1")
    assert parse_unverified_ses_signature(hashed).tbs_der == a.tbs_der


def test_seal_signer_refuses_what_sign_with_seal_refuses(pki: Pki, seal: bytes) -> None:
    with pytest.raises(KeyFormatError):
        SealSigner(seal_der=seal, signer_key=pki.other_key, signer_cert_der=pki.signer)
    with pytest.raises(SignerNotAuthorisedError):
        SealSigner(seal_der=seal, signer_key=pki.other_key, signer_cert_der=pki.other)
    s = SealSigner(seal_der=seal, signer_key=pki.signer_key, signer_cert_der=pki.signer)
    register = MemorySealRegister()
    register.add(seal, region="440000", enterprise="91440000MA00000001", at=T0, actor="p")
    register.set_status(s.seal.seal_id, SealStatus.SUSPENDED, reason="audit", at=T0 + timedelta(minutes=30),
                        actor="p")
    cases: list[tuple[dict[str, Any], type[EsignError]]] = [
        ({"at": T0 - timedelta(days=3)}, SealNotValidError),  # before the seal (and the certificate)
        ({"at": T0 + timedelta(days=400)}, SealNotValidError),
        ({"at": SIGN_AT, "seal_register": register}, SealStatusError),
        ({"at": datetime(2025, 3, 1, 9)}, BadInputError),
        ({"at": SIGN_AT, "data_hash": bytes(32)}, BadInputError),
        ({"at": SIGN_AT, "data": None, "data_hash": b"short"}, BadInputError),
    ]
    for extra, error in cases:
        args: dict[str, Any] = {"data": b"doc", "property_info": "p", **extra}
        with pytest.raises(error):
            s.sign(**args)
        with pytest.raises(error):
            sign_with_seal(seal_der=seal, signer_key=pki.signer_key, signer_cert_der=pki.signer, **args)


def test_seal_signer_checks_the_certificate_at_each_signing_time() -> None:
    late = make_pki(start=T0 + timedelta(days=2))  # certificates start two days after T0
    seal = new_seal(late, valid_from=T0, at=T0 + timedelta(days=3), valid_to=T0 + timedelta(days=300))
    s = SealSigner(seal_der=seal, signer_key=late.signer_key, signer_cert_der=late.signer)
    with pytest.raises(SignerCertificateNotValidError):
        s.sign(data=b"doc", at=T0 + timedelta(days=1), property_info="p")
    assert s.sign(data=b"doc", at=T0 + timedelta(days=4), property_info="p")


# -- SQL: audit head and lazy savepoints ------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fast.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sql_world(db_url: str) -> Iterator[World]:
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database, run_migrations
    from api.storage.licences import SqlLicenceRepository

    db = Database(db_url)
    run_migrations(db)
    w = make_world(SqlLicenceRepository(db, audit=SqlAuditLog(db, clock=lambda: datetime.now(UTC))))
    w.db = db  # type: ignore[attr-defined]
    yield w
    db.dispose()


def _log(w: World) -> Any:
    from api.storage.audit import SqlAuditLog

    return SqlAuditLog(w.db, clock=lambda: datetime.now(UTC))  # type: ignore[attr-defined]


def test_a_stale_remembered_head_does_not_fork_the_chain(sql_world: World) -> None:
    a, b = _log(sql_world), _log(sql_world)
    e1 = a.append(actor="a", action="x", object_type="t", object_id="1")
    b.append(actor="b", action="x", object_type="t", object_id="2")
    b.append(actor="b", action="x", object_type="t", object_id="3")
    e4 = a.append(actor="a", action="x", object_type="t", object_id="4")  # a's guess (e1) is stale
    assert e4.seq == e1.seq + 3 and a.verify().intact and a.verify().count == e4.seq
    # The head row is moved back by hand (the tail cut off); the next append follows the row, not the guess.
    with sql_world.db.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": e1.seq})
        conn.execute(text("UPDATE audit_head SET seq = :s, entry_hash = :h WHERE id = 1"),
                     {"s": e1.seq, "h": e1.entry_hash})
    e = a.append(actor="a", action="x", object_type="t", object_id="5")
    assert (e.seq, e.prev_hash) == (e1.seq + 1, e1.entry_hash)
    st = a.verify()
    assert st.intact and st.count == e.seq and st.head_hash == e.entry_hash


def _build(w: World, tx: Any) -> Any:
    t, fields, start, end = w.service.prepare(w.authority, ID_CARD, person_fields(), at=T0, region="440000")
    return w.service.build(tx, w.authority, t, fields, start=start, end=end, at=T0,
                           signer=w.service.signer(w.authority, at=T0))


def test_lazy_savepoints_undo_buffered_and_written_work(sql_world: World) -> None:
    w = sql_world
    first = w.service.issue(w.authority, ID_CARD, person_fields(), actor="p", at=T0, region="440000")
    undone: list[str] = []
    with w.repo.transaction() as tx:
        with pytest.raises(RuntimeError), tx.savepoint():  # only buffered work inside
            undone.append(_build(w, tx).licence_id)
            raise RuntimeError("row failed")
        with pytest.raises(RuntimeError), tx.savepoint():  # a write reaches the database inside
            tx.set_status(first.licence_id, LicenceStatus.REVOKED, reason="wrong")
            raise RuntimeError("decision failed")
        with tx.savepoint():  # outer stays lazy until the inner one writes; the inner one fails alone
            kept = _build(w, tx)
            with pytest.raises(RuntimeError), tx.savepoint():
                tx.set_status(first.licence_id, LicenceStatus.SUSPENDED, reason="x")
                undone.append(_build(w, tx).licence_id)
                raise RuntimeError("inner failed")
    assert w.repo.get_licence(first.licence_id).status is LicenceStatus.VALID
    assert {x.licence_id for x in w.repo.list_licences()} == {first.licence_id, kept.licence_id}
    assert kept.status_index == 1 and undone == [kept.licence_id, undone[1]]  # the first undone row gave back its index
    assert undone[1] not in {x.licence_id for x in w.repo.list_licences()}
    assert w.repo.status_size(w.authority.id)[0] == 2
    assert _log(w).verify().intact


# -- PDF: /Contents reservation ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf_pki(tmp_path_factory: pytest.TempPathFactory) -> PdfPki:
    return PdfPki(tmp_path_factory.mktemp("reserve"))


def _contents_len(data: bytes) -> int:
    sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
    start, length, second, _ = sig.byte_range
    return int(second - (start + length))


def test_b_b_reservation_is_estimated_once_per_signer_set_up(pdf_pki: PdfPki, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = PdfSigningSession.estimate_signature_container_size

    async def counting(self: Any, *a: Any, **kw: Any) -> int:
        calls.append(1)
        return int(await real(self, *a, **kw))

    monkeypatch.setattr(PdfSigningSession, "estimate_signature_container_size", counting)
    signer = pdf_pki.issue("p256")  # a certificate no earlier test signed with
    pdf = blank_pdf(1)
    outs = [pdf_pki.sign(pdf, signer=signer, at=PDF_AT + timedelta(minutes=i)) for i in range(3)]
    assert len(calls) == 1
    assert len({_contents_len(o) for o in outs}) == 1
    for o in outs:
        status = validate_pdf_signature(PdfFileReader(io.BytesIO(o)).embedded_signatures[0],
                                        vc(pdf_pki, PDF_AT + timedelta(hours=1)))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    shorter = pdf_pki.sign(pdf, signer=signer, chain=pdf_pki.chain[:1])  # another chain: another estimate
    assert len(calls) == 2 and _contents_len(shorter) < _contents_len(outs[0])
    sign_pdf(pdf, key=signer[0], cert_der=signer[1], chain=pdf_pki.chain, at=PDF_AT)  # type: ignore[arg-type]
    assert len(calls) == 2
    for _ in range(2):  # with a timestamp the TSA's token size counts: estimated every time
        pdf_pki.sign(pdf, signer=signer, level="b-t")
    assert len(calls) == 4
