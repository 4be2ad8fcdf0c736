"""Cross-region trust at the front door: anchors from the trust registry, then the recognition policy.

:func:`verify_with_registry` wraps a front-door handler. Procedure (steps tagged ``# Step R<n>``):

  R1. Roles: the artefact kind says which certificates need an anchor and which trust-list
      service types may anchor each (:data:`ROLE_TYPES`): a certificate chain any type; CMS,
      PDF and OFD signers ``enterprise_signer`` / ``licence_issuer``; time-stamps ``tsa``; a
      seal's maker ``seal_maker``; a seal signature's signer ``seal_maker`` / ``enterprise_signer``
      / ``licence_issuer``.
  R2. Anchors: the certificates of every entry of those types (plus ``tsa``, for embedded
      time-stamps) in every held list, expired lists and withdrawn entries included so that R5
      can say *why* they cannot be used, plus the local anchors (this region's roots and
      configured PEM files, region = the local region, service type ``root_ca``).
  R3. The handler runs with those anchors: every format, hash, signature and path check.
  R4. For each role, the anchor its path ended in (the chain's last element; a seal maker's path
      is rebuilt, the seal handlers do not report it) is mapped back to the entries naming it
      with an allowed service type, usable ones first.
  R5. Usability at ``at``: the list unexpired (else INDETERMINATE / TRY_LATER, "stale list"), the
      entry granted (else INDETERMINATE / NO_CERTIFICATE_CHAIN_FOUND), a seal maker entry that
      lists seal types listing this one (else INDETERMINATE / SIG_CONSTRAINTS_FAILURE).
  R6. Recognition: ``RecognitionPolicy.decide(region, service type, artefact type, level)``. Not
      accepted -> INDETERMINATE / SIG_CONSTRAINTS_FAILURE naming the rule (the signature and path
      are valid; the validation policy refuses what vouches for them -- ETSI EN 319 102-1 puts
      constraints the policy imposes on a signature under SIG_CONSTRAINTS_FAILURE, an
      INDETERMINATE sub-indication: never PASSED, and not a claim that the signature is false).
  R7. Never better than R3: a handler's TOTAL_FAILED stays; TOTAL_PASSED only when every role
      passed R4-R6. Every report gets ``trust_list`` and ``recognition`` checks and a
      ``trust_context`` (region, list version and digest, entry, rule, recognised).

PDF and OFD files go through R4-R7 once per signature (each signature's report names its own
region and rule); the document takes the worst. With a validation policy, R3 runs under each
signature's effective layers (default < region < licence type, :func:`run_layered`), which also
enforce the layers' maximum ages after the handler ran (P5 there).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from esign.formats.ses import SesFormatError, parse_unverified_seal, parse_unverified_ses_signature
from keys.errors import EsignError
from keys.trustlist import SERVICE_TYPES
from keys.x509 import Certificate, Crl, parse_certificate
from verifier._revocation import RevocationData
from verifier.pdf import PdfPolicy
from verifier.pki import PathPolicy, TrustStore, validate_path
from verifier.policy import ValidationPolicy, ValidationSettings
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport
from verifier.trust import AnchorSource, TrustRegistry

__all__ = ["ROLE_TYPES", "STORE_TYPES", "LayerRun", "handler_inputs", "run_layered", "signing_time",
           "verify_with_registry"]

_SIGNER = ("enterprise_signer", "licence_issuer")
#: Service types that may anchor each role.
ROLE_TYPES: dict[str, tuple[str, ...]] = {
    "certificate": SERVICE_TYPES,
    "signer": _SIGNER,
    "tsa": ("tsa",),
    "seal_maker": ("seal_maker",),
    "seal_signer": ("seal_maker", *_SIGNER),
}
#: Service types whose anchors each kind is validated with (R2).
STORE_TYPES: dict[str, tuple[str, ...]] = {
    "certificate": SERVICE_TYPES,
    "cms": (*_SIGNER, "tsa"),
    "pdf": (*_SIGNER, "tsa"),
    "ofd": ("seal_maker", *_SIGNER, "tsa"),
    "seal": ("seal_maker", "tsa"),
    "ses_signature": ("seal_maker", *_SIGNER, "tsa"),
    "licence": ("seal_maker", *_SIGNER),
}
_LOCAL_TYPE = "root_ca"
_TRUST_CHECKS = frozenset({"trust_list", "trust_entry", "seal_type", "recognition"})


@dataclass(frozen=True)
class _Anchors:
    store: TrustStore
    where: Mapping[str, list[AnchorSource]]
    local: frozenset[str]


@dataclass(frozen=True)
class _Role:
    name: str
    """Role key of :data:`ROLE_TYPES`."""
    anchor: str | None
    """Hex SHA-256 of the anchor the role's path ended in (``None``: no path)."""
    artefact_type: str | None
    level: str | None


@dataclass(frozen=True)
class _Outcome:
    checks: tuple[Check, ...]
    context: dict[str, Any]
    verdict: tuple[Indication, SubIndication, Reason] | None = None


def _anchors(registry: TrustRegistry, local: TrustStore | None, kind: str) -> _Anchors:
    # Step R2: every anchor of the kind's service types, plus the local ones.
    certs, where = registry.anchor_sources(STORE_TYPES.get(kind, SERVICE_TYPES))
    local_certs = list(local.anchors) if local is not None else []
    return _Anchors(TrustStore.of([*local_certs, *certs], label="trust lists and local anchors"), where,
                    frozenset(c.sha256 for c in local_certs))


def _last_anchor(r: ValidationReport) -> str | None:
    return r.chain[-1].sha256 if r.chain and r.chain[-1].is_trust_anchor else None


def _level(signer: Mapping[str, Any]) -> str:
    if signer.get("pades_level"):  # a PDF signature: the level :mod:`verifier._pdf_level` found
        return str(signer["pades_level"])
    src = str(signer.get("signing_time_source", ""))
    return "B-T" if "timestamp" in signer or src.startswith("signature timestamp") else "B-B"


def _seal_type(signer: Mapping[str, Any]) -> str | None:
    t = signer.get("seal_type")
    return None if t is None else str(t)


def _ctx(region: str | None, src: AnchorSource | None, role: _Role, service_type: str | None,
         rule: str | None, recognised: bool | None, **extra: Any) -> dict[str, Any]:
    tl = src.trust_list if src else None
    return {"role": role.name, "region": region, "trust_list_version": tl.version if tl else None,
            "list_digest": tl.digest if tl else None, "list_expires_at": tl.expires_at.isoformat() if tl else None,
            "entry": src.entry.id if src else None, "service_type": service_type,
            "artefact_type": role.artefact_type, "level": role.level, "rule": rule, "recognised": recognised, **extra}


def _name(role: _Role, primary: bool, check: str) -> str:
    return check if primary else f"{role.name}.{check}"


def _indet(sub: SubIndication, en: str, zh: str, hint_en: str, hint_zh: str) -> tuple[Indication, SubIndication,
                                                                                       Reason]:
    return Indication.INDETERMINATE, sub, Reason(en=en, zh=zh, hint_en=hint_en, hint_zh=hint_zh)


def _judge(role: _Role, primary: bool, anchors: _Anchors, registry: TrustRegistry, at: datetime) -> _Outcome:
    """Steps R4-R6 for one role."""
    n = lambda c: _name(role, primary, c)  # noqa: E731
    if role.anchor is None:
        broken = registry.unconsulted()
        extra = f"; lists that could not be consulted: {', '.join(broken)}" if broken else ""
        en = f"no held trust list or local anchor vouches for the {role.name.replace('_', ' ')}{extra}"
        zh = "没有任何已导入的信任列表或本地信任锚为其担保" + (
            f"；无法使用的信任列表：{'、'.join(broken)}" if broken else "")
        return _Outcome((Check(n("trust_list"), CheckStatus.INDETERMINATE, en, zh),),
                        _ctx(None, None, role, None, None, False, lists_unusable=broken),
                        _indet(SubIndication.NO_CERTIFICATE_CHAIN_FOUND, en, zh,
                               "Import the issuing region's trust list (esign trust import) and pin its list-signing "
                               "key; a list that no longer verifies must be imported again.",
                               "请导入签发地区的信任列表（esign trust import）并固定其列表签名公钥；"
                               "无法验证的信任列表须重新导入。"))
    allowed = ROLE_TYPES[role.name]
    # Step R4: the entries naming the anchor with an allowed service type; local anchors first.
    if role.anchor in anchors.local:
        match = registry.recognise(registry.local_region, _LOCAL_TYPE, role.artefact_type, role.level)
        checks = (Check(n("trust_list"), CheckStatus.PASSED,
                        f"anchored in a local trust anchor of region {registry.local_region} (no list needed)",
                        f"由本地区 {registry.local_region} 的本地信任锚担保"),
                  replace(match.check(), name=n("recognition")))
        ctx = _ctx(registry.local_region, None, role, _LOCAL_TYPE, match.rule_id, match.accepted, local=True)
        return _Outcome(checks, ctx, None if match.accepted else _refused(match.reason_en, match.reason_zh))
    sources = [s for s in anchors.where.get(role.anchor, []) if s.entry.service_type in allowed]
    if not sources:
        listed = sorted({f"{s.trust_list.region}:{s.entry.service_type}" for s in anchors.where.get(role.anchor, [])})
        en = (f"the anchor of the {role.name.replace('_', ' ')} is listed only as {', '.join(listed) or 'nothing'}, "
              f"not as {' / '.join(allowed)}")
        zh = f"该信任锚在信任列表中的服务类型（{'、'.join(listed)}）不适用于此用途"
        return _Outcome((Check(n("trust_list"), CheckStatus.INDETERMINATE, en, zh),),
                        _ctx(None, None, role, None, None, False),
                        _indet(SubIndication.NO_CERTIFICATE_CHAIN_FOUND, en, zh,
                               "The issuing region must list this authority for this service type.",
                               "签发地区须在信任列表中按此服务类型列明该机构。"))
    sources.sort(key=lambda s: (s.trust_list.is_expired(at), s.entry.status_at(at) != "granted"))
    # Several entries may name the same certificate (one CA listed as enterprise_signer and as
    # seal_maker): among the usable ones, the first the policy recognises decides.
    usable = [s for s in sources if not s.trust_list.is_expired(at) and s.entry.status_at(at) == "granted"]
    src = next((s for s in usable if registry.recognise(s.trust_list.region, s.entry.service_type,
                                                        role.artefact_type, role.level).accepted), sources[0])
    tl, e = src.trust_list, src.entry
    base = _ctx(tl.region, src, role, e.service_type, None, None)
    # Step R5: list fresh, entry granted, seal type allowed.
    if tl.is_expired(at):
        en = (f"stale trust list: region {tl.region}'s list (version {tl.version}, sha256 {tl.digest[:16]}…) that "
              f"vouches for the {role.name.replace('_', ' ')} expired at {tl.expires_at.isoformat()}")
        zh = f"信任列表已过期：地区 {tl.region} 的信任列表（版本 {tl.version}）已于 {tl.expires_at.isoformat()} 过期"
        return _Outcome((Check(n("trust_list"), CheckStatus.INDETERMINATE, en, zh),), {**base, "recognised": False},
                        _indet(SubIndication.TRY_LATER, en, zh,
                               "Refresh the trust list (esign trust refresh) and verify again.",
                               "请刷新信任列表（esign trust refresh）后重新验证。"))
    status = e.status_at(at)
    if status != "granted":
        since = max((t for s, t in e.status_history if t <= at), default=None)
        when = f" since {since.isoformat()}" if since else " (not yet listed at that time)"
        en = f"entry '{e.id}' of region {tl.region}'s trust list v{tl.version} is {status or 'not listed'}{when}"
        zh = f"地区 {tl.region} 信任列表 v{tl.version} 的条目 '{e.id}' 状态为 {status or '未列入'}"
        return _Outcome((Check(n("trust_entry"), CheckStatus.INDETERMINATE, en, zh),), {**base, "recognised": False},
                        _indet(SubIndication.NO_CERTIFICATE_CHAIN_FOUND, en, zh,
                               "The region no longer vouches for this issuer; ask for a currently valid document.",
                               "该地区已不再担保此签发者，请获取当前有效的文件。"))
    list_check = Check(n("trust_list"), CheckStatus.PASSED,
                       f"vouched for by region {tl.region} trust list v{tl.version} (sha256 {tl.digest[:16]}…), "
                       f"entry '{e.id}' ({e.service_type}), list valid until {tl.expires_at.isoformat()}",
                       f"由地区 {tl.region} 信任列表 v{tl.version} 的条目 '{e.id}'（{e.service_type}）担保")
    if role.name == "seal_maker" and e.seal_types and role.artefact_type not in e.seal_types:
        en = (f"entry '{e.id}' of region {tl.region} may make seal types {sorted(e.seal_types)}, "
              f"not {role.artefact_type!r}")
        zh = f"地区 {tl.region} 的条目 '{e.id}' 无权制作类型为 {role.artefact_type} 的印章"
        return _Outcome((list_check, Check(n("seal_type"), CheckStatus.FAILED, en, zh)),
                        {**base, "recognised": False}, _refused(en, zh))
    # Step R6: recognition policy.
    match = registry.recognise(tl.region, e.service_type, role.artefact_type, role.level)
    ctx = {**base, "rule": match.rule_id, "recognised": match.accepted, "mapped_type": match.mapped_type}
    checks = (list_check, replace(match.check(), name=n("recognition")))
    return _Outcome(checks, ctx, None if match.accepted else _refused(match.reason_en, match.reason_zh))


def _refused(en: str, zh: str) -> tuple[Indication, SubIndication, Reason]:
    # EN 319 102-1 Table 5 lists SIG_CONSTRAINTS_FAILURE under INDETERMINATE only
    return (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE,
            Reason(en=f"Not recognised here: {en}.", zh=f"本地区不予承认：{zh}。",
                   hint_en="Only what the recognition policy lists is accepted from other regions.",
                   hint_zh="仅接受互认策略列明的其他地区类型。"))


def _apply(report: ValidationReport, roles: Sequence[_Role], anchors: _Anchors, registry: TrustRegistry,
           at: datetime) -> ValidationReport:
    """Step R7: fold the role outcomes into the handler's report (never better than it)."""
    ind, sub, reason = report.indication, report.sub_indication, report.reason
    checks, contexts = list(report.checks), []
    for i, role in enumerate(roles):
        out = _judge(role, i == 0, anchors, registry, at)
        checks.extend(out.checks)
        contexts.append(out.context)
        if out.verdict is None or ind is Indication.TOTAL_FAILED:
            continue
        v_ind, v_sub, v_reason = out.verdict
        if ind is Indication.TOTAL_PASSED or v_ind is Indication.TOTAL_FAILED:
            ind, sub, reason = v_ind, v_sub, v_reason
        elif v_sub is SubIndication.NO_CERTIFICATE_CHAIN_FOUND and sub is SubIndication.NO_CERTIFICATE_CHAIN_FOUND:
            reason = Reason(en=f"{reason.en} ({v_reason.en})", zh=f"{reason.zh}（{v_reason.zh}）",
                            hint_en=v_reason.hint_en, hint_zh=v_reason.hint_zh)
        elif role.anchor is None and not report.chain:  # the handler stopped before any path: its cause leads
            reason = Reason(en=f"{reason.en} Also: {v_reason.en}.", zh=f"{reason.zh}另外：{v_reason.zh}。",
                            hint_en=reason.hint_en, hint_zh=reason.hint_zh)
        else:  # both undecided: the trust problem (stale list, withdrawn entry) leads, the other follows
            ind, sub = v_ind, v_sub
            reason = Reason(en=f"{v_reason.en}. Also: {reason.en}", zh=f"{v_reason.zh}。另外：{reason.zh}",
                            hint_en=v_reason.hint_en, hint_zh=v_reason.hint_zh)
    ctx = dict(contexts[0]) if contexts else {}
    if len(contexts) > 1:
        ctx["roles"] = contexts
    for k in ("policy", "policy_layers"):  # set by run_layered
        if report.trust_context and k in report.trust_context:
            ctx[k] = report.trust_context[k]
    return replace(report, indication=ind, sub_indication=sub, reason=reason, checks=tuple(checks),
                   trust_context=ctx)


def _maker_anchor(data: bytes, kind: str, store: TrustStore, at: datetime, intermediates: Sequence[Certificate],
                  crls: Sequence[Crl], policy: PathPolicy | None) -> str | None:
    """Rebuild the seal maker certificate's path (the seal handlers check it but do not report it)."""
    try:
        if kind == "seal":
            seal = parse_unverified_seal(data)
            when = seal.created_at
        else:
            sig = parse_unverified_ses_signature(data)
            seal, when = sig.seal, sig.signing_time or at
        maker = parse_certificate(seal.maker_cert_der)
    except (SesFormatError, EsignError):
        return None
    rep = validate_path(maker, trust=store, at=when, intermediates=intermediates, crls=crls, policy=policy,
                        artefact="ses")
    return _last_anchor(rep) if rep.passed else None


def _roles(report: ValidationReport, kind: str, data: bytes, anchors: _Anchors, at: datetime,
           maker: Callable[[], str | None]) -> list[_Role]:
    # Step R1 / R4: which certificates needed an anchor, and which one each path ended in.
    s = report.signer
    if kind == "certificate":
        return [_Role("certificate", _last_anchor(report), "certificate", None)]
    if report.artefact == "timestamp":
        return [_Role("tsa", _last_anchor(report), "timestamp", None)]
    if kind in ("seal", "ses_signature"):
        seal_type = _seal_type(s)
        maker_role = _Role("seal_maker", maker() if report.indication is not Indication.TOTAL_FAILED else None,
                           seal_type, None)
        if kind == "seal":
            return [maker_role]
        return [_Role("seal_signer", _last_anchor(report), seal_type, None), maker_role]
    if kind == "ofd":  # the first signature's signer (plain or seal signature); see docs/trust-lists.md
        return [_Role("seal_signer", _last_anchor(report), "ofd", None)]
    return [_Role("signer", _last_anchor(report), kind, _level(s))]


def verify_with_registry(
    handler: Callable[..., ValidationReport],
    data: bytes,
    *,
    kind: str,
    registry: TrustRegistry,
    local: TrustStore | None,
    at: datetime,
    crls: Sequence[Crl],
    require_revocation: bool,
    policy: PathPolicy | None,
    extras: Mapping[str, Any],
    intermediates: Sequence[Certificate],
    validation: ValidationPolicy | None = None,
) -> ValidationReport:
    """Run ``handler`` with the registry's anchors for ``kind`` and apply the recognition policy (R1-R7).

    With ``validation``, the constraints are those of each signature's region and the licence's
    type (:func:`run_layered`), and every report says which layers applied.
    """
    anchors = _anchors(registry, local, kind)

    def run(settings: ValidationSettings | None, revocation: Sequence[Crl] | None = None) -> ValidationReport:
        # Step R3: every cryptographic and path check, by the handler for the kind.
        return handler(data, trust=anchors.store, at=at, crls=crls if revocation is None else revocation,
                       **handler_inputs(kind, policy, require_revocation, settings), **extras)

    def region_of(unit: ValidationReport) -> str | None:
        return _region(_last_anchor(unit), anchors, registry, at)

    if validation is None:
        report, layers = run(None), None
    else:
        report, layers = run_layered(run, validation, kind=kind, region_of=region_of, at=at, crls=crls)
    first = layers[0] if layers else None
    maker_inputs = handler_inputs(kind, policy, require_revocation, first)
    maker_policy = maker_inputs["policy"]
    if isinstance(maker_policy, PdfPolicy) or maker_policy is None:
        maker_policy = policy if policy is not None or not require_revocation else PathPolicy(require_revocation=True)

    def maker() -> str | None:
        return _maker_anchor(data, kind, anchors.store, at, intermediates, crls, maker_policy)

    if report.signatures:  # a PDF or an OFD: every signature separately, then the document verdict again
        subs = []
        for r in report.signatures:
            if kind == "ofd":  # each signature's signer (plain or seal signature); see docs/trust-lists.md
                role = _Role("seal_signer", _last_anchor(r), "ofd", None)
            elif str(r.signer.get("signing_time_source", "")).startswith("document timestamp"):
                role = _Role("tsa", _last_anchor(r), "pdf-timestamp", None)
            else:
                role = _Role("signer", _last_anchor(r), kind, _level(r.signer))
            subs.append(_apply(r, [role], anchors, registry, at))
        return _document(report, subs, kind)
    return _apply(report, _roles(report, kind, data, anchors, at, maker), anchors, registry, at)


def _region(anchor: str | None, anchors: _Anchors, registry: TrustRegistry, at: datetime) -> str | None:
    """The region vouching for ``anchor``: the local one for local anchors, else a usable list's (R4/R5)."""
    if anchor is None:
        return None
    if anchor in anchors.local:
        return registry.local_region
    sources = anchors.where.get(anchor, [])
    usable = [s for s in sources if not s.trust_list.is_expired(at) and s.entry.status_at(at) == "granted"]
    pick = usable or sources
    return pick[0].trust_list.region if pick else None


# --- validation policy layers ------------------------------------------------------------------

#: Settings used only to find out which region vouches for a signature whose path the default
#: layer refused (a region may accept what the default does not); never for a verdict.
_PROBE = ValidationPolicy(default={"revocation_required": False, "min_rsa_bits": 1024}).effective()


#: Kinds whose handler takes the layer's clock skew (``clock_skew=``): the GB/T 38540 seal and
#: seal signature checks, the licence (its validity start, status list and SES signature) and the
#: OFD file (its seal signatures). A PDF gets it inside its :class:`PdfPolicy`.
SKEW_KINDS = frozenset({"seal", "ses_signature", "licence", "ofd"})


def handler_inputs(kind: str, policy: PathPolicy | None, require_revocation: bool,
                   settings: ValidationSettings | None) -> dict[str, Any]:
    """The ``policy`` and ``require_revocation`` (and ``clock_skew``) a handler gets under ``settings``.

    Without settings, what the caller gave. With them, the layer decides the algorithms, key
    sizes and whether revocation data is required (the caller's ``require_revocation`` can only
    make that stricter), on top of the caller's other path settings; a PDF also gets the
    minimum PAdES level, the signer key check and the clock skew; seals, seal signatures,
    licences and OFD files the layer's clock skew (:data:`SKEW_KINDS`).
    """
    if settings is None:
        return {"policy": policy, "require_revocation": require_revocation}
    need = settings.revocation_required or require_revocation
    path = replace(policy or PathPolicy(), require_revocation=need, algorithms=settings.algorithms)
    skew = {"clock_skew": settings.clock_skew} if kind in SKEW_KINDS else {}
    if kind == "pdf":
        return {"policy": PdfPolicy(path=path, require_revocation=need, min_pades_level=settings.min_pades_level,
                                    signer_algorithms=settings.algorithms, clock_skew=settings.clock_skew),
                "require_revocation": need}
    return {"policy": path, "require_revocation": need, **skew}


def _key(s: ValidationSettings) -> ValidationSettings:
    return replace(s, applied=())


class LayerRun(Protocol):
    """Runs the front-door handler under ``settings``, with ``revocation`` instead of the caller's CRLs if given."""

    def __call__(self, settings: ValidationSettings | None, revocation: Sequence[Crl] | None = None
                 ) -> ValidationReport:
        """The handler's report."""


def run_layered(run: LayerRun, validation: ValidationPolicy, *, kind: str,
                region_of: Callable[[ValidationReport], str | None] | None, at: datetime | None = None,
                crls: Sequence[Crl] = ()) -> tuple[ValidationReport, list[ValidationSettings]]:
    """Verify under the layers that apply to each signature: default < region < licence type.

    P1. Run with the default layer.
    P2. For each signature (the artefact itself, or each of a PDF's / OFD's signatures), the
        region vouching for it (``region_of``: the region whose trust list holds its anchor;
        ``None`` with plain anchors, which belong to no region) and, for a licence, its type. A
        signature whose path found no anchor under the default layer is probed once with loose
        settings, only to learn its region.
    P3. Each signature's effective settings; where they differ from the default, run again with
        them and take that signature from that run (one run per distinct setting).
    P4. Every signature's report gets a ``policy`` check naming the layers, e.g.
        ``default < region 440000 < licence type food``, and ``policy`` / ``policy_layers`` in
        its ``trust_context``.
    P5. Maximum ages (only with ``at``, the validation time), after the handler ran, from each
        signature's report -- the handlers know nothing of them:
        - ``max_revocation_age``: the reference time is the signature's proven time (a signature
          timestamp; long-term validation) or else ``at``. If some of the revocation data the
          caller gave (``crls``: CRL thisUpdate, OCSP producedAt) was issued more than the maximum
          age before it, that signature is run again with only the fresh data. If the verdict
          then gets worse, the old data was what it rested on: INDETERMINATE with TRY_LATER at
          ``at`` (EN 319 102-1 §5.2.5 revocation freshness checker failing inside §5.2.6: fresher
          data may be published later) or REVOCATION_OUT_OF_BOUNDS_NO_POE at a proven time (as
          §5.6.2.4 past signature validation: no proof that usable revocation data existed at
          that time). A TOTAL_FAILED (e.g. revoked according to the old data) stays. Check
          ``revocation_freshness``. A PDF's own revocation data (DSS, inside its signatures) is
          cut the same way: the PDF is always run again with the cut (``issued_since`` of the
          revocation data passed), and its document check ``revocation_cutoff`` says what the
          file held that was set aside.
        - ``max_signature_age``: the signing time (proven, else claimed) more than the maximum
          age before ``at`` -> INDETERMINATE / SIG_CONSTRAINTS_FAILURE (a constraint of the
          validation policy, EN 319 102-1 §5.2.8); no signing time at all likewise. Check
          ``signature_age``. Not applied to certificate chains and document timestamps.
        Neither makes a verdict better; a verdict that is already INDETERMINATE keeps its own
        reason and gets the check.

    Returns the report and each signature's settings (in order).
    """
    base_settings = validation.effective()
    base = run(base_settings)
    several = kind in ("pdf", "ofd") and bool(base.signatures)  # a licence's signature is part of it, not a unit
    units = list(base.signatures) if several else [base]
    ltype = _licence_type(base) if kind == "licence" else None
    regions = [region_of(u) if region_of is not None else None for u in units]
    if region_of is not None and validation.regions and any(r is None for r in regions):
        probe = run(_PROBE)
        probe_units = list(probe.signatures) if several else [probe]
        if len(probe_units) == len(units):
            regions = [r if r is not None else region_of(p) for r, p in zip(regions, probe_units, strict=True)]
    layers = [validation.effective(region=r, licence_type=ltype) for r in regions]
    runs: dict[ValidationSettings, ValidationReport] = {_key(base_settings): base}
    for s in layers:
        if _key(s) not in runs:
            runs[_key(s)] = run(s)

    def unit(r: ValidationReport, i: int) -> ValidationReport:
        found = list(r.signatures) if several else [r]
        return found[i] if len(found) == len(units) else units[i]

    picked = [unit(runs[_key(s)], i) for i, s in enumerate(layers)]
    chosen = [runs[_key(s)] for s in layers]
    if at is not None:  # Step P5: maximum ages.
        fresh_runs: dict[tuple[ValidationSettings, datetime], ValidationReport] = {}

        def rerun(s: ValidationSettings, cutoff: datetime) -> ValidationReport:
            k = (_key(s), cutoff)
            if k not in fresh_runs:
                fresh_runs[k] = run(s, _fresh(crls, cutoff))
            return fresh_runs[k]

        for i, s in enumerate(layers):
            picked[i], doc = _ages(picked[i], s, kind=kind, at=at, crls=crls, rerun=rerun,
                                   pick=lambda d, i=i: unit(d, i))
            if doc is not None:
                chosen[i] = doc
    if not several:
        return _with_policy(picked[0], layers[0]), layers
    return _merge(base, [_with_policy(u, s) for u, s in zip(picked, layers, strict=True)], chosen, kind), layers


# --- maximum ages (P5) ---------------------------------------------------------------------------

_PROVEN_SOURCES = ("signature timestamp", "document timestamp")


def _when(v: Any) -> datetime | None:
    if isinstance(v, datetime):
        return v if v.tzinfo else None
    if not isinstance(v, str) or not v:
        return None
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else None


def signing_time(report: ValidationReport) -> tuple[datetime, bool] | None:
    """A signature's signing time from its report and whether it is proven (a time-stamp), else ``None``.

    CMS (and CMS licences): ``timestamp`` (proven genTime), else the claimed ``signing_time``;
    PDF: ``signing_time`` with ``signing_time_source``; SES (and SES licences), OFD: the claimed
    ``signing_time``.
    """
    s = report.signer
    proven = _when(s.get("timestamp"))
    if proven is not None:
        return proven, True
    t = _when(s.get("signing_time"))
    if t is None:
        return None
    return t, str(s.get("signing_time_source", "")).startswith(_PROVEN_SOURCES)


def _issued(item: Any) -> datetime | None:
    """CRL thisUpdate, or an OCSP response's producedAt (``None``: unknown, kept)."""
    t = getattr(item, "this_update", None)
    if isinstance(t, datetime):
        return t
    try:
        return _when(item.basic["tbs_response_data"]["produced_at"].native)
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def _older(crls: Sequence[Crl], cutoff: datetime) -> list[Any]:
    items = [*crls, *getattr(crls, "ocsp_responses", ())]
    return [c for c in items if (t := _issued(c)) is not None and t < cutoff]


def _fresh(crls: Sequence[Crl], cutoff: datetime) -> RevocationData:
    """The revocation data issued at or after ``cutoff`` (CRLs and OCSP responses alike), carrying
    the cut (``issued_since``) for handlers that hold revocation data of their own (a PDF)."""
    keep = [c for c in crls if (t := _issued(c)) is None or t >= cutoff]
    responses = getattr(crls, "ocsp_responses", ())
    return RevocationData(keep, [r for r in responses if (t := _issued(r)) is None or t >= cutoff],
                          retroactive=bool(getattr(crls, "retroactive", False)), issued_since=cutoff)


def _secs(d: timedelta) -> str:
    n = int(d.total_seconds())
    return f"{n} s" + (f" ({n / 86400:g} days)" if n >= 86400 else "")


def _worse(r: ValidationReport, check: Check, sub: SubIndication, en: str, zh: str, hint_en: str,
           hint_zh: str) -> ValidationReport:
    """``r`` with ``check`` added; a TOTAL_PASSED becomes INDETERMINATE / ``sub``."""
    if r.indication is not Indication.TOTAL_PASSED:
        return replace(r, checks=(*r.checks, check))
    return replace(r, indication=Indication.INDETERMINATE, sub_indication=sub, checks=(*r.checks, check),
                   reason=Reason(en=en, zh=zh, hint_en=hint_en, hint_zh=hint_zh))


def _ages(u: ValidationReport, s: ValidationSettings, *, kind: str, at: datetime, crls: Sequence[Crl],
          rerun: Callable[[ValidationSettings, datetime], ValidationReport],
          pick: Callable[[ValidationReport], ValidationReport]) -> tuple[ValidationReport, ValidationReport | None]:
    """Step P5 for one signature: its report, and the document run it now comes from (if another).

    ``rerun(settings, cutoff)`` runs the handler with only the revocation data issued at or after
    ``cutoff``; ``pick`` takes this signature out of such a run.
    """
    doc = None
    when = signing_time(u)
    if s.max_revocation_age is not None:
        proven = when is not None and when[1]
        ref = when[0] if proven and when is not None else at
        cutoff = ref - s.max_revocation_age
        what = f"{'the proven signing time' if proven else 'the validation time'} {ref.isoformat()}"
        limit = f"the policy's maximum revocation age of {_secs(s.max_revocation_age)} at {what}"
        old = _older(crls, cutoff)
        # a PDF carries revocation data of its own (DSS, signatures): always judged by a run with the cut
        own = kind == "pdf"
        if not crls and not own:
            check = Check("revocation_freshness", CheckStatus.SKIPPED,
                          f"no revocation data was given to judge against {limit}",
                          "未提供吊销信息，无需检查其时效")
        elif not old and not own:
            check = Check("revocation_freshness", CheckStatus.PASSED,
                          f"all revocation data given was issued within {limit}",
                          "所提供的吊销信息均在策略允许的时效内")
        else:
            fresh_doc = rerun(s, cutoff)
            fresh_u = pick(fresh_doc)
            in_file = next((c for c in fresh_doc.checks if c.name == "revocation_cutoff"), None)
            given = ", ".join(sorted({t.isoformat() for c in old if (t := _issued(c)) is not None}))
            parts = [f"given, issued {given}"] if given else []
            if in_file is not None and in_file.status is CheckStatus.SKIPPED:
                parts.append(f"in the file: {in_file.detail_en}")
            dates = "; ".join(parts)
            if u.indication is not Indication.TOTAL_FAILED and _RANK[fresh_u.indication] > _RANK[u.indication]:
                en = (f"the revocation data this rests on ({dates}) is older than {limit}: "
                      "it does not count as fresh")
                zh = "所依据的吊销信息超过验证策略允许的时效，不视为最新吊销信息"
                sub = SubIndication.REVOCATION_OUT_OF_BOUNDS_NO_POE if proven else SubIndication.TRY_LATER
                check = Check("revocation_freshness", CheckStatus.INDETERMINATE, en, zh)
                hint = ("Fetch a CRL or OCSP response issued within the policy's maximum age and verify again.",
                        "请获取在策略允许时效内签发的 CRL 或 OCSP 响应后重新验证。")
                if fresh_u.indication is Indication.TOTAL_FAILED:
                    u = replace(fresh_u, checks=(*fresh_u.checks, check))
                else:
                    u = replace(fresh_u, indication=Indication.INDETERMINATE, sub_indication=sub,
                                checks=(*fresh_u.checks, check),
                                reason=Reason(en=f"{en[0].upper()}{en[1:]}.", zh=f"{zh}。", hint_en=hint[0],
                                              hint_zh=hint[1]))
                doc = fresh_doc
                check = None
            elif not dates:
                check = Check("revocation_freshness", CheckStatus.PASSED,
                              f"all revocation data given or in the file was issued within {limit}",
                              "所提供及文件内的吊销信息均在策略允许的时效内")
            else:
                check = Check("revocation_freshness", CheckStatus.PASSED,
                              f"revocation data older than {limit} ({dates}) was not counted; the "
                              "verdict does not rest on it", "超过时效的吊销信息未被采用，且不影响验证结论")
        if check is not None:
            u = replace(u, checks=(*u.checks, check))
    timestamp_only = u.artefact == "timestamp" or str(u.signer.get("signing_time_source", "")).startswith(
        "document timestamp")
    if s.max_signature_age is not None and kind != "certificate" and not timestamp_only:
        limit = _secs(s.max_signature_age)
        hint = ("Ask for a newly signed or re-issued document (the policy limits how old a signature may be).",
                "请获取重新签署或换发的文件（验证策略限制签名的时效）。")
        if when is None:
            en = f"the policy accepts signatures at most {limit} old, and this one has no signing time to judge"
            zh = "验证策略限制签名时效，但该签名没有可判断的签名时间"
            u = _worse(u, Check("signature_age", CheckStatus.INDETERMINATE, en, zh),
                       SubIndication.SIG_CONSTRAINTS_FAILURE, f"{en[0].upper()}{en[1:]}.", f"{zh}。", *hint)
        else:
            age = at - when[0]
            src = "time-stamped" if when[1] else "claimed"
            if age > s.max_signature_age:
                en = (f"the signature was made at {when[0].isoformat()} ({src}), {_secs(age)} before the validation "
                      f"time: the policy accepts signatures at most {limit} old")
                zh = f"签名时间 {when[0].isoformat()} 距验证时间已超过验证策略允许的 {limit}"
                u = _worse(u, Check("signature_age", CheckStatus.INDETERMINATE, en, zh),
                           SubIndication.SIG_CONSTRAINTS_FAILURE, f"{en[0].upper()}{en[1:]}.", f"{zh}。", *hint)
            else:
                u = replace(u, checks=(*u.checks, Check(
                    "signature_age", CheckStatus.PASSED,
                    f"signed at {when[0].isoformat()} ({src}), within the policy's {limit}",
                    "签名时间在验证策略允许的时效内")))
    return u, doc


def _licence_type(report: ValidationReport) -> str | None:
    t = report.signer.get("type")
    if isinstance(t, Mapping):  # {"code": ..., "name": ...}
        t = t.get("code")
    return t if isinstance(t, str) and t else None


def describe_layers(settings: ValidationSettings) -> tuple[str, str]:
    """``default < region 440000 < licence type food`` in English and Chinese."""
    en, zh = [], []
    for layer in settings.applied:
        what, _, name = layer.partition(":")
        en.append({"region": f"region {name}", "licence_type": f"licence type {name}"}.get(what, what))
        zh.append({"region": f"地区 {name}", "licence_type": f"证照类型 {name}"}.get(what, "默认"))
    return " < ".join(en), " < ".join(zh)


def _with_policy(report: ValidationReport, settings: ValidationSettings) -> ValidationReport:
    en, zh = describe_layers(settings)
    ages = "".join(f", {what} {_secs(v)}" for what, v in (("max revocation age", settings.max_revocation_age),
                                                           ("max signature age", settings.max_signature_age))
                   if v is not None)
    check = Check("policy", CheckStatus.PASSED,
                  f"validation policy: {en} (minimum PAdES {settings.min_pades_level}, revocation "
                  f"{'required' if settings.revocation_required else 'not required'}, RSA from "
                  f"{settings.algorithms.min_rsa_bits} bits, clock skew {_secs(settings.clock_skew)}{ages})",
                  f"验证策略：{zh}")
    ctx = {**dict(report.trust_context or {}), "policy": en, "policy_layers": list(settings.applied)}
    return replace(report, checks=(*report.checks, check), trust_context=ctx)


_OWNER = re.compile(r"^signature\[([^\]]+)\](?:\.|$)")
#: Checks the layers add to each signature, repeated at document level as ``signature[n].<name>``.
_LAYER_CHECKS = frozenset({"policy", "revocation_freshness", "signature_age"})


def _label(kind: str, i: int, sub: ValidationReport) -> str:
    return str(sub.signer.get("id", i + 1)) if kind == "ofd" else str(i + 1)


_RANK = {Indication.TOTAL_FAILED: 2, Indication.INDETERMINATE: 1, Indication.TOTAL_PASSED: 0}


def _merge(base: ValidationReport, subs: list[ValidationReport], runs: list[ValidationReport],
           kind: str) -> ValidationReport:
    """The document with signature ``i`` taken from ``runs[i]`` (its own layers' run); verdict again."""
    labels = [_label(kind, i, u) for i, u in enumerate(base.signatures)]
    source = dict(zip(labels, runs, strict=True))
    checks: list[Check] = []
    done: set[str] = set()
    for c in base.checks:
        m = _OWNER.match(c.name)
        if m is None or m.group(1) not in source:
            checks.append(c)
        elif m.group(1) not in done:
            done.add(m.group(1))
            checks.extend(x for x in source[m.group(1)].checks if (o := _OWNER.match(x.name)) and o.group(1) ==
                          m.group(1))
    # The document's own problems (unprotected files, integrity list, unreadable DSS...) stay.
    own = None
    if base.indication is not Indication.TOTAL_PASSED and any(
            _OWNER.match(c.name) is None and c.status in (CheckStatus.FAILED, CheckStatus.INDETERMINATE)
            for c in base.checks):
        own = (base.indication, base.sub_indication, base.reason)
    worst = max(subs, key=lambda u: _RANK[u.indication])  # the first of the worst
    verdict = (worst.indication, worst.sub_indication, worst.reason)
    if own is not None and _RANK[own[0]] >= _RANK[worst.indication]:
        verdict = own
    if verdict[0] is Indication.TOTAL_PASSED:
        verdict = (base.indication, base.sub_indication, base.reason) if base.indication is Indication.TOTAL_PASSED \
            else (Indication.TOTAL_PASSED, None, Reason(en=f"all {len(subs)} signature(s) are valid and trusted",
                                                       zh=f"全部 {len(subs)} 个签名有效且受信任"))
    signer = dict(base.signer)
    if kind == "ofd" and isinstance(signer.get("signatures"), list):
        signer["signatures"] = [dict(u.signer) for u in subs]
    checks += [replace(c, name=f"signature[{label}].{c.name}") for label, u in zip(labels, subs, strict=True)
               for c in u.checks if c.name in _LAYER_CHECKS]
    ctx: dict[str, Any] = dict(base.trust_context or {})
    first = subs[0].trust_context or {}
    ctx.update(policy=first.get("policy"), policy_layers=first.get("policy_layers"))
    if len(subs) > 1:
        ctx["signatures"] = [{"signature": label, "policy": (u.trust_context or {}).get("policy")}
                             for label, u in zip(labels, subs, strict=True)]
    return replace(base, indication=verdict[0], sub_indication=verdict[1], reason=verdict[2], checks=tuple(checks),
                   signatures=tuple(subs), signer=signer, trust_context=ctx)


def _document(report: ValidationReport, subs: list[ValidationReport], kind: str = "pdf") -> ValidationReport:
    """The document verdict from re-judged signatures (the first FAILED, else the first INDETERMINATE)."""
    status = {Indication.TOTAL_PASSED: CheckStatus.PASSED, Indication.TOTAL_FAILED: CheckStatus.FAILED}
    checks = [replace(c, status=status.get(subs[int(c.name[10:-1]) - 1].indication, CheckStatus.INDETERMINATE),
                      detail_en=subs[int(c.name[10:-1]) - 1].reason.en,
                      detail_zh=subs[int(c.name[10:-1]) - 1].reason.zh)
              if c.name.startswith("signature[") and c.name[10:-1].isdigit() and 0 < int(c.name[10:-1]) <= len(subs)
              else c for c in report.checks]
    checks += [replace(c, name=f"signature[{_label(kind, i, r)}].{c.name}") for i, r in enumerate(subs)
               for c in r.checks if c.name in _TRUST_CHECKS]
    ind, sub, reason = report.indication, report.sub_indication, report.reason
    worst = next((r for r in subs if r.indication is Indication.TOTAL_FAILED), None) or \
        next((r for r in subs if r.indication is Indication.INDETERMINATE), None)
    if worst is not None and ind is not Indication.TOTAL_FAILED:  # the handler's verdict is its worst signature's
        ind, sub, reason = worst.indication, worst.sub_indication, worst.reason
        if kind == "ofd":
            label = _label(kind, subs.index(worst), worst)
            if not reason.en.startswith(f"Signature {label}"):
                reason = replace(reason, en=f"Signature {label}: {reason.en}", zh=f"签名 {label}：{reason.zh}")
    ctx = dict(subs[0].trust_context) if subs and subs[0].trust_context is not None else None
    if ctx is not None and len(subs) > 1:
        ctx["signatures"] = [dict(r.trust_context or {}, signature=_label(kind, i, r)) for i, r in enumerate(subs)]
    return replace(report, indication=ind, sub_indication=sub, reason=reason, checks=tuple(checks),
                   signatures=tuple(subs), trust_context=ctx)
