"""An RFC 3161 time-stamp authority (SM2, ECDSA, RSA or Ed25519 key) and the time-stamper port.

:class:`TimeStampAuthority` turns a DER ``TimeStampReq`` into a DER ``TimeStampResp``. It never
raises for a bad request: it answers ``rejection`` with a PKIStatusInfo and a failInfo
(``badDataFormat`` for anything unparsable, ``badAlg`` for a hash it does not accept,
``unacceptedPolicy``, ``unacceptedExtension``, ``systemFailure``). A granted token is SignedData
(eContentType id-ct-TSTInfo) with signed attributes contentType, signingTime, messageDigest and
signingCertificateV2 (ESSCertIDv2, RFC 5816); the TSTInfo echoes the imprint and nonce, states an
accuracy, and names the TSA; certificates are included when the request asks (certReq).

:class:`TimeStamper` is what other modules (CMS, seals, PDF) depend on; :class:`LocalTimeStamper`
calls a TSA in-process, ``api.clients.tsa_http.HttpTimeStamper`` calls one over HTTP, and
``PyHankoLocalTimeStamper(tsa)`` adapts a TSA to pyHanko's ``TimeStamper`` (loaded lazily).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from asn1crypto import algos, cms, core, tsp, x509

from esign.cms import build_signed_data, content_info
from esign.formats.cms_asn1 import DIGESTS, PARSE_ERRORS, TST_INFO, TimeStampResp, digest, digest_name
from keys.errors import AlgorithmNotAllowedError, BadInputError, CertificateError, EsignError, KeyFormatError
from keys.interfaces import SigningKey
from keys.ports import Clock
from keys.x509 import parse_certificate

__all__ = [
    "ACCEPTED_HASHES",
    "EKU_TIME_STAMPING",
    "MAX_TSQ_BYTES",
    "LocalTimeStamper",
    "PyHankoLocalTimeStamper",
    "TimeStampAuthority",
    "TimeStamper",
    "TimestampRequestError",
    "check_response",
    "imprint_for",
    "make_request",
]

#: Largest TimeStampReq accepted (a real one is ~60-100 bytes).
MAX_TSQ_BYTES = 16 << 10
#: Message-imprint hashes granted (SHA-1 and MD5 are refused with badAlg).
ACCEPTED_HASHES = ("sha256", "sha384", "sha512", "sm3")
EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8"
_log = logging.getLogger("esign.tsa")


class TimestampRequestError(EsignError):
    """A time-stamp could not be obtained (rejected, wrong nonce or imprint, TSA unreachable)."""

    code = "timestamp_failed"
    http_status = 502
    exit_code = 3
    default_zh = "无法获取时间戳"


@runtime_checkable
class TimeStamper(Protocol):
    """Something that returns an RFC 3161 TimeStampToken (DER ContentInfo) for data or a digest."""

    def stamp(self, data: bytes | None = None, *, digest: bytes | None = None, hash_name: str = "sha256") -> bytes:
        """Time-stamp ``data`` (hashed with ``hash_name``) or an already computed ``digest``.

        Raises:
            TimestampRequestError: the TSA refused or answered something unusable.
        """


def make_request(
    imprint: bytes, *, hash_name: str, nonce: int | None = None, cert_req: bool = True, policy: str | None = None
) -> bytes:
    """DER TimeStampReq for ``imprint``."""
    req: dict[str, Any] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": DIGESTS[hash_name].oid}, "hashed_message": imprint},
        "cert_req": cert_req,
    }
    if nonce is not None:
        req["nonce"] = nonce
    if policy is not None:
        req["req_policy"] = policy
    return bytes(tsp.TimeStampReq(req).dump())


def imprint_for(data: bytes | None, dig: bytes | None, hash_name: str) -> bytes:
    """The message imprint: ``dig`` checked for length, or the ``hash_name`` digest of ``data``."""
    if hash_name not in DIGESTS:
        raise AlgorithmNotAllowedError(f"hash {hash_name!r} not supported", field="hash")
    if (data is None) == (dig is None):
        raise BadInputError("give exactly one of data or digest", field="data")
    if dig is not None:
        if len(dig) != DIGESTS[hash_name].size:
            raise BadInputError(f"a {hash_name} digest is {DIGESTS[hash_name].size} bytes", field="digest")
        return bytes(dig)
    assert data is not None
    return digest(hash_name, data)


def _reject(fail: str, text: str) -> bytes:
    status = {"status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail})}
    return bytes(TimeStampResp({"status": status}).dump())


class TimeStampAuthority:
    """An RFC 3161 TSA around one signing key and its time-stamping certificate."""

    def __init__(
        self,
        *,
        key: SigningKey,
        cert_der: bytes,
        chain: Sequence[bytes] = (),
        policy_oid: str,
        clock: Clock,
        serial_source: Callable[[], int] | None = None,
        accuracy: timedelta = timedelta(seconds=1),
        include_tsa_name: bool = True,
    ) -> None:
        """Check the certificate fits the key and RFC 3161 §2.3 (sole, critical EKU timeStamping).

        Raises:
            KeyFormatError: the key does not match the certificate.
            CertificateError: the certificate is not a time-stamping certificate.
        """
        cert = parse_certificate(cert_der)
        if key.public_key().spki_der() != cert.spki_der:
            raise KeyFormatError("the TSA key does not match its certificate", message_zh="TSA 私钥与证书不匹配")
        if cert.extended_key_usage != frozenset({EKU_TIME_STAMPING}) or not cert.extension_oids.get("2.5.29.37"):
            raise CertificateError(
                "a TSA certificate needs a critical extendedKeyUsage of timeStamping only (RFC 3161 2.3)",
                message_zh="时间戳证书的扩展密钥用途必须为关键且仅含 timeStamping",
            )
        try:
            core.ObjectIdentifier(policy_oid).dump()
        except PARSE_ERRORS as exc:
            raise BadInputError(f"bad policy OID {policy_oid!r}", field="policy_oid") from exc
        self._key = key
        self.cert = cert
        self.chain = tuple(parse_certificate(c) for c in chain)
        self.policy_oid = policy_oid
        self._clock = clock
        self._serial = serial_source or (lambda: secrets.randbits(127) | (1 << 64))
        self._accuracy = accuracy
        self._include_name = include_tsa_name

    def __repr__(self) -> str:
        return f"<TimeStampAuthority {self.cert.subject_str} policy={self.policy_oid}>"

    def respond(self, tsq_der: bytes) -> bytes:
        """Answer one DER TimeStampReq with a DER TimeStampResp (granted or rejection); never raises."""
        # Step 1: size and syntax.
        if not isinstance(tsq_der, (bytes, bytearray)) or not tsq_der or len(tsq_der) > MAX_TSQ_BYTES:
            return _reject("bad_data_format", "request empty or too large")
        try:
            req = tsp.TimeStampReq.load(bytes(tsq_der), strict=True)
            _ = req.native
            version = req["version"].native
            imprint = req["message_imprint"]
            hashed = bytes(imprint["hashed_message"].native)
        except PARSE_ERRORS:
            return _reject("bad_data_format", "the request is not a DER TimeStampReq")
        if version != "v1":
            return _reject("bad_data_format", "only TimeStampReq version 1 is supported")
        # Step 2: hash algorithm and imprint length.
        try:
            hname = digest_name(imprint["hash_algorithm"])
        except AlgorithmNotAllowedError:
            return _reject("bad_alg", "hash algorithm not accepted; use SHA-256, SHA-384, SHA-512 or SM3")
        if hname not in ACCEPTED_HASHES:
            return _reject("bad_alg", f"hash algorithm {hname} not accepted")
        if len(hashed) != DIGESTS[hname].size:
            return _reject("bad_data_format", "message imprint length does not match its hash algorithm")
        # Step 3: policy and extensions.
        req_policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
        if req_policy is not None and req_policy != self.policy_oid:
            return _reject("unaccepted_policy", f"this TSA issues tokens under policy {self.policy_oid} only")
        if req["extensions"].native:
            return _reject("unaccepted_extensions", "request extensions are not supported")
        # Step 4: grant.
        try:
            token = self._token(
                imprint=imprint, nonce=req["nonce"].native, cert_req=bool(req["cert_req"].native)
            )
        except (EsignError, *PARSE_ERRORS):
            _log.exception("time-stamp signing failed")
            return _reject("system_failure", "the TSA could not sign the token")
        resp = TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token)})
        return bytes(resp.dump())

    def _token(self, *, imprint: tsp.MessageImprint, nonce: int | None, cert_req: bool) -> bytes:
        at = self._clock.now().astimezone(UTC).replace(microsecond=0)
        acc = int(self._accuracy.total_seconds() * 1000)
        info: dict[str, Any] = {
            "version": "v1",
            "policy": self.policy_oid,
            "message_imprint": imprint,
            "serial_number": self._serial(),
            "gen_time": at,
            "accuracy": {"seconds": acc // 1000} if acc % 1000 == 0 else {"seconds": acc // 1000, "millis": acc % 1000},
        }
        if nonce is not None:
            info["nonce"] = nonce
        if self._include_name:
            info["tsa"] = x509.GeneralName(name="directory_name", value=self.cert.subject)
        tst_der = tsp.TSTInfo(info).dump()
        sd = build_signed_data(
            content=tst_der,
            content_type=TST_INFO,
            key=self._key,
            cert=self.cert,
            chain=self.chain,
            attach=True,
            at=at,
            include_certs=cert_req,
        )
        return content_info(sd)

    def token_for(self, imprint: bytes, *, hash_name: str, nonce: int | None = None) -> bytes:
        """A token for ``imprint`` without the request round trip (certificates included)."""
        mi = tsp.MessageImprint(
            {"hash_algorithm": algos.DigestAlgorithm({"algorithm": DIGESTS[hash_name].oid}), "hashed_message": imprint}
        )
        return self._token(imprint=mi, nonce=nonce, cert_req=True)


def check_response(tsr_der: bytes, *, imprint: bytes, nonce: int | None) -> bytes:
    """The token of a granted TimeStampResp whose imprint and nonce match; else TimestampRequestError."""
    try:
        resp = TimeStampResp.load(tsr_der, strict=True)
        status = resp["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            texts = "; ".join(resp["status"]["status_string"].native or [])
            fails = ", ".join(sorted(resp["status"]["fail_info"].native or []))
            raise TimestampRequestError(
                f"the TSA refused the request ({status}: {texts or '-'}; failInfo {fails or '-'})",
                message_zh="时间戳服务拒绝了请求",
            )
        token = resp["time_stamp_token"]
        tst = token["content"]["encap_content_info"]["content"].parsed
        got_imprint = bytes(tst["message_imprint"]["hashed_message"].native)
        got_nonce = tst["nonce"].native
    except EsignError:
        raise
    except PARSE_ERRORS as exc:
        raise TimestampRequestError(f"malformed time-stamp response: {exc}", message_zh="时间戳响应格式错误") from exc
    if got_imprint != imprint:
        raise TimestampRequestError("the token covers a different imprint", message_zh="时间戳的消息摘要不匹配")
    if nonce is not None and got_nonce != nonce:
        raise TimestampRequestError("the TSA echoed a different nonce", message_zh="时间戳随机数不匹配")
    return bytes(token.dump())


class LocalTimeStamper:
    """A :class:`TimeStamper` that calls a :class:`TimeStampAuthority` in-process (full request/response)."""

    def __init__(self, tsa: TimeStampAuthority) -> None:
        self._tsa = tsa

    def stamp(self, data: bytes | None = None, *, digest: bytes | None = None, hash_name: str = "sha256") -> bytes:
        """Token DER for ``data`` or ``digest``."""
        imprint = imprint_for(data, digest, hash_name)
        nonce = secrets.randbits(63)
        return check_response(self._tsa.respond(make_request(imprint, hash_name=hash_name, nonce=nonce)),
                              imprint=imprint, nonce=nonce)


_PYHANKO_CLASS: type | None = None


def _pyhanko_class() -> type:
    """Build the pyHanko adapter class on first use (pyHanko takes ~1 s to import)."""
    global _PYHANKO_CLASS
    if _PYHANKO_CLASS is None:
        from pyhanko.sign.timestamps.api import TimeStamper as _PyHankoTimeStamper

        class PyHankoLocalTimeStamper(_PyHankoTimeStamper):  # type: ignore[misc]
            """pyHanko ``TimeStamper`` answered by an in-process :class:`TimeStampAuthority`."""

            def __init__(self, tsa: TimeStampAuthority, *, include_nonce: bool = True) -> None:
                super().__init__(include_nonce=include_nonce)
                self._tsa = tsa

            async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
                return tsp.TimeStampResp.load(self._tsa.respond(req.dump()))

        _PYHANKO_CLASS = PyHankoLocalTimeStamper
    return _PYHANKO_CLASS


if TYPE_CHECKING:  # the real class is built on first access (see _pyhanko_class)
    PyHankoLocalTimeStamper: type


def __getattr__(name: str) -> Any:
    if name == "PyHankoLocalTimeStamper":
        return _pyhanko_class()
    raise AttributeError(name)
