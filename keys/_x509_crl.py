"""Parsed CRLs (complete and delta), signature checked through :func:`keys.x509.verify_signature`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import core, crl, pem, x509

from keys._x509_common import MAX_CERT_BYTES, PARSE_ERRORS, bad, force, signature_octets, verify_signature
from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy
from keys.errors import AlgorithmNotAllowedError
from keys.interfaces import VerifyingKey
from keys.keypairs import pem_blocks

__all__ = ["Crl", "crl_to_pem", "parse_crl"]


@dataclass(frozen=True)
class Crl:
    """A parsed CRL (signature not yet checked)."""

    der: bytes
    """The exact DER bytes."""
    asn1: crl.CertificateList = field(repr=False, compare=False)
    """The asn1crypto object."""

    @property
    def issuer(self) -> x509.Name:
        """CRL issuer name."""
        return self.asn1.issuer

    @property
    def this_update(self) -> datetime:
        """thisUpdate."""
        return self.asn1["tbs_cert_list"]["this_update"].native

    @property
    def next_update(self) -> datetime | None:
        """nextUpdate (``None`` if absent)."""
        return self.asn1["tbs_cert_list"]["next_update"].native

    @property
    def crl_number(self) -> int | None:
        """cRLNumber extension."""
        return self.asn1.crl_number_value.native if self.asn1.crl_number_value is not None else None

    @property
    def delta_base(self) -> int | None:
        """deltaCRLIndicator BaseCRLNumber (``None`` for a complete CRL)."""
        v = self.asn1.delta_crl_indicator_value
        return None if v is None else v.native

    @property
    def aki(self) -> bytes | None:
        """authorityKeyIdentifier keyIdentifier."""
        return self.asn1.authority_key_identifier

    @property
    def extension_oids(self) -> dict[str, bool]:
        """Every CRL extension present: dotted OID -> critical."""
        exts = self.asn1["tbs_cert_list"]["crl_extensions"]
        if isinstance(exts, core.Void):
            return {}
        return {e["extn_id"].dotted: bool(e["critical"].native) for e in exts}

    def verify_issued_by(self, key: VerifyingKey, *, policy: AlgorithmPolicy = DEFAULT_POLICY) -> None:
        """Check the CRL signature under ``key`` (raises on failure)."""
        inner = self.asn1["tbs_cert_list"]["signature"]
        outer = self.asn1["signature_algorithm"]
        if inner.dump() != outer.dump():
            raise AlgorithmNotAllowedError("CRL inner and outer signature algorithms differ", field="algorithm")
        tbs = bytes(self.asn1["tbs_cert_list"].dump())
        verify_signature(outer, tbs, signature_octets(self.asn1["signature"]), key, policy=policy)


def parse_crl(data: bytes) -> Crl:
    """Parse one CRL from DER or PEM (``X509 CRL``). Raises :class:`CertificateError` if malformed."""
    if not data or len(data) > MAX_CERT_BYTES * 8:
        raise bad("empty or oversized CRL", zh="CRL 格式错误")
    der = bytes(data)
    if der[:1] != b"\x30" and b"-----BEGIN" in der:
        blocks = [b for label, b in pem_blocks(der) if label == "X509 CRL"]
        if len(blocks) != 1:
            raise bad("expected one PEM X509 CRL block", zh="CRL 格式错误")
        der = blocks[0]
    try:
        c = crl.CertificateList.load(der, strict=True)
        force(c["tbs_cert_list"])
        force(c["signature_algorithm"])
        force(c["signature"])
        parsed = Crl(der=der, asn1=c)
        _ = (parsed.this_update, parsed.next_update, parsed.crl_number, parsed.delta_base)
        for rc in c["tbs_cert_list"]["revoked_certificates"]:
            _ = (rc.crl_reason_value, rc.certificate_issuer_value, rc.invalidity_date_value)
        _ = (c.issuing_distribution_point_value, c.authority_key_identifier)
    except PARSE_ERRORS as exc:
        raise bad("malformed CRL", exc, zh="CRL 格式错误") from exc
    return parsed


def crl_to_pem(der: bytes) -> bytes:
    """PEM ``X509 CRL`` armour."""
    return bytes(pem.armor("X509 CRL", der))
