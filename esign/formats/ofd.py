"""OFD (GB/T 33190-2016) packages and their signature files (§18, GM/T 0099-2020): parse, hash, build.

An OFD file is a ZIP. :func:`read_package` opens it under named limits (entries, sizes, compression
ratio, unsafe names, duplicates) and reads every entry into memory; nothing is extracted to disk.
The XML parts are parsed with lxml without DTDs, entities or network access.

Where signatures live (the chain a verifier follows)::

    OFD.xml  DocBody/Signatures  ->  Doc_0/Signs/Signatures.xml  (list: ID, Type=Seal|Sign, BaseLoc)
             -> Doc_0/Signs/Sign_N/Signature.xml  (SignedInfo: References with CheckValue per file)
             -> Doc_0/Signs/Sign_N/SignedValue.dat

What is signed (the exact bytes):

- every ``Reference``: ``CheckValue = base64(SM3(raw bytes of the file))``; ``CheckMethod`` is
  ``SM3`` or its OID ``1.2.156.10197.1.401`` (anything else, including the MD5 default, is refused);
- Type ``Seal``: ``SignedValue.dat`` is a GB/T 38540 ``SES_Signature`` whose
  ``TBS_Sign.dataHash = SM3(raw bytes of Signature.xml)``;
- Type ``Sign``: ``SignedValue.dat`` is an SM2 signature (DER or 64-byte r||s) over the raw bytes of
  ``Signature.xml``, or a GB/T 35275 ``ContentInfo(signedData)`` (see :mod:`esign.formats.ofd_gbt35275`).

The ZIP container itself (limits, safe names, deterministic writing) is in
:mod:`esign.formats.ofd_zip`; this module holds the XML side.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree

from esign.formats.ofd_zip import (
    OfdEntry,
    OfdFormatError,
    OfdLimitError,
    OfdPackage,
    OfdUnsafePathError,
    normalize_loc,
    read_package,
    write_package,
)
from keys.hashing import sm3

__all__ = [
    "CHECK_METHOD_SM3_OID",
    "MAX_REFERENCES",
    "MAX_SIGNATURES",
    "MAX_XML_BYTES",
    "OFD_NS",
    "SIGNATURE_METHOD_SM2_SM3",
    "DocEntries",
    "OfdDocument",
    "OfdEntry",
    "OfdFormatError",
    "OfdLimitError",
    "OfdPackage",
    "OfdReference",
    "OfdRoot",
    "OfdUnsafePathError",
    "Page",
    "SignatureInfo",
    "SignatureList",
    "SignatureListEntry",
    "StampAnnot",
    "check_value",
    "local_name",
    "normalize_check_method",
    "normalize_loc",
    "parse_doc_entries",
    "parse_document",
    "parse_ofd_root",
    "parse_signature_list",
    "parse_signature_xml",
    "parse_xml",
    "read_package",
    "write_package",
]

#: The OFD namespace.
OFD_NS = "http://www.ofdspec.org/2016"
#: SM3's OID, which some vendors write as the CheckMethod.
CHECK_METHOD_SM3_OID = "1.2.156.10197.1.401"
#: SM3withSM2, written as SignatureMethod.
SIGNATURE_METHOD_SM2_SM3 = "1.2.156.10197.1.501"
#: Largest XML part parsed.
MAX_XML_BYTES = 8 << 20
#: Most signatures listed in one Signatures.xml.
MAX_SIGNATURES = 64
#: Most References in one Signature.xml.
MAX_REFERENCES = 10_000
#: Longest CheckValue text accepted (base64 of a 64-byte digest is 88 characters).
_MAX_CHECK_VALUE_CHARS = 256

_PARSER_OPTS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_blank_text": False,
}


def parse_xml(data: bytes, *, what: str) -> etree._Element:
    """Parse one XML part safely: no DTD (refused outright), no entities, no network, bounded size.

    Raises:
        OfdFormatError: not well-formed, has a DOCTYPE, or too large.
    """
    if len(data) > MAX_XML_BYTES:
        raise OfdLimitError(f"{what} is larger than {MAX_XML_BYTES} bytes", message_zh=f"{what} 过大", field=what)
    parser = etree.XMLParser(**_PARSER_OPTS)  # type: ignore[arg-type]
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise OfdFormatError(
            f"{what} is not well-formed XML: {str(exc)[:200]}", message_zh=f"{what} 不是格式正确的 XML", field=what
        ) from None
    if root is None:
        raise OfdFormatError(f"{what} is empty", message_zh=f"{what} 为空", field=what)
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise OfdFormatError(
            f"{what} carries a DOCTYPE; DTDs and entities are refused",
            message_zh=f"{what} 含有 DOCTYPE，不允许 DTD 和实体",
            field=what,
        )
    return root


def local_name(el: etree._Element) -> str:
    """The element's name without namespace ('' for comments and processing instructions)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _children(el: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in el if local_name(c) == name]


def _child(el: etree._Element, name: str) -> etree._Element | None:
    for c in el:
        if local_name(c) == name:
            return c
    return None


def _text(el: etree._Element | None) -> str:
    return "" if el is None else "".join(el.itertext()).strip()


def _bad(what: str, en: str, zh: str) -> OfdFormatError:
    return OfdFormatError(f"{what}: {en}", message_zh=f"{what}：{zh}", field=what)


def normalize_check_method(value: str | None) -> str:
    """``SM3`` for ``SM3`` (any case) or its OID; otherwise the value as written (``MD5`` if absent)."""
    v = (value or "MD5").strip()
    if v.upper() == "SM3" or v == CHECK_METHOD_SM3_OID:
        return "SM3"
    return v


def check_value(method: str, data: bytes) -> bytes:
    """The digest of ``data`` under a normalised CheckMethod; only SM3 is accepted.

    Raises:
        OfdFormatError: any other method (the GB/T 33190 default MD5 included).
    """
    if method != "SM3":
        raise OfdFormatError(
            f"CheckMethod {method!r} is not accepted (SM3 only)",
            message_zh=f"不接受的摘要算法 {method}（仅支持 SM3）",
            field="CheckMethod",
        )
    return sm3(data)


# --------------------------------------------------------------------------------------------- OFD.xml


@dataclass(frozen=True)
class OfdRoot:
    """What OFD.xml says about the first document body (``DocBody``)."""

    doc_root: str
    """Package path of the document's Document.xml."""
    signatures: str | None
    """Package path of Signatures.xml, or ``None`` when the document is not signed."""
    doc_bodies: int
    """How many DocBody elements OFD.xml has (only the first is signed/verified)."""


def parse_ofd_root(data: bytes) -> OfdRoot:
    """Parse OFD.xml (root ``ofd:OFD``, ``DocBody/DocRoot`` and ``DocBody/Signatures``)."""
    root = parse_xml(data, what="OFD.xml")
    if local_name(root) != "OFD":
        raise _bad("OFD.xml", "the root element is not ofd:OFD", "根元素不是 ofd:OFD")
    bodies = _children(root, "DocBody")
    if not bodies:
        raise _bad("OFD.xml", "no DocBody", "缺少 DocBody")
    body = bodies[0]
    doc_root = _text(_child(body, "DocRoot"))
    if not doc_root:
        raise _bad("OFD.xml", "DocBody has no DocRoot", "DocBody 缺少 DocRoot")
    sigs = _text(_child(body, "Signatures"))
    return OfdRoot(
        doc_root=normalize_loc(doc_root),
        signatures=normalize_loc(sigs) if sigs else None,
        doc_bodies=len(bodies),
    )


# --------------------------------------------------------------------------------------- Document.xml


@dataclass(frozen=True)
class Page:
    """One page of the document, in order."""

    id: str
    """The page's ID (what a StampAnnot's PageRef names)."""
    path: str
    """Package path of the page's Content.xml."""


@dataclass(frozen=True)
class OfdDocument:
    """The parts of Document.xml signing needs."""

    pages: tuple[Page, ...]
    """Pages in order."""
    physical_box: tuple[float, float, float, float] | None
    """Document default page box (x, y, w, h) in mm, if declared."""


def _floats(text: str, n: int, what: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.replace(",", " ").split())
    except ValueError:
        vals = ()
    if len(vals) != n or any(v != v or abs(v) > 1e6 for v in vals):  # NaN or absurd
        raise _bad(what, f"expected {n} numbers, got {text[:40]!r}", f"应为 {n} 个数值")
    return vals


def parse_document(data: bytes, *, path: str) -> OfdDocument:
    """Parse Document.xml at package ``path`` (page list and default page box)."""
    root = parse_xml(data, what=path)
    if local_name(root) != "Document":
        raise _bad(path, "the root element is not ofd:Document", "根元素不是 ofd:Document")
    base_dir = path.rpartition("/")[0]
    pages_el = _child(root, "Pages")
    pages = []
    for p in _children(pages_el, "Page") if pages_el is not None else []:
        pid, loc = (p.get("ID") or "").strip(), (p.get("BaseLoc") or "").strip()
        if not pid or not loc:
            raise _bad(path, "a Page lacks ID or BaseLoc", "Page 缺少 ID 或 BaseLoc")
        pages.append(Page(id=pid, path=normalize_loc(loc, base_dir=base_dir)))
    box = None
    common = _child(root, "CommonData")
    area = _child(common, "PageArea") if common is not None else None
    phys = _text(_child(area, "PhysicalBox")) if area is not None else ""
    if phys:
        box = _floats(phys, 4, "PhysicalBox")
    return OfdDocument(pages=tuple(pages), physical_box=box)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ Signatures.xml


@dataclass(frozen=True)
class SignatureListEntry:
    """One ``Signature`` element of Signatures.xml."""

    id: str
    """Its ID."""
    type: str
    """``Seal`` (the default) or ``Sign``."""
    path: str
    """Package path of its Signature.xml."""


@dataclass(frozen=True)
class SignatureList:
    """Signatures.xml."""

    max_sign_id: str
    """MaxSignId as written ('' if absent)."""
    entries: tuple[SignatureListEntry, ...]
    """The signatures, in document order."""


def parse_signature_list(data: bytes, *, path: str) -> SignatureList:
    """Parse Signatures.xml at package ``path``."""
    root = parse_xml(data, what=path)
    if local_name(root) != "Signatures":
        raise _bad(path, "the root element is not ofd:Signatures", "根元素不是 ofd:Signatures")
    base_dir = path.rpartition("/")[0]
    items = _children(root, "Signature")
    if len(items) > MAX_SIGNATURES:
        raise OfdLimitError(f"more than {MAX_SIGNATURES} signatures", message_zh="签名数量过多", field=path)
    entries = []
    for s in items:
        sid, loc = (s.get("ID") or "").strip(), (s.get("BaseLoc") or "").strip()
        typ = (s.get("Type") or "Seal").strip()
        if not sid or not loc:
            raise _bad(path, "a Signature lacks ID or BaseLoc", "Signature 缺少 ID 或 BaseLoc")
        if typ not in ("Seal", "Sign"):
            raise _bad(path, f"signature {sid}: Type {typ!r} is neither Seal nor Sign", f"签名 {sid} 类型未知")
        entries.append(SignatureListEntry(id=sid, type=typ, path=normalize_loc(loc, base_dir=base_dir)))
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise _bad(path, "two signatures share an ID", "签名 ID 重复")
    return SignatureList(max_sign_id=_text(_child(root, "MaxSignId")), entries=tuple(entries))


# ------------------------------------------------------------------------------------- Signature.xml


@dataclass(frozen=True)
class OfdReference:
    """One protected file."""

    file_ref: str
    """FileRef as written."""
    path: str
    """Normalised package path."""
    check_value: bytes
    """The expected digest (decoded from base64)."""


@dataclass(frozen=True)
class StampAnnot:
    """Where the seal's picture appears."""

    id: str
    """Annotation ID."""
    page_ref: str
    """The ID of the page it is on."""
    boundary: tuple[float, float, float, float]
    """x, y, width, height in mm on that page."""


@dataclass(frozen=True)
class SignatureInfo:
    """A parsed Signature.xml together with its exact bytes (what the signature covers)."""

    path: str
    """Package path of this Signature.xml."""
    raw: bytes
    """Its bytes, exactly as stored (signed without canonicalisation)."""
    provider: str
    """Provider/@ProviderName (with Company and Version if given)."""
    signature_method: str
    """SignatureMethod text ('' if absent)."""
    signature_datetime: str
    """SignatureDateTime text as written (formats vary between vendors)."""
    check_method: str
    """Normalised References/@CheckMethod (``SM3`` or what was written)."""
    references: tuple[OfdReference, ...]
    """The protected files."""
    stamp_annots: tuple[StampAnnot, ...]
    """Visible stamps."""
    seal_path: str | None
    """Package path of Seal.esl, if Seal/BaseLoc is given."""
    signed_value_path: str
    """Package path of SignedValue.dat."""


def _decode_b64(text: str, where: str) -> bytes:
    compact = "".join(text.split())
    if not compact or len(compact) > _MAX_CHECK_VALUE_CHARS:
        raise _bad(where, "CheckValue is empty or too long", "CheckValue 为空或过长")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise _bad(where, "CheckValue is not base64", "CheckValue 不是 base64") from None


def parse_signature_xml(data: bytes, *, path: str) -> SignatureInfo:
    """Parse Signature.xml at package ``path``; ``raw`` keeps the exact bytes for the signature check."""
    root = parse_xml(data, what=path)
    if local_name(root) != "Signature":
        raise _bad(path, "the root element is not ofd:Signature", "根元素不是 ofd:Signature")
    base_dir = path.rpartition("/")[0]
    si = _child(root, "SignedInfo")
    if si is None:
        raise _bad(path, "no SignedInfo", "缺少 SignedInfo")
    sv = _text(_child(root, "SignedValue"))
    if not sv:
        raise _bad(path, "no SignedValue", "缺少 SignedValue")
    prov = _child(si, "Provider")
    provider = "" if prov is None else " ".join(
        v for v in (prov.get("ProviderName"), prov.get("Company"), prov.get("Version")) if v
    )
    refs_el = _child(si, "References")
    if refs_el is None:
        raise _bad(path, "no References", "缺少 References")
    items = _children(refs_el, "Reference")
    if not items:
        raise _bad(path, "References is empty", "References 为空")
    if len(items) > MAX_REFERENCES:
        raise OfdLimitError(f"more than {MAX_REFERENCES} references", message_zh="引用数量过多", field=path)
    refs = []
    for r in items:
        ref = (r.get("FileRef") or "").strip()
        if not ref:
            raise _bad(path, "a Reference lacks FileRef", "Reference 缺少 FileRef")
        refs.append(OfdReference(file_ref=ref, path=normalize_loc(ref, base_dir=base_dir),
                                 check_value=_decode_b64(_text(_child(r, "CheckValue")), path)))
    if len({r.path for r in refs}) != len(refs):
        raise _bad(path, "a file is referenced twice", "同一文件被重复引用")
    stamps = []
    for s in _children(si, "StampAnnot"):
        box = _floats(s.get("Boundary") or "", 4, "StampAnnot/@Boundary")
        stamps.append(StampAnnot(id=(s.get("ID") or "").strip(), page_ref=(s.get("PageRef") or "").strip(),
                                 boundary=box))  # type: ignore[arg-type]
    seal_el = _child(si, "Seal")
    seal_loc = _text(_child(seal_el, "BaseLoc")) if seal_el is not None else ""
    return SignatureInfo(
        path=path,
        raw=bytes(data),
        provider=provider,
        signature_method=_text(_child(si, "SignatureMethod")),
        signature_datetime=_text(_child(si, "SignatureDateTime")),
        check_method=normalize_check_method(refs_el.get("CheckMethod")),
        references=tuple(refs),
        stamp_annots=tuple(stamps),
        seal_path=normalize_loc(seal_loc, base_dir=base_dir) if seal_loc else None,
        signed_value_path=normalize_loc(sv, base_dir=base_dir),
    )


# ---------------------------------------------------------------- OFDEntries.xml (GM/T 0099 appendix D)


@dataclass(frozen=True)
class DocEntries:
    """The integrity-protection list (防夹带): every file that belongs to the package."""

    raw: bytes
    """OFDEntries.xml bytes (what the integrity signature covers, through SM3)."""
    signed_value_path: str
    """Package path of the integrity signature value."""
    files: tuple[str, ...]
    """Package paths listed."""


def parse_doc_entries(data: bytes) -> DocEntries:
    """Parse ``/OFDEntries.xml``."""
    root = parse_xml(data, what="OFDEntries.xml")
    if local_name(root) != "DocEntries":
        raise _bad("OFDEntries.xml", "the root element is not ofd:DocEntries", "根元素不是 ofd:DocEntries")
    sv = _text(_child(root, "SignedValueLoc"))
    fl = _child(root, "FileList")
    if not sv or fl is None:
        raise _bad("OFDEntries.xml", "SignedValueLoc or FileList missing", "缺少 SignedValueLoc 或 FileList")
    files = [normalize_loc((f.get("FileLoc") or "").strip() or "/") for f in _children(fl, "File")]
    if len(files) > MAX_REFERENCES:
        raise OfdLimitError("too many files listed", message_zh="列出的文件过多", field="OFDEntries.xml")
    return DocEntries(raw=bytes(data), signed_value_path=normalize_loc(sv), files=tuple(files))

