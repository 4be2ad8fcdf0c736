"""GB/T 35275 (GM/T 0010) ``ContentInfo(signedData)`` as OFD uses it: parse only, unverified.

GM/T 0099-2020 §7.2.2 puts this structure in ``SignedValue.dat`` of a Type="Sign" OFD signature
and in the integrity-protection ``signedvalue.dat`` (appendix D). What is signed there (as ofdrw
writes it, checked against the corpus file ``hello-integrity.ofd``): the encapsulated content is
``SM3(protected file)`` (32 bytes, some vendors: its base64 text) and the SM2 signature is over
that content (``SM3(Z || content)``), without signed attributes. When signed attributes are
present, the usual CMS rule applies (signature over ``DER(SET OF attributes)``, ``messageDigest``
over the content).

Both the GM/T OIDs (``1.2.156.10197.6.1.4.2.2`` / ``.1``) and the PKCS#7 ones are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass

from asn1crypto import cms, core

from esign.formats.ofd_zip import OfdFormatError

__all__ = [
    "GM_DATA",
    "GM_SIGNED_DATA",
    "MAX_SIGNED_VALUE_BYTES",
    "SignedDataInfo",
    "SignerValue",
    "looks_like_content_info",
    "parse_signed_data",
]

#: GM/T 0010 signedData content type.
GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
#: GM/T 0010 data content type.
GM_DATA = "1.2.156.10197.6.1.4.2.1"
_PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
_PKCS7_DATA = "1.2.840.113549.1.7.1"
#: Largest SignedValue.dat accepted.
MAX_SIGNED_VALUE_BYTES = 1 << 20
#: Most signer infos / certificates read.
_MAX_ITEMS = 16


class _ContentInfo(core.Sequence):
    _fields = [("content_type", core.ObjectIdentifier), ("content", cms.SignedData, {"explicit": 0})]


@dataclass(frozen=True)
class SignerValue:
    """One SignerInfo."""

    digest_oid: str
    """digestAlgorithm OID."""
    signature_oid: str
    """digestEncryptionAlgorithm / signatureAlgorithm OID."""
    signature: bytes
    """The signature value (DER SEQUENCE{r, s} for SM2)."""
    signed_attrs_der: bytes | None
    """DER of the signed attributes as a SET (what is signed), or ``None`` when absent."""
    message_digest: bytes | None
    """The messageDigest attribute, if signed attributes are present."""
    issuer_serial: tuple[bytes, int] | None
    """(issuer Name DER, serial) when the signer is named that way."""


@dataclass(frozen=True)
class SignedDataInfo:
    """What a verifier needs from the structure (nothing here is verified)."""

    content: bytes
    """The encapsulated content (what is signed when there are no signed attributes)."""
    certificates: tuple[bytes, ...]
    """DER certificates carried."""
    signers: tuple[SignerValue, ...]
    """The signer infos."""


def looks_like_content_info(data: bytes) -> bool:
    """Starts like a DER SEQUENCE holding an OID (cheap test, no parsing)."""
    return len(data) > 16 and data[0] == 0x30 and b"\x06" in data[2:6]


def _bad(en: str) -> OfdFormatError:
    return OfdFormatError(f"SignedValue is not a GB/T 35275 signedData: {en}",
                          message_zh="签名值不是 GB/T 35275 签名数据", field="SignedValue")


def parse_signed_data(data: bytes) -> SignedDataInfo:
    """Parse ``ContentInfo(signedData)`` strictly (DER).

    Raises:
        OfdFormatError: not the expected structure, detached content, or too large.
    """
    if len(data) > MAX_SIGNED_VALUE_BYTES:
        raise _bad("too large")
    try:
        ci = _ContentInfo.load(data, strict=True)
        if ci["content_type"].dotted not in (GM_SIGNED_DATA, _PKCS7_SIGNED_DATA):
            raise _bad(f"content type {ci['content_type'].dotted}")
        sd = ci["content"]
        eci = sd["encap_content_info"]
        if eci["content_type"].dotted not in (GM_DATA, _PKCS7_DATA):
            raise _bad(f"encapsulated content type {eci['content_type'].dotted}")
        raw = eci["content"]
        if raw is None or isinstance(raw, core.Void):
            raise _bad("detached content")
        inner = raw.parsed if isinstance(raw, core.Any) else raw
        if not isinstance(inner, core.OctetString):
            raise _bad("content is not an OCTET STRING")
        content = bytes(inner.contents)
        certs: list[bytes] = []
        if not isinstance(sd["certificates"], core.Void):
            for choice in list(sd["certificates"])[:_MAX_ITEMS]:
                if choice.name == "certificate":
                    certs.append(bytes(choice.chosen.dump()))
        signers = []
        for si in list(sd["signer_infos"])[:_MAX_ITEMS]:
            attrs = si["signed_attrs"]
            attrs_der = md = None
            if not isinstance(attrs, core.Void) and len(attrs):
                attrs_der = cms.CMSAttributes(list(attrs)).dump(force=True)
                for a in attrs:
                    if a["type"].native == "message_digest":
                        md = bytes(a["values"][0].native)
            sid = si["sid"]
            ias = None
            if sid.name == "issuer_and_serial_number":
                ias = (bytes(sid.chosen["issuer"].dump()), int(sid.chosen["serial_number"].native))
            signers.append(SignerValue(
                digest_oid=si["digest_algorithm"]["algorithm"].dotted,
                signature_oid=si["signature_algorithm"]["algorithm"].dotted,
                signature=bytes(si["signature"].native),
                signed_attrs_der=attrs_der,
                message_digest=md,
                issuer_serial=ias,
            ))
    except OfdFormatError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError) as exc:
        raise _bad(str(exc)[:160]) from None
    if not signers:
        raise _bad("no SignerInfo")
    return SignedDataInfo(content=content, certificates=tuple(certs), signers=tuple(signers))
