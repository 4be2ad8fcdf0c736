"""The signing and extension engine behind :mod:`esign.pdf` (read that module's docstring)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import io
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, SigFieldSpec, SigSeedSubFilter, append_signature_field, enumerate_sig_fields
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError as PyHankoTimestampError

from esign._pdf_input import (
    MAX_PDF_BYTES,
    BrokenPdfError,
    EncryptedPdfError,
    NotAPdfError,
    PdfInputError,
    StampSpec,
    ValidationData,
    open_pdf,
    stamp_style,
)
from esign._pdf_ltv import add_document_timestamp, add_dss
from esign._pdf_signer import KeySigner, choose_algorithm, load_asn1_cert, signature_size
from keys.errors import BackendUnavailableError, BadInputError, CertificateError, ConflictError, EsignError
from keys.interfaces import SigningKey
from keys.x509 import Certificate, parse_certificate, parse_crl

__all__ = [
    "LEVELS",
    "MAX_PDF_BYTES",
    "BrokenPdfError",
    "EncryptedPdfError",
    "NotAPdfError",
    "PdfInputError",
    "SignOptions",
    "StampSpec",
    "ValidationData",
    "extend_pdf",
    "extend_pdf_file",
    "normalise_level",
    "sign_pdf",
    "sign_pdf_file",
]

#: PAdES baseline levels, lowest first.
LEVELS = ("b-b", "b-t", "b-lt", "b-lta")
_LEVEL_ALIASES = {"b": "b-b", "t": "b-t", "lt": "b-lt", "lta": "b-lta", "bb": "b-b", "bt": "b-t",
                  "blt": "b-lt", "blta": "b-lta"}
#: DocMDP permission levels (ISO 32000-1 §12.8.2.2): 1 no changes, 2 form filling and signing, 3 + annotations.
DOCMDP_LEVELS = (1, 2, 3)
_SIGN_KU = frozenset({"digital_signature", "non_repudiation"})


def normalise_level(level: str) -> str:
    """``B-LTA``, ``lta``, ``b_lta`` -> ``b-lta``; BadInputError for anything else."""
    key = str(level).strip().lower().replace("_", "-")
    key = _LEVEL_ALIASES.get(key.replace("-", ""), key) if key not in LEVELS else key
    if key not in LEVELS:
        raise BadInputError(f"level must be one of {', '.join(LEVELS)}", message_zh="签名级别无效", field="level")
    return key


@dataclass(frozen=True)
class SignOptions:
    """What kind of signature to add (everything but the key, document and time)."""

    level: str = "b-b"
    """``b-b`` | ``b-t`` | ``b-lt`` | ``b-lta``."""
    field_name: str | None = None
    """Signature field to fill or create; default ``Signature<n>``."""
    certify: bool = False
    """Certification (DocMDP) signature instead of an approval signature; must be the first."""
    docmdp_level: int = 2
    """DocMDP permissions of a certification signature (1, 2 or 3)."""
    stamp: StampSpec | None = None
    """Visible seal stamp; ``None`` = invisible signature."""
    reason: str | None = None
    """``/Reason`` of the signature dictionary."""
    location: str | None = None
    """``/Location`` of the signature dictionary."""
    rsa_pss: bool = False
    """RSA keys: sign with RSASSA-PSS (SHA-256, salt 32) instead of PKCS#1 v1.5."""
    later_fields: tuple[tuple[str, StampSpec], ...] = ()
    """Empty signature fields (name, place) created with this signature for later signers. After a
    certification signature a later *visible* approval must fill such a field: validators (pyHanko,
    Acrobat) flag a new widget annotation added after certification as a disallowed change."""

    def checked(self) -> SignOptions:
        """A copy with the level normalised; BadInputError on bad values."""
        if self.docmdp_level not in DOCMDP_LEVELS:
            raise BadInputError("docmdp_level must be 1, 2 or 3", message_zh="DocMDP 级别必须为 1、2 或 3",
                                field="docmdp_level")
        if self.field_name is not None and (not self.field_name or "." in self.field_name
                                            or len(self.field_name) > 100):
            raise BadInputError("field_name must be 1-100 characters without '.'", message_zh="签名域名称无效",
                                field="field_name")
        for name, v in (("reason", self.reason), ("location", self.location)):
            if v is not None and len(v) > 500:
                raise BadInputError(f"{name} is longer than 500 characters", field=name)
        return SignOptions(**{**self.__dict__, "level": normalise_level(self.level)})


def _check_at(at: datetime) -> None:
    if at.tzinfo is None:
        raise BadInputError("the signing time must be timezone-aware", message_zh="签名时间必须带时区", field="at")


def check_level_inputs(level: str, timestamper: TimeStamper | None, data: ValidationData | None) -> None:
    """Fail early when a level lacks its timestamper or revocation data."""
    if level != "b-b" and timestamper is None:
        raise BadInputError(f"level {level} needs a time-stamp authority", message_zh="该签名级别需要时间戳服务",
                            field="level")
    if level in ("b-lt", "b-lta") and (data is None or data.empty):
        raise BadInputError(f"level {level} needs revocation data (CRLs or OCSP responses) to embed",
                            message_zh="长期验证级别需要嵌入吊销信息（CRL 或 OCSP）", field="validation_data")


def check_signer_certificate(cert: Certificate, *, at: datetime, data: ValidationData | None) -> None:
    """Refuse a certificate outside its validity at ``at``, without a signing key usage, or revoked in ``data``."""
    if not cert.not_before <= at <= cert.not_after:
        raise CertificateError(
            f"the signer certificate is not valid at {at.isoformat()} "
            f"(valid {cert.not_before.isoformat()} to {cert.not_after.isoformat()})",
            message_zh="签名证书在签名时间不在有效期内", field="cert")
    ku = cert.key_usage
    if ku is not None and not (ku & _SIGN_KU):
        raise CertificateError("the signer certificate does not allow digital signatures (keyUsage)",
                               message_zh="签名证书的密钥用途不允许数字签名", field="cert")
    for crl_der in (data.crls if data else ()):
        crl = parse_crl(crl_der)
        if crl.asn1["tbs_cert_list"]["issuer"] != cert.asn1["tbs_certificate"]["issuer"]:
            continue
        for rc in crl.asn1["tbs_cert_list"]["revoked_certificates"]:
            if rc["user_certificate"].native == cert.serial and rc["revocation_date"].native <= at:
                raise CertificateError("the signer certificate is revoked", message_zh="签名证书已被吊销",
                                       field="cert")


def next_field_name(reader: PdfFileReader) -> str:
    """``Signature<n>`` not yet used in the document."""
    try:
        names = {name for name, _, _ in enumerate_sig_fields(reader, filled_status=None)}
    except (PdfError, KeyError, ValueError, TypeError) as exc:
        raise BrokenPdfError(f"the form fields cannot be read: {str(exc)[:120]}", field="file") from None
    n = len(names) + 1
    while f"Signature{n}" in names:
        n += 1
    return f"Signature{n}"


def run_async(factory: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run a pyHanko coroutine to completion, translating pyHanko's errors to ours."""
    try:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(factory())
        # called from inside an event loop (an async web handler): run on a worker thread
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(lambda: asyncio.run(factory())).result()
    except EsignError:
        raise
    except PyHankoTimestampError as exc:
        raise BackendUnavailableError(f"the time-stamp authority failed: {str(exc)[:160]}",
                                      message_zh="时间戳服务不可用") from None
    except SigningError as exc:
        msg = str(exc)
        if "forbids all changes" in msg or "must be the first" in msg:
            raise ConflictError(f"the document does not allow this signature: {msg}",
                                message_zh="文档的认证签名不允许再添加该签名") from None
        raise BadInputError(f"signing failed: {msg[:200]}", message_zh="签名失败", field="file") from None
    except (PdfError, KeyError, TypeError, ValueError) as exc:
        raise BrokenPdfError(f"the PDF cannot be signed: {str(exc)[:200]}", field="file") from None


def build_pdf_signer(
    reader: PdfFileReader, signer: KeySigner, opts: SignOptions, *, subfilter: str,
    md_algorithm: str, timestamper: TimeStamper | None,
) -> tuple[PdfSigner, dict[str, str]]:
    """The configured pyHanko PdfSigner plus the stamp text parameters."""
    field_name = opts.field_name or next_field_name(reader)
    if opts.stamp is not None:
        page, box = opts.stamp.box(reader)
        field_spec = SigFieldSpec(sig_field_name=field_name, on_page=page, box=box)
        style = stamp_style(opts.stamp)
    else:
        field_spec = SigFieldSpec(sig_field_name=field_name)
        style = None
    meta = PdfSignatureMetadata(
        field_name=field_name, md_algorithm=md_algorithm, subfilter=SigSeedSubFilter(pdf_name("/" + subfilter)),
        certify=opts.certify, docmdp_permissions=MDPPerm(opts.docmdp_level), reason=opts.reason,
        location=opts.location,
    )
    pdf_signer = PdfSigner(meta, signer, timestamper=timestamper, stamp_style=style, new_field_spec=field_spec)
    name = signer.subject_name or "unknown signer"
    return pdf_signer, {"signer": name}


async def _sign_async(
    reader: PdfFileReader, out: BinaryIO, *, signer: KeySigner, opts: SignOptions, subfilter: str, md: str,
    timestamper: TimeStamper | None, data: ValidationData | None, at: datetime, reserve: bytes | None = None,
) -> None:
    ts = timestamper if opts.level != "b-b" else None
    pdf_signer, text_params = build_pdf_signer(reader, signer, opts, subfilter=subfilter, md_algorithm=md,
                                               timestamper=ts)
    w = IncrementalPdfFileWriter.from_reader(reader)
    for name, spec in opts.later_fields:
        page, box = spec.box(reader)
        append_signature_field(w, SigFieldSpec(sig_field_name=name, on_page=page, box=box))
    session = pdf_signer.init_signing_session(w)
    session.system_time = at
    reserved = await _reserve(session, reserve, ts=ts)
    tbs = session.prepare_tbs_document(None, reserved, appearance_text_params=text_params)
    prepared, _ = tbs.digest_tbs_document(output=out)
    await tbs.perform_signature(prepared.document_digest, PdfCMSSignedAttributes(signing_time=at))
    await finish_levels(out, level=opts.level, timestamper=timestamper, data=data)


#: Signature reservations remembered (one per signer certificate, chain and algorithm in use).
RESERVE_CACHE_SIZE = 256
_reserve_cache: OrderedDict[bytes, int] = OrderedDict()
_reserve_lock = threading.Lock()


def reserve_key(*, cert_der: bytes, chain: Sequence[bytes], mechanism: bytes, md: str, subfilter: str,
                signature_bytes: int, at: datetime) -> bytes:
    """Everything the size of a B-B CMS SignedData depends on, except the signature value itself.

    The signer certificate and the chain pyHanko embeds (``embed_roots``), the signatureAlgorithm
    with its parameters (DER), the digest algorithm, the largest signature value, the SubFilter
    (PAdES or not: which signed attributes are present) and the length class of ``signingTime``
    (UTCTime before 2050, GeneralizedTime after). The rest of the structure has a fixed size.
    """
    h = hashlib.sha256()
    for der in (cert_der, *chain):
        h.update(len(der).to_bytes(4, "big") + der)
    h.update(len(mechanism).to_bytes(4, "big") + mechanism)
    h.update(f"|{md}|{subfilter}|{signature_bytes}|{at.year >= 2050}|".encode())
    return h.digest()


async def _reserve(session: Any, key: bytes | None, *, ts: TimeStamper | None) -> int:
    """Bytes to reserve for ``/Contents``: pyHanko's estimate, measured once per signer set-up for B-B.

    pyHanko estimates the size by building the whole CMS once with a dummy signature (then adds
    50 %). Without a timestamp that size depends only on :func:`_reserve_key`, so the estimate is
    remembered under ``key`` (:func:`reserve_key`) and the dry run skipped for every later signature
    with the same certificate, chain and algorithm: the reservation is the one pyHanko computed,
    and the signed bytes are the same as with a fresh estimate. With a timestamper (B-T and up) the
    token's size is the TSA's, so it is estimated every time, as pyHanko does (also when ``key`` is
    ``None``).
    """
    if ts is not None or key is None:
        return int(await session.estimate_signature_container_size(None))
    with _reserve_lock:
        hit = _reserve_cache.get(key)
        if hit is not None:
            _reserve_cache.move_to_end(key)
            return hit
    reserved = int(await session.estimate_signature_container_size(None))
    with _reserve_lock:
        _reserve_cache[key] = reserved
        while len(_reserve_cache) > RESERVE_CACHE_SIZE:
            _reserve_cache.popitem(last=False)
    return reserved


async def finish_levels(out: BinaryIO, *, level: str, timestamper: TimeStamper | None,
                        data: ValidationData | None) -> None:
    """B-LT: add the DSS; B-LTA: then a document timestamp, then its TSA certificates to the DSS."""
    if level not in ("b-lt", "b-lta"):
        return
    assert data is not None
    add_dss(out, data=data)
    if level == "b-lta":
        assert timestamper is not None
        await add_document_timestamp(out, timestamper=timestamper)
        add_dss(out, data=data)


def _sign_stream(
    src: BinaryIO, out: BinaryIO, *, key: SigningKey, cert_der: bytes, opts: SignOptions, at: datetime,
    chain: Sequence[bytes] = (), timestamper: TimeStamper | None = None, validation_data: ValidationData | None = None,
) -> None:
    _check_at(at)
    opts = opts.checked()
    check_level_inputs(opts.level, timestamper, validation_data)
    cert = parse_certificate(cert_der)
    if cert.spki_der != key.public_key().spki_der():
        raise CertificateError("the certificate does not belong to the signing key",
                               message_zh="证书与签名私钥不匹配", field="cert")
    check_signer_certificate(cert, at=at, data=validation_data)
    choice = choose_algorithm(key.key_type, rsa_pss=opts.rsa_pss)
    sig_bytes = signature_size(key.key_type, key.public_key().key_bits)
    signer = KeySigner(
        key, choice=choice, cert=load_asn1_cert(cert.der),
        chain=tuple(load_asn1_cert(c, what="chain certificate") for c in chain),
        signature_bytes=sig_bytes,
    )
    reserve = reserve_key(cert_der=cert.der, chain=[bytes(c) for c in chain], mechanism=choice.mechanism.dump(),
                          md=choice.md_algorithm, subfilter=choice.subfilter, signature_bytes=sig_bytes, at=at)
    reader = open_pdf(src)
    run_async(lambda: _sign_async(reader, out, signer=signer, opts=opts, subfilter=choice.subfilter,
                                  md=choice.md_algorithm, timestamper=timestamper, data=validation_data, at=at,
                                  reserve=reserve))


def _as_stream(pdf: bytes | BinaryIO) -> BinaryIO:
    if isinstance(pdf, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(pdf))
    return pdf


def sign_pdf(
    pdf: bytes | BinaryIO,
    *,
    key: SigningKey,
    cert_der: bytes,
    chain: Sequence[bytes] = (),
    level: str = "b-b",
    field_name: str | None = None,
    certify: bool = False,
    docmdp_level: int = 2,
    stamp: StampSpec | None = None,
    timestamper: TimeStamper | None = None,
    validation_data: ValidationData | None = None,
    at: datetime,
    reason: str | None = None,
    location: str | None = None,
    rsa_pss: bool = False,
    later_fields: Sequence[tuple[str, StampSpec]] = (),
) -> bytes:
    """Add a signature to a PDF (incremental update) and return the signed file.

    Args:
        pdf: the document (bytes or a seekable binary stream; not modified).
        key: the signing key, wherever it lives.
        cert_der: the signer's certificate (must match ``key``, be valid at ``at``).
        chain: intermediate (and optionally root) certificates to embed, DER.
        level: ``b-b``, ``b-t``, ``b-lt`` or ``b-lta``.
        field_name: signature field to fill or create.
        certify: certification signature (DocMDP ``docmdp_level``) — must be the first signature.
        docmdp_level: 1 no changes, 2 form filling and signing, 3 also annotations.
        stamp: visible seal stamp, or ``None`` for an invisible signature.
        timestamper: pyHanko TimeStamper (e.g. ``esign.tsa.PyHankoLocalTimeStamper``) for B-T and above.
        validation_data: CRLs/OCSP responses/extra certificates to embed for B-LT and B-LTA.
        at: signing time (``/M`` and the signing-time attribute).
        reason: ``/Reason``.
        location: ``/Location``.
        rsa_pss: RSA only: RSASSA-PSS instead of PKCS#1 v1.5.
        later_fields: empty signature fields (name, place) to create for later signers.

    Raises:
        NotAPdfError, BrokenPdfError, EncryptedPdfError: the input cannot be signed.
        CertificateError: certificate malformed, not the key's, expired, or revoked in ``validation_data``.
        ConflictError: a certification signature forbids this signature.
        BadInputError: bad options (level without timestamper, stamp off the page, ...).
    """
    out = io.BytesIO()
    opts = SignOptions(level=level, field_name=field_name, certify=certify, docmdp_level=docmdp_level,
                       stamp=stamp, reason=reason, location=location, rsa_pss=rsa_pss,
                       later_fields=tuple(later_fields))
    _sign_stream(_as_stream(pdf), out, key=key, cert_der=cert_der, chain=chain, opts=opts,
                 timestamper=timestamper, validation_data=validation_data, at=at)
    return out.getvalue()


def write_atomically(dst: str | os.PathLike[str], produce: Callable[[BinaryIO], None]) -> None:
    """Run ``produce`` on a temporary file next to ``dst`` and rename it into place; remove it on error."""
    target = Path(dst)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent or ".")
    try:
        with os.fdopen(fd, "w+b") as fh:
            produce(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with _suppress_oserror():
            os.unlink(tmp)
        raise


class _suppress_oserror:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return isinstance(exc[1], OSError)


def _open_input(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BadInputError(f"cannot read {path}: {exc.strerror}", message_zh="无法读取输入文件",
                            field="file") from None


def sign_pdf_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], **kwargs: Any) -> None:
    """:func:`sign_pdf` from file to file, streaming (for large PDFs); ``dst`` appears only when complete."""
    opts_keys = ("level", "field_name", "certify", "docmdp_level", "stamp", "reason", "location", "rsa_pss",
                 "later_fields")
    opts = SignOptions(**{k: kwargs.pop(k) for k in opts_keys if k in kwargs})
    with _open_input(src) as fin:
        write_atomically(dst, lambda fout: _sign_stream(fin, fout, opts=opts, **kwargs))


def _extend_stream(src: BinaryIO, out: BinaryIO, *, level: str, timestamper: TimeStamper | None,
                   validation_data: ValidationData | None, at: datetime) -> None:
    _check_at(at)
    level = normalise_level(level)
    if level not in ("b-lt", "b-lta"):
        raise BadInputError("extend to b-lt or b-lta", message_zh="只能扩展到 b-lt 或 b-lta", field="level")
    check_level_inputs(level, timestamper, validation_data)
    reader = open_pdf(src)
    try:
        has_sigs = any(True for _ in reader.embedded_signatures)
    except (PdfError, KeyError, ValueError, TypeError) as exc:
        raise BrokenPdfError(f"the signatures cannot be read: {str(exc)[:160]}", field="file") from None
    if not has_sigs:
        raise BadInputError("the PDF has no signature to extend", message_zh="PDF 中没有可扩展的签名", field="file")
    src.seek(0)
    while chunk := src.read(1 << 20):
        out.write(chunk)
    out.flush()
    run_async(lambda: finish_levels(out, level=level, timestamper=timestamper, data=validation_data))


def extend_pdf(
    pdf: bytes | BinaryIO, *, level: str = "b-lta", timestamper: TimeStamper | None,
    validation_data: ValidationData | None, at: datetime,
) -> bytes:
    """Raise a signed PDF to B-LT (DSS) or B-LTA (DSS + document timestamp); renew archive timestamps.

    Renewal = running this again on a B-LTA file with fresh revocation data before the last
    document timestamp's TSA certificate expires (or its algorithms weaken): the DSS gains that
    data and a new document timestamp covers it.
    """
    out = io.BytesIO()
    _extend_stream(_as_stream(pdf), out, level=level, timestamper=timestamper, validation_data=validation_data,
                   at=at)
    return out.getvalue()


def extend_pdf_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], **kwargs: Any) -> None:
    """:func:`extend_pdf` from file to file; ``dst`` appears only when complete."""
    with _open_input(src) as fin:
        write_atomically(dst, lambda fout: _extend_stream(fin, fout, **kwargs))

