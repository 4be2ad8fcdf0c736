"""PAdES baseline level of each PDF signature (ETSI EN 319 142-1 §6), and the policy's minimum.

Levels, weakest first (each includes the one before):

- **B-B**: a CAdES-style signature (``/Sig``), nothing more.
- **B-T**: B-B plus a trusted time for it: a ``signature-time-stamp`` unsigned attribute in the
  CMS, or a document timestamp (``/DocTimeStamp``) added in a later revision (EN 319 142-1
  §6.3 allows either).
- **B-LT**: B-T plus the validation data in the document security store (``/DSS``): the
  certificates of the signer's chain and of the chain of the timestamp that made it B-T, and
  revocation data (a CRL from each certificate's issuer, or an OCSP response naming its serial)
  for every certificate of those chains below a self-signed root. Certificates may come from
  the DSS or the CMS ``certificates``; revocation data only from the DSS.
- **B-LTA**: B-LT plus a document timestamp covering that DSS: a ``/DocTimeStamp`` whose
  revision's DSS already holds the B-LT validation data, other than the timestamp that made
  the signature B-T.

Detection is structural (what is present and for whom); whether the timestamps and the data
are valid is judged by the per-signature steps (S4-S6 in :mod:`verifier._pdf_sig`). Chains are
followed by issuer name among the embedded certificates (at most :data:`MAX_CHAIN` links), and
the DSS read for this is bounded by :data:`MAX_ITEMS` items per revision.

:func:`pades_levels` finds the level of every signature; :func:`apply_level` records it in the
signature's report (``signer["pades_level"]`` and a ``pades_level`` check) and enforces the
policy's minimum: a signature below it is INDETERMINATE / SIG_CONSTRAINTS_FAILURE (ETSI EN 319
102-1 Table 5 lists SIG_CONSTRAINTS_FAILURE under INDETERMINATE: the signature does not meet a
constraint of the validation policy, and augmenting it -- esign ``extend`` -- can cure it).
With a signer algorithm policy it also refuses a signer key the policy does not allow
(INDETERMINATE / CRYPTO_CONSTRAINTS_FAILURE, as EN 319 102-1 §5.2.8 does).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from asn1crypto import cms as asn1_cms
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.misc import get_and_apply

from keys.algorithms import AlgorithmPolicy, KeyType
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport

__all__ = ["LEVELS", "MAX_CHAIN", "MAX_ITEMS", "LevelInfo", "apply_level", "pades_levels"]

#: PAdES baseline levels, weakest first.
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
#: Most certificates followed up one chain.
MAX_CHAIN = 16
#: Most certificates + CRLs + OCSP responses read from one revision's DSS.
MAX_ITEMS = 2000
_SIG_TS_ATTR = "signature_time_stamp_token"
_KEY_TYPES = {"rsa": KeyType.RSA, "ec": KeyType.P256, "ed25519": KeyType.ED25519}
_SM2_CURVE = "1.2.156.10197.1.301"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelInfo:
    """The level of one ``/Sig`` signature and why."""

    level: str
    """One of :data:`LEVELS`."""
    time_source: str | None
    """What made it B-T: ``signature timestamp`` or ``document timestamp`` (``None``: B-B)."""
    missing: tuple[str, ...] = ()
    """Validation data the DSS lacks for B-LT (empty when B-LT or above, or below B-T)."""
    signer_cert: asn1_x509.Certificate | None = None
    """The signer certificate, when the CMS names one."""


@dataclass(frozen=True)
class _Dss:
    certs: tuple[asn1_x509.Certificate, ...] = ()
    crl_issuers: tuple[asn1_x509.Name, ...] = ()
    ocsp_serials: frozenset[int] = frozenset()


def _read_dss(handler: Any) -> _Dss:
    """The DSS of one revision (bounded); unreadable parts count as absent."""
    try:
        dss = handler.root.get("/DSS")
        if dss is None:
            return _Dss()
        dss = dss.get_object()
        refs = [get_and_apply(dss, k, list, default=[]) for k in ("/Certs", "/CRLs", "/OCSPs")]
    except Exception:
        return _Dss()
    if sum(len(r) for r in refs) > MAX_ITEMS:
        return _Dss()
    certs = _load(refs[0], DecodePurpose.CERTIFICATE, _cert)
    issuers = _load(refs[1], DecodePurpose.CRL, _crl_issuer)
    serials: set[int] = set()
    for resp in _load(refs[2], DecodePurpose.OCSP_RESPONSE, asn1_ocsp.OCSPResponse.load):
        try:
            serials.update(s["cert_id"]["serial_number"].native
                           for s in resp.basic_ocsp_response["tbs_response_data"]["responses"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            _log.debug("unreadable OCSP response in the DSS: %s", exc)
    return _Dss(tuple(certs), tuple(issuers), frozenset(serials))


def _cert(der: bytes) -> asn1_x509.Certificate:
    c = asn1_x509.Certificate.load(der)
    _ = (c.subject.native, c.issuer.native, c.serial_number, c.self_signed)
    return c


def _crl_issuer(der: bytes) -> asn1_x509.Name:
    issuer = asn1_crl.CertificateList.load(der).issuer
    _ = issuer.native
    return issuer


def _load(refs: Sequence[Any], purpose: DecodePurpose, load: Any) -> list[Any]:
    """``load(bytes)`` of each DSS stream (it must touch what is used later); skip the unreadable ones."""
    out = []
    for ref in refs:
        try:
            item = load(ref.get_object().read_data(purpose))
        except Exception as exc:
            _log.debug("unreadable DSS item: %s", exc)
            continue
        out.append(item)
    return out


def _sd_certs(sd: asn1_cms.SignedData) -> list[asn1_x509.Certificate]:
    out = []
    for choice in sd["certificates"] or []:
        if choice.name == "certificate":
            out.append(choice.chosen)
    return out


def _signer_of(sd: asn1_cms.SignedData) -> asn1_x509.Certificate | None:
    try:
        sid = sd["signer_infos"][0]["sid"]
    except (IndexError, KeyError, ValueError):
        return None
    for c in _sd_certs(sd):
        if sid.name == "issuer_and_serial_number":
            ias = sid.chosen
            if c.issuer == ias["issuer"] and c.serial_number == ias["serial_number"].native:
                return c
        elif c.key_identifier == sid.chosen.native:
            return c
    return None


def _uncovered(leaf: asn1_x509.Certificate, pool: Sequence[asn1_x509.Certificate], dss: _Dss, who: str) -> list[str]:
    """What the DSS lacks to validate ``leaf``'s chain later: issuers not embedded, no revocation data."""
    missing: list[str] = []
    cert, seen = leaf, set()
    for _ in range(MAX_CHAIN):
        if cert.self_signed != "no":  # a root: its own trust is the trust list's business
            break
        if cert.serial_number not in dss.ocsp_serials and not any(i == cert.issuer for i in dss.crl_issuers):
            name = cert.subject.native.get("common_name") or cert.subject.human_friendly
            missing.append(f"revocation data for {name} ({who} chain)")
        seen.add(cert.sha256)
        issuer = next((c for c in pool if c.subject == cert.issuer and c.sha256 not in seen), None)
        if issuer is None:
            break  # the anchor itself need not be embedded
        cert = issuer
    return missing


def pades_levels(reader: Any, sigs: Sequence[tuple[str, Any]]) -> list[LevelInfo | None]:
    """The level of each ``(kind, EmbeddedPdfSignature | None)``.

    ``None`` for document timestamps and signatures that could not be read.
    """
    doc_ts = sorted((emb.signed_revision, emb) for kind, emb in sigs if kind == "/DocTimeStamp" and emb is not None)
    snapshots: dict[int | None, _Dss] = {}

    def dss_at(rev: int | None) -> _Dss:
        if rev not in snapshots:
            try:
                snapshots[rev] = _read_dss(reader if rev is None else reader.get_historical_resolver(rev))
            except Exception:
                snapshots[rev] = _Dss()
        return snapshots[rev]

    out: list[LevelInfo | None] = []
    for kind, emb in sigs:
        if kind != "/Sig" or emb is None:
            out.append(None)
            continue
        try:
            out.append(_one(emb, doc_ts, dss_at))
        except Exception:  # a CMS too broken to inspect: S1-S4 already say why
            out.append(LevelInfo("B-B", None))
    return out


def _one(emb: Any, doc_ts: Sequence[tuple[int, Any]], dss_at: Any) -> LevelInfo:
    rev = emb.signed_revision
    sd = emb.signed_data
    signer = _signer_of(sd)
    unsigned = emb.signer_info["unsigned_attrs"]
    token = next((a["values"][0] for a in unsigned if a["type"].native == _SIG_TS_ATTR), None) \
        if unsigned.native is not None else None
    later = [(r, e) for r, e in doc_ts if r > rev]
    if token is not None:
        t_sd, source, t_rev = token["content"], "signature timestamp", rev
    elif later:
        t_rev, t_emb = later[0]
        t_sd, source = t_emb.signed_data, "document timestamp"
    else:
        return LevelInfo("B-B", None, signer_cert=signer)
    tsa = _signer_of(t_sd)

    def lacks(dss: _Dss) -> list[str]:
        if signer is None:
            return ["the signer certificate (not in the CMS)"]
        pool = [*dss.certs, *_sd_certs(sd), *_sd_certs(t_sd)]
        miss = _uncovered(signer, pool, dss, "signer")
        miss += _uncovered(tsa, pool, dss, "timestamp") if tsa is not None else ["the timestamp's TSA certificate"]
        return miss

    missing = lacks(dss_at(None))
    if missing:
        return LevelInfo("B-T", source, tuple(missing), signer)
    if any(r > t_rev and not lacks(dss_at(r)) for r, _ in later):
        return LevelInfo("B-LTA", source, signer_cert=signer)
    return LevelInfo("B-LT", source, signer_cert=signer)


def _describe(info: LevelInfo) -> tuple[str, str]:
    if info.level == "B-B":
        return "no signature or document timestamp", "无签名时间戳或文档时间戳"
    en = f"time from a {info.time_source}"
    zh = "签名时间戳" if info.time_source == "signature timestamp" else "文档时间戳"
    if info.level == "B-T":
        more = f" and {len(info.missing) - 4} more" if len(info.missing) > 4 else ""
        return (f"{en}; the DSS lacks {', '.join(info.missing[:4])}{more}",
                f"有{zh}；文档安全存储（DSS）缺少验证数据")
    if info.level == "B-LT":
        return f"{en}; validation data in the DSS", f"有{zh}，DSS 含验证数据"
    return (f"{en}; validation data in the DSS, covered by a document timestamp",
            f"有{zh}，DSS 含验证数据并由文档时间戳覆盖")


def _key_problem(cert: asn1_x509.Certificate, algorithms: AlgorithmPolicy) -> str | None:
    algo = cert.public_key.algorithm
    if algo == "ec" and cert.public_key["algorithm"]["parameters"].chosen.native == _SM2_CURVE:
        kt = KeyType.SM2
    else:
        kt = _KEY_TYPES.get(algo)
    if kt is None or not any(a.key_type is kt for a in algorithms.allowed):
        return f"the signer's {algo.upper()} key is of a type the policy does not allow"
    if kt is KeyType.RSA and cert.public_key.bit_size < algorithms.min_rsa_bits:
        bits = cert.public_key.bit_size
        return f"the signer's RSA key of {bits} bits is below the policy's minimum of {algorithms.min_rsa_bits}"
    return None


def _worsen(report: ValidationReport, check: Check, sub: SubIndication, reason: Reason) -> ValidationReport:
    """Add ``check``; an otherwise passing signature becomes INDETERMINATE with ``sub``."""
    if report.indication is not Indication.TOTAL_PASSED:
        return replace(report, checks=(*report.checks, check))
    return replace(report, indication=Indication.INDETERMINATE, sub_indication=sub, reason=reason,
                   checks=(*report.checks, check))


def apply_level(report: ValidationReport, info: LevelInfo | None, *, min_level: str = "B-B",
                algorithms: AlgorithmPolicy | None = None) -> ValidationReport:
    """Record the level in ``report`` and enforce ``min_level`` (and the signer key, with ``algorithms``)."""
    if info is None:
        return report
    report = replace(report, signer={**dict(report.signer), "pades_level": info.level})
    en, zh = _describe(info)
    if LEVELS.index(info.level) < LEVELS.index(min_level):
        den = f"PAdES {info.level} ({en}); the validation policy requires at least {min_level}"
        dzh = f"PAdES 级别为 {info.level}（{zh}）；验证策略要求至少 {min_level}"
        check = Check("pades_level", CheckStatus.INDETERMINATE, den, dzh)
        report = _worsen(report, check, SubIndication.SIG_CONSTRAINTS_FAILURE, Reason(
            en=f"The signature is PAdES {info.level}; the validation policy requires {min_level} or better.",
            zh=f"签名级别为 PAdES {info.level}，验证策略要求不低于 {min_level}。",
            hint_en=f"Ask the signer to extend the file to {min_level} (esign extend adds the timestamp, the "
                    "validation data in the DSS and the document timestamp).",
            hint_zh=f"请签名方将文件扩展到 {min_level}（esign extend 可添加时间戳、DSS 验证数据和文档时间戳）。"))
    else:
        report = replace(report, checks=(*report.checks, Check(
            "pades_level", CheckStatus.PASSED, f"PAdES {info.level} ({en})", f"PAdES 级别 {info.level}（{zh}）")))
    if algorithms is not None and info.signer_cert is not None:
        problem = _key_problem(info.signer_cert, algorithms)
        if problem is not None:
            check = Check("signer_key", CheckStatus.INDETERMINATE, problem, "签名者密钥不符合验证策略")
            report = _worsen(report, check, SubIndication.CRYPTO_CONSTRAINTS_FAILURE, Reason(
                                 en=f"The validation policy does not accept the signer's key: {problem}.",
                                 zh="验证策略不接受签名者的密钥算法或长度。",
                                 hint_en="Ask for a signature made with a key the policy allows.",
                                 hint_zh="请索取使用策略允许的密钥所作的签名。"))
        else:
            report = replace(report, checks=(*report.checks, Check(
                "signer_key", CheckStatus.PASSED, "the signer's key type and size are allowed by the policy",
                "签名者密钥类型和长度符合验证策略")))
    return report
