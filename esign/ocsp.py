"""An RFC 6960 OCSP responder for one issuing CA (delegated responder certificate or the CA itself).

:meth:`OcspResponder.respond` never raises for a bad request: unparsable input, an oversized or
empty request -> ``malformedRequest``; a request about certificates of another issuer ->
``unauthorized`` (RFC 6960 §2.3); an internal failure -> ``internalError``. A successful answer is a
BasicOCSPResponse signed by the responder key (responderID byKey), one SingleResponse per
CertID asked (good / revoked with time and reason / unknown), thisUpdate = ``at``, nextUpdate =
``at`` + validity, the request nonce echoed, and the responder certificate included when it is
a delegated one.

Certificate status comes through the :class:`CertStatusSource` port; :class:`CaStatusSource`
reads a :class:`keys.ca.CertificateAuthority`'s issued index.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from asn1crypto import core, ocsp, x509

from keys.errors import EsignError, KeyFormatError, NotFoundError
from keys.hashing import sm3
from keys.interfaces import SigningKey
from keys.x509 import Certificate, parse_certificate, signature_algorithm_id

__all__ = [
    "MAX_OCSP_REQUEST_BYTES",
    "MAX_REQUESTS_PER_QUERY",
    "CaStatusSource",
    "CertStatus",
    "CertStatusSource",
    "OcspResponder",
    "OcspResponderSet",
    "make_ocsp_request",
]

#: Largest OCSP request accepted.
MAX_OCSP_REQUEST_BYTES = 16 << 10
#: Most CertIDs answered in one request.
MAX_REQUESTS_PER_QUERY = 16
_DEFAULT_VALIDITY = timedelta(hours=12)
_PARSE = (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError, UnicodeError, RecursionError)
_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "1.3.14.3.2.26": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),
    "2.16.840.1.101.3.4.2.1": lambda b: hashlib.sha256(b).digest(),
    "2.16.840.1.101.3.4.2.2": lambda b: hashlib.sha384(b).digest(),
    "2.16.840.1.101.3.4.2.3": lambda b: hashlib.sha512(b).digest(),
    "1.2.156.10197.1.401": sm3,
}
_log = logging.getLogger("esign.ocsp")


@dataclass(frozen=True)
class CertStatus:
    """What the CA says about one serial."""

    status: str
    """``good``, ``revoked`` or ``unknown``."""
    revoked_at: datetime | None = None
    """Revocation time (revoked only)."""
    reason: str | None = None
    """RFC 5280 reason name (revoked only), e.g. ``key_compromise``."""


@runtime_checkable
class CertStatusSource(Protocol):
    """The port through which the responder learns a certificate's status."""

    def status(self, serial: int) -> CertStatus:
        """Status of the certificate with ``serial`` issued by this CA (``unknown`` if never issued)."""


class CaStatusSource:
    """:class:`CertStatusSource` over a :class:`keys.ca.CertificateAuthority` issued index."""

    def __init__(self, ca: Any) -> None:
        self._ca = ca

    def status(self, serial: int) -> CertStatus:
        """Good, revoked (time, reason) or unknown, from the CA's state."""
        try:
            entry = self._ca.lookup(serial)
        except NotFoundError:
            return CertStatus("unknown")
        if entry.get("status") == "revoked":
            return CertStatus("revoked", datetime.fromisoformat(entry["revoked_at"]), entry.get("reason"))
        return CertStatus("good")


class _Spki(core.Sequence):
    _fields = [("algorithm", core.Any), ("public_key", core.BitString)]


def _bits(cert: Certificate) -> bytes:
    """The subjectPublicKey BIT STRING value (what issuerKeyHash and byKey hash)."""
    return bytes(_Spki.load(cert.spki_der)["public_key"].contents[1:])


def make_ocsp_request(
    cert: Certificate, issuer: Certificate, *, nonce: bytes | None = None, hash_oid: str = "1.3.14.3.2.26"
) -> bytes:
    """DER OCSPRequest for ``cert`` (CertID hashed with ``hash_oid``, SHA-1 by default as clients do)."""
    fn = _HASHES[hash_oid]
    cert_id = {
        "hash_algorithm": {"algorithm": hash_oid},
        "issuer_name_hash": fn(issuer.subject.dump()),
        "issuer_key_hash": fn(_bits(issuer)),
        "serial_number": cert.serial,
    }
    tbs: dict[str, Any] = {"request_list": [{"req_cert": cert_id}]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": nonce}]
    return bytes(ocsp.OCSPRequest({"tbs_request": tbs}).dump())


def _status_only(name: str) -> bytes:
    return bytes(ocsp.OCSPResponse({"response_status": name}).dump())


class OcspResponder:
    """Answers OCSP requests about certificates of ONE issuer."""

    def __init__(
        self,
        *,
        ca_index: CertStatusSource,
        responder_key: SigningKey,
        responder_cert: bytes,
        issuer_cert: bytes,
        validity: timedelta = _DEFAULT_VALIDITY,
    ) -> None:
        """Check the responder is the issuer itself or a certificate it issued with id-kp-OCSPSigning.

        Raises:
            KeyFormatError: the key does not match the responder certificate, or the responder
                certificate is not authorised by the issuer.
        """
        self._index = ca_index
        self._key = responder_key
        self.cert = parse_certificate(responder_cert)
        self.issuer = parse_certificate(issuer_cert)
        self._validity = validity
        if responder_key.public_key().spki_der() != self.cert.spki_der:
            raise KeyFormatError("the responder key does not match its certificate", message_zh="OCSP 私钥与证书不匹配")
        self._delegated = self.cert.der != self.issuer.der
        if self._delegated:
            eku = self.cert.extended_key_usage or frozenset()
            if "1.3.6.1.5.5.7.3.9" not in eku or not (self.cert.issuer == self.issuer.subject):
                raise KeyFormatError(
                    "a delegated responder certificate must be issued by the CA and carry id-kp-OCSPSigning",
                    message_zh="委托 OCSP 响应者证书必须由该 CA 签发并含 OCSPSigning 用途",
                )
            try:
                self.cert.verify_issued_by(self.issuer.public_key())
            except EsignError as exc:
                raise KeyFormatError("the responder certificate is not signed by the CA") from exc
        self._name_hashes = {oid: fn(self.issuer.subject.dump()) for oid, fn in _HASHES.items()}
        self._key_hashes = {oid: fn(_bits(self.issuer)) for oid, fn in _HASHES.items()}
        self._responder_key_id = hashlib.sha1(_bits(self.cert), usedforsecurity=False).digest()

    def __repr__(self) -> str:
        return f"<OcspResponder for {self.issuer.subject_str}>"

    def handles(self, cert_id: ocsp.CertId) -> bool:
        """``cert_id`` names this responder's issuer."""
        oid = cert_id["hash_algorithm"]["algorithm"].dotted
        if oid not in _HASHES:
            return False
        return hmac.compare_digest(self._name_hashes[oid], bytes(cert_id["issuer_name_hash"].native)) and (
            hmac.compare_digest(self._key_hashes[oid], bytes(cert_id["issuer_key_hash"].native))
        )

    def respond(self, request_der: bytes, *, at: datetime) -> bytes:
        """DER OCSPResponse for ``request_der`` at time ``at``; never raises."""
        # Step 1: size and syntax.
        if not isinstance(request_der, (bytes, bytearray)) or not request_der:
            return _status_only("malformed_request")
        if len(request_der) > MAX_OCSP_REQUEST_BYTES:
            return _status_only("malformed_request")
        try:
            req = ocsp.OCSPRequest.load(bytes(request_der), strict=True)
            _ = req.native
            tbs = req["tbs_request"]
            singles = list(tbs["request_list"])
            nonce_ext = None
            for ext in tbs["request_extensions"] or ():
                if ext["extn_id"].native == "nonce":
                    nonce_ext = ext
                elif ext["critical"].native:
                    return _status_only("malformed_request")
        except _PARSE:
            return _status_only("malformed_request")
        if not singles or len(singles) > MAX_REQUESTS_PER_QUERY:
            return _status_only("malformed_request")
        # Step 2: every CertID must be about our issuer (else we are not authoritative).
        if not all(self.handles(s["req_cert"]) for s in singles):
            return _status_only("unauthorized")
        # Step 3: answer.
        try:
            return self._sign(singles, nonce_ext, at)
        except (EsignError, *_PARSE):
            _log.exception("OCSP signing failed")
            return _status_only("internal_error")

    def _sign(self, singles: list[ocsp.Request], nonce_ext: Any, at: datetime) -> bytes:
        at = at.astimezone(UTC).replace(microsecond=0)
        responses = []
        for s in singles:
            st = self._index.status(s["req_cert"]["serial_number"].native)
            if st.status == "good":
                cs = ocsp.CertStatus(name="good", value=core.Null())
            elif st.status == "revoked":
                info: dict[str, Any] = {"revocation_time": (st.revoked_at or at).astimezone(UTC)}
                if st.reason and st.reason != "unspecified":
                    info["revocation_reason"] = st.reason
                cs = ocsp.CertStatus(name="revoked", value=info)
            else:
                cs = ocsp.CertStatus(name="unknown", value=core.Null())
            responses.append({"cert_id": s["req_cert"], "cert_status": cs, "this_update": at,
                              "next_update": at + self._validity})
        data: dict[str, Any] = {
            "responder_id": ocsp.ResponderId(name="by_key", value=self._responder_key_id),
            "produced_at": at,
            "responses": responses,
        }
        if nonce_ext is not None:
            data["response_extensions"] = [{"extn_id": "nonce", "extn_value": nonce_ext["extn_value"].parsed}]
        tbs = ocsp.ResponseData(data)
        alg = self._key.default_algorithm()
        sig = self._key.sign(tbs.dump(), algorithm=alg)
        basic: dict[str, Any] = {"tbs_response_data": tbs, "signature_algorithm": signature_algorithm_id(alg),
                                 "signature": sig}
        if self._delegated:
            basic["certs"] = [x509.Certificate.load(self.cert.der)]
        resp = ocsp.OCSPResponse({
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response",
                               "response": ocsp.BasicOCSPResponse(basic)},
        })
        return bytes(resp.dump())


class OcspResponderSet:
    """Several responders (one per issuer); a request goes to the one whose issuer it names."""

    def __init__(self, responders: list[OcspResponder]) -> None:
        self.responders = tuple(responders)

    def respond(self, request_der: bytes, *, at: datetime) -> bytes:
        """DER OCSPResponse; ``unauthorized`` if no responder is authoritative, never raises."""
        if not isinstance(request_der, (bytes, bytearray)) or not request_der:
            return _status_only("malformed_request")
        if len(request_der) > MAX_OCSP_REQUEST_BYTES:
            return _status_only("malformed_request")
        try:
            req = ocsp.OCSPRequest.load(bytes(request_der), strict=True)
            first = req["tbs_request"]["request_list"][0]["req_cert"]
            _ = first.native
        except _PARSE:
            return _status_only("malformed_request")
        for r in self.responders:
            try:
                if r.handles(first):
                    return r.respond(bytes(request_der), at=at)
            except _PARSE:
                return _status_only("malformed_request")
        return _status_only("unauthorized")
