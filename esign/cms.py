"""CMS SignedData (RFC 5652) for SM2, ECDSA P-256, RSA (PKCS#1 v1.5 and PSS) and Ed25519.

:func:`sign_cms` makes attached or detached SignedData, with the signed attributes contentType,
messageDigest, signingTime and signingCertificateV2 (ESS, RFC 5035) by default, or without signed
attributes (the signature is then directly over the content, as CFCA SADK does). SM2 signs with
SM3 (digest 1.2.156.10197.1.401, signature 1.2.156.10197.1.501, ID ``1234567812345678``) and
emits the PKCS#7 content types unless ``oids="gmt0010"`` asks for the GM/T 0010 / GB/T 35275 ones
(1.2.156.10197.6.1.4.2.2 / .1, what GmSSL writes). With a ``timestamper`` the SignerInfo gets an
unsigned signatureTimeStampToken over its signature value (RFC 3161 Appendix A).

:func:`build_signed_data` is the shared builder; :mod:`esign.tsa` uses it for time-stamp tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from asn1crypto import cms, core, tsp, x509

from esign.formats.cms_asn1 import (
    GMT_DATA,
    GMT_SIGNED_DATA,
    PARSE_ERRORS,
    PKCS7_DATA,
    PKCS7_SIGNED_DATA,
    default_digest_for,
    digest,
    digest_algorithm,
)
from keys.algorithms import SignatureAlgorithm
from keys.errors import BadInputError, CertificateError, EsignError, KeyFormatError
from keys.interfaces import SigningKey
from keys.x509 import Certificate, parse_certificate, signature_algorithm_id

if TYPE_CHECKING:
    from esign.tsa import TimeStamper

__all__ = ["MAX_SIGN_BYTES", "build_signed_data", "content_info", "ess_signing_certificate_v2", "sign_cms"]

#: Largest content :func:`sign_cms` signs in memory.
MAX_SIGN_BYTES = 64 << 20
#: Most extra certificates embedded after the signer's.
MAX_CHAIN_CERTS = 16


def _time(at: datetime) -> cms.Time:
    at = at.astimezone(UTC).replace(microsecond=0)
    # RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise.
    if 1950 <= at.year <= 2049:
        return cms.Time({"utc_time": at})
    return cms.Time({"generalized_time": at})


def ess_signing_certificate_v2(cert: Certificate, *, hash_name: str = "sha256") -> tsp.SigningCertificateV2:
    """signingCertificateV2 naming ``cert`` by its hash and issuer/serial (RFC 5035, ESSCertIDv2)."""
    return tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": digest_algorithm(hash_name),
                    "cert_hash": digest(hash_name, cert.der),
                    "issuer_serial": {
                        "issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
                        "serial_number": cert.serial,
                    },
                }
            ]
        }
    )


def _attr(oid_name: str, value: core.Asn1Value) -> cms.CMSAttribute:
    return cms.CMSAttribute({"type": oid_name, "values": [value]})


def build_signed_data(
    *,
    content: bytes,
    content_type: str,
    key: SigningKey,
    cert: Certificate,
    chain: Sequence[Certificate] = (),
    attach: bool,
    at: datetime | None,
    signed_attrs: bool = True,
    include_certs: bool = True,
    algorithm: SignatureAlgorithm | None = None,
    ess_hash: str | None = None,
    timestamper: TimeStamper | None = None,
) -> cms.SignedData:
    """One-signer SignedData over ``content`` (eContentType ``content_type``, dotted OID).

    ``at`` is the signingTime (omitted when ``None``). The signer is named by issuer and serial
    (SignerInfo v1). Signed attributes are contentType, messageDigest, signingTime and
    signingCertificateV2 (hashed with ``ess_hash``, default the signing digest).
    """
    alg = algorithm or key.default_algorithm()
    if alg.key_type is not key.key_type:
        raise KeyFormatError(f"algorithm {alg.algo_name} does not fit a {key.key_type.value} key", field="key")
    if key.public_key().spki_der() != cert.spki_der:
        raise KeyFormatError(
            "the private key does not belong to the signer certificate",
            message_zh="私钥与签名者证书不匹配",
            field="key",
        )
    if cert.key_usage is not None and not cert.key_usage & {"digital_signature", "non_repudiation"}:
        raise CertificateError(
            "the signer certificate's keyUsage allows neither digitalSignature nor nonRepudiation",
            message_zh="签名者证书的密钥用途不允许签名",
            field="certificate",
        )
    dname = default_digest_for(alg)
    dalg = digest_algorithm(dname)
    sid = cms.SignerIdentifier(
        {"issuer_and_serial_number": {"issuer": cert.issuer, "serial_number": cert.serial}}
    )
    info: dict[str, object] = {
        "version": "v1",
        "sid": sid,
        "digest_algorithm": dalg,
        "signature_algorithm": signature_algorithm_id(alg),
    }
    if signed_attrs:
        attrs = [
            _attr("content_type", cms.ContentType(content_type)),
            _attr("message_digest", core.OctetString(digest(dname, content))),
        ]
        if at is not None:
            attrs.append(_attr("signing_time", _time(at)))
        attrs.append(_attr("signing_certificate_v2", ess_signing_certificate_v2(cert, hash_name=ess_hash or dname)))
        attr_set = cms.CMSAttributes(attrs)
        to_sign = attr_set.dump()
        info["signed_attrs"] = attr_set
    else:
        to_sign = content
    signature = key.sign(to_sign, algorithm=alg)
    info["signature"] = signature
    if timestamper is not None:
        token = timestamper.stamp(signature, hash_name="sm3" if alg is SignatureAlgorithm.SM2_SM3 else "sha256")
        try:
            tst = cms.ContentInfo.load(token)
        except PARSE_ERRORS as exc:
            raise BadInputError(f"the time-stamper returned a malformed token: {exc}", field="timestamp") from exc
        info["unsigned_attrs"] = cms.CMSAttributes([_attr("signature_time_stamp_token", tst)])
    signer_info = cms.SignerInfo(info)
    v1 = content_type in (PKCS7_DATA, GMT_DATA)
    encap_cls = cms.ContentInfo if v1 else cms.EncapsulatedContentInfo  # asn1crypto picks the spec by version
    encap = encap_cls.load(_encap_der(content_type, content if attach else None))
    sd: dict[str, object] = {
        "version": "v1" if v1 else "v3",
        "digest_algorithms": [dalg],
        "encap_content_info": encap,
        "signer_infos": [signer_info],
    }
    if include_certs:
        ders = [cert.der, *(c.der for c in chain if c.der != cert.der)]
        sd["certificates"] = [cms.CertificateChoices({"certificate": x509.Certificate.load(d)}) for d in ders]
    return cms.SignedData(sd)


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(body)) + body


def _encap_der(content_type: str, content: bytes | None) -> bytes:
    """DER EncapsulatedContentInfo (built by hand: asn1crypto cannot emit eContent for unknown OIDs)."""
    body = core.ObjectIdentifier(content_type).dump()
    if content is not None:
        body += _tlv(0xA0, _tlv(0x04, content))
    return _tlv(0x30, body)


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def content_info(signed_data: cms.SignedData, *, outer_oid: str = PKCS7_SIGNED_DATA) -> bytes:
    """DER ``ContentInfo { outer_oid, [0] EXPLICIT signed_data }``."""
    oid = core.ObjectIdentifier(outer_oid).dump()
    inner = signed_data.dump()
    return _tlv(0x30, oid + _tlv(0xA0, inner))


def sign_cms(
    data: bytes,
    *,
    key: SigningKey,
    cert_der: bytes,
    chain: Sequence[bytes] = (),
    detached: bool = True,
    signed_attrs: bool = True,
    at: datetime,
    oids: Literal["pkcs7", "gmt0010"] = "pkcs7",
    timestamper: TimeStamper | None = None,
    algorithm: SignatureAlgorithm | None = None,
) -> bytes:
    """Sign ``data``; return a DER ContentInfo(SignedData).

    Args:
        data: the content.
        key: the signer's private key (any store).
        cert_der: the signer certificate (DER or PEM); it must match ``key``.
        chain: further certificates to embed (DER or PEM each), e.g. the issuing CA.
        detached: leave the content out (``.p7s`` next to the file); ``False`` embeds it.
        signed_attrs: include signed attributes (recommended; ``False`` signs the content directly).
        at: signingTime.
        oids: ``pkcs7`` (default) or ``gmt0010`` content-type OIDs.
        timestamper: if given, add a signatureTimeStampToken from it.
        algorithm: override the key's default (e.g. ``RSA_PSS_SHA256``).

    Raises:
        BadInputError / KeyFormatError / CertificateError: unusable input; nothing is produced.
    """
    if not isinstance(data, (bytes, bytearray)):
        raise BadInputError("data must be bytes", field="data")
    if len(data) > MAX_SIGN_BYTES:
        raise BadInputError("content larger than 64 MiB", message_zh="待签数据过大", field="data")
    if oids not in ("pkcs7", "gmt0010"):
        raise BadInputError("oids must be 'pkcs7' or 'gmt0010'", field="oids")
    if len(chain) > MAX_CHAIN_CERTS:
        raise BadInputError(f"more than {MAX_CHAIN_CERTS} chain certificates", field="chain")
    cert = parse_certificate(cert_der)
    extra = [parse_certificate(c) for c in chain]
    gm = oids == "gmt0010"
    try:
        sd = build_signed_data(
            content=bytes(data),
            content_type=GMT_DATA if gm else PKCS7_DATA,
            key=key,
            cert=cert,
            chain=extra,
            attach=not detached,
            at=at,
            signed_attrs=signed_attrs,
            algorithm=algorithm,
            timestamper=timestamper,
        )
        return content_info(sd, outer_oid=GMT_SIGNED_DATA if gm else PKCS7_SIGNED_DATA)
    except EsignError:
        raise
    except PARSE_ERRORS as exc:
        raise BadInputError(f"cannot build SignedData: {exc}", message_zh="无法生成 CMS 签名", field="data") from exc
