"""Signed status lists: encoding, size of a million entries, O(1) lookup, verification, and use in verify_licence."""

from __future__ import annotations

import random
from datetime import timedelta

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import BadInputError
from keys.keypairs import generate_key
from licences.errors import StatusListError, StatusListExpiredError
from licences.lifecycle import correct, revoke, suspend
from licences.model import StatusCode
from licences.status import encode_bitstring, load_status_list, publish_status_list, sign_status_list
from tests.test_issuance import ID_CARD, T0, World, issue_cert, make_world, person_fields
from verifier.licence import verify_licence
from verifier.report import Indication, SubIndication

T1 = T0 + timedelta(hours=1)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def _signer(w: World) -> tuple[object, bytes]:
    return w.keys.signing_key(w.authority.key_id), w.authority.certificate


def test_million_entries_one_percent_revoked_under_16_kib(world: World) -> None:
    # A functional property of the encoding (fixed seed), not a timing: the whole signed envelope,
    # certificate and signature included, stays under 16 KiB.
    n = 1_000_000
    rng = random.Random(20250301)
    revoked = rng.sample(range(n), n // 100)
    key, cert = _signer(world)
    data = sign_status_list(authority="gd-psb", issuer=world.authority.uscc, size=n,
                            entries=((i, StatusCode.REVOKED) for i in revoked), key=key, cert_der=cert,  # type: ignore[arg-type]
                            at=T0)
    assert len(data) < 16 * 1024, len(data)
    sl = load_status_list(data, trust=world.trust, at=T1)
    assert sl.size == n and sl.bits == 2 and sl.authority == "gd-psb"
    rset = set(revoked)
    for i in [*revoked[:200], 0, n - 1, *rng.sample(range(n), 200)]:
        assert sl.status(i) == (1 if i in rset else 0)
    with pytest.raises(BadInputError):
        sl.status(n)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=300).flatmap(
    lambda n: st.tuples(st.just(n), st.dictionaries(st.integers(0, max(n - 1, 0)), st.integers(0, 3), max_size=n))))
def test_bitstring_roundtrip(case: tuple[int, dict[int, int]]) -> None:
    n, entries = case
    entries = {i: v for i, v in entries.items() if i < n}
    raw = encode_bitstring(n, entries.items())
    assert len(raw) == (n + 3) // 4
    for i in range(n):
        assert (raw[i >> 2] >> ((i & 3) << 1)) & 3 == entries.get(i, 0)


def test_verification_failures(world: World) -> None:
    key, cert = _signer(world)
    good = sign_status_list(authority="a", issuer="x", size=10, entries=[(3, 1)], key=key, cert_der=cert,  # type: ignore[arg-type]
                            at=T0)
    env = cbor2.loads(good)
    # S2: a changed payload no longer matches the signature
    payload = cbor2.loads(env["payload"])
    payload["status_list"]["lst"] = __import__("zlib").compress(bytes(3))
    forged = cbor2.dumps({**env, "payload": cbor2.dumps(payload, canonical=True)}, canonical=True)
    with pytest.raises(StatusListError):
        load_status_list(forged, trust=world.trust, at=T1)
    # S3: a signer outside the trust store
    other = make_world()
    with pytest.raises(StatusListError):
        load_status_list(good, trust=other.trust, at=T1)
    # S4: expired / not yet valid
    with pytest.raises(StatusListExpiredError):
        load_status_list(good, trust=world.trust, at=T0 + timedelta(days=2))
    with pytest.raises(StatusListExpiredError):
        load_status_list(good, trust=world.trust, at=T0 - timedelta(hours=1))
    # S1: not a status list at all
    for junk in (b"", b"\xa0", b"hello", cbor2.dumps({"typ": "other"})):
        with pytest.raises(BadInputError):
            load_status_list(junk, trust=world.trust, at=T1)
    # S5: a bitstring that decompresses to the wrong length is refused (signed, so forged by the key holder)
    k2 = generate_key("sm2")
    c2 = issue_cert(world.root_key, "bomb", k2, start=T0 - timedelta(days=1))
    bad_payload = cbor2.dumps({"authority": "a", "issuer": "x", "list_id": "a", "version": 1,
                               "iat": int(T0.timestamp()), "exp": int(T0.timestamp()) + 86400, "ttl": 60, "size": 8,
                               "status_list": {"bits": 2, "lst": __import__("zlib").compress(bytes(1 << 20))}},
                              canonical=True)
    bomb = cbor2.dumps({"typ": "esign-status-list/1", "payload": bad_payload, "alg": "1.2.156.10197.1.501",
                        "cert": c2, "sig": k2.sign(bad_payload)}, canonical=True)
    with pytest.raises(StatusListError):
        load_status_list(bomb, trust=world.trust, at=T1)


def test_verify_licence_with_status_list() -> None:
    w = make_world()
    kw = {"actor": "p", "at": T0, "region": "440000"}
    lics = [w.service.issue(w.authority, ID_CARD, person_fields(), **kw) for _ in range(4)]
    revoke(w.service, lics[1].licence_id, reason="r", **kw)
    suspend(w.service, lics[2].licence_id, reason="s", **kw)
    _, new = correct(w.service, lics[3].licence_id, {"address": "新地址"}, reason="c", **kw)
    key = w.keys.signing_key(w.authority.key_id)
    data = publish_status_list(w.repo, w.authority, key=key, at=T0)
    sl = load_status_list(data, trust=w.trust, at=T1)
    assert [sl.status(x.status_index) for x in [*lics, new]] == [0, 1, 2, 3, 0]

    def verdict(lic: object, status_list: object = sl) -> tuple[Indication, SubIndication | None]:
        r = verify_licence(lic.signed, trust=w.trust, at=T1, status_list=status_list)  # type: ignore[attr-defined]
        return r.indication, r.sub_indication

    assert verdict(lics[0]) == (Indication.TOTAL_PASSED, None)
    assert verdict(lics[0], data) == (Indication.TOTAL_PASSED, None)  # published bytes are verified too
    assert verdict(lics[1]) == (Indication.TOTAL_FAILED, SubIndication.REVOKED)
    assert verdict(lics[2]) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert verdict(lics[3])[0] is Indication.TOTAL_FAILED  # superseded
    assert verdict(new) == (Indication.TOTAL_PASSED, None)
    # a list from another authority does not vouch for this licence
    other = make_world()
    foreign = publish_status_list(other.repo, other.authority, key=other.keys.signing_key(other.authority.key_id),
                                  at=T0)
    assert verdict(lics[0], foreign)[0] is Indication.INDETERMINATE
    # the list's version moves with every change
    assert sl.version == w.repo.status_size(w.authority.id)[1]
