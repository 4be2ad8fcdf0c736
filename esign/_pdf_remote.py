"""Remote (three-step) PDF signing: prepare, sign elsewhere, finish (see :mod:`esign.pdf`).

The EU DSS ``getDataToSign`` / ``sign`` / ``signDocument`` pattern over pyHanko's interrupted
signing:

1. :func:`prepare_remote` writes the signature field, appearance and a placeholder, digests the
   byte range, builds the CMS signed attributes and returns them as the *data to sign* (plus
   its digest for signers that take a hash), the prepared PDF, and a *state* token.
2. The enterprise signs the data with its own key (HSM, smart card, another service).
3. :func:`finish_remote` checks the state token (HMAC-SHA256 under the service's state key,
   expiry, binding to the prepared PDF), checks the signature against the certificate, adds the
   signature timestamp (B-T) and embeds the CMS; B-LT/B-LTA then add DSS and document timestamp.

The certificate may arrive late: if it is not given to :func:`prepare_remote` it must be given
to :func:`finish_remote`, where it is checked and embedded before the CMS is written. Signed
attributes are fixed at step 1, so a late certificate cannot be covered by the ESS
signing-certificate-v2 attribute that PAdES baseline requires: such signatures use the
``adbe.pkcs7.detached`` SubFilter (ISO 32000 CMS signatures) instead of ``ETSI.CAdES.detached``.
Give the certificate at step 1 for a PAdES signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes
from pyhanko.sign.timestamps.api import TimeStamper

from esign._pdf_core import (
    SignOptions,
    _as_stream,
    _check_at,
    build_pdf_signer,
    check_level_inputs,
    check_signer_certificate,
    finish_levels,
    run_async,
)
from esign._pdf_input import StampSpec, ValidationData, open_pdf
from esign._pdf_signer import KeySigner, choose_algorithm, load_asn1_cert, signature_size
from keys.algorithms import KeyType
from keys.errors import BadInputError, CertificateError, InvalidSignatureError, SignatureFormatError
from keys.keypairs import Sm2VerifyingKey
from keys.x509 import parse_certificate

__all__ = ["MAX_STATE_AGE", "REMOTE_CMS_RESERVE", "RemotePreparation", "finish_remote", "prepare_remote"]

#: Hex characters reserved for the CMS of a remote signature (certificate chain + timestamp token).
REMOTE_CMS_RESERVE = 48 << 10
#: How long a prepared signature may wait for its signature value.
MAX_STATE_AGE = timedelta(hours=24)
_STATE_VERSION = 1
_KIND = "esign-pdf-remote"
_MIN_STATE_KEY = 16
_MAX_STATE_TOKEN = 64 << 10
_HASHES = {"sha256": hashes.SHA256, "sha512": hashes.SHA512, "sm3": hashes.SM3}


@dataclass(frozen=True)
class RemotePreparation:
    """What step 1 hands back."""

    prepared_pdf: bytes = field(repr=False)
    """The PDF with the placeholder; keep it (server side) for step 3."""
    state: str = field(repr=False)
    """Opaque, HMAC-protected token describing the pending signature."""
    data_to_sign: bytes = field(repr=False)
    """DER of the CMS signed attributes: what the signer signs (``SigningKey.sign(data_to_sign)``)."""
    digest: bytes | None
    """Hash the signer signs if it takes a digest (SM2: SM3(Z||data), needs the certificate; Ed25519: None)."""
    digest_algorithm: str
    """``sha256`` / ``sha512`` / ``sm3``."""
    signature_algorithm: str
    """Registry name of the expected signature (``ecdsa-sha256``, ``sm2-sm3``, ...)."""


def _b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _seal(payload: dict[str, Any], key: bytes) -> str:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(key, body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def _open(token: str, key: bytes) -> dict[str, Any]:
    bad = BadInputError("the remote-signing state is not valid (tampered, from another service, or malformed)",
                        message_zh="远程签名状态无效（被篡改或格式错误）", field="state")
    if not isinstance(token, str) or len(token) > _MAX_STATE_TOKEN or token.count(".") != 1:
        raise bad
    body_s, mac_s = token.split(".")
    try:
        body, mac = _unb64(body_s), _unb64(mac_s)
    except ValueError:
        raise bad from None
    if not hmac.compare_digest(hmac.new(key, body, hashlib.sha256).digest(), mac):
        raise bad
    payload = json.loads(body)
    if payload.get("kind") != _KIND or payload.get("v") != _STATE_VERSION:
        raise bad
    return dict(payload)


def _check_state_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) < _MIN_STATE_KEY:
        raise BadInputError("the state key must be at least 16 bytes", field="state_key")


def _key_type_of(cert_der: bytes | None, key_type: str | KeyType | None) -> KeyType:
    if cert_der is not None:
        return parse_certificate(cert_der).public_key().key_type
    if key_type is None:
        raise BadInputError("without a certificate, say which key type will sign (sm2, p256, rsa, ed25519)",
                            message_zh="未提供证书时须指明密钥类型", field="key_type")
    try:
        return key_type if isinstance(key_type, KeyType) else KeyType(str(key_type).lower())
    except ValueError:
        raise BadInputError(f"unknown key type {key_type!r}", message_zh="未知的密钥类型", field="key_type") from None


def _sm2_e(cert_der: bytes, data: bytes) -> bytes | None:
    pub = parse_certificate(cert_der).public_key()
    if not isinstance(pub, Sm2VerifyingKey):
        return None
    from keys._sm2 import DEFAULT_UID, sm2_z

    h = hashes.Hash(hashes.SM3())
    h.update(sm2_z(pub.raw.point(), DEFAULT_UID) + data)
    return h.finalize()


def prepare_remote(
    pdf: bytes, *, cert_der: bytes | None = None, chain: Sequence[bytes] = (), key_type: str | KeyType | None = None,
    level: str = "b-b", field_name: str | None = None, certify: bool = False, docmdp_level: int = 2,
    stamp: StampSpec | None = None, reason: str | None = None, location: str | None = None,
    rsa_pss: bool = False, state_key: bytes, at: datetime,
) -> RemotePreparation:
    """Step 1: prepare ``pdf`` for a signature made elsewhere. See the module docstring."""
    _check_at(at)
    _check_state_key(state_key)
    opts = SignOptions(level=level, field_name=field_name, certify=certify, docmdp_level=docmdp_level, stamp=stamp,
                       reason=reason, location=location, rsa_pss=rsa_pss).checked()
    kt = _key_type_of(cert_der, key_type)
    if cert_der is not None:
        check_signer_certificate(parse_certificate(cert_der), at=at, data=None)
    choice = choose_algorithm(kt, rsa_pss=opts.rsa_pss)
    late = cert_der is None
    subfilter = "adbe.pkcs7.detached" if late else choice.subfilter
    asn_cert = None if late else load_asn1_cert(cert_der)  # type: ignore[arg-type]
    chain_asn = tuple(load_asn1_cert(c, what="chain certificate") for c in chain)
    signer = KeySigner(None, choice=choice, cert=asn_cert, chain=chain_asn, signature_bytes=0)
    reader = open_pdf(_as_stream(pdf))
    out = io.BytesIO()

    async def _go() -> tuple[PreparedByteRangeDigest, bytes]:
        pdf_signer, params = build_pdf_signer(reader, signer, opts, subfilter=subfilter,
                                              md_algorithm=choice.md_algorithm, timestamper=None)
        session = pdf_signer.init_signing_session(IncrementalPdfFileWriter.from_reader(reader))
        session.system_time = at
        tbs = session.prepare_tbs_document(None, REMOTE_CMS_RESERVE, appearance_text_params=params)
        prepared, _ = tbs.digest_tbs_document(output=out)
        attrs = await signer.signed_attrs(
            prepared.document_digest, choice.md_algorithm, attr_settings=PdfCMSSignedAttributes(signing_time=at),
            use_pades=subfilter == "ETSI.CAdES.detached", timestamper=None, dry_run=False, is_pdf_sig=True,
        )
        return prepared, attrs.dump()

    prepared, signed_attrs = run_async(_go)
    prepared_pdf = out.getvalue()
    h = hashes.Hash(_HASHES[choice.md_algorithm]())
    h.update(signed_attrs)
    if kt is KeyType.SM2:
        digest = None if late else _sm2_e(cert_der, signed_attrs)  # type: ignore[arg-type]
    elif kt is KeyType.ED25519:
        digest = None
    else:
        digest = h.finalize()
    state = _seal({
        "kind": _KIND, "v": _STATE_VERSION, "created": at.isoformat(), "level": opts.level,
        "key_type": kt.value, "rsa_pss": opts.rsa_pss, "subfilter": subfilter,
        "signed_attrs": _b64(signed_attrs), "document_digest": _b64(prepared.document_digest),
        "start": prepared.reserved_region_start, "end": prepared.reserved_region_end,
        "pdf_sha256": hashlib.sha256(prepared_pdf).hexdigest(),
        "cert_sha256": None if late else hashlib.sha256(cert_der).hexdigest(),  # type: ignore[arg-type]
    }, bytes(state_key))
    return RemotePreparation(prepared_pdf=prepared_pdf, state=state, data_to_sign=signed_attrs, digest=digest,
                             digest_algorithm=choice.md_algorithm, signature_algorithm=choice.algorithm.algo_name)


def finish_remote(
    prepared_pdf: bytes, state: str, signature: bytes, *, cert_der: bytes | None = None, chain: Sequence[bytes] = (),
    state_key: bytes, timestamper: TimeStamper | None = None, validation_data: ValidationData | None = None,
    at: datetime,
) -> bytes:
    """Step 3: check and embed ``signature`` (DER for ECDSA/SM2) and return the signed PDF.

    Raises:
        BadInputError: state token invalid, expired, or not for this prepared PDF.
        CertificateError: certificate missing, different from the one at step 1, or unusable.
        InvalidSignatureError: the signature does not verify over the data to sign.
    """
    _check_at(at)
    _check_state_key(state_key)
    st = _open(state, bytes(state_key))
    created = datetime.fromisoformat(st["created"])
    if not created - timedelta(minutes=5) <= at <= created + MAX_STATE_AGE:
        raise BadInputError("the prepared signature has expired; prepare it again",
                            message_zh="待签名文档已过期，请重新准备", field="state")
    if hashlib.sha256(prepared_pdf).hexdigest() != st["pdf_sha256"]:
        raise BadInputError("the prepared PDF is not the one this state belongs to",
                            message_zh="待签名 PDF 与状态不匹配", field="prepared_pdf")
    level = st["level"]
    check_level_inputs(level, timestamper, validation_data)
    if cert_der is None:
        raise CertificateError("the signer certificate is needed to finish", message_zh="完成签名需要签名证书",
                               field="cert")
    if st["cert_sha256"] is not None and hashlib.sha256(cert_der).hexdigest() != st["cert_sha256"]:
        raise CertificateError("the certificate differs from the one given when preparing",
                               message_zh="证书与准备阶段提供的证书不一致", field="cert")
    cert = parse_certificate(cert_der)
    pub = cert.public_key()
    if pub.key_type.value != st["key_type"]:
        raise CertificateError(f"the certificate holds a {pub.key_type.value} key, not {st['key_type']}",
                               message_zh="证书密钥类型与准备阶段不一致", field="cert")
    check_signer_certificate(cert, at=created, data=validation_data)
    choice = choose_algorithm(pub.key_type, rsa_pss=bool(st["rsa_pss"]))
    signed_attrs = _unb64(st["signed_attrs"])
    if not isinstance(signature, (bytes, bytearray)) or not 0 < len(signature) <= 1024:
        raise SignatureFormatError("the signature value is empty or too long", field="signature")
    try:
        pub.verify(bytes(signature), signed_attrs, algorithm=choice.algorithm)
    except (InvalidSignatureError, SignatureFormatError) as exc:
        raise InvalidSignatureError(f"the remote signature does not verify over the data to sign: {exc.message}",
                                    message_zh="远程签名值验证失败") from None
    signer = KeySigner(None, choice=choice, cert=load_asn1_cert(cert.der),
                       chain=tuple(load_asn1_cert(c, what="chain certificate") for c in chain),
                       signature_bytes=signature_size(pub.key_type, pub.key_bits), fixed_signature=bytes(signature))
    ts = timestamper if level != "b-b" else None
    prepared = PreparedByteRangeDigest(_unb64(st["document_digest"]), int(st["start"]), int(st["end"]))
    out = io.BytesIO(prepared_pdf)

    async def _go() -> None:
        attrs = cms.CMSAttributes.load(signed_attrs)
        ci = await signer.async_sign_prescribed_attributes(choice.md_algorithm, attrs, timestamper=ts)
        der = ci.dump()
        if 2 * len(der) > prepared.reserved_region_end - prepared.reserved_region_start - 2:
            raise BadInputError("the signature container does not fit the space reserved (chain too long?)",
                                message_zh="签名数据超出预留空间", field="chain")
        prepared.fill_with_cms(out, der)
        await finish_levels(out, level=level, timestamper=timestamper, data=validation_data)

    run_async(_go)
    return out.getvalue()
