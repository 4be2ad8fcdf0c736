"""Build and sign TBSCertificate / TBSCertList with asn1crypto; one code path for every algorithm.

The signature is made through :class:`keys.interfaces.SigningKey`, so SM2 (always with the
distinguishing ID ``1234567812345678``), ECDSA P-256, RSA (PKCS#1 v1.5 or PSS) and Ed25519 all
go through the same builder. AlgorithmIdentifier parameters follow each algorithm's RFC:
absent for ECDSA (RFC 5758), SM2 (GM/T 0015) and Ed25519 (RFC 8410), NULL for RSA PKCS#1 v1.5
(RFC 4055), RSASSA-PSS-params for PSS.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from asn1crypto import algos, core, crl, keys, x509

from keys.algorithms import SignatureAlgorithm
from keys.errors import BadInputError
from keys.interfaces import SigningKey

__all__ = [
    "RSA_PSS_PARAMS",
    "SKI_METHOD",
    "build_certificate",
    "build_crl",
    "ext_authority_key_identifier",
    "ext_basic_constraints",
    "ext_crl_distribution_points",
    "ext_extended_key_usage",
    "ext_key_usage",
    "ext_subject_alt_name",
    "ext_subject_key_identifier",
    "make_name",
    "random_serial",
    "signature_algorithm_id",
    "subject_key_identifier",
]

#: How subjectKeyIdentifier is computed: RFC 5280 §4.2.1.2 method (1), SHA-1 over the
#: subjectPublicKey BIT STRING value. SHA-1 is only an identifier here, and this is what
#: OpenSSL, GmSSL and most CAs emit, so AKI/SKI matching works across tools.
SKI_METHOD = "rfc5280-method1-sha1"

#: The only RSASSA-PSS parameters we write and accept: SHA-256, MGF1-SHA-256, salt 32, trailer 1.
RSA_PSS_PARAMS = algos.RSASSAPSSParams(
    {
        "hash_algorithm": {"algorithm": "sha256"},
        "mask_gen_algorithm": {"algorithm": "mgf1", "parameters": {"algorithm": "sha256"}},
        "salt_length": 32,
        "trailer_field": "trailer_field_bc",
    }
)

_NAME_KEYS = {
    "C": "country_name",
    "ST": "state_or_province_name",
    "L": "locality_name",
    "O": "organization_name",
    "OU": "organizational_unit_name",
    "CN": "common_name",
    "SERIALNUMBER": "serial_number",
    "EMAILADDRESS": "email_address",
    "E": "email_address",
}


def make_name(spec: str | Mapping[str, str] | x509.Name) -> x509.Name:
    """A distinguished name from ``"C=CN,O=Org,CN=Name"`` or ``{"C": "CN", "CN": "..."}``.

    Attribute order follows X.520 convention (C, ST, L, O, OU, CN); values are UTF8String
    (PrintableString for C and serialNumber), so Chinese names work.
    """
    if isinstance(spec, x509.Name):
        return spec
    items: dict[str, str] = {}
    if isinstance(spec, str):
        for part in spec.split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise BadInputError(
                    f"bad name component {part!r}; use KEY=value", message_zh="名称格式错误", field="subject"
                )
            k, v = part.split("=", 1)
            items[k.strip()] = v.strip()
    else:
        items = dict(spec)
    built: dict[str, str] = {}
    for k, v in items.items():
        key = _NAME_KEYS.get(k.upper())
        if key is None or not v:
            raise BadInputError(
                f"unsupported or empty name attribute {k!r}", message_zh="不支持的名称属性", field="subject"
            )
        built[key] = v
    if "common_name" not in built:
        raise BadInputError("a name needs CN", message_zh="名称必须包含 CN", field="subject")
    return x509.Name.build(built)


def random_serial() -> int:
    """A random positive serial of 16 bytes (top bit clear, never zero)."""
    return secrets.randbits(127) | (1 << 120)


def signature_algorithm_id(alg: SignatureAlgorithm) -> algos.SignedDigestAlgorithm:
    """The AlgorithmIdentifier to emit for ``alg``."""
    if alg is SignatureAlgorithm.RSA_PSS_SHA256:
        return algos.SignedDigestAlgorithm({"algorithm": alg.oid, "parameters": RSA_PSS_PARAMS})
    if alg is SignatureAlgorithm.RSA_PKCS1_SHA256:
        return algos.SignedDigestAlgorithm({"algorithm": alg.oid, "parameters": core.Null()})
    return algos.SignedDigestAlgorithm({"algorithm": alg.oid})


def subject_key_identifier(spki_der: bytes) -> bytes:
    """SKI per :data:`SKI_METHOD`."""
    bits = _RawSpki.load(spki_der)["public_key"].contents[1:]  # drop the unused-bits octet
    return hashlib.sha1(bits, usedforsecurity=False).digest()


class _RawSpki(core.Sequence):
    """SubjectPublicKeyInfo with the algorithm left opaque (works for every SM2 SPKI form)."""

    _fields = [("algorithm", core.Any), ("public_key", core.BitString)]


def _ext(oid: str, value: core.Asn1Value, *, critical: bool) -> x509.Extension:
    return x509.Extension({"extn_id": oid, "critical": critical, "extn_value": value})


def ext_basic_constraints(*, ca: bool, path_len: int | None = None) -> x509.Extension:
    """basicConstraints, always critical (RFC 5280 §4.2.1.9 for CAs; we mark it for EEs too)."""
    value: dict[str, object] = {"ca": ca}
    if ca and path_len is not None:
        value["path_len_constraint"] = path_len
    return _ext("basic_constraints", x509.BasicConstraints(value), critical=True)


def ext_key_usage(usages: Iterable[str]) -> x509.Extension:
    """keyUsage (critical). Names as asn1crypto spells them: digital_signature, key_cert_sign, ..."""
    return _ext("key_usage", x509.KeyUsage(set(usages)), critical=True)


def ext_extended_key_usage(purposes: Sequence[str], *, critical: bool = False) -> x509.Extension:
    """extendedKeyUsage; purposes as asn1crypto names (time_stamping, ocsp_signing, ...) or OIDs."""
    return _ext("extended_key_usage", x509.ExtKeyUsageSyntax(list(purposes)), critical=critical)


def ext_subject_key_identifier(spki_der: bytes) -> x509.Extension:
    """subjectKeyIdentifier (non-critical)."""
    return _ext("key_identifier", core.OctetString(subject_key_identifier(spki_der)), critical=False)


def ext_authority_key_identifier(key_id: bytes) -> x509.Extension:
    """authorityKeyIdentifier with keyIdentifier only (non-critical)."""
    return _ext("authority_key_identifier", x509.AuthorityKeyIdentifier({"key_identifier": key_id}), critical=False)


def ext_crl_distribution_points(uris: Sequence[str]) -> x509.Extension:
    """cRLDistributionPoints with one fullName URI per point (non-critical)."""
    points = [
        {"distribution_point": {"full_name": [x509.GeneralName(name="uniform_resource_identifier", value=u)]}}
        for u in uris
    ]
    return _ext("crl_distribution_points", x509.CRLDistributionPoints(points), critical=False)


def ext_subject_alt_name(
    *, dns: Sequence[str] = (), email: Sequence[str] = (), uri: Sequence[str] = ()
) -> x509.Extension:
    """subjectAltName (non-critical, as the subject DN is non-empty)."""
    names = [x509.GeneralName(name="dns_name", value=d) for d in dns]
    names += [x509.GeneralName(name="rfc822_name", value=e) for e in email]
    names += [x509.GeneralName(name="uniform_resource_identifier", value=u) for u in uri]
    return _ext("subject_alt_name", x509.GeneralNames(names), critical=False)


def _time(t: datetime) -> x509.Time:
    if t.tzinfo is None:
        raise BadInputError("times must be timezone-aware", field="at")
    t = t.astimezone(UTC).replace(microsecond=0)
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    return x509.Time(name="utc_time" if t.year < 2050 else "general_time", value=t)


def build_certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    subject_spki: bytes,
    issuer_key: SigningKey,
    not_before: datetime,
    not_after: datetime,
    extensions: Sequence[x509.Extension],
    serial: int | None = None,
    algorithm: SignatureAlgorithm | None = None,
) -> bytes:
    """Build a v3 certificate and sign it with ``issuer_key``; returns DER.

    ``subject_spki`` is copied byte for byte (so SM2 keys keep their encoding).
    """
    if not_after <= not_before:
        raise BadInputError("notAfter must be later than notBefore", message_zh="有效期结束时间须晚于开始时间")
    alg = algorithm or issuer_key.default_algorithm()
    sig_alg = signature_algorithm_id(alg)
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial if serial is not None else random_serial(),
            "signature": sig_alg,
            "issuer": issuer,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(subject_spki),
            "extensions": list(extensions),
        }
    )
    tbs_der = tbs.dump()
    signature = issuer_key.sign(tbs_der, algorithm=alg)
    cert = x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": sig_alg, "signature_value": core.OctetBitString(signature)}
    )
    return bytes(cert.dump())


def build_crl(
    *,
    issuer: x509.Name,
    issuer_key: SigningKey,
    issuer_key_id: bytes | None,
    this_update: datetime,
    next_update: datetime,
    crl_number: int,
    revoked: Iterable[tuple[int, datetime, str | None]],
    algorithm: SignatureAlgorithm | None = None,
) -> bytes:
    """Build a complete v2 CRL signed by ``issuer_key``; returns DER.

    ``revoked`` holds ``(serial, revocation_time, reason)`` with RFC 5280 reason names as
    asn1crypto spells them (``key_compromise``, ``superseded``, ...; ``None`` for unspecified,
    which per RFC 5280 §5.3.1 is then left out).
    """
    if next_update <= this_update:
        raise BadInputError("nextUpdate must be later than thisUpdate", message_zh="CRL 下次更新时间须晚于本次")
    alg = algorithm or issuer_key.default_algorithm()
    sig_alg = signature_algorithm_id(alg)
    entries = []
    for serial, when, reason in revoked:
        entry: dict[str, object] = {"user_certificate": serial, "revocation_date": _time(when)}
        if reason and reason != "unspecified":
            entry["crl_entry_extensions"] = [{"extn_id": "crl_reason", "critical": False, "extn_value": reason}]
        entries.append(entry)
    exts: list[dict[str, object]] = [{"extn_id": "crl_number", "critical": False, "extn_value": crl_number}]
    if issuer_key_id is not None:
        exts.append(
            {"extn_id": "authority_key_identifier", "critical": False, "extn_value": {"key_identifier": issuer_key_id}}
        )
    tbs_fields: dict[str, object] = {
        "version": "v2",
        "signature": sig_alg,
        "issuer": issuer,
        "this_update": _time(this_update),
        "next_update": _time(next_update),
        "crl_extensions": exts,
    }
    if entries:
        tbs_fields["revoked_certificates"] = entries
    tbs = crl.TbsCertList(tbs_fields)
    signature = issuer_key.sign(tbs.dump(), algorithm=alg)
    out = crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": sig_alg, "signature": core.OctetBitString(signature)}
    )
    return bytes(out.dump())
