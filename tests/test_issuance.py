"""Issuance of canonical signed licences: validation, authorisation, signing, persistence, verification.

Also the shared throwaway world for the licence tests (:func:`make_world`): an SM2 root, an
issuing authority with a ``licence_issuer``-style certificate, a seal listing it, an in-memory
key store, seal register and licence repository.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from esign.ports import MemorySealRegister, SealStatus
from esign.ses import SealStatusError, make_seal
from keys.errors import NotFoundError
from keys.interfaces import SigningKey
from keys.keypairs import generate_key
from keys.x509 import (
    build_certificate,
    ext_basic_constraints,
    ext_key_usage,
    ext_subject_key_identifier,
    make_name,
    parse_certificate,
)
from licences.canonical import canonical_json, parse_unverified_signed_licence
from licences.errors import (
    CheckCharacterError,
    HolderKindError,
    InvalidFieldError,
    NotAuthorisedToIssueError,
    UnknownLicenceTypeError,
)
from licences.identifiers import make_id_number, parse_licence_id
from licences.issuance import LicenceService
from licences.model import IssuingAuthority, LicenceStatus, SignatureFormat, effective_status, metadata
from licences.ports import MemoryLicenceRepository
from verifier.licence import verify_licence
from verifier.pki import TrustStore
from verifier.report import Indication, SubIndication

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ID_CARD = "11100000000013127D001"
BUSINESS = "11100000MB0F30000M001"
DRIVING = "11100000000013127D002"
AUTH_USCC = "11440000MB2C93715B"  # check-valid, made up


def _png() -> bytes:
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGBA", (40, 40), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((2, 2, 37, 37), outline=(200, 0, 0, 255), width=3)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def issue_cert(root_key: SigningKey, cn: str, key: Any, *, start: datetime, days: int = 730,
               ca: bool = False) -> bytes:
    """A certificate under the test root for ``key`` (signing or verifying key; self-signed root if ``root_key``)."""
    spki = (key.public_key() if hasattr(key, "public_key") else key).spki_der()
    ku = ("key_cert_sign", "crl_sign", "digital_signature") if ca else ("digital_signature", "non_repudiation")
    return build_certificate(subject=make_name({"C": "CN", "O": "Test", "CN": cn}),
                             issuer=make_name({"C": "CN", "O": "Test", "CN": "Licence Test Root"}),
                             subject_spki=spki, issuer_key=root_key, not_before=start,
                             not_after=start + timedelta(days=days),
                             extensions=[ext_basic_constraints(ca=ca), ext_key_usage(ku),
                                         ext_subject_key_identifier(spki)])


class MemoryKeys:
    """The two KeyProvider methods issuance needs, over keys held in memory."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[SigningKey, bytes]] = {}

    def signing_key(self, key_id: str, *, version: int | None = None) -> SigningKey:
        try:
            return self.keys[key_id][0]
        except KeyError:
            raise NotFoundError(f"no key {key_id}", field="key_id") from None

    def certificate(self, key_id: str, version: int | None = None) -> bytes:
        try:
            return self.keys[key_id][1]
        except KeyError:
            raise NotFoundError(f"no key {key_id}", field="key_id") from None


@dataclass
class World:
    """Everything a licence test needs."""

    service: LicenceService
    repo: MemoryLicenceRepository
    keys: MemoryKeys
    seals: MemorySealRegister
    authority: IssuingAuthority
    trust: TrustStore
    root_key: SigningKey

    def add_authority(self, auth_id: str, uscc: str, *, region: str = "440000", alg: str = "sm2",
                      fmt: SignatureFormat = SignatureFormat.SES, types: tuple[str, ...] = (ID_CARD, BUSINESS),
                      ) -> IssuingAuthority:
        start = T0 - timedelta(days=1)
        key = generate_key(alg)
        cert = issue_cert(self.root_key, f"{auth_id} licence issuer", key, start=start)
        self.keys.keys[f"{region}.{auth_id}"] = (key, cert)
        seal_id = None
        if fmt is SignatureFormat.SES:
            maker_key = generate_key("sm2")
            maker = issue_cert(self.root_key, "seal maker", maker_key, start=start)
            seal_id = f"{region}SEAL{auth_id.upper().replace('-', '')}"[:30]
            der = make_seal(maker_key=maker_key, maker_cert_der=maker, seal_id=seal_id, seal_type=1,
                            name=f"{auth_id} 证照专用章", signer_certs=[cert], valid_from=start,
                            valid_to=start + timedelta(days=700), picture=_png(), width_mm=40, height_mm=40, at=T0)
            self.seals.add(der, region=region, enterprise=uscc, at=start, actor="test")
        auth = IssuingAuthority(id=auth_id, region=region, name=f"{auth_id} 发证机构", uscc=uscc, allowed_types=types,
                                key_id=f"{region}.{auth_id}", seal_id=seal_id, certificate=b"", signature_format=fmt)
        return self.service.register_authority(auth, actor="admin", at=T0)


def make_world(repo: Any = None) -> World:
    """A fresh world with one SES authority ``gd-psb`` in 440000 issuing identity cards and business licences.

    ``repo`` replaces the in-memory repository (e.g. the SQL one over SQLite or PostgreSQL).
    """
    root_key = generate_key("sm2")
    root = issue_cert(root_key, "Licence Test Root", root_key, start=T0 - timedelta(days=2), days=3650, ca=True)
    keys = MemoryKeys()
    seals = MemorySealRegister()
    repo = MemoryLicenceRepository() if repo is None else repo
    service = LicenceService(repo, keys=keys, seals=seals,  # type: ignore[arg-type]
                             pii_hash=lambda v: hmac.new(b"k", v.encode(), hashlib.sha256).hexdigest()[:32])
    w = World(service=service, repo=repo, keys=keys, seals=seals, authority=None,  # type: ignore[arg-type]
              trust=TrustStore.of([parse_certificate(root)]), root_key=root_key)
    w.authority = w.add_authority("gd-psb", AUTH_USCC)
    return w


def person_fields(**over: Any) -> dict[str, Any]:
    """Valid identity-card fields."""
    d: dict[str, Any] = {"name": "张三", "sex": "男", "ethnicity": "汉", "birth_date": "1990-05-17",
                         "address": "广东省广州市天河区体育西路1号",
                         "id_number": make_id_number("440106", date(1990, 5, 17), 123),
                         "issuing_office": "广州市公安局天河分局", "valid_until": "2035-03-01"}
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


def business_fields(**over: Any) -> dict[str, Any]:
    """Valid business-licence fields."""
    d: dict[str, Any] = {"uscc": "91350100M000100Y43", "name": "示例科技有限公司", "entity_type": "有限责任公司",
                         "legal_representative": "李四", "registered_capital": 500, "established_on": "2015-06-01",
                         "address": "福建省福州市鼓楼区", "business_scope": "软件开发", "registration_area": "350100"}
    d.update(over)
    return {k: v for k, v in d.items() if v is not None}


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def _issue(w: World, fields: dict[str, Any] | None = None, **kw: Any) -> Any:
    return w.service.issue(kw.pop("authority", w.authority), kw.pop("type_code", ID_CARD),
                           person_fields() if fields is None else fields, actor="p_issuer",
                           at=kw.pop("at", T0), region=kw.pop("region", "440000"), **kw)


# --- happy path -------------------------------------------------------------------------------


def test_issue_and_verify_identity_card(world: World) -> None:
    lic = _issue(world)
    lid = parse_licence_id(lic.licence_id)  # the check character holds
    assert (lid.type_code, lid.issuer_code, lid.version) == (ID_CARD, AUTH_USCC, 1)
    assert lic.holder_id_type == "111" and lic.holder_name == "张三" and lic.number == lic.holder_id
    assert lic.valid_until == date(2035, 3, 1) and lic.status is LicenceStatus.VALID
    assert world.repo.get_licence(lic.licence_id) == lic  # persisted
    report = verify_licence(lic.signed, trust=world.trust, at=T0 + timedelta(hours=1))
    # without a status list the verdict cannot be PASSED, but everything else checks out
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE
    by = {c.name: c.status.value for c in report.checks}
    assert by["signature"] == by["identifier"] == by["validity"] == "passed"
    assert report.signer["licence_id"] == lic.licence_id


def test_document_is_canonical_and_deterministic(world: World) -> None:
    lic = _issue(world)
    sl = parse_unverified_signed_licence(lic.signed)
    assert sl.document == lic.document
    assert canonical_json(json.loads(lic.document)) == lic.document  # re-encoding gives the same bytes
    assert "张三".encode() in lic.document  # CJK written as itself, not \\u escapes
    env = json.loads(lic.signed)
    assert list(env) == ["format", "licence", "signature"] and base64.b64decode(env["licence"]) == lic.document
    meta = metadata(lic, at=T0)
    assert meta["ZZBS"] == lic.licence_id and meta["CZZTDMLXDM"] == "111" and meta["ZZZT"] == "valid"
    assert meta["ZZBFJGDM"] == AUTH_USCC and meta["ZZYXQJZRQ"] == "2035-03-01"


def test_organisation_licence_and_fixed_validity(world: World) -> None:
    lic = _issue(world, business_fields(operating_until=None), type_code=BUSINESS)
    assert lic.holder_id_type == "001" and lic.holder_id == "91350100M000100Y43"
    assert lic.valid_until is None  # open-ended business term
    assert effective_status(lic, T0 + timedelta(days=36500)) is LicenceStatus.VALID


def test_tampered_document_fails(world: World) -> None:
    lic = _issue(world)
    env = json.loads(lic.signed)
    doc = json.loads(lic.document)
    doc["holder"]["name"] = "李四"
    env["licence"] = base64.b64encode(canonical_json(doc)).decode()
    report = verify_licence(canonical_json(env), trust=world.trust, at=T0)
    assert report.indication is Indication.TOTAL_FAILED and report.sub_indication is SubIndication.HASH_FAILURE


def test_untrusted_root_is_not_passed(world: World) -> None:
    lic = _issue(world)
    other = make_world()
    report = verify_licence(lic.signed, trust=other.trust, at=T0)
    assert report.indication is not Indication.TOTAL_PASSED


def test_expired_licence_fails_validity(world: World) -> None:
    lic = _issue(world, person_fields(valid_until="2025-06-01"))
    assert effective_status(lic, datetime(2025, 7, 1, tzinfo=UTC)) is LicenceStatus.EXPIRED
    report = verify_licence(lic.signed, trust=world.trust, at=datetime(2025, 7, 1, tzinfo=UTC))
    assert report.indication is Indication.TOTAL_FAILED and report.sub_indication is SubIndication.EXPIRED


def test_cms_policy_with_p256() -> None:
    w = make_world()
    auth = w.add_authority("gd-ecdsa", "11440000MB2C937236", alg="p256", fmt=SignatureFormat.CMS)
    lic = w.service.issue(auth, ID_CARD, person_fields(), actor="p", at=T0, region="440000")
    assert parse_unverified_signed_licence(lic.signed).signature_format == "cms"
    report = verify_licence(lic.signed, trust=w.trust, at=T0)
    assert {c.name: c.status.value for c in report.checks}["signature"] == "passed"


# --- refusals: each names the field and writes nothing ----------------------------------------


@pytest.mark.parametrize(("fields", "exc", "field"), [
    (person_fields(name=None), InvalidFieldError, "name"),
    (person_fields(birth_date="17/05/1990"), InvalidFieldError, "birth_date"),
    (person_fields(sex="X"), InvalidFieldError, "sex"),
    (person_fields(nickname="x"), InvalidFieldError, "nickname"),
    (person_fields(name=123), InvalidFieldError, "name"),
    (person_fields(id_number="440106199005171235"), CheckCharacterError, "id_number"),
    (person_fields(id_number="91350100M000100Y43"), HolderKindError, "id_number"),
    (person_fields(valid_until="2020-01-01"), InvalidFieldError, "valid_until"),
])
def test_bad_fields_are_refused(world: World, fields: dict[str, Any], exc: type, field: str) -> None:
    before = len(world.repo.list_licences(limit=1000))
    with pytest.raises(exc) as info:
        _issue(world, fields)
    assert info.value.field == field and info.value.http_status in (400, 422)
    assert len(world.repo.list_licences(limit=1000)) == before


def test_organisation_with_person_id_is_holder_kind_error(world: World) -> None:
    with pytest.raises(HolderKindError) as info:
        _issue(world, business_fields(uscc=person_fields()["id_number"]), type_code=BUSINESS)
    assert info.value.field == "uscc"


def test_authorisation(world: World) -> None:
    with pytest.raises(NotAuthorisedToIssueError) as info:
        _issue(world, region="110000")
    assert info.value.http_status == 403 and info.value.field == "region"
    with pytest.raises(NotAuthorisedToIssueError) as info:
        _issue(world, {"name": "x"}, type_code=DRIVING)
    assert info.value.field == "type_code"
    with pytest.raises(UnknownLicenceTypeError) as info:
        _issue(world, type_code="11100000000013127D999")
    assert info.value.field == "type_code"


def test_suspended_seal_stops_issuance() -> None:
    w = make_world()
    assert w.authority.seal_id is not None
    w.seals.set_status(w.authority.seal_id, SealStatus.SUSPENDED, reason="t", at=T0, actor="a")
    with pytest.raises(SealStatusError):
        _issue(w, at=T0 + timedelta(minutes=1))
    assert not w.repo.list_licences()


def test_audit_entries_carry_no_personal_data(world: World) -> None:
    lic = _issue(world)
    entries = [e for e in world.repo.audit if e["object_id"] == lic.licence_id]
    assert [e["action"] for e in entries] == ["licence.issue"]
    blob = json.dumps(entries, ensure_ascii=False)
    assert lic.holder_id not in blob and "张三" not in blob and entries[0]["details"]["holder"]


def test_register_authority_checks() -> None:
    w = make_world()
    bad = replace(w.authority, id="gd-other", uscc="11440000MB2C93715C")
    with pytest.raises(CheckCharacterError) as info:
        w.service.register_authority(bad, actor="a", at=T0)
    assert info.value.field == "uscc"
    dup = replace(w.authority, id="gd-other")
    with pytest.raises(Exception) as info2:
        w.service.register_authority(dup, actor="a", at=T0)
    assert getattr(info2.value, "http_status", None) == 409


def test_mutations_never_pass_or_crash(world: World) -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from keys.errors import BadInputError
    from licences.status import publish_status_list

    lic = _issue(world)
    data = lic.signed
    sl = publish_status_list(world.repo, world.authority, key=world.keys.signing_key(world.authority.key_id), at=T0)
    assert verify_licence(data, trust=world.trust, at=T0, status_list=sl).passed  # the unmutated licence passes

    @settings(max_examples=60, deadline=None)
    @given(st.integers(0, len(data) - 1), st.integers(1, 255))
    def check(pos: int, xor: int) -> None:
        mutated = data[:pos] + bytes([data[pos] ^ xor]) + data[pos + 1:]
        try:
            report = verify_licence(mutated, trust=world.trust, at=T0, status_list=sl)
        except BadInputError:
            return
        assert report.indication is not Indication.TOTAL_PASSED

    check()
