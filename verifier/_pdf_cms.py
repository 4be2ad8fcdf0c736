"""Our own check of a PDF signature's CMS SignerInfo, for what pyHanko cannot verify.

Used for SM2 (SM2-with-SM3 inside ``adbe.pkcs7.detached``; pyca/cryptography has no SM2) and for
the legacy ``adbe.pkcs7.sha1`` SubFilter (pyHanko no longer reads it). Steps, tagged in the code:

  C1. ContentInfo is SignedData (PKCS#7 or GM/T 0010 OID) with exactly one SignerInfo.
  C2. The signer certificate is in the CMS, found by issuerAndSerialNumber or subjectKeyIdentifier.
  C3. The digest algorithm is known (SHA-1/-224/-256/-384/-512, SM3).
  C4. The content: detached = the /ByteRange bytes and no eContent; adbe.pkcs7.sha1 = an eContent
      equal to SHA-1 of the /ByteRange bytes.
  C5. Signed attributes, when present: contentType is data and messageDigest matches the content.
  C6. The signature value verifies under the signer's key (SM2 with ID 1234567812345678).
  C7. The signer certificate's keyUsage, if present, allows digitalSignature or nonRepudiation.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import algos, cms, core
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from keys.algorithms import SignatureAlgorithm
from keys.errors import EsignError
from keys.hashing import sm3
from keys.keypairs import public_key_from_spki
from keys.x509 import Certificate, parse_certificate
from verifier.report import Check, CheckStatus, Indication, SubIndication

__all__ = ["SM2_OIDS", "SM3_OID", "CmsCheck", "check_cms", "is_sm2_cms"]

SM3_OID = "1.2.156.10197.1.401"
#: SignerInfo signature-algorithm OIDs read as SM2-with-SM3.
SM2_OIDS = frozenset({"1.2.156.10197.1.501", "1.2.156.10197.1.301.1", "1.2.156.10197.1.301"})
_SIGNED_DATA = {"1.2.840.113549.1.7.2", "1.2.156.10197.6.1.4.2.2"}
_DATA = {"1.2.840.113549.1.7.1", "1.2.156.10197.6.1.4.2.1"}
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.4": "sha224",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
    SM3_OID: "sm3",
}
_PYCA_HASH = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_RSA_SIG = {
    "1.2.840.113549.1.1.1": None,
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}
_ECDSA_SIG = {
    "1.2.840.10045.2.1": None,
    "1.2.840.10045.4.1": "sha1",
    "1.2.840.10045.4.3.1": "sha224",
    "1.2.840.10045.4.3.2": "sha256",
    "1.2.840.10045.4.3.3": "sha384",
    "1.2.840.10045.4.3.4": "sha512",
}


class _Fail(Exception):
    def __init__(self, ind: Indication, sub: SubIndication, name: str, en: str, zh: str) -> None:
        super().__init__(en)
        self.ind, self.sub, self.name, self.en, self.zh = ind, sub, name, en, zh


@dataclass
class CmsCheck:
    """What the SignerInfo check found."""

    checks: list[Check] = field(default_factory=list)
    """Checks that ran, in order."""
    failure: tuple[Indication, SubIndication] | None = None
    """The verdict when a check did not pass."""
    signer: Certificate | None = None
    """The signer certificate, once found."""
    certs: list[Certificate] = field(default_factory=list)
    """Every certificate in the CMS."""
    claimed_time: datetime | None = None
    """signingTime attribute, if present."""
    algorithm: str = ""
    """Digest and signature algorithm, for reports."""
    has_timestamp: bool = False
    """An unsigned signatureTimeStampToken is present."""
    timestamp_token: bytes | None = None
    """DER of the first signatureTimeStampToken (RFC 3161 token over the signature value)."""
    signature_value: bytes = b""
    """The SignerInfo signature value, which a signature timestamp covers."""


def _hash(name: str, data: bytes) -> bytes:
    return sm3(data) if name == "sm3" else hashlib.new(name, data).digest()


def _signed_data(der: bytes) -> cms.SignedData:
    info = cms.ContentInfo.load(der)
    if info["content_type"].dotted not in _SIGNED_DATA:
        raise ValueError("not SignedData")
    content = info["content"]
    return content if isinstance(content, cms.SignedData) else cms.SignedData.load(content.contents)


def is_sm2_cms(der: bytes) -> bool:
    """The (single) SignerInfo uses SM2 or SM3 (pyHanko cannot verify it)."""
    try:
        sd = _signed_data(der)
        si = sd["signer_infos"][0]
        return (
            si["signature_algorithm"]["algorithm"].dotted in SM2_OIDS
            or si["digest_algorithm"]["algorithm"].dotted == SM3_OID
        )
    except (ValueError, TypeError, KeyError, IndexError):
        return False


def _verify_value(
    signer: Certificate, sig_alg: algos.SignedDigestAlgorithm, digest_name: str, tbs: bytes, sig: bytes
) -> str:
    oid = sig_alg["algorithm"].dotted
    if oid in SM2_OIDS:
        if digest_name != "sm3":
            raise _Fail(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "signature_value",
                "SM2 used with a digest other than SM3",
                "SM2 签名未使用 SM3 杂凑",
            )
        key = public_key_from_spki(signer.spki_der)
        try:
            key.verify(sig, tbs, algorithm=SignatureAlgorithm.SM2_SM3)
        except EsignError as exc:
            raise _Fail(
                Indication.TOTAL_FAILED,
                SubIndication.SIG_CRYPTO_FAILURE,
                "signature_value",
                f"SM2 signature does not verify: {exc.message}",
                "SM2 签名值验证失败",
            ) from exc
        return "sm2-sm3"
    try:
        pub = serialization.load_der_public_key(signer.spki_der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise _Fail(
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "signature_value",
            "the signer's public key type is not supported",
            "不支持签名者的公钥类型",
        ) from exc
    try:
        if isinstance(pub, rsa.RSAPublicKey) and oid in _RSA_SIG:
            h = _RSA_SIG[oid] or digest_name
            pub.verify(sig, tbs, padding.PKCS1v15(), _PYCA_HASH[h]())
            return f"rsa-pkcs1-{h}"
        if isinstance(pub, ec.EllipticCurvePublicKey) and oid in _ECDSA_SIG:
            h = _ECDSA_SIG[oid] or digest_name
            pub.verify(sig, tbs, ec.ECDSA(_PYCA_HASH[h]()))
            return f"ecdsa-{h}"
        if isinstance(pub, ed25519.Ed25519PublicKey) and oid == "1.3.101.112":
            pub.verify(sig, tbs)
            return "ed25519"
    except InvalidSignature as exc:
        raise _Fail(
            Indication.TOTAL_FAILED,
            SubIndication.SIG_CRYPTO_FAILURE,
            "signature_value",
            "the signature value does not verify",
            "签名值验证失败",
        ) from exc
    except KeyError as exc:
        raise _Fail(
            Indication.INDETERMINATE,
            SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
            "signature_value",
            f"digest {digest_name} not usable here",
            f"无法使用摘要算法 {digest_name}",
        ) from exc
    raise _Fail(
        Indication.INDETERMINATE,
        SubIndication.CRYPTO_CONSTRAINTS_FAILURE,
        "signature_value",
        f"signature algorithm {oid} is not supported for this key",
        f"不支持的签名算法 {oid}",
    )


def check_cms(der: bytes, signed_bytes: bytes, *, subfilter: str) -> CmsCheck:
    """Run steps C1-C7 over ``der`` for the data ``signed_bytes`` (the /ByteRange bytes)."""
    out = CmsCheck()

    def ok(name: str, en: str, zh: str) -> None:
        out.checks.append(Check(name, CheckStatus.PASSED, en, zh))

    try:
        # Step C1
        try:
            sd = _signed_data(der)
            infos = list(sd["signer_infos"])
        except (ValueError, TypeError, KeyError) as exc:
            raise _Fail(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "cms",
                f"the CMS signature is malformed: {exc}",
                "CMS 签名格式错误",
            ) from exc
        if len(infos) != 1:
            raise _Fail(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "cms",
                f"{len(infos)} SignerInfos (exactly one expected)",
                "SignerInfo 数量不是一个",
            )
        si = infos[0]
        ok("cms", "CMS SignedData with one SignerInfo", "CMS 签名结构正确")
        # Step C2
        for c in sd["certificates"] or []:
            if c.name == "certificate":
                try:
                    out.certs.append(parse_certificate(c.chosen.dump()))
                except EsignError:
                    continue
        sid = si["sid"]
        for c in out.certs:
            if sid.name == "issuer_and_serial_number":
                if c.asn1.issuer == sid.chosen["issuer"] and c.serial == sid.chosen["serial_number"].native:
                    out.signer = c
                    break
            elif c.ski == sid.chosen.native:
                out.signer = c
                break
        if out.signer is None:
            raise _Fail(
                Indication.INDETERMINATE,
                SubIndication.NO_SIGNING_CERTIFICATE_FOUND,
                "signer_certificate",
                "the signer's certificate is not in the signature",
                "签名中没有签名者证书",
            )
        ok("signer_certificate", f"signer certificate found: {out.signer.subject_str}", "已找到签名者证书")
        # Step C3
        d_oid = si["digest_algorithm"]["algorithm"].dotted
        digest_name = _DIGESTS.get(d_oid)
        if digest_name is None:
            raise _Fail(
                Indication.TOTAL_FAILED,
                SubIndication.FORMAT_FAILURE,
                "digest_algorithm",
                f"digest algorithm {d_oid} is not a known digest",
                f"未知的摘要算法 {d_oid}",
            )
        # Step C4
        econtent = sd["encap_content_info"]["content"]
        has_econtent = not isinstance(econtent, core.Void) and econtent.native is not None
        if subfilter == "/adbe.pkcs7.sha1":
            if not has_econtent:
                raise _Fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.FORMAT_FAILURE,
                    "content",
                    "adbe.pkcs7.sha1 without encapsulated digest",
                    "adbe.pkcs7.sha1 签名缺少封装的摘要",
                )
            content = econtent.native if isinstance(econtent.native, bytes) else econtent.contents
            if content != hashlib.sha1(signed_bytes).digest():  # noqa: S324 - the SubFilter defines it
                raise _Fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.HASH_FAILURE,
                    "digest",
                    "the SHA-1 of the signed bytes does not match",
                    "签名范围内数据的 SHA-1 与签名不符",
                )
        else:
            if has_econtent:
                raise _Fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.FORMAT_FAILURE,
                    "content",
                    "a detached signature carries encapsulated content",
                    "分离式签名不应包含封装内容",
                )
            content = signed_bytes
        # Step C5
        attrs = si["signed_attrs"]
        content_digest = _hash(digest_name, content)
        if isinstance(attrs, core.Void) or len(attrs) == 0:
            tbs = content
            ok("digest", f"{digest_name} over the signed bytes (no signed attributes)", "签名直接覆盖签名范围内数据")
        else:
            by_type = {a["type"].dotted: a["values"] for a in attrs}
            ct = by_type.get("1.2.840.113549.1.9.3")
            md = by_type.get("1.2.840.113549.1.9.4")
            if ct is None or md is None or len(md) != 1 or ct[0].dotted not in _DATA:
                raise _Fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.FORMAT_FAILURE,
                    "signed_attributes",
                    "contentType or messageDigest attribute missing or wrong",
                    "签名属性缺少或错误的 contentType / messageDigest",
                )
            if md[0].native != content_digest:
                raise _Fail(
                    Indication.TOTAL_FAILED,
                    SubIndication.HASH_FAILURE,
                    "digest",
                    f"messageDigest does not match the {digest_name} of the signed bytes",
                    "messageDigest 与签名范围内数据的摘要不符",
                )
            ok(
                "digest",
                f"messageDigest matches the {digest_name} of the signed bytes",
                f"messageDigest 与签名数据的 {digest_name} 摘要一致",
            )
            st = by_type.get("1.2.840.113549.1.9.5")
            if st is not None and len(st) == 1:
                out.claimed_time = st[0].native
            raw = attrs.dump()
            tbs = b"\x31" + raw[1:]
        # Step C6
        alg = _verify_value(out.signer, si["signature_algorithm"], digest_name, tbs, si["signature"].native)
        out.algorithm = alg
        ok("signature_value", f"{alg} signature value verifies", "签名值验证通过")
        # Step C7
        ku = out.signer.key_usage
        if ku is not None and not ku & {"digital_signature", "non_repudiation"}:
            raise _Fail(
                Indication.INDETERMINATE,
                SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                "key_usage",
                "the signer certificate's keyUsage allows neither digitalSignature nor nonRepudiation",
                "签名证书的密钥用途不允许签名",
            )
        unsigned = si["unsigned_attrs"]
        if not isinstance(unsigned, core.Void):
            stamps = [a for a in unsigned if a["type"].dotted == "1.2.840.113549.1.9.16.2.14"]
            out.has_timestamp = bool(stamps)
            if stamps:
                out.timestamp_token = stamps[0]["values"][0].dump()
                out.signature_value = si["signature"].native
    except _Fail as f:
        out.checks.append(
            Check(
                f.name,
                CheckStatus.FAILED if f.ind is Indication.TOTAL_FAILED else CheckStatus.INDETERMINATE,
                f.en,
                f.zh,
            )
        )
        out.failure = (f.ind, f.sub)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        out.checks.append(
            Check("cms", CheckStatus.FAILED, f"the CMS signature is malformed: {exc}", "CMS 签名格式错误")
        )
        out.failure = (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    return out
