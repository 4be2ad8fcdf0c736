"""The speed shortcuts give exactly the answers of the code they stand in for.

- X.509 name comparison (verifier/_names_fast.py) against asn1crypto's own, for every pair of
  names from the NIST PKITS and OpenSSL certificates plus crafted names (case, inner spaces,
  multi-valued RDNs, RDN order, Chinese, explicitly tagged names, prohibited code points).
- RFC 4518 preparation memo against asn1crypto's function.
- The per-context path memo (verifier/_path_memo.py): same reports with and without it, one path
  validation for six signatures by one signer, failures never remembered.
- The token, name and string readers of verifier/_pdf_read.py against pyHanko's on our input
  streams (values, stream position, errors), and pyHanko's own streams untouched.
"""

from __future__ import annotations

import io
import itertools
import os
import random
from pathlib import Path

import pytest
from asn1crypto import core, x509
from pyhanko.pdf_utils import generic, misc

import verifier._pdf_read as pdf_read
from tests._pdf_fixtures import NOW, make_pki, outcome, six_revisions
from verifier import _names_fast, _path_memo
from verifier.pdf import verify_pdf

PKITS = Path(__file__).resolve().parents[2] / "shared" / "interop" / "x509-path-validation"


@pytest.fixture(autouse=True)
def _quiet(quiet_logs: None) -> None:
    """Quiet pyHanko for every test here."""


_outcome = outcome


def _corpus_names() -> list[x509.Name]:
    names: list[x509.Name] = []
    files = sorted(p for p in PKITS.rglob("*") if p.suffix in (".crt", ".der", ".pem", ".cer"))
    for p in files[:400]:
        data = p.read_bytes()
        if b"-----BEGIN" in data:
            from asn1crypto import pem

            if not pem.detect(data):
                continue
            _, _, data = pem.unarmor(data)
        try:
            c = x509.Certificate.load(data)
            names += [c.subject, c.issuer]
        except ValueError:
            continue
    return names


def _crafted() -> list[x509.Name]:
    b = x509.Name.build
    out = [
        b({"common_name": "Root CA", "organization_name": "Org"}),
        b({"common_name": "root ca", "organization_name": "ORG"}),
        b({"common_name": "  Root   CA ", "organization_name": "Org"}),
        b({"common_name": "Root CA", "organization_name": "Org"}, use_printable=True),
        b({"common_name": "Root CA"}),
        b({"common_name": "广东省电子证照签发机构", "country_name": "CN"}),
        b({"common_name": "广东省电子证照签发机构", "country_name": "cn"}),
        b({"common_name": "四川省电子证照签发机构", "country_name": "CN"}),
    ]
    rdn = x509.RelativeDistinguishedName
    ntv = x509.NameTypeAndValue

    def one(t: str, v: str) -> x509.NameTypeAndValue:
        return ntv({"type": t, "value": x509.DirectoryString(name="utf8_string", value=v)})

    multi = x509.Name(name="", value=x509.RDNSequence([rdn([one("common_name", "A"), one("organization_name", "B")])]))
    multi_swapped = x509.Name(name="", value=x509.RDNSequence([rdn([one("organization_name", "b"),
                                                                      one("common_name", "a")])]))
    dup_type = x509.Name(name="", value=x509.RDNSequence([rdn([one("common_name", "A"), one("common_name", "A")])]))
    order = x509.Name(name="", value=x509.RDNSequence([rdn([one("organization_name", "Org")]),
                                                       rdn([one("common_name", "Root CA")])]))
    prohibited = x509.Name(name="", value=x509.RDNSequence([rdn([one("common_name", "bad\ue000")])]))
    out += [multi, multi_swapped, dup_type, order, prohibited]
    # the same name explicitly tagged (as in an ESS IssuerSerial's GeneralName directoryName)
    tagged = x509.GeneralName(name="directory_name", value=x509.Name.build({"common_name": "root ca"}))
    out.append(x509.GeneralName.load(tagged.dump()).chosen)
    return out


def test_name_comparison_equals_asn1cryptos() -> None:
    assert _names_fast.installed()
    names = _corpus_names()[:160] + _crafted()
    assert len(names) > 100
    seen_equal_different_bytes = 0
    for a, b in itertools.product(names, repeat=2):
        a2, b2 = a.copy(), b.copy()  # fresh objects: nothing prepared on them
        ref, ref_err = _outcome(lambda: _names_fast.original_name_eq(a2, b2))  # noqa: B023
        got, got_err = _outcome(lambda: a == b)  # noqa: B023
        if ref_err is not None:
            # asn1crypto refuses to prepare a prohibited value; we do the same unless the bytes are equal
            assert got_err is ref_err or (got is True and a.chosen.dump() == b.chosen.dump())
            continue
        assert got_err is None and got == ref, (a.human_friendly, b.human_friendly)
        if got and a.chosen.dump() != b.chosen.dump():
            seen_equal_different_bytes += 1
    assert seen_equal_different_bytes >= 4  # the canonical-form path was exercised, not only byte equality


def test_name_shortcuts_can_be_switched_off() -> None:
    a = x509.Name.build({"common_name": "Root CA"})
    with _names_fast.shipped():
        assert not _names_fast.installed()
        assert a == x509.Name.build({"common_name": "root  ca"})
    assert _names_fast.installed()


@pytest.mark.parametrize("seed", range(3))
def test_string_preparation_memo_equals_asn1cryptos(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "aAzZ09 -_.\t\u00a0\u00adéÉ中国广东\u200b\u3000\ufb01\u2460ß\u0130"
    strings = ["", " ", "Root CA", "ROOT  CA ", "ﬁle", "Ⅻ"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24))) for _ in range(300)
    ]
    nt = x509.NameTypeAndValue()
    for s in strings:
        assert _outcome(lambda: nt._ldap_string_prep(s)) == _outcome(lambda: _names_fast.original_prep(s))  # noqa: B023


def test_six_signatures_by_one_signer_validate_one_path_same_report() -> None:
    pki = make_pki("p256")
    data = six_revisions(pki)
    before = _path_memo.stats()
    with_memo = verify_pdf(data, trust=pki.trust, at=NOW)
    after = _path_memo.stats()
    assert after["misses"] - before["misses"] == 1 and after["hits"] - before["hits"] == 5
    with _path_memo.shipped(), _names_fast.shipped():
        without = verify_pdf(data, trust=pki.trust, at=NOW)
    assert _path_memo.stats() == after  # switched off: not consulted
    assert with_memo.to_dict() == without.to_dict()


def test_failed_paths_are_not_remembered() -> None:
    pki = make_pki("p256")
    stranger = make_pki.__wrapped__("p256")  # a fresh root of the same name, another key
    assert stranger.root_der != pki.root_der
    data = six_revisions(pki)
    before = _path_memo.stats()
    rep = verify_pdf(data, trust=stranger.trust, at=NOW)  # signer not under the given anchor
    after = _path_memo.stats()
    assert after["hits"] == before["hits"] and after["misses"] - before["misses"] == 6
    assert all(s.indication.value != "TOTAL_PASSED" for s in rep.signatures)


_TOKENS = [b"/Type /Page", b"/A#20B]", b"/Name", b"/", b"/x(y)", b"/\xe4\xb8\xad<<", b"/A#2", b"/A#zz ",
           b"abc def", b"true%c\n", b"/N\x00x", b"/" + b"a" * 3000]


@pytest.mark.parametrize("raw", _TOKENS)
def test_token_reader_is_pyhankos(raw: bytes) -> None:
    for skip in (0, 1):
        fast_stream, slow_stream = pdf_read._PdfInput(raw), io.BytesIO(raw)
        fast_stream.seek(skip)
        slow_stream.seek(skip)
        fast = pdf_read._read_until_delimiter(fast_stream)
        slow = pdf_read._pyhanko_read_until_delimiter(slow_stream)
        assert fast == slow and fast_stream.tell() == slow_stream.tell()


@pytest.mark.parametrize("raw", _TOKENS)
def test_name_reader_is_pyhankos(raw: bytes) -> None:
    fast_stream, slow_stream = pdf_read._PdfInput(raw), io.BytesIO(raw)
    fast, fast_err = _outcome(lambda: generic.NameObject.read_from_stream(fast_stream))
    slow, slow_err = _outcome(lambda: pdf_read._pyhanko_read_name(slow_stream))
    assert fast_err is slow_err
    if slow_err is None:
        assert type(fast) is type(slow) and fast == slow and fast_stream.tell() == slow_stream.tell()
    else:
        assert issubclass(fast_err, misc.PdfReadError)


def test_pyhankos_own_streams_take_pyhankos_readers() -> None:
    stream = io.BytesIO(b"/Type /Page")
    assert generic.NameObject.read_from_stream(stream) == "/Type"
    assert generic.read_until_delimiter is pdf_read._read_until_delimiter  # installed, and delegating:
    assert pdf_read._read_until_delimiter(io.BytesIO(b"abc def")) == b"abc"


def test_string_decoding_is_pyhankos() -> None:
    rng = random.Random(7)
    cases = [bytes([i]) for i in range(256)] + [b"", b"hello", b"\xfe\xff\x4e\x2d", b"\xef\xbb\xbfx",
                                                 b"\xff\xfe\x2d\x4e", bytes(range(1, 256)), os.urandom(9000)]
    cases += [bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))) for _ in range(500)]
    cases += [bytes(rng.choice(b" abcXYZ\xe9\xa0\x80") for _ in range(40)) for _ in range(200)]
    for raw in cases:
        fast, slow = pdf_read.pdf_string_fast(raw), generic.pdf_string(raw)
        assert type(fast) is type(slow) and fast == slow
        assert getattr(fast, "autodetected_encoding", None) == getattr(slow, "autodetected_encoding", None)


def test_void_is_not_a_name() -> None:
    assert x509.Name.build({"common_name": "x"}) != core.Void()


def test_readers_can_be_switched_off() -> None:
    with pdf_read.shipped():
        assert generic.read_until_delimiter is pdf_read._pyhanko_read_until_delimiter
        assert generic.read_hex_string_from_stream is pdf_read._pyhanko_read_hex
        assert generic.NameObject.read_from_stream(pdf_read._PdfInput(b"/A#20B ")) == "/A B"
    assert generic.read_until_delimiter is pdf_read._read_until_delimiter
    assert generic.read_hex_string_from_stream is pdf_read._read_hex_string
    assert generic.NameObject.read_from_stream is pdf_read._read_name


def test_each_name_read_is_its_own_object() -> None:
    # pyHanko sets container_ref on every object it reads: a name shared between reads would carry
    # the container of the last one (this made the six-revision diff flaky before each read got its own)
    first = generic.NameObject.read_from_stream(pdf_read._PdfInput(b"/Annots "))
    second = generic.NameObject.read_from_stream(pdf_read._PdfInput(b"/Annots "))
    assert first == second and first is not second and type(first) is generic.NameObject
