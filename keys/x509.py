"""X.509 certificates and CRLs for every algorithm, SM2 included: parse, check signatures, build.

pyca/cryptography can neither parse an SM2 public key nor check an SM2 signature, so this module
reads certificates with asn1crypto and checks every signature through :mod:`keys.interfaces`
(SM2 always with the distinguishing ID ``1234567812345678``). The public key is never touched
through asn1crypto's own ``public_key`` accessor (it raises on the SPKI algorithm OID
1.2.156.10197.1.301 some OpenSSL 3 output carries); the raw SubjectPublicKeyInfo goes to
:func:`keys.keypairs.public_key_from_spki` instead.

Building (TBSCertificate / TBSCertList with asn1crypto, signed through a
:class:`~keys.interfaces.SigningKey`) lives in :mod:`keys._x509_build` and is re-exported here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import algos, core, pem, x509
from cryptography.exceptions import UnsupportedAlgorithm

from keys._x509_build import (
    RSA_PSS_PARAMS,
    SKI_METHOD,
    _RawSpki,
    build_certificate,
    build_crl,
    ext_authority_key_identifier,
    ext_basic_constraints,
    ext_crl_distribution_points,
    ext_extended_key_usage,
    ext_key_usage,
    ext_subject_alt_name,
    ext_subject_key_identifier,
    make_name,
    random_serial,
    signature_algorithm_id,
    subject_key_identifier,
)
from keys._x509_common import MAX_CERT_BYTES, PARSE_ERRORS, bad, force, signature_octets, verify_signature
from keys._x509_crl import Crl, crl_to_pem, parse_crl
from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy
from keys.errors import AlgorithmNotAllowedError, EsignError, KeyFormatError
from keys.interfaces import VerifyingKey
from keys.keypairs import pem_blocks, public_key_from_spki

__all__ = [
    "MAX_CERT_BYTES",
    "RSA_PSS_PARAMS",
    "SKI_METHOD",
    "Certificate",
    "Crl",
    "build_certificate",
    "build_crl",
    "cert_to_pem",
    "crl_to_pem",
    "ext_authority_key_identifier",
    "ext_basic_constraints",
    "ext_crl_distribution_points",
    "ext_extended_key_usage",
    "ext_key_usage",
    "ext_subject_alt_name",
    "ext_subject_key_identifier",
    "make_name",
    "name_to_str",
    "parse_certificate",
    "parse_certificates",
    "parse_crl",
    "random_serial",
    "signature_algorithm_id",
    "signature_octets",
    "subject_key_identifier",
    "verify_signature",
]

#: Most certificates accepted from one bundle.
MAX_BUNDLE_CERTS = 64


def name_to_str(name: x509.Name) -> str:
    """An RFC 4514-like one-line rendering for reports (not for comparison)."""
    parts = []
    for rdn in reversed(list(name.chosen)):
        for atv in rdn:
            t = atv["type"]
            label = {
                "common_name": "CN",
                "country_name": "C",
                "organization_name": "O",
                "organizational_unit_name": "OU",
                "locality_name": "L",
                "state_or_province_name": "ST",
                "email_address": "emailAddress",
                "serial_number": "serialNumber",
            }.get(t.native, t.dotted if t.native == t.dotted else t.native)
            v = atv["value"].native
            parts.append(f"{label}={v if isinstance(v, str) else repr(v)}")
    return ",".join(parts)


@dataclass(frozen=True)
class Certificate:
    """A parsed X.509 certificate (unverified until a path validator says otherwise)."""

    der: bytes
    """The exact DER bytes."""
    asn1: x509.Certificate = field(repr=False, compare=False)
    """The asn1crypto object, fully parsed except the SubjectPublicKeyInfo internals."""

    @property
    def tbs_der(self) -> bytes:
        """The signed part, byte for byte as received."""
        return bytes(self.asn1["tbs_certificate"].dump())

    @property
    def subject(self) -> x509.Name:
        """Subject name (asn1crypto ``Name``; ``==`` applies RFC 5280 comparison rules)."""
        return self.asn1.subject

    @property
    def issuer(self) -> x509.Name:
        """Issuer name."""
        return self.asn1.issuer

    @property
    def subject_str(self) -> str:
        """Subject for people."""
        return name_to_str(self.subject)

    @property
    def issuer_str(self) -> str:
        """Issuer for people."""
        return name_to_str(self.issuer)

    @property
    def serial(self) -> int:
        """Serial number."""
        return int(self.asn1.serial_number)

    @property
    def version(self) -> int:
        """0 for v1, 2 for v3."""
        return int(self.asn1["tbs_certificate"]["version"].native[1:]) - 1

    @property
    def not_before(self) -> datetime:
        """Start of validity (timezone-aware)."""
        return self.asn1.not_valid_before

    @property
    def not_after(self) -> datetime:
        """End of validity (timezone-aware)."""
        return self.asn1.not_valid_after

    @property
    def spki_der(self) -> bytes:
        """DER SubjectPublicKeyInfo."""
        return bytes(self.asn1["tbs_certificate"]["subject_public_key_info"].dump())

    @property
    def signature_algorithm(self) -> algos.SignedDigestAlgorithm:
        """The outer signatureAlgorithm."""
        return self.asn1["signature_algorithm"]

    @property
    def signature(self) -> bytes:
        """The signature value."""
        return bytes(self.asn1["signature_value"].native)

    @property
    def sha256(self) -> str:
        """SHA-256 fingerprint, hex."""
        return hashlib.sha256(self.der).hexdigest()

    @property
    def is_ca(self) -> bool:
        """basicConstraints cA is TRUE."""
        bc = self.asn1.basic_constraints_value
        return bool(bc is not None and bc["ca"].native)

    @property
    def path_len(self) -> int | None:
        """basicConstraints pathLenConstraint, if any."""
        bc = self.asn1.basic_constraints_value
        return None if bc is None else bc["path_len_constraint"].native

    @property
    def key_usage(self) -> frozenset[str] | None:
        """keyUsage bits by asn1crypto name (``key_cert_sign``, ``crl_sign``, ...), ``None`` if absent."""
        ku = self.asn1.key_usage_value
        return None if ku is None else frozenset(ku.native)

    @property
    def extended_key_usage(self) -> frozenset[str] | None:
        """extendedKeyUsage purposes as dotted OIDs, ``None`` if absent."""
        eku = self.asn1.extended_key_usage_value
        return None if eku is None else frozenset(p.dotted for p in eku)

    @property
    def ski(self) -> bytes | None:
        """subjectKeyIdentifier."""
        return self.asn1.key_identifier

    @property
    def aki(self) -> bytes | None:
        """authorityKeyIdentifier keyIdentifier."""
        return self.asn1.authority_key_identifier

    @property
    def extension_oids(self) -> dict[str, bool]:
        """Every extension present: dotted OID -> critical."""
        exts = self.asn1["tbs_certificate"]["extensions"]
        if isinstance(exts, core.Void):
            return {}
        return {e["extn_id"].dotted: bool(e["critical"].native) for e in exts}

    @property
    def self_issued(self) -> bool:
        """Subject equals issuer (RFC 5280 §6.1: self-issued)."""
        return bool(self.subject == self.issuer)

    def public_key(self) -> VerifyingKey:
        """The subject public key behind the common interface (SM2 included).

        Raises:
            KeyFormatError: the key type is not supported (DSA, X.400 RSA OID, other curves).
        """
        try:
            return public_key_from_spki(self.spki_der)
        except UnsupportedAlgorithm as exc:  # pyca raises this, not ValueError, for unknown key OIDs
            raise KeyFormatError(f"unsupported public key: {exc}", message_zh="不支持的公钥类型", field="key") from exc

    def verify_issued_by(self, issuer_key: VerifyingKey, *, policy: AlgorithmPolicy = DEFAULT_POLICY) -> None:
        """Check this certificate's signature under ``issuer_key`` (raises on failure)."""
        inner = self.asn1["tbs_certificate"]["signature"]
        if inner.dump() != self.signature_algorithm.dump():
            raise AlgorithmNotAllowedError(
                "signature algorithm in TBSCertificate differs from the outer one (RFC 5280 4.1.1.2)",
                message_zh="证书内外签名算法标识不一致",
                field="algorithm",
            )
        verify_signature(self.signature_algorithm, self.tbs_der, signature_octets(self.asn1["signature_value"]),
                         issuer_key, policy=policy)


def parse_certificate(data: bytes) -> Certificate:
    """Parse one certificate from DER or PEM. Raises :class:`CertificateError` if malformed."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise bad("empty certificate")
    if len(data) > MAX_CERT_BYTES:
        raise bad("certificate larger than 1 MiB")
    der = bytes(data)
    if der[:1] != b"\x30" and b"-----BEGIN" in der:
        blocks = [b for label, b in pem_blocks(der) if label in ("CERTIFICATE", "X509 CERTIFICATE")]
        if len(blocks) != 1:
            raise bad(f"expected one PEM CERTIFICATE block, found {len(blocks)}")
        der = blocks[0]
    try:
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        for name in ("version", "serial_number", "signature", "issuer", "validity", "subject"):
            force(tbs[name])
        # The SPKI is read with an opaque algorithm (asn1crypto's own spec raises on the SM2 OID).
        spki = _RawSpki.load(tbs["subject_public_key_info"].dump(), strict=True)
        force(spki["public_key"])
        if not isinstance(spki["algorithm"].parsed, core.Sequence) and spki["algorithm"].dump()[:1] != b"\x30":
            raise ValueError("SubjectPublicKeyInfo algorithm is not a SEQUENCE")
        for name in ("issuer_unique_id", "subject_unique_id"):
            force(tbs[name])
        exts = tbs["extensions"]
        if not isinstance(exts, core.Void):
            seen: set[str] = set()
            for ext in exts:
                oid = ext["extn_id"].dotted
                if oid in seen:
                    raise ValueError(f"extension {oid} appears twice")
                seen.add(oid)
                force(ext["critical"])
                ext["extn_value"].parsed  # noqa: B018 - parses the known extensions now
                force(ext["extn_value"])
        force(cert["signature_algorithm"])
        force(cert["signature_value"])
        if cert.serial_number is None or tbs["version"].native not in ("v1", "v2", "v3"):
            raise ValueError("bad version or serial")
        parsed = Certificate(der=der, asn1=cert)
        _ = (parsed.not_before, parsed.not_after, parsed.subject_str, parsed.issuer_str)
    except EsignError:
        raise
    except PARSE_ERRORS as exc:
        raise bad("malformed certificate", exc) from exc
    return parsed


def _pkcs7_certs(der: bytes) -> list[bytes]:
    from asn1crypto import cms

    info = cms.ContentInfo.load(der, strict=True)
    if info["content_type"].dotted not in ("1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"):
        raise ValueError("not SignedData")
    content = info["content"]
    sd = content if isinstance(content, cms.SignedData) else cms.SignedData.load(content.dump())
    return [c.chosen.dump() for c in sd["certificates"]]


def parse_certificates(data: bytes) -> list[Certificate]:
    """Every certificate in a PEM bundle (order kept), a single DER certificate, or a certs-only PKCS#7."""
    if len(data) > MAX_CERT_BYTES * 4:
        raise bad("certificate bundle too large")
    if data[:1] != b"\x30" and b"-----BEGIN" in data:
        blocks = pem_blocks(data)
        ders = [d for label, d in blocks if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")]
        p7 = [d for label, d in blocks if label in ("PKCS7", "CMS")]
        for d in p7:
            try:
                ders.extend(_pkcs7_certs(d))
            except PARSE_ERRORS as exc:
                raise bad("malformed PKCS#7 certificate bundle", exc) from exc
        if not ders:
            raise bad("no certificate found in PEM input")
    else:
        ders = [bytes(data)]
    if len(ders) > MAX_BUNDLE_CERTS:
        raise bad(f"more than {MAX_BUNDLE_CERTS} certificates in one bundle")
    out = []
    for d in ders:
        if d[:1] == b"0" and _looks_like_trusted(d):
            d = _strip_trusted_aux(d)
        out.append(parse_certificate(d))
    return out


def _looks_like_trusted(der: bytes) -> bool:
    """OpenSSL 'TRUSTED CERTIFICATE' = Certificate followed by auxiliary trust data."""
    try:
        x509.Certificate.load(der, strict=True)
        return False
    except PARSE_ERRORS:
        return True


def _strip_trusted_aux(der: bytes) -> bytes:
    try:
        cert = x509.Certificate.load(der)
        return bytes(cert.dump())
    except PARSE_ERRORS:
        return der


def cert_to_pem(der: bytes) -> bytes:
    """PEM ``CERTIFICATE`` armour."""
    return bytes(pem.armor("CERTIFICATE", der))
