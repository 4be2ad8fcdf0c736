"""Trust lists: signing, thresholds, rotation, rollback, expiry, tampering, limits and the O(1) index."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest

from keys import _trustlist_schema as schema
from keys.keypairs import generate_key
from keys.trustlist import (
    TrustListError,
    TrustListExpiredError,
    TrustListMalformedError,
    TrustListRollbackError,
    TrustListSignatureError,
    TrustListThresholdError,
    canonical_json,
    keyid_of,
    parse_and_verify,
)
from keys.x509 import parse_certificate
from tests._trust_fixtures import T0, RegionPki, bulk_entries, many_certs, signed_list

AT = T0 + timedelta(days=1)


@pytest.fixture(scope="module")
def keys():
    return [generate_key("sm2") for _ in range(6)]


@pytest.fixture(scope="module")
def pki():
    return RegionPki("110000")


def _pubs(ks):
    return [k.public_key() for k in ks]


def test_round_trip_and_index(keys, pki) -> None:
    raw = signed_list("110000", keys[:1], pki.entries())
    tl = parse_and_verify(raw, pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)
    assert (tl.region, tl.version, len(tl.entries)) == ("110000", 1, 2)
    assert tl.signed_by == (keyid_of(keys[0].public_key()),)
    assert tl.digest == hashlib.sha256(canonical_json(json.loads(raw)["signed"])).hexdigest()
    ca = pki.issuing
    kid = hashlib.sha256(ca.der).digest()[:8]
    for how, value in (("ski", ca.ski), ("cert_sha256", bytes.fromhex(ca.sha256)), ("kid", kid),
                       ("spki_sha256", hashlib.sha256(ca.spki_der).digest())):
        assert [e.id for e in tl.find(how, value)] == ["licence-ca"], how
    assert tl.find("ski", b"\x00" * 20) == ()
    with pytest.raises(TrustListMalformedError):
        tl.find("subject", b"x")


@pytest.mark.parametrize("alg", ["p256", "ed25519"])
def test_other_list_signing_algorithms(alg, pki) -> None:
    k = generate_key(alg)
    tl = parse_and_verify(signed_list("110000", [k], pki.entries()), pinned_keys=[k.public_key()], threshold=1,
                          previous=None, at=AT)
    assert tl.version == 1


def test_threshold_two_of_three(keys, pki) -> None:
    three = keys[:3]
    ok = signed_list("110000", three, pki.entries(), threshold=2, signers=three[:2])
    tl = parse_and_verify(ok, pinned_keys=_pubs(three), threshold=2, previous=None, at=AT)
    assert len(tl.signed_by) == 2
    one = signed_list("110000", three, pki.entries(), threshold=2, signers=three[:1])
    with pytest.raises(TrustListThresholdError):
        parse_and_verify(one, pinned_keys=_pubs(three), threshold=2, previous=None, at=AT)
    # The same signature twice does not count twice.
    env = json.loads(ok)
    env["signatures"] = [env["signatures"][0], env["signatures"][0]]
    with pytest.raises(TrustListThresholdError):
        parse_and_verify(json.dumps(env).encode(), pinned_keys=_pubs(three), threshold=2, previous=None, at=AT)


def test_unknown_signer_is_a_bad_signature(keys, pki) -> None:
    raw = signed_list("110000", keys[3:4], pki.entries())
    with pytest.raises(TrustListSignatureError):
        parse_and_verify(raw, pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)


def test_tampered_entry_fails(keys, pki) -> None:
    env = json.loads(signed_list("110000", keys[:1], pki.entries()))
    env["signed"]["entries"][1]["licence_types"].append("pharmacy")
    with pytest.raises(TrustListSignatureError):
        parse_and_verify(json.dumps(env).encode(), pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)
    env = json.loads(signed_list("110000", keys[:1], pki.entries()))
    env["signatures"][0]["sig"] = env["signatures"][0]["sig"][:-8] + "AAAAAAA="
    with pytest.raises(TrustListSignatureError):
        parse_and_verify(json.dumps(env).encode(), pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)


def test_rollback_refused(keys, pki) -> None:
    pins = _pubs(keys[:1])
    v2 = parse_and_verify(signed_list("110000", keys[:1], pki.entries(), version=2), pinned_keys=pins, threshold=1,
                          previous=None, at=AT)
    v1 = signed_list("110000", keys[:1], pki.entries(), version=1)
    with pytest.raises(TrustListRollbackError) as ei:
        parse_and_verify(v1, pinned_keys=pins, threshold=1, previous=v2, at=AT)
    assert ei.value.http_status == 409 and isinstance(ei.value, TrustListError)
    other = signed_list("110000", keys[:1], pki.entries(licence_types=("food",)), version=2)
    with pytest.raises(TrustListRollbackError):
        parse_and_verify(other, pinned_keys=pins, threshold=1, previous=v2, at=AT)
    same = parse_and_verify(v2.raw, pinned_keys=pins, threshold=1, previous=v2, at=AT)
    assert same.digest == v2.digest
    v3 = parse_and_verify(signed_list("110000", keys[:1], pki.entries(), version=3), pinned_keys=None,
                          threshold=None, previous=v2, at=AT)
    assert v3.version == 3


def test_expired_refused_at_time(keys, pki) -> None:
    raw = signed_list("110000", keys[:1], pki.entries(), days=30)
    pins = _pubs(keys[:1])
    assert parse_and_verify(raw, pinned_keys=pins, threshold=1, previous=None, at=T0 + timedelta(days=29)).version
    with pytest.raises(TrustListExpiredError):
        parse_and_verify(raw, pinned_keys=pins, threshold=1, previous=None, at=T0 + timedelta(days=30))
    with pytest.raises(TrustListExpiredError):
        parse_and_verify(raw, pinned_keys=pins, threshold=1, previous=None, at=T0 - timedelta(seconds=1))


def test_rotation_of_list_signing_keys(keys, pki) -> None:
    old, new = keys[:3], keys[3:6]
    v1 = parse_and_verify(signed_list("110000", old, pki.entries(), threshold=2, signers=old[:2]),
                          pinned_keys=_pubs(old), threshold=2, previous=None, at=AT)
    # v2 names the new keys; it must carry 2 old AND 2 new signatures.
    both = signed_list("110000", new, pki.entries(), version=2, threshold=2, signers=[*old[:2], *new[:2]])
    v2 = parse_and_verify(both, pinned_keys=None, threshold=None, previous=v1, at=AT)
    assert {k.keyid for k in v2.keys} == {keyid_of(k.public_key()) for k in new}
    only_new = signed_list("110000", new, pki.entries(), version=2, threshold=2, signers=new[:2])
    with pytest.raises(TrustListSignatureError):  # not one signature by a key of v1
        parse_and_verify(only_new, pinned_keys=None, threshold=None, previous=v1, at=AT)
    one_old = signed_list("110000", new, pki.entries(), version=2, threshold=2, signers=[old[0], *new[:2]])
    with pytest.raises(TrustListThresholdError):
        parse_and_verify(one_old, pinned_keys=None, threshold=None, previous=v1, at=AT)
    only_old = signed_list("110000", new, pki.entries(), version=2, threshold=2, signers=old[:2])
    with pytest.raises(TrustListThresholdError):
        parse_and_verify(only_old, pinned_keys=None, threshold=None, previous=v1, at=AT)
    # From v2 on, the old keys alone can no longer sign.
    v3_old = signed_list("110000", new, pki.entries(), version=3, threshold=2, signers=old)
    with pytest.raises(TrustListSignatureError):
        parse_and_verify(v3_old, pinned_keys=None, threshold=None, previous=v2, at=AT)
    v3 = signed_list("110000", new, pki.entries(), version=3, threshold=2, signers=new[1:])
    assert parse_and_verify(v3, pinned_keys=None, threshold=None, previous=v2, at=AT).version == 3


def test_first_import_needs_pins(keys, pki) -> None:
    with pytest.raises(TrustListMalformedError):
        parse_and_verify(signed_list("110000", keys[:1], pki.entries()), pinned_keys=None, threshold=None,
                         previous=None, at=AT)


def _edit(raw: bytes, fn) -> bytes:
    env = json.loads(raw)
    fn(env)
    out = json.dumps(env).encode()
    assert out != json.dumps(json.loads(raw)).encode()
    return out


@pytest.mark.parametrize("mutate", [
    lambda raw: b"not json",
    lambda raw: b"[" * 100_000,
    lambda raw: raw.replace(b'"version":1', b'"version":1.0'),
    lambda raw: raw.replace(b'"version":1', b'"version":1,"version":1'),
    lambda raw: raw.replace(b'"version":1', b'"version":1,"extra": {"a": [[[[[[[[[[1]]]]]]]]]]}'),
    lambda raw: raw.replace(b'"service_type":"licence_issuer"', b'"service_type":"bank"'),
    lambda raw: raw.replace(b'"status":"granted"', b'"status":"withdrawn"', 1),
    lambda raw: raw.replace(b'"signatures":[', b'"signatures": [], "x": ['),
    lambda raw: _edit(raw, lambda e: e["signed"]["entries"][1]["certificates"].__setitem__(0, "!!")),
    lambda raw: _edit(raw, lambda e: e["signed"]["entries"][1]["certificates"].__setitem__(0, "MAMCAQA=")),
    lambda raw: _edit(raw, lambda e: e["signed"]["entries"][1].__setitem__("certificates", [])),
    lambda raw: raw.replace(b'"version":1', b'"version":-1'),
    lambda raw: raw.replace(b'T00:00:00Z', b'T00:00:00+08:00', 1),
])
def test_malformed_lists_are_typed_errors(keys, pki, mutate) -> None:
    raw = signed_list("110000", keys[:1], pki.entries())
    assert mutate(raw) != raw
    with pytest.raises(TrustListMalformedError):
        parse_and_verify(mutate(raw), pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)


def test_named_limits(keys, pki, monkeypatch) -> None:
    raw = signed_list("110000", keys[:1], pki.entries())
    monkeypatch.setattr(schema, "MAX_ENTRIES", 1)
    with pytest.raises(TrustListMalformedError):
        parse_and_verify(raw, pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)
    monkeypatch.undo()
    import keys.trustlist as tlmod

    monkeypatch.setattr(tlmod, "MAX_LIST_BYTES", 100)
    with pytest.raises(TrustListMalformedError):
        parse_and_verify(raw, pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)
    assert schema.MAX_LIST_BYTES == 32 << 20 and schema.MAX_ENTRIES == 100_000


def test_canonical_json_refuses_floats() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == '{"a":"é","b":1}'.encode()
    with pytest.raises(TrustListMalformedError):
        canonical_json({"a": 1.5})


def test_status_history(keys, pki) -> None:
    hist = [("granted", T0), ("suspended", T0 + timedelta(days=5)), ("granted", T0 + timedelta(days=6)),
            ("withdrawn", T0 + timedelta(days=10))]
    tl = parse_and_verify(signed_list("110000", keys[:1], pki.entries(history=hist)), pinned_keys=_pubs(keys[:1]),
                          threshold=1, previous=None, at=AT)
    e = tl.entries_of("licence_issuer")[0]
    assert e.status == "withdrawn"
    assert [e.status_at(T0 + timedelta(days=d)) for d in (-1, 1, 5, 7, 11)] == [
        None, "granted", "suspended", "granted", "withdrawn"]


def test_ten_thousand_entries_and_o1_lookup(keys) -> None:
    certs = many_certs(10_000)
    raw = signed_list("110000", keys[:1], bulk_entries(certs))
    tl = parse_and_verify(raw, pinned_keys=_pubs(keys[:1]), threshold=1, previous=None, at=AT)
    assert len(tl.entries) == 10_000
    for i in (0, 4321, 9999):
        c = parse_certificate(certs[i])
        assert [e.id for e in tl.find("ski", c.ski)] == [f"e{i}"]
        assert [e.id for e in tl.find("kid", hashlib.sha256(certs[i]).digest()[:8])] == [f"e{i}"]
        assert [e.id for e in tl.find("spki_sha256", hashlib.sha256(c.spki_der).digest())] == [f"e{i}"]
    # The index is a hash map per key kind: one bucket per certificate, nothing scanned.
    assert len(tl._index["cert_sha256"]) == 10_000
