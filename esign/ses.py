"""Make GB/T 38540 electronic seals and sign data with them (电子印章制作与电子签章).

Making a seal (GB/T 38540-2020 §6.2): (a) build ``SES_SealInfo`` = header ``(ES, 4, Vid)`` +
esID + property (type, name, ``certListType`` 1 with the signers' certificates, dates) + picture
(PNG/GIF/SVG, size in mm); (b) the seal maker (制章者) signs ``DER(SES_SealInfo)`` with SM2;
(c) assemble ``SESeal {eSealInfo, makerCert, signAlgID, signedValue}``.

Signing with a seal (§7.2), the steps of :func:`sign_with_seal`:

  1. Parse the seal and check its maker signature (a seal whose bytes were changed is refused).
  2. The seal is within ``validStart..validEnd`` at ``at``.
  3. The seal is not suspended or revoked in the register (when one is given).
  4. The signer certificate is valid at ``at``, allows signing, matches the signer key, and is in
     the seal's certificate list (DER equality, or digest match for ``certListType`` 2).
  5. ``dataHash = SM3(data)``; ``TBS_Sign {version, eseal, timeInfo = at, dataHash, propertyInfo}``.
  6. The signer signs ``DER(TBS_Sign)`` with SM2 (ID 1234567812345678).
  7. Optionally a timestamp over the signature value (its imprint is checked before it is embedded).
  8. Emit ``SES_Signature {toSign, signerCert, signatureAlgID, signature, [0] timeStamp}``.

Each refusal is a typed error (:class:`SealNotValidError`, :class:`SealStatusError`,
:class:`SignerNotAuthorisedError`, ...) with a plain reason in English and Chinese, and nothing is
produced. Parsed, maker-checked seals are cached by their SHA-256 (bounded), so signing many
documents with one seal does not re-verify it every time. For many signatures by one signer,
:class:`SealSigner` does the checks that do not depend on the signing time once (steps 1 and 4)
and the rest per signature; its output is the same. ``TBS_Sign`` and ``SES_Signature`` are
written directly as DER (:mod:`esign.formats.ses`), not through asn1crypto objects.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from esign.formats.ses import (
    MAX_PICTURE_BYTES,
    SM2_SM3_OID,
    Seal,
    SealPicture,
    encode_seal_info_v4,
    encode_seal_v4,
    encode_ses_signature_v4,
    encode_tbs_sign_v4,
    parse_timestamp_imprint,
    parse_unverified_seal,
    signer_in_seal,
)
from esign.ports import SealRegister, SealStatus
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import (
    AlgorithmNotAllowedError,
    BadInputError,
    ConflictError,
    EsignError,
    InvalidSignatureError,
    KeyFormatError,
    PermissionDeniedError,
)
from keys.hashing import sm3
from keys.interfaces import SigningKey
from keys.x509 import Certificate, parse_certificate

__all__ = [
    "MAX_SEAL_MM",
    "PICTURE_TYPES",
    "SEAL_CACHE_SIZE",
    "SealNotValidError",
    "SealSigner",
    "SealStatusError",
    "SignerCertificateNotValidError",
    "SignerNotAuthorisedError",
    "Timestamper",
    "check_seal_at",
    "detect_picture_type",
    "load_checked_seal",
    "make_seal",
    "sign_with_seal",
    "signer_in_seal",
]

#: Picture types a seal made here may carry.
PICTURE_TYPES = ("PNG", "GIF", "SVG")
#: Largest seal side in millimetres (official seals are 38-50 mm).
MAX_SEAL_MM = 500
#: Seals kept parsed and maker-verified in memory.
SEAL_CACHE_SIZE = 256
_SIGNING_KU = frozenset({"digital_signature", "non_repudiation"})

#: A time-stamping client: ``timestamper(signature_value) -> DER TimeStampToken`` over it, or an
#: ``esign.tsa.TimeStamper`` (its ``stamp(data, hash_name="sm3")`` is used).
Timestamper = Callable[[bytes], bytes] | Any


class SealNotValidError(ConflictError):
    """The seal is outside its validity period, or its bytes do not carry a valid maker signature."""

    code = "seal_not_valid"
    default_zh = "电子印章不在有效期内或已被篡改"


class SealStatusError(ConflictError):
    """The seal is suspended or revoked in the register."""

    code = "seal_revoked"
    default_zh = "电子印章已挂起或注销"


class SignerNotAuthorisedError(PermissionDeniedError):
    """The signer's certificate is not in the seal's list of allowed signers."""

    code = "signer_not_in_seal"
    default_zh = "签章人证书不在该印章的授权列表中"


class SignerCertificateNotValidError(ConflictError):
    """The signer certificate is expired, not yet valid or may not sign."""

    code = "signer_certificate_not_valid"
    default_zh = "签章人证书无效"


_cache_lock = threading.Lock()


# --- pictures ----------------------------------------------------------------------------------


def detect_picture_type(data: bytes) -> str:
    """``PNG``, ``GIF`` or ``SVG`` from the bytes, after checking the image really decodes.

    Raises:
        BadInputError: empty, too large, or not a PNG/GIF/SVG image.
    """
    if not data:
        raise BadInputError("the seal picture is empty", message_zh="印章图片为空", field="picture")
    if len(data) > MAX_PICTURE_BYTES:
        raise BadInputError(f"the seal picture is larger than {MAX_PICTURE_BYTES} bytes",
                            message_zh="印章图片过大", field="picture")
    if data.startswith(b"\x89PNG\r\n\x1a\n") or data[:6] in (b"GIF87a", b"GIF89a"):
        kind = "PNG" if data[:1] == b"\x89" else "GIF"
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:
                if img.format != kind:
                    raise ValueError(img.format)
                img.verify()
        except Exception as exc:
            raise BadInputError(f"the seal picture is not a valid {kind} image",
                                message_zh="印章图片已损坏或不是有效图片", field="picture") from exc
        return kind
    head = data[:512].lstrip()
    if head.startswith((b"<?xml", b"<svg", b"<!--")):
        _check_svg(data)
        return "SVG"
    raise BadInputError("the seal picture is not a PNG, GIF or SVG image",
                        message_zh="印章图片必须为 PNG、GIF 或 SVG 格式", field="picture")


def _check_svg(data: bytes) -> None:
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise BadInputError("the SVG seal picture is not well-formed XML", message_zh="SVG 印章图片格式错误",
                            field="picture") from exc
    if etree.QName(root).localname != "svg":
        raise BadInputError("the XML picture is not an SVG image", message_zh="图片不是 SVG 格式", field="picture")
    if b"<!ENTITY" in data or b"<script" in data.lower():
        raise BadInputError("SVG seal pictures may not hold entities or scripts",
                            message_zh="SVG 印章图片不得包含实体或脚本", field="picture")


# --- certificates ------------------------------------------------------------------------------


_cert_cache: OrderedDict[bytes, Certificate] = OrderedDict()


def _cert(der: bytes, what: str) -> Certificate:
    """Parsed certificate (the last :data:`SEAL_CACHE_SIZE` kept, keyed by their exact DER)."""
    with _cache_lock:
        hit = _cert_cache.get(der)
        if hit is not None:
            _cert_cache.move_to_end(der)
            return hit
    try:
        cert = parse_certificate(der)
    except EsignError as exc:
        raise type(exc)(f"{what}: {exc.message}", message_zh=exc.message_zh, field=what) from exc
    with _cache_lock:
        _cert_cache[bytes(der)] = cert
        while len(_cert_cache) > SEAL_CACHE_SIZE:
            _cert_cache.popitem(last=False)
    return cert


def _check_key_matches(key: SigningKey, cert: Certificate, what: str) -> None:
    if key.key_type is not KeyType.SM2:
        raise AlgorithmNotAllowedError("GB/T 38540 seals and seal signatures use SM2 keys",
                                       message_zh="电子印章与电子签章必须使用 SM2 密钥", field=what)
    if key.public_key().spki_der() != cert.spki_der:
        raise KeyFormatError(f"the {what} key does not match its certificate",
                             message_zh="私钥与证书不匹配", field=what)


def _check_cert_at(cert: Certificate, at: datetime, who: str, zh: str) -> None:
    if not (cert.not_before <= at <= cert.not_after):
        raise SignerCertificateNotValidError(
            f"the {who} certificate is valid {cert.not_before:%Y-%m-%d}..{cert.not_after:%Y-%m-%d}, "
            f"not at {at:%Y-%m-%d %H:%M:%S}Z",
            message_zh=f"{zh}证书在该时间不在有效期内", field=who)
    ku = cert.key_usage
    if ku is not None and not (ku & _SIGNING_KU):
        raise SignerCertificateNotValidError(f"the {who} certificate may not sign (keyUsage)",
                                             message_zh=f"{zh}证书的密钥用途不允许签名", field=who)


# --- making a seal -----------------------------------------------------------------------------


def make_seal(
    *,
    maker_key: SigningKey,
    maker_cert_der: bytes,
    seal_id: str,
    seal_type: int,
    name: str,
    signer_certs: list[bytes],
    valid_from: datetime,
    valid_to: datetime,
    picture: bytes,
    picture_type: str | None = None,
    width_mm: int,
    height_mm: int,
    at: datetime,
    vendor_id: str = "esign",
) -> bytes:
    """Make and sign a GB/T 38540 v4 seal; returns the DER ``SESeal``.

    Raises:
        BadInputError: bad picture, sizes, dates, ids or certificates.
        SignerCertificateNotValidError: the maker certificate is not valid at ``at`` or may not sign.
        KeyFormatError / AlgorithmNotAllowedError: the maker key is not SM2 or not the certificate's.
    """
    if at.tzinfo is None or valid_from.tzinfo is None or valid_to.tzinfo is None:
        raise BadInputError("times must be timezone-aware", message_zh="时间必须带时区", field="at")
    maker = _cert(maker_cert_der, "maker_cert")
    _check_key_matches(maker_key, maker, "maker")
    _check_cert_at(maker, at, "maker", "制章者")
    if not (valid_from < valid_to):
        raise BadInputError("valid_from must be before valid_to", message_zh="印章有效期起止时间错误",
                            field="valid_to")
    if valid_to <= at:
        raise BadInputError("the seal would already be expired", message_zh="印章有效期已过", field="valid_to")
    if not name or len(name) > 200:
        raise BadInputError("the seal name must be 1..200 characters", message_zh="印章名称长度错误", field="name")
    if not (0 < seal_type < 1 << 16):
        raise BadInputError("seal_type must be a positive integer", message_zh="印章类型错误", field="seal_type")
    for v, f in ((width_mm, "width_mm"), (height_mm, "height_mm")):
        if not (0 < v <= MAX_SEAL_MM):
            raise BadInputError(f"{f} must be 1..{MAX_SEAL_MM}", message_zh="印章尺寸超出范围", field=f)
    for i, der in enumerate(signer_certs):
        _cert(der, f"signer_certs[{i}]")
    kind = detect_picture_type(picture)
    if picture_type is not None and picture_type.upper() != kind:
        raise BadInputError(f"the picture is {kind}, not {picture_type}", message_zh="印章图片类型与声明不符",
                            field="picture_type")
    info = encode_seal_info_v4(
        seal_id=seal_id, seal_type=seal_type, name=name, signer_certs=signer_certs, created_at=at,
        valid_from=valid_from, valid_to=valid_to,
        picture=SealPicture(type=kind, data=picture, width_mm=width_mm, height_mm=height_mm), vendor_id=vendor_id,
    )
    sig = maker_key.sign(info, algorithm=SignatureAlgorithm.SM2_SM3)
    return encode_seal_v4(seal_info_der=info, maker_cert_der=maker_cert_der, signature=sig)


# --- signing with a seal -----------------------------------------------------------------------

_cache: OrderedDict[bytes, Seal] = OrderedDict()


def load_checked_seal(seal_der: bytes) -> Seal:
    """Parse a seal and check its maker signature (cached by SHA-256).

    Raises:
        SesFormatError: not a seal.
        SealNotValidError: the maker signature does not verify (the seal was altered).
    """
    digest = hashlib.sha256(seal_der).digest()
    with _cache_lock:
        hit = _cache.get(digest)
        if hit is not None:
            _cache.move_to_end(digest)
            return hit
    seal = parse_unverified_seal(seal_der)
    if seal.signature_algorithm != SM2_SM3_OID:
        raise AlgorithmNotAllowedError(f"seal signature algorithm {seal.signature_algorithm} is not SM3withSM2",
                                       message_zh="印章签名算法不是 SM3withSM2", field="seal")
    maker = _cert(seal.maker_cert_der, "maker_cert")
    try:
        maker.public_key().verify(seal.maker_signature, seal.tbs_der, algorithm=SignatureAlgorithm.SM2_SM3)
    except (InvalidSignatureError, KeyFormatError, BadInputError) as exc:
        raise SealNotValidError("the seal maker's signature does not verify: the seal was altered or is forged",
                                message_zh="制章者签名验证失败，印章可能被篡改或伪造", field="seal") from exc
    with _cache_lock:
        _cache[digest] = seal
        while len(_cache) > SEAL_CACHE_SIZE:
            _cache.popitem(last=False)
    return seal


def _hash_for(name: str | None) -> Callable[[bytes], bytes] | None:
    if name == "sm3":
        return sm3
    if name in ("sha256", "sha384", "sha512"):
        return lambda b: hashlib.new(name, b).digest()
    return None


def _check_timestamp(token: bytes, signature: bytes) -> None:
    imp = parse_timestamp_imprint(token)
    fn = _hash_for(imp.hash_name)
    if fn is None or fn(signature) != imp.hashed_message:
        raise BadInputError("the timestamp does not cover this signature value",
                            message_zh="时间戳未覆盖该签名值", field="timestamp")


def sign_with_seal(
    *,
    seal_der: bytes,
    signer_key: SigningKey,
    signer_cert_der: bytes,
    data: bytes | None = None,
    data_hash: bytes | None = None,
    at: datetime,
    property_info: str,
    timestamp: bytes | None = None,
    timestamper: Timestamper | None = None,
    seal_register: SealRegister | None = None,
) -> bytes:
    """Sign ``data`` (or its SM3 ``data_hash``) with a seal; returns a DER ``SES_Signature`` (v4, or v5 for a v5 seal).

    Args:
        seal_der: the ``SESeal`` to sign with (v4 or v5; GM/T 0031-2014 seals are read-only).
        signer_key: the signer's SM2 key (file store, token or memory).
        signer_cert_der: the signer's certificate; must be in the seal's list.
        data: the original; ``dataHash = SM3(data)``.
        data_hash: instead of ``data``, its 32-byte SM3 digest.
        at: signing time written into ``timeInfo``.
        property_info: ``propertyInfo`` (ASCII), e.g. the protected range or document id.
        timestamp: an RFC 3161 token over the signature value obtained elsewhere (checked, then embedded).
        timestamper: called with the signature value; returns a token to embed (checked first).
        seal_register: when given, a suspended/revoked (or unregistered) seal is refused.

    Raises:
        SealNotValidError, SealStatusError, SignerNotAuthorisedError, SignerCertificateNotValidError,
        BadInputError (and subclasses) -- see the module docstring.
    """
    # Step 1: the seal and its maker signature.
    _check_request(at, data, data_hash)
    seal = _usable_seal(seal_der)
    # Steps 2-3: validity window and register status.
    check_seal_at(seal, at, seal_register)
    # Step 4: the signer.
    signer = _cert(signer_cert_der, "signer_cert")
    _check_key_matches(signer_key, signer, "signer")
    _check_cert_at(signer, at, "signer", "签章人")
    if not signer_in_seal(seal, signer_cert_der):
        raise SignerNotAuthorisedError("the signer certificate is not in the seal's list of allowed signers",
                                       message_zh="签章人证书不在该印章的授权列表中", field="signer_cert")
    return _sign_checked(seal, signer_key, signer_cert_der, data=data, data_hash=data_hash, at=at,
                         property_info=property_info, timestamp=timestamp, timestamper=timestamper)


class SealSigner:
    """One seal, signer key and signer certificate, checked once for signing many documents.

    Construction does the checks of :func:`sign_with_seal` that do not depend on the signing time
    (step 1: format and maker signature; step 4: the key matches the certificate, the certificate
    may sign and is in the seal's list); :meth:`sign` does the rest (steps 2-3, the certificate's
    validity at ``at``) and steps 5-8. The result is byte for byte what :func:`sign_with_seal`
    returns for the same arguments. Holds the key handle only as long as the caller holds this object.

    Raises:
        SesFormatError, SealNotValidError, SignerNotAuthorisedError, SignerCertificateNotValidError,
        KeyFormatError, AlgorithmNotAllowedError, BadInputError: as :func:`sign_with_seal`.
    """

    __slots__ = ("_cert_der", "_key", "_not_after", "_not_before", "seal")

    def __init__(self, *, seal_der: bytes, signer_key: SigningKey, signer_cert_der: bytes) -> None:
        seal = _usable_seal(seal_der)
        signer = _cert(signer_cert_der, "signer_cert")
        _check_key_matches(signer_key, signer, "signer")
        _check_cert_at(signer, signer.not_before, "signer", "签章人")  # keyUsage (the time is checked per call)
        if not signer_in_seal(seal, signer_cert_der):
            raise SignerNotAuthorisedError("the signer certificate is not in the seal's list of allowed signers",
                                           message_zh="签章人证书不在该印章的授权列表中", field="signer_cert")
        self.seal = seal
        self._key = signer_key
        self._cert_der = bytes(signer_cert_der)
        self._not_before = signer.not_before
        self._not_after = signer.not_after

    def __repr__(self) -> str:
        return f"<SealSigner seal={self.seal.seal_id}>"

    def sign(self, *, data: bytes | None = None, data_hash: bytes | None = None, at: datetime, property_info: str,
             timestamp: bytes | None = None, timestamper: Timestamper | None = None,
             seal_register: SealRegister | None = None) -> bytes:
        """:func:`sign_with_seal` with this seal, key and certificate (same arguments, same errors)."""
        _check_request(at, data, data_hash)
        check_seal_at(self.seal, at, seal_register)
        if not (self._not_before <= at <= self._not_after):
            raise SignerCertificateNotValidError(
                f"the signer certificate is valid {self._not_before:%Y-%m-%d}..{self._not_after:%Y-%m-%d}, "
                f"not at {at:%Y-%m-%d %H:%M:%S}Z", message_zh="签章人证书在该时间不在有效期内", field="signer")
        return _sign_checked(self.seal, self._key, self._cert_der, data=data, data_hash=data_hash, at=at,
                             property_info=property_info, timestamp=timestamp, timestamper=timestamper)


def _check_request(at: datetime, data: bytes | None, data_hash: bytes | None) -> None:
    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", message_zh="时间必须带时区", field="at")
    if (data is None) == (data_hash is None):
        raise BadInputError("give exactly one of data and data_hash", message_zh="请提供原文或原文杂凑值之一",
                            field="data")


def _usable_seal(seal_der: bytes) -> Seal:
    seal = load_checked_seal(seal_der)
    if seal.version == 1:
        raise BadInputError("GM/T 0031-2014 seals can be verified but not used for new signatures",
                            message_zh="GM/T 0031-2014 格式印章仅可验证，不能用于新的签章", field="seal")
    return seal


def check_seal_at(seal: Seal, at: datetime, seal_register: SealRegister | None) -> None:
    """Steps 2-3 of signing with a seal: inside its validity window at ``at``, and listed in the register.

    Raises:
        SealNotValidError: outside the window.
        SealStatusError: not registered, suspended or revoked.
    """
    # Step 2: validity window.
    if not (seal.valid_from <= at <= seal.valid_to):
        raise SealNotValidError(
            f"the seal is valid {seal.valid_from:%Y-%m-%d}..{seal.valid_to:%Y-%m-%d}, not at {at:%Y-%m-%d}",
            message_zh="电子印章不在有效期内", field="seal")
    # Step 3: register status.
    if seal_register is not None:
        status = seal_register.status_at(seal.seal_id, at)
        if status is None:
            raise SealStatusError(f"seal {seal.seal_id} is not in the register", message_zh="电子印章未备案",
                                  field="seal")
        if status is not SealStatus.LISTED:
            raise SealStatusError(f"seal {seal.seal_id} is {status.value}",
                                  message_zh="电子印章已挂起" if status is SealStatus.SUSPENDED else "电子印章已注销",
                                  field="seal")


def _sign_checked(seal: Seal, key: SigningKey, cert_der: bytes, *, data: bytes | None, data_hash: bytes | None,
                  at: datetime, property_info: str, timestamp: bytes | None,
                  timestamper: Timestamper | None) -> bytes:
    """Steps 5-8 once the seal and the signer passed their checks."""
    # Step 5: TBS_Sign.
    if data is not None:
        digest = sm3(data)
    else:
        assert data_hash is not None
        if len(data_hash) != 32:
            raise BadInputError("data_hash must be a 32-byte SM3 digest", message_zh="原文杂凑值应为 32 字节 SM3",
                                field="data_hash")
        digest = bytes(data_hash)
    tbs = encode_tbs_sign_v4(seal_der=seal.der, signing_time=at, data_hash=digest, property_info=property_info,
                             version=5 if seal.version == 5 else 4)
    # Step 6: sign.
    signature = key.sign(tbs, algorithm=SignatureAlgorithm.SM2_SM3)
    # Step 7: timestamp.
    token = timestamp
    if token is None and timestamper is not None:
        stamp = getattr(timestamper, "stamp", None)
        token = stamp(signature, hash_name="sm3") if callable(stamp) else timestamper(signature)
    if token is not None:
        _check_timestamp(token, signature)
    # Step 8: assemble.
    return encode_ses_signature_v4(tbs_der=tbs, signer_cert_der=cert_der, signature=signature, timestamp=token)
