"""CMS / PKCS#7 / GM/T 0010 SignedData, RFC 3161 and RFC 6960 wire details shared by signer and verifier.

Parsing and encoding only (no private keys): OIDs, digest algorithms (SHA-2 and SM3), the map
from a SignerInfo's (digestAlgorithm, signatureAlgorithm) pair to a registry algorithm, loading a
ContentInfo whose content type is either the PKCS#7 or the GM/T 0010 / GB/T 35275 OID, and the
exact bytes a signature with signed attributes covers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from asn1crypto import algos, cms, core, parser, pem, tsp

from keys._x509_build import RSA_PSS_PARAMS
from keys.algorithms import KeyType, SignatureAlgorithm, by_oid
from keys.errors import AlgorithmNotAllowedError, BadInputError
from keys.hashing import sm3

__all__ = [
    "ATTR_CONTENT_TYPE",
    "ATTR_MESSAGE_DIGEST",
    "ATTR_SIGNATURE_TIMESTAMP",
    "ATTR_SIGNING_CERT",
    "ATTR_SIGNING_CERT_V2",
    "ATTR_SIGNING_TIME",
    "DATA_OIDS",
    "DIGESTS",
    "GMT_DATA",
    "GMT_SIGNED_DATA",
    "MAX_CMS_BYTES",
    "PARSE_ERRORS",
    "PKCS7_DATA",
    "PKCS7_SIGNED_DATA",
    "SIGNED_DATA_OIDS",
    "TST_INFO",
    "DigestSpec",
    "LoadedSignedData",
    "TimeStampResp",
    "default_digest_for",
    "digest",
    "digest_algorithm",
    "digest_name",
    "econtent_bytes",
    "load_signed_data",
    "signature_algorithm_for_signer_info",
    "signed_attrs_to_be_signed",
]

#: Largest CMS object (attached content included) we parse.
MAX_CMS_BYTES = 64 << 20

PKCS7_DATA = "1.2.840.113549.1.7.1"
PKCS7_SIGNED_DATA = "1.2.840.113549.1.7.2"
GMT_DATA = "1.2.156.10197.6.1.4.2.1"
GMT_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
TST_INFO = "1.2.840.113549.1.9.16.1.4"
SIGNED_DATA_OIDS = frozenset({PKCS7_SIGNED_DATA, GMT_SIGNED_DATA})
DATA_OIDS = frozenset({PKCS7_DATA, GMT_DATA})

ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
ATTR_SIGNING_CERT = "1.2.840.113549.1.9.16.2.12"
ATTR_SIGNING_CERT_V2 = "1.2.840.113549.1.9.16.2.47"
ATTR_SIGNATURE_TIMESTAMP = "1.2.840.113549.1.9.16.2.14"

PARSE_ERRORS = (
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    OverflowError,
    AttributeError,
    UnicodeError,
    RecursionError,
)

_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"
_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_SM2_KEY = "1.2.156.10197.1.301"


class TimeStampResp(core.Sequence):
    """RFC 3161 TimeStampResp with the token OPTIONAL (asn1crypto 1.5 declares it mandatory)."""

    _fields = [("status", tsp.PKIStatusInfo), ("time_stamp_token", cms.ContentInfo, {"optional": True})]


@dataclass(frozen=True)
class DigestSpec:
    """One message digest algorithm."""

    name: str
    """Short name (``sha256``, ``sm3``, ...)."""
    oid: str
    """AlgorithmIdentifier OID."""
    size: int
    """Output length in bytes."""
    fn: Callable[[bytes], bytes]
    """One-shot digest function."""


def _h(name: str) -> Callable[[bytes], bytes]:
    return lambda data: hashlib.new(name, data).digest()


#: Digests accepted for CMS message digests, time-stamp imprints and ESS cert ids (SHA-1 is not).
DIGESTS: dict[str, DigestSpec] = {
    d.name: d
    for d in (
        DigestSpec("sha256", "2.16.840.1.101.3.4.2.1", 32, _h("sha256")),
        DigestSpec("sha384", "2.16.840.1.101.3.4.2.2", 48, _h("sha384")),
        DigestSpec("sha512", "2.16.840.1.101.3.4.2.3", 64, _h("sha512")),
        DigestSpec("sm3", "1.2.156.10197.1.401", 32, sm3),
    )
}
_BY_OID = {d.oid: d for d in DIGESTS.values()}
#: SHA-1 is read only where a legacy structure requires it (ESSCertID v1, OCSP CertID).
SHA1_OID = "1.3.14.3.2.26"


def digest_name(alg: algos.DigestAlgorithm) -> str:
    """The :data:`DIGESTS` name of an AlgorithmIdentifier; raises AlgorithmNotAllowedError otherwise."""
    try:
        oid = alg["algorithm"].dotted
    except PARSE_ERRORS as exc:
        raise AlgorithmNotAllowedError(f"unreadable digest algorithm: {exc}", field="algorithm") from exc
    spec = _BY_OID.get(oid)
    if spec is None:
        raise AlgorithmNotAllowedError(
            f"digest algorithm {oid} is not accepted", message_zh=f"不接受的摘要算法 {oid}", field="algorithm"
        )
    return spec.name


def digest(name: str, data: bytes) -> bytes:
    """Digest of ``data`` with the algorithm ``name``."""
    return DIGESTS[name].fn(data)


def digest_algorithm(name: str) -> algos.DigestAlgorithm:
    """The AlgorithmIdentifier we emit for ``name`` (parameters absent; NULL for SM3 as GM/T 0010 writes)."""
    spec = DIGESTS[name]
    if name == "sm3":
        return algos.DigestAlgorithm({"algorithm": spec.oid, "parameters": core.Null()})
    return algos.DigestAlgorithm({"algorithm": spec.oid})


def default_digest_for(alg: SignatureAlgorithm) -> str:
    """Digest paired with a signature algorithm in CMS: SM3 for SM2, SHA-512 for Ed25519 (RFC 8419)."""
    if alg is SignatureAlgorithm.SM2_SM3:
        return "sm3"
    if alg is SignatureAlgorithm.ED25519:
        return "sha512"
    return "sha256"


def signature_algorithm_for_signer_info(
    digest_alg: algos.DigestAlgorithm, sig_alg: algos.SignedDigestAlgorithm, key_type: KeyType
) -> SignatureAlgorithm:
    """Map a SignerInfo's algorithms to a registry member, checking they fit together and the key.

    Accepted besides the registry OIDs: ``rsaEncryption`` (what OpenSSL writes) with SHA-256,
    ``id-ecPublicKey`` with SHA-256, and the SM2 key OID 1.2.156.10197.1.301 with SM3.
    """
    dname = digest_name(digest_alg)
    try:
        oid = sig_alg["algorithm"].dotted
        params = sig_alg["parameters"]
        raw_params = b"" if isinstance(params, core.Void) else params.dump()
    except PARSE_ERRORS as exc:
        raise AlgorithmNotAllowedError(f"unreadable signature algorithm: {exc}", field="algorithm") from exc
    if oid == _RSA_ENCRYPTION:
        alg = SignatureAlgorithm.RSA_PKCS1_SHA256
    elif oid == _EC_PUBLIC_KEY:
        alg = SignatureAlgorithm.ECDSA_SHA256
    elif oid == _SM2_KEY:
        alg = SignatureAlgorithm.SM2_SM3
    else:
        alg = by_oid(oid)
    if alg is SignatureAlgorithm.RSA_PSS_SHA256:
        if raw_params != RSA_PSS_PARAMS.dump():
            raise AlgorithmNotAllowedError(
                "RSASSA-PSS parameters other than SHA-256/MGF1-SHA-256/salt 32 are not accepted",
                message_zh="不支持的 RSASSA-PSS 参数",
                field="algorithm",
            )
    elif raw_params not in (b"", b"\x05\x00"):
        raise AlgorithmNotAllowedError(f"{alg.algo_name} must not carry parameters here", field="algorithm")
    if alg.key_type is not key_type:
        raise AlgorithmNotAllowedError(
            f"signature algorithm {alg.algo_name} does not fit a {key_type.value} key",
            message_zh="签名算法与签名者密钥类型不匹配",
            field="algorithm",
        )
    want = "sha512" if alg is SignatureAlgorithm.ED25519 else ("sm3" if alg is SignatureAlgorithm.SM2_SM3 else "sha256")
    if dname != want:
        raise AlgorithmNotAllowedError(
            f"digest {dname} with {alg.algo_name} is not supported (expected {want})",
            message_zh=f"摘要算法 {dname} 与 {alg.algo_name} 组合不受支持",
            field="algorithm",
        )
    return alg


def econtent_bytes(encap: cms.EncapsulatedContentInfo) -> bytes | None:
    """The eContent octets of ``encap`` (``None`` when detached), whatever the eContentType."""
    raw = encap["content"]
    if isinstance(raw, core.Void):
        return None
    der = bytes(raw.dump())
    cls_, _method, tag, _hdr, body, _trailer = parser.parse(der, strict=True)
    if (cls_, tag) == (2, 0):  # the [0] EXPLICIT wrapper
        der = bytes(body)
    value = core.OctetString.load(der)
    return bytes(value.native)


def signed_attrs_to_be_signed(signer_info: cms.SignerInfo) -> bytes:
    """The DER the signature covers: the signed attributes re-tagged as SET OF (RFC 5652 §5.4)."""
    raw = bytes(signer_info["signed_attrs"].dump())
    return b"\x31" + raw[1:]


def _oid_der(dotted: str) -> bytes:
    return bytes(core.ObjectIdentifier(dotted).dump())


def _first_len(body: bytes) -> int:
    """Length of the first TLV in ``body`` (short or long definite form)."""
    if len(body) < 2:
        raise ValueError("truncated")
    first = body[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(body) < 2 + n:
        raise ValueError("bad length")
    return 2 + n + int.from_bytes(body[2 : 2 + n], "big")


@dataclass(frozen=True)
class LoadedSignedData:
    """A parsed SignedData and where it came from."""

    outer_type: str
    """ContentInfo content type (PKCS#7 or GM/T 0010 signedData OID)."""
    signed_data: cms.SignedData
    """The SignedData (asn1crypto)."""
    der: bytes
    """The DER ContentInfo as received (after PEM decoding)."""


def _unpem(data: bytes) -> bytes:
    if data[:1] == b"\x30":
        return data
    stripped = data.strip()
    if stripped.startswith(b"-----BEGIN"):
        try:
            _label, _headers, der = pem.unarmor(stripped)
        except PARSE_ERRORS as exc:
            raise BadInputError(f"malformed PEM: {exc}", message_zh="PEM 格式错误", field="file") from exc
        return bytes(der)
    return data


def load_signed_data(data: bytes) -> LoadedSignedData:
    """Parse DER or PEM (``PKCS7``/``CMS``) ContentInfo(SignedData), PKCS#7 or GM/T 0010 OIDs.

    Raises:
        BadInputError: not a ContentInfo holding SignedData at all (wrong kind of input).
        ValueError & co (:data:`PARSE_ERRORS`): a SignedData that is structurally broken.
    """
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise BadInputError("empty CMS input", message_zh="CMS 数据为空", field="file")
    if len(data) > MAX_CMS_BYTES:
        raise BadInputError("CMS object larger than 64 MiB", message_zh="CMS 数据过大", field="file")
    der = _unpem(bytes(data))
    try:
        cls_, _method, tag, _hdr, body, _trailer = parser.parse(der, strict=True)
        if (cls_, tag) != (0, 16):
            raise ValueError("not a SEQUENCE")
        c1, _m1, t1, h1, oid_body, _ = parser.parse(body[: _first_len(body)])
        if (c1, t1) != (0, 6):
            raise ValueError("first element is not an OBJECT IDENTIFIER")
        ctype = core.ObjectIdentifier.load(h1 + oid_body).dotted
        rest = body[len(h1) + len(oid_body):]
        inner = None
        if rest:
            c2, _m2, t2, _h2, inner, _t2 = parser.parse(rest, strict=True)
            if (c2, t2) != (2, 0):
                raise ValueError("content is not [0] EXPLICIT")
    except PARSE_ERRORS as exc:
        if der[:1] == b"\x30" and any(_oid_der(o) in der[:24] for o in SIGNED_DATA_OIDS):
            raise ValueError(f"broken SignedData: {exc}") from exc  # the right kind, damaged
        raise BadInputError(f"not a CMS ContentInfo: {exc}", message_zh="不是 CMS 签名数据", field="file") from exc
    if ctype not in SIGNED_DATA_OIDS or inner is None:
        raise BadInputError(
            f"ContentInfo of type {ctype} is not SignedData", message_zh="不是 CMS SignedData", field="file"
        )
    sd = cms.SignedData.load(bytes(inner), strict=True)
    # Parse now so a broken structure fails here, not later (certificates are parsed by keys.x509,
    # since asn1crypto cannot decode every SM2 SubjectPublicKeyInfo form).
    for name in ("version", "digest_algorithms", "encap_content_info", "signer_infos"):
        _ = sd[name].native
    for choice in sd["certificates"]:
        _ = choice.name
    return LoadedSignedData(outer_type=ctype, signed_data=sd, der=der)
