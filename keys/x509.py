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

from asn1crypto import algos, core, crl, pem, x509

from keys._x509_build import (
    RSA_PSS_PARAMS,
    SKI_METHOD,
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
from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy, KeyType, SignatureAlgorithm, by_oid
from keys.errors import AlgorithmNotAllowedError, CertificateError, EsignError
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
    "parse_certificate",
    "parse_certificates",
    "parse_crl",
    "random_serial",
    "signature_algorithm_id",
    "subject_key_identifier",
    "verify_signature",
]

#: Largest single certificate or CRL we parse (a CRL of a big CA stays well below this).
MAX_CERT_BYTES = 1 << 20
#: Most certificates accepted from one bundle.
MAX_BUNDLE_CERTS = 64

_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError, UnicodeError)


def _bad(what: str, exc: BaseException | None = None, *, zh: str = "证书格式错误") -> CertificateError:
    detail = f"{what}: {exc}" if exc is not None else what
    return CertificateError(detail, message_zh=zh, field="certificate")


def verify_signature(
    alg_id: algos.SignedDigestAlgorithm,
    tbs: bytes,
    signature: bytes,
    key: VerifyingKey,
    *,
    policy: AlgorithmPolicy = DEFAULT_POLICY,
) -> SignatureAlgorithm:
    """Check ``signature`` over ``tbs`` under ``key`` for the AlgorithmIdentifier ``alg_id``.

    The algorithm must be in the registry and allowed by ``policy``, fit the key type, and carry
    the parameters its specification demands (none for ECDSA/SM2/Ed25519, NULL or none for
    RSA PKCS#1 v1.5, exactly :data:`RSA_PSS_PARAMS` for RSA-PSS). SM2 always uses the default
    distinguishing ID.

    Returns:
        The algorithm that verified.

    Raises:
        AlgorithmNotAllowedError: unknown, disallowed or mis-parameterised algorithm.
        InvalidSignatureError / SignatureFormatError: the signature does not verify.
    """
    try:
        oid = alg_id["algorithm"].dotted
        params = alg_id["parameters"]
        raw_params = b"" if isinstance(params, core.Void) else params.dump()
    except _PARSE_ERRORS as exc:
        raise AlgorithmNotAllowedError(f"unreadable signature algorithm: {exc}", field="algorithm") from exc
    alg = by_oid(oid)
    if alg is SignatureAlgorithm.RSA_PSS_SHA256:
        if raw_params != RSA_PSS_PARAMS.dump():
            raise AlgorithmNotAllowedError(
                "RSASSA-PSS parameters other than SHA-256/MGF1-SHA-256/salt 32 are not accepted",
                message_zh="不支持的 RSASSA-PSS 参数",
                field="algorithm",
            )
    elif alg is SignatureAlgorithm.RSA_PKCS1_SHA256:
        if raw_params not in (b"", b"\x05\x00"):
            raise AlgorithmNotAllowedError("RSA PKCS#1 v1.5 parameters must be NULL", field="algorithm")
    elif raw_params:
        raise AlgorithmNotAllowedError(
            f"{alg.algo_name} AlgorithmIdentifier must not carry parameters",
            message_zh="签名算法标识不应带参数",
            field="algorithm",
        )
    if alg.key_type is not key.key_type:
        raise AlgorithmNotAllowedError(
            f"signature algorithm {alg.algo_name} does not fit a {key.key_type.value} key",
            message_zh="签名算法与签发者密钥类型不匹配",
            field="algorithm",
        )
    policy.check(alg, key_bits=key.key_bits if key.key_type is KeyType.RSA else None)
    key.verify(signature, tbs, algorithm=alg)
    return alg


def _name_str(name: x509.Name) -> str:
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
        return _name_str(self.subject)

    @property
    def issuer_str(self) -> str:
        """Issuer for people."""
        return _name_str(self.issuer)

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
        """The subject public key behind the common interface (SM2 included)."""
        return public_key_from_spki(self.spki_der)

    def verify_issued_by(self, issuer_key: VerifyingKey, *, policy: AlgorithmPolicy = DEFAULT_POLICY) -> None:
        """Check this certificate's signature under ``issuer_key`` (raises on failure)."""
        inner = self.asn1["tbs_certificate"]["signature"]
        if inner.dump() != self.signature_algorithm.dump():
            raise AlgorithmNotAllowedError(
                "signature algorithm in TBSCertificate differs from the outer one (RFC 5280 4.1.1.2)",
                message_zh="证书内外签名算法标识不一致",
                field="algorithm",
            )
        verify_signature(self.signature_algorithm, self.tbs_der, self.signature, issuer_key, policy=policy)


def _force(value: core.Asn1Value) -> None:
    """Parse lazily loaded children now, so a malformed field fails here, not later."""
    _ = value.native


def parse_certificate(data: bytes) -> Certificate:
    """Parse one certificate from DER or PEM. Raises :class:`CertificateError` if malformed."""
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise _bad("empty certificate")
    if len(data) > MAX_CERT_BYTES:
        raise _bad("certificate larger than 1 MiB")
    der = bytes(data)
    if b"-----BEGIN" in der[:64] or der.lstrip()[:5] == b"-----":
        blocks = [b for label, b in pem_blocks(der) if label in ("CERTIFICATE", "X509 CERTIFICATE")]
        if len(blocks) != 1:
            raise _bad(f"expected one PEM CERTIFICATE block, found {len(blocks)}")
        der = blocks[0]
    try:
        cert = x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        for name in ("version", "serial_number", "signature", "issuer", "validity", "subject"):
            _force(tbs[name])
        spki = tbs["subject_public_key_info"]
        _force(spki["algorithm"]["algorithm"])
        _force(spki["public_key"])
        for name in ("issuer_unique_id", "subject_unique_id"):
            _force(tbs[name])
        exts = tbs["extensions"]
        if not isinstance(exts, core.Void):
            seen: set[str] = set()
            for ext in exts:
                oid = ext["extn_id"].dotted
                if oid in seen:
                    raise ValueError(f"extension {oid} appears twice")
                seen.add(oid)
                _force(ext["critical"])
                ext["extn_value"].parsed  # noqa: B018 - parses the known extensions now
                _force(ext["extn_value"])
        _force(cert["signature_algorithm"])
        _force(cert["signature_value"])
        if cert.serial_number is None or tbs["version"].native not in ("v1", "v2", "v3"):
            raise ValueError("bad version or serial")
        parsed = Certificate(der=der, asn1=cert)
        _ = (parsed.not_before, parsed.not_after, parsed.subject_str, parsed.issuer_str)
    except EsignError:
        raise
    except _PARSE_ERRORS as exc:
        raise _bad("malformed certificate", exc) from exc
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
        raise _bad("certificate bundle too large")
    if b"-----BEGIN" in data:
        blocks = pem_blocks(data)
        ders = [d for label, d in blocks if label in ("CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE")]
        p7 = [d for label, d in blocks if label in ("PKCS7", "CMS")]
        for d in p7:
            try:
                ders.extend(_pkcs7_certs(d))
            except _PARSE_ERRORS as exc:
                raise _bad("malformed PKCS#7 certificate bundle", exc) from exc
        if not ders:
            raise _bad("no certificate found in PEM input")
    else:
        ders = [bytes(data)]
    if len(ders) > MAX_BUNDLE_CERTS:
        raise _bad(f"more than {MAX_BUNDLE_CERTS} certificates in one bundle")
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
    except _PARSE_ERRORS:
        return True


def _strip_trusted_aux(der: bytes) -> bytes:
    try:
        cert = x509.Certificate.load(der)
        return bytes(cert.dump())
    except _PARSE_ERRORS:
        return der


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
        verify_signature(
            outer, bytes(self.asn1["tbs_cert_list"].dump()), bytes(self.asn1["signature"].native), key, policy=policy
        )


def parse_crl(data: bytes) -> Crl:
    """Parse one CRL from DER or PEM (``X509 CRL``). Raises :class:`CertificateError` if malformed."""
    if not data or len(data) > MAX_CERT_BYTES * 8:
        raise _bad("empty or oversized CRL", zh="CRL 格式错误")
    der = bytes(data)
    if b"-----BEGIN" in der:
        blocks = [b for label, b in pem_blocks(der) if label == "X509 CRL"]
        if len(blocks) != 1:
            raise _bad("expected one PEM X509 CRL block", zh="CRL 格式错误")
        der = blocks[0]
    try:
        c = crl.CertificateList.load(der, strict=True)
        _force(c["tbs_cert_list"])
        _force(c["signature_algorithm"])
        _force(c["signature"])
        parsed = Crl(der=der, asn1=c)
        _ = (parsed.this_update, parsed.next_update, parsed.crl_number, parsed.delta_base)
        for rc in c["tbs_cert_list"]["revoked_certificates"]:
            _ = (rc.crl_reason_value, rc.certificate_issuer_value, rc.invalidity_date_value)
        _ = (c.issuing_distribution_point_value, c.authority_key_identifier)
    except _PARSE_ERRORS as exc:
        raise _bad("malformed CRL", exc, zh="CRL 格式错误") from exc
    return parsed


def cert_to_pem(der: bytes) -> bytes:
    """PEM ``CERTIFICATE`` armour."""
    return bytes(pem.armor("CERTIFICATE", der))


def crl_to_pem(der: bytes) -> bytes:
    """PEM ``X509 CRL`` armour."""
    return bytes(pem.armor("X509 CRL", der))
