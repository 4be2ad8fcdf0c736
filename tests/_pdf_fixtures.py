"""Signed-PDF fixtures for the PDF verifier tests and benches: a tiny CA (SM2 or P-256) and signing."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from keys.keypairs import generate_key
from keys.x509 import (
    build_certificate,
    ext_authority_key_identifier,
    ext_basic_constraints,
    ext_key_usage,
    ext_subject_key_identifier,
    make_name,
    parse_certificate,
    subject_key_identifier,
)
from verifier.pki import TrustStore

__all__ = ["INTEROP", "NOW", "Pki", "add_page", "make_pki", "minimal_pdf", "report_pdf", "sign", "six_revisions"]

INTEROP = Path(__file__).resolve().parents[1].parent / "shared" / "interop"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Pki:
    """A root, and a signer certificate + key issued by it."""

    trust: TrustStore
    root_der: bytes
    key: object
    cert_der: bytes


@lru_cache(maxsize=4)
def make_pki(alg: str = "p256") -> Pki:
    """Root CA and an end-entity signer, both of key type ``alg`` (``sm2`` or ``p256``)."""
    root_key = generate_key(alg)
    root_spki = root_key.public_key().spki_der()
    root_name = make_name({"C": "CN", "O": "esign test", "CN": f"PDF test root {alg}"})
    nb, na = NOW - timedelta(days=365), NOW + timedelta(days=3650)
    root_der = build_certificate(
        subject=root_name,
        issuer=root_name,
        subject_spki=root_spki,
        issuer_key=root_key,
        not_before=nb,
        not_after=na,
        extensions=[
            ext_basic_constraints(ca=True),
            ext_key_usage({"key_cert_sign", "crl_sign"}),
            ext_subject_key_identifier(root_spki),
        ],
    )
    key = generate_key(alg)
    spki = key.public_key().spki_der()
    cert_der = build_certificate(
        subject=make_name({"C": "CN", "O": "esign test", "CN": f"PDF signer {alg}"}),
        issuer=root_name,
        subject_spki=spki,
        issuer_key=root_key,
        not_before=nb,
        not_after=NOW + timedelta(days=365),
        extensions=[
            ext_basic_constraints(ca=False),
            ext_key_usage({"digital_signature", "non_repudiation"}),
            ext_subject_key_identifier(spki),
            ext_authority_key_identifier(subject_key_identifier(root_spki)),
        ],
    )
    return Pki(TrustStore.of([parse_certificate(root_der)], label=f"test-{alg}"), root_der, key, cert_der)


def minimal_pdf() -> bytes:
    """pyHanko's one-page unsigned test document (from the interop corpus)."""
    return (INTEROP / "pdf-pyhanko" / "pdf" / "minimal.pdf").read_bytes()


def sign(pdf: bytes, pki: Pki, *, field: str | None = None, certify: bool = False, docmdp: int = 2) -> bytes:
    """Sign ``pdf`` (incremental update) with ``pki``'s signer at :data:`NOW`."""
    from esign.pdf import sign_pdf

    return sign_pdf(
        pdf,
        key=pki.key,
        cert_der=pki.cert_der,
        chain=[pki.root_der],
        field_name=field,
        certify=certify,
        docmdp_level=docmdp,
        at=NOW,
    )


def report_pdf(pages: int = 40, fields: int = 30) -> bytes:
    """A multi-page document with text on every page and a fillable form (a realistic base)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

    w = PdfFileWriter()
    font = w.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
            }
        )
    )
    res = generic.DictionaryObject(
        {generic.pdf_name("/Font"): generic.DictionaryObject({generic.pdf_name("/F1"): font})}
    )
    field_refs = []
    for p in range(pages):
        text = "".join(
            f"BT /F1 10 Tf 40 {780 - 14 * i} Td (Page {p + 1} line {i}: licence register extract) Tj ET\n"
            for i in range(50)
        )
        page = PageObject(
            contents=w.add_object(generic.StreamObject(stream_data=text.encode())),
            media_box=[0, 0, 595, 842],
            resources=res,
        )
        w.insert_page(page)
    first_page = w.root["/Pages"]["/Kids"][0]
    annots = generic.ArrayObject()
    for f in range(fields):
        widget = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Annot"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Widget"),
                generic.pdf_name("/FT"): generic.pdf_name("/Tx"),
                generic.pdf_name("/T"): generic.TextStringObject(f"field{f}"),
                generic.pdf_name("/Rect"): generic.ArrayObject(
                    [generic.FloatObject(x) for x in (40, 20 + 10 * f, 200, 28 + 10 * f)]
                ),
                generic.pdf_name("/P"): first_page,
            }
        )
        ref = w.add_object(widget)
        annots.append(ref)
        field_refs.append(ref)
    first_page.get_object()[generic.pdf_name("/Annots")] = annots
    w.root[generic.pdf_name("/AcroForm")] = w.add_object(
        generic.DictionaryObject({generic.pdf_name("/Fields"): generic.ArrayObject(field_refs)})
    )
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def six_revisions(pki: Pki, base: bytes | None = None) -> bytes:
    """A document signed, then five more incremental signatures: six signed revisions."""
    data = sign(base if base is not None else minimal_pdf(), pki, field="Sig1")
    for i in range(2, 7):
        data = sign(data, pki, field=f"Sig{i}")
    return data


def add_page(pdf: bytes) -> bytes:
    """An incremental update that appends a blank page (a disallowed change after signing)."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.writer import PageObject

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    w.insert_page(PageObject(contents=w.add_object(generic.StreamObject(stream_data=b"")), media_box=[0, 0, 200, 200]))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def outcome(fn):  # type: ignore[no-untyped-def]
    """``(fn(), None)``, or ``(None, the exception's type)``: for comparing a fast path with the slow one."""
    try:
        return fn(), None
    except Exception as exc:  # the failure is part of the answer
        return None, type(exc)

