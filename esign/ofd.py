"""Sign OFD files with a GB/T 38540 seal: a visible stamp at a page and position (GB/T 33190 §18).

Steps of :func:`sign_ofd`:

  1. Open the OFD safely (:func:`esign.formats.ofd.read_package`) and read OFD.xml and Document.xml;
     check the page number and that the stamp box lies on the page.
  2. Check the seal (maker signature) and take the stamp size from its picture unless given.
  3. Find or create ``Doc_0/Signs/Signatures.xml``; refuse when an earlier signature protects it
     (the document was locked against further signatures) or when the file carries GM/T 0099
     integrity protection (adding files would break it). Pick the next free ``Sign_N`` and ID.
  4. Write the new Signatures.xml (and link it from OFD.xml's DocBody when it is new).
  5. Build Signature.xml: Provider, SignatureMethod 1.2.156.10197.1.501, SignatureDateTime,
     References (CheckMethod SM3, ``base64(SM3(file))``) over every protected file, StampAnnot
     (PageRef = the page's ID, Boundary in mm), Seal/BaseLoc, SignedValue.
     ``protect="all"`` covers every file, Signatures.xml included, so no later signature can be
     added; ``protect="continue"`` leaves Signatures.xml out so later signatures can be appended.
  6. ``SignedValue.dat`` = :func:`esign.ses.sign_with_seal` over the exact Signature.xml bytes
     (``dataHash = SM3(Signature.xml)``, ``propertyInfo`` = its package path). The seal's
     validity, register status and the signer's presence in the seal's list are checked there;
     any refusal raises before anything is produced.
  7. Write the ZIP: every other entry byte-identical and in the same order, new files appended,
     deterministic (fixed compression level, timestamps from ``at``).
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata

from lxml import etree

from esign.formats.ofd import (
    OFD_NS,
    SIGNATURE_METHOD_SM2_SM3,
    OfdEntry,
    local_name,
    normalize_loc,
    parse_document,
    parse_ofd_root,
    parse_signature_list,
    parse_signature_xml,
    parse_xml,
    read_package,
    write_package,
)
from esign.ports import SealRegister
from esign.ses import MAX_SEAL_MM, Timestamper, load_checked_seal, sign_with_seal
from keys.errors import BadInputError, ConflictError
from keys.hashing import sm3
from keys.interfaces import SigningKey

__all__ = ["PROTECT_MODES", "PROVIDER_NAME", "OfdLockedError", "OfdSignResult", "sign_ofd", "sign_ofd_detailed"]

#: Protection modes of :func:`sign_ofd`.
PROTECT_MODES = ("all", "continue")
#: Provider/@ProviderName written into Signature.xml.
PROVIDER_NAME = "esign"
_O = f"{{{OFD_NS}}}"
_NSMAP = {"ofd": OFD_NS}
_XML_DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True)
class OfdSignResult:
    """A signed OFD file and the facts a seal usage log (用印记录) needs."""

    ofd: bytes = field(repr=False)
    """The signed file."""
    signature_id: str
    """ID of the new entry in Signatures.xml."""
    signature_xml_path: str
    """Package path of the new Signature.xml (also the ``propertyInfo``)."""
    data_hash: bytes
    """SM3 of the Signature.xml bytes (the ``dataHash`` signed)."""
    ses_signature_sha256: str
    """SHA-256 of SignedValue.dat, hex."""
    seal_id: str
    """esID of the seal used."""
    protected: tuple[str, ...]
    """Package paths the new signature protects."""


class OfdLockedError(ConflictError):
    """The OFD cannot take another signature (an earlier one protects Signatures.xml, or integrity protection)."""

    code = "ofd_locked"
    default_zh = "该 OFD 文件不允许追加签章"


def _version() -> str:
    try:
        return metadata.version("esign")
    except metadata.PackageNotFoundError:
        return "0"


def _num(v: float) -> str:
    return f"{v:.3f}".rstrip("0").rstrip(".") or "0"


def _serialize(root: etree._Element) -> bytes:
    return _XML_DECL + etree.tostring(root, encoding="UTF-8", xml_declaration=False)


def _bad(field: str, en: str, zh: str) -> BadInputError:
    return BadInputError(en, message_zh=zh, field=field)


def _check_box(box: tuple[float, float, float, float], page_box: tuple[float, ...] | None) -> None:
    x, y, w, h = box
    for name, v in (("x", x), ("y", y), ("width_mm", w), ("height_mm", h)):
        if not math.isfinite(v):
            raise _bad(name, f"{name} must be a finite number", "坐标必须为有限数值")
    if not (0 < w <= MAX_SEAL_MM and 0 < h <= MAX_SEAL_MM):
        raise _bad("width_mm", f"the stamp size must be within 0..{MAX_SEAL_MM} mm", "印章尺寸超出范围")
    if x < 0 or y < 0:
        raise _bad("x", "the stamp position must not be negative", "印章位置不能为负数")
    if page_box is not None:
        _, _, pw, ph = page_box
        if x + w > pw + 1e-6 or y + h > ph + 1e-6:
            raise _bad("x", f"the stamp ({_num(x)},{_num(y)},{_num(w)}x{_num(h)} mm) does not fit on the "
                       f"{_num(pw)}x{_num(ph)} mm page", "印章超出页面范围")


def _next_id(ids: list[str], max_id: str) -> str:
    nums = [int(d) for d in [*ids, max_id] if d.isdigit()]
    pref = [int(d[1:]) for d in [*ids, max_id] if len(d) > 1 and d[0] == "s" and d[1:].isdigit()]
    if pref and not nums:
        return f"s{max(pref) + 1:03d}"
    cand = max(nums, default=0) + 1
    while str(cand) in ids:
        cand += 1
    return str(cand)


def _signature_list(existing: bytes | None, *, path: str, sig_id: str, sig_loc: str) -> bytes:
    if existing is None:
        root = etree.Element(f"{_O}Signatures", nsmap=_NSMAP)  # type: ignore[arg-type]
        etree.SubElement(root, f"{_O}MaxSignId").text = sig_id
    else:
        root = parse_xml(existing, what=path)
        max_el = next((c for c in root if local_name(c) == "MaxSignId"), None)
        if max_el is None:
            max_el = etree.Element(f"{_O}MaxSignId")
            root.insert(0, max_el)
        max_el.text = sig_id
    etree.SubElement(root, f"{_O}Signature", {"ID": sig_id, "Type": "Seal", "BaseLoc": f"/{sig_loc}"})
    return _serialize(root)


def _link_signatures(ofd_xml: bytes, sig_list_path: str) -> bytes:
    root = parse_xml(ofd_xml, what="OFD.xml")
    body = next(c for c in root if local_name(c) == "DocBody")
    etree.SubElement(body, f"{_O}Signatures").text = f"/{sig_list_path}"
    return _serialize(root)


def _signature_xml(*, at: datetime, refs: list[tuple[str, bytes]], page_id: str, stamp_id: str,
                   box: tuple[float, float, float, float], seal_loc: str, value_loc: str) -> bytes:
    root = etree.Element(f"{_O}Signature", nsmap=_NSMAP)  # type: ignore[arg-type]
    si = etree.SubElement(root, f"{_O}SignedInfo")
    etree.SubElement(si, f"{_O}Provider", {"ProviderName": PROVIDER_NAME, "Company": PROVIDER_NAME,
                                           "Version": _version()})
    etree.SubElement(si, f"{_O}SignatureMethod").text = SIGNATURE_METHOD_SM2_SM3
    etree.SubElement(si, f"{_O}SignatureDateTime").text = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    refs_el = etree.SubElement(si, f"{_O}References", {"CheckMethod": "SM3"})
    for path, body in refs:
        r = etree.SubElement(refs_el, f"{_O}Reference", {"FileRef": f"/{path}"})
        etree.SubElement(r, f"{_O}CheckValue").text = base64.b64encode(sm3(body)).decode("ascii")
    etree.SubElement(si, f"{_O}StampAnnot", {"ID": stamp_id, "PageRef": page_id,
                                             "Boundary": " ".join(_num(v) for v in box)})
    seal = etree.SubElement(si, f"{_O}Seal")
    etree.SubElement(seal, f"{_O}BaseLoc").text = f"/{seal_loc}"
    etree.SubElement(root, f"{_O}SignedValue").text = f"/{value_loc}"
    return _serialize(root)


def sign_ofd(
    ofd_bytes: bytes,
    *,
    seal_der: bytes,
    signer_key: SigningKey,
    signer_cert_der: bytes,
    page: int,
    x_mm: float,
    y_mm: float,
    width_mm: float | None = None,
    height_mm: float | None = None,
    at: datetime,
    timestamper: Timestamper | None = None,
    protect: str = "all",
    seal_register: SealRegister | None = None,
) -> bytes:
    """Sign an OFD file with a seal and return the signed file (see :func:`sign_ofd_detailed`)."""
    return sign_ofd_detailed(
        ofd_bytes, seal_der=seal_der, signer_key=signer_key, signer_cert_der=signer_cert_der, page=page, x_mm=x_mm,
        y_mm=y_mm, width_mm=width_mm, height_mm=height_mm, at=at, timestamper=timestamper, protect=protect,
        seal_register=seal_register,
    ).ofd


def sign_ofd_detailed(
    ofd_bytes: bytes,
    *,
    seal_der: bytes,
    signer_key: SigningKey,
    signer_cert_der: bytes,
    page: int,
    x_mm: float,
    y_mm: float,
    width_mm: float | None = None,
    height_mm: float | None = None,
    at: datetime,
    timestamper: Timestamper | None = None,
    protect: str = "all",
    seal_register: SealRegister | None = None,
) -> OfdSignResult:
    """Sign an OFD file with a seal; the signed file and what was signed.

    Args:
        ofd_bytes: the OFD file.
        seal_der: the ``SESeal`` (v4/v5).
        signer_key: the signer's SM2 key.
        signer_cert_der: the signer's certificate (must be in the seal's list).
        page: 1-based page number for the stamp.
        x_mm, y_mm: top-left corner of the stamp on the page, in mm.
        width_mm, height_mm: stamp size; defaults to the seal picture's size.
        at: signing time.
        timestamper: optional RFC 3161 client, called with the signature value.
        protect: ``all`` (lock the document) or ``continue`` (allow later signatures).
        seal_register: when given, a suspended, revoked or unregistered seal is refused.

    Raises:
        OfdFormatError: the input is not a readable OFD file.
        BadInputError: bad page or position.
        OfdLockedError: the document does not allow another signature.
        SealNotValidError, SealStatusError, SignerNotAuthorisedError, SignerCertificateNotValidError:
            the seal or signer may not sign at ``at`` (from :func:`esign.ses.sign_with_seal`).
    """
    if protect not in PROTECT_MODES:
        raise _bad("protect", f"protect must be one of {', '.join(PROTECT_MODES)}", "保护模式错误")
    if at.tzinfo is None:
        raise _bad("at", "at must be timezone-aware", "时间必须带时区")
    # Step 1: the document, the page and the box.
    pkg = read_package(ofd_bytes)
    root = parse_ofd_root(pkg.files["OFD.xml"])
    doc_bytes = pkg.get(root.doc_root)
    if doc_bytes is None:
        raise _bad("file", f"{root.doc_root} named by OFD.xml is missing", "OFD.xml 指向的 Document.xml 缺失")
    doc = parse_document(doc_bytes, path=root.doc_root)
    if not (1 <= page <= len(doc.pages)):
        raise _bad("page", f"page {page} does not exist (the document has {len(doc.pages)})", "页码超出范围")
    # Step 2: the seal (maker signature checked) and the stamp size.
    seal = load_checked_seal(seal_der)
    box = (float(x_mm), float(y_mm), float(width_mm if width_mm is not None else seal.picture.width_mm),
           float(height_mm if height_mm is not None else seal.picture.height_mm))
    _check_box(box, doc.physical_box)
    # Step 3: where the signature goes.
    if "OFDEntries.xml" in pkg.files:
        raise OfdLockedError("the file carries GM/T 0099 integrity protection (OFDEntries.xml); adding a "
                             "signature would break it", message_zh="该文件已做完整性保护，追加签章会破坏保护",
                             field="file")
    list_path = root.signatures or f"{root.doc_root.rpartition('/')[0]}/Signs/Signatures.xml".lstrip("/")
    existing = pkg.get(list_path) if root.signatures else None
    if root.signatures and existing is None:
        raise _bad("file", f"{list_path} named by OFD.xml is missing", "OFD.xml 指向的 Signatures.xml 缺失")
    ids: list[str] = []
    max_id = ""
    if existing is not None:
        sl = parse_signature_list(existing, path=list_path)
        ids, max_id = [e.id for e in sl.entries], sl.max_sign_id
        for e in sl.entries:
            earlier = pkg.get(e.path)
            if earlier is not None and any(r.path == list_path for r in parse_signature_xml(
                    earlier, path=e.path).references):
                raise OfdLockedError(f"signature {e.id} protects {list_path}: the document was locked against "
                                     "further signatures", message_zh="已有签章保护了签名列表，文件不允许追加签章",
                                     field="file")
    sig_id = _next_id(ids, max_id)
    signs_dir = list_path.rpartition("/")[0]
    n = 0
    while any(name.startswith(f"{signs_dir}/Sign_{n}/") for name in pkg.files):
        n += 1
    sign_dir = normalize_loc(f"{signs_dir}/Sign_{n}")
    sig_xml_path, value_path, seal_path = (f"{sign_dir}/Signature.xml", f"{sign_dir}/SignedValue.dat",
                                           f"{sign_dir}/Seal.esl")
    # Step 4: Signatures.xml and OFD.xml.
    new_list = _signature_list(existing, path=list_path, sig_id=sig_id, sig_loc=sig_xml_path)
    replaced = {list_path: new_list}
    if root.signatures is None:
        replaced["OFD.xml"] = _link_signatures(pkg.files["OFD.xml"], list_path)
    files = {**pkg.files, **replaced, seal_path: bytes(seal_der)}
    # Step 5: Signature.xml.
    order = [e.name for e in pkg.entries if not e.is_dir] + [p for p in (list_path, seal_path) if p not in pkg.files]
    refs = [(p, files[p]) for p in order if not (protect == "continue" and p == list_path)]
    sig_xml = _signature_xml(at=at, refs=refs, page_id=doc.pages[page - 1].id, stamp_id=sig_id, box=box,
                             seal_loc=seal_path, value_loc=value_path)
    # Step 6: the seal signature over the exact Signature.xml bytes.
    value = sign_with_seal(seal_der=seal_der, signer_key=signer_key, signer_cert_der=signer_cert_der, data=sig_xml,
                           at=at, property_info=f"/{sig_xml_path}", timestamper=timestamper,
                           seal_register=seal_register)
    # Step 7: the new ZIP.
    utc = at.astimezone(UTC)
    stamp = (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second - utc.second % 2)
    out = [OfdEntry(name=e.name, data=replaced.get(e.name, e.data), date_time=e.date_time,
                    compress_type=e.compress_type, external_attr=e.external_attr) for e in pkg.entries]
    new_files = [(list_path, new_list)] if existing is None else []
    new_files += [(seal_path, bytes(seal_der)), (sig_xml_path, sig_xml), (value_path, value)]
    out += [OfdEntry(name=p, data=b, date_time=stamp) for p, b in new_files]  # type: ignore[arg-type]
    return OfdSignResult(ofd=write_package(out), signature_id=sig_id, signature_xml_path=sig_xml_path,
                         data_hash=sm3(sig_xml), ses_signature_sha256=hashlib.sha256(value).hexdigest(),
                         seal_id=seal.seal_id, protected=tuple(p for p, _ in refs))
