"""OCSP response checking (RFC 6960) for one certificate, usable by path validation.

Procedure of :func:`check_ocsp_response` (tagged ``# Step O<n>``):

  O1. responseStatus is successful and the response type is id-pkix-ocsp-basic.
  O2. A SingleResponse whose CertID matches the certificate: issuerNameHash and issuerKeyHash of
      its issuer (SHA-1, SHA-2 or SM3) and its serial number.
  O3. Responder authorisation (§4.2.2.2): the responder is the issuing CA itself, or a
      certificate issued directly by it with extendedKeyUsage id-kp-OCSPSigning, valid at
      producedAt, named by the responderID (byName or byKey); if CRLs are given, that certificate
      must not be revoked by them (unless it carries id-pkix-ocsp-nocheck).
  O4. The signature over tbsResponseData verifies with the responder's key (SM2 included).
  O5. Freshness at ``at``: nextUpdate >= ``at`` (else ``stale``); a response whose thisUpdate is
      after ``at`` still proves the status at ``at`` (revocation is not undone), so it is used.
  O6. Status: good, revoked (before or after ``at``: revoked after ``at`` is good at ``at``), unknown.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asn1crypto import core, ocsp

from keys.algorithms import DEFAULT_POLICY, AlgorithmPolicy
from keys.errors import BadInputError, EsignError
from keys.hashing import sm3
from keys.x509 import Certificate, Crl, parse_certificate, signature_octets, verify_signature

__all__ = [
    "EKU_OCSP_SIGNING",
    "MAX_OCSP_RESPONSE_BYTES",
    "NO_NEXT_UPDATE_VALIDITY",
    "OcspOutcome",
    "OcspResponse",
    "cert_id_matches",
    "check_ocsp_response",
    "issuer_key_hash",
    "parse_ocsp_response",
    "status_from_responses",
]

#: Largest OCSP response parsed.
MAX_OCSP_RESPONSE_BYTES = 1 << 20
#: How long a response without nextUpdate is taken as current after its thisUpdate.
NO_NEXT_UPDATE_VALIDITY = timedelta(hours=24)
EKU_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9"
_NOCHECK = "1.3.6.1.5.5.7.48.1.5"
_CERTID_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "1.3.14.3.2.26": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),
    "2.16.840.1.101.3.4.2.1": lambda b: hashlib.sha256(b).digest(),
    "2.16.840.1.101.3.4.2.2": lambda b: hashlib.sha384(b).digest(),
    "2.16.840.1.101.3.4.2.3": lambda b: hashlib.sha512(b).digest(),
    "1.2.156.10197.1.401": sm3,
}
_PARSE = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError, UnicodeError, RecursionError)


class _Spki(core.Sequence):
    _fields = [("algorithm", core.Any), ("public_key", core.BitString)]


@dataclass(frozen=True)
class OcspResponse:
    """A parsed OCSP response (not yet checked)."""

    der: bytes
    """The DER OCSPResponse."""
    asn1: ocsp.OCSPResponse = field(repr=False, compare=False)
    """asn1crypto object."""

    @property
    def status(self) -> str:
        """responseStatus (``successful``, ``malformed_request``, ``unauthorized``, ...)."""
        return str(self.asn1["response_status"].native)

    @property
    def basic(self) -> ocsp.BasicOCSPResponse | None:
        """The BasicOCSPResponse, if successful."""
        rb = self.asn1["response_bytes"]
        if isinstance(rb, core.Void) or rb["response_type"].native != "basic_ocsp_response":
            return None
        return rb["response"].parsed


def parse_ocsp_response(data: bytes) -> OcspResponse:
    """Parse a DER OCSPResponse. Raises BadInputError if it is not one."""
    if not isinstance(data, (bytes, bytearray)) or not data or len(data) > MAX_OCSP_RESPONSE_BYTES:
        raise BadInputError("empty or oversized OCSP response", message_zh="OCSP 响应为空或过大", field="ocsp")
    try:
        resp = ocsp.OCSPResponse.load(bytes(data), strict=True)
        _ = resp["response_status"].native
        parsed = OcspResponse(der=bytes(data), asn1=resp)
        basic = parsed.basic
        if basic is not None:
            _ = basic["tbs_response_data"].native
            _ = basic["signature_algorithm"].native
            for c in basic["certs"]:
                parse_certificate(c.dump())
    except EsignError as exc:
        raise BadInputError(f"malformed OCSP response: {exc}", message_zh="OCSP 响应格式错误", field="ocsp") from exc
    except _PARSE as exc:
        raise BadInputError(f"malformed OCSP response: {exc}", message_zh="OCSP 响应格式错误", field="ocsp") from exc
    return parsed


@dataclass(frozen=True)
class OcspOutcome:
    """What one OCSP response says about one certificate at the validation time."""

    status: str
    """``good``, ``revoked``, ``unknown`` (responder does not know it), ``stale`` (out of date),
    ``no_match`` (response is not about this certificate) or ``invalid`` (bad signature/responder)."""
    detail_en: str
    """Explanation, English."""
    detail_zh: str
    """Explanation, Chinese."""
    this_update: datetime | None = None
    """thisUpdate of the matching SingleResponse."""
    next_update: datetime | None = None
    """nextUpdate (``None`` if absent)."""
    produced_at: datetime | None = None
    """producedAt."""
    revocation_time: datetime | None = None
    """When revoked, the revocationTime."""
    reason: str | None = None
    """When revoked, the reason (if stated)."""
    responder: str | None = None
    """Subject of the certificate that signed the response."""


def issuer_key_hash(issuer: Certificate, hash_oid: str = "1.3.14.3.2.26") -> bytes:
    """Hash of the issuer's subjectPublicKey BIT STRING value (CertID.issuerKeyHash)."""
    bits = _Spki.load(issuer.spki_der)["public_key"].contents[1:]
    return _CERTID_HASHES[hash_oid](bits)


def cert_id_matches(cert_id: ocsp.CertId, *, serial: int, issuer: Certificate) -> bool:
    """``cert_id`` names certificate ``serial`` issued by ``issuer``."""
    oid = cert_id["hash_algorithm"]["algorithm"].dotted
    fn = _CERTID_HASHES.get(oid)
    if fn is None or cert_id["serial_number"].native != serial:
        return False
    name_ok = hmac.compare_digest(fn(issuer.subject.dump()), bytes(cert_id["issuer_name_hash"].native))
    key_ok = hmac.compare_digest(issuer_key_hash(issuer, oid), bytes(cert_id["issuer_key_hash"].native))
    return name_ok and key_ok


def _responder_named(rid: ocsp.ResponderId, cand: Certificate) -> bool:
    if rid.name == "by_name":
        return bool(rid.chosen == cand.subject)
    key_hash = issuer_key_hash(cand)
    return hmac.compare_digest(bytes(rid.chosen.native), key_hash)


def check_ocsp_response(
    response: OcspResponse | bytes,
    *,
    cert: Certificate,
    issuer: Certificate,
    at: datetime,
    policy: AlgorithmPolicy = DEFAULT_POLICY,
    crls: Sequence[Crl] = (),
) -> OcspOutcome:
    """Status of ``cert`` (issued by ``issuer``) at ``at`` according to ``response``; never raises for bad data."""
    resp = response if isinstance(response, OcspResponse) else parse_ocsp_response(response)
    # Step O1: successful basic response.
    if resp.status != "successful":
        return OcspOutcome("unknown", f"OCSP responder answered {resp.status}", f"OCSP 响应状态为 {resp.status}")
    basic = resp.basic
    if basic is None:
        return OcspOutcome("invalid", "not a basic OCSP response", "不是 basic OCSP 响应")
    tbs = basic["tbs_response_data"]
    # Step O2: matching SingleResponse.
    single = None
    for sr in tbs["responses"]:
        try:
            if cert_id_matches(sr["cert_id"], serial=cert.serial, issuer=issuer):
                single = sr
                break
        except _PARSE:
            continue
    if single is None:
        return OcspOutcome("no_match", "the OCSP response is not about this certificate", "OCSP 响应不针对该证书")
    produced = tbs["produced_at"].native
    this_update = single["this_update"].native
    next_update = single["next_update"].native
    # Step O3: responder authorisation.
    rid = tbs["responder_id"]
    signer: Certificate | None = None
    notes: list[str] = []
    if _responder_named(rid, issuer):
        signer = issuer
    else:
        for c in basic["certs"]:
            cand = parse_certificate(c.dump())
            if not _responder_named(rid, cand):
                continue
            why = _delegate_problem(cand, issuer, produced, policy, crls)
            if why is None:
                signer = cand
                break
            notes.append(why)
    if signer is None:
        why = "; ".join(notes) or "the responder is neither the issuing CA nor a certificate it authorised"
        return OcspOutcome("invalid", f"unauthorised OCSP responder: {why}", "OCSP 响应者未获签发 CA 授权")
    # Step O4: signature.
    try:
        verify_signature(basic["signature_algorithm"], bytes(tbs.dump()), signature_octets(basic["signature"]),
                         signer.public_key(), policy=policy)
    except EsignError as exc:
        return OcspOutcome("invalid", f"OCSP response signature does not verify: {exc.message}",
                           "OCSP 响应签名验证失败")
    base = {"this_update": this_update, "next_update": next_update, "produced_at": produced,
            "responder": signer.subject_str}
    # Step O5: freshness.
    expiry = next_update if next_update is not None else this_update + NO_NEXT_UPDATE_VALIDITY
    if expiry < at:
        return OcspOutcome("stale", f"OCSP response expired at {expiry.isoformat()}",
                           f"OCSP 响应已于 {expiry.isoformat()} 过期", **base)
    # Step O6: status.
    status = single["cert_status"]
    if status.name == "good":
        return OcspOutcome("good", f"good according to OCSP ({signer.subject_str}, thisUpdate "
                           f"{this_update.isoformat()})", "依据 OCSP 未被吊销", **base)
    if status.name == "revoked":
        when = status.chosen["revocation_time"].native
        reason = status.chosen["revocation_reason"].native
        if when <= at:
            return OcspOutcome("revoked", f"revoked on {when.isoformat()} (reason: {reason or 'unspecified'})",
                               f"已于 {when.isoformat()} 被吊销", revocation_time=when, reason=reason, **base)
        return OcspOutcome("good", f"revoked later, on {when.isoformat()}; good at the validation time",
                           "在验证时间之后才被吊销", revocation_time=when, reason=reason, **base)
    return OcspOutcome("unknown", "the OCSP responder does not know this certificate", "OCSP 响应者不认识该证书",
                       **base)


def _delegate_problem(
    cand: Certificate, issuer: Certificate, produced: datetime, policy: AlgorithmPolicy, crls: Sequence[Crl]
) -> str | None:
    eku = cand.extended_key_usage
    if eku is None or EKU_OCSP_SIGNING not in eku:
        return f"{cand.subject_str} lacks extendedKeyUsage OCSPSigning"
    if not (cand.issuer == issuer.subject):
        return f"{cand.subject_str} is not issued by {issuer.subject_str}"
    try:
        cand.verify_issued_by(issuer.public_key(), policy=policy)
    except EsignError:
        return f"{cand.subject_str} is not signed by {issuer.subject_str}"
    if not (cand.not_before <= produced <= cand.not_after):
        return f"{cand.subject_str} was not valid when the response was produced"
    if crls and _NOCHECK not in cand.extension_oids:
        from verifier._revocation import check_revocation  # imported here: _revocation imports this module

        out = check_revocation(cand, issuer, crls=list(crls), at=produced, signers=(), signer_ok=lambda _c: False,
                               policy=policy)
        if out.status == "revoked":
            return f"responder certificate {cand.subject_str} is revoked"
    return None


def status_from_responses(
    cert: Certificate,
    issuer: Certificate,
    responses: Sequence[OcspResponse],
    *,
    at: datetime,
    policy: AlgorithmPolicy = DEFAULT_POLICY,
    crls: Sequence[Crl] = (),
) -> OcspOutcome:
    """The most decisive outcome among ``responses`` for ``cert``: revoked > good > stale > unknown > other."""
    rank = {"revoked": 0, "good": 1, "stale": 2, "unknown": 3, "invalid": 4, "no_match": 5}
    best: OcspOutcome | None = None
    for r in responses:
        try:
            out = check_ocsp_response(r, cert=cert, issuer=issuer, at=at, policy=policy, crls=crls)
        except EsignError as exc:
            out = OcspOutcome("invalid", f"unusable OCSP response: {exc.message}", "OCSP 响应不可用")
        if best is None or rank[out.status] < rank[best.status]:
            best = out
    return best or OcspOutcome("no_match", "no OCSP response given", "未提供 OCSP 响应")

