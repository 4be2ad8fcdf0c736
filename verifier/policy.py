"""Recognition and validation policies as data (JSON), and the decision of which rule applies.

A :class:`RecognitionPolicy` is the mutual-recognition mapping (EU DSS MRA in spirit): for each
foreign region, which service types, licence / seal types and signature levels are accepted, and
as which local type they count. :meth:`RecognitionPolicy.decide` returns a :class:`RuleMatch`
naming the rule that applied, so every report can say why it trusted (or refused) a foreign
artefact. Rules are tried in order; the first whose every constraint matches wins. With no match,
the local region's own artefacts are accepted by the implicit rule ``local-region`` (unless
``trust_local`` is false) and everything else is refused by ``default-deny``.

A :class:`ValidationPolicy` holds the technical constraints (algorithms, minimum RSA size, minimum
PAdES level, revocation required, clock skew, maximum ages) as a default layer with overrides
per region and per licence type; :meth:`ValidationPolicy.effective` merges them (licence type
over region over default) and says which layers applied. The JSON format is in
``docs/trust-lists.md``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from keys.algorithms import AlgorithmPolicy, SignatureAlgorithm
from keys.errors import AlgorithmNotAllowedError, BadInputError
from verifier.pki import PathPolicy
from verifier.report import Check, CheckStatus

__all__ = [
    "ANY",
    "LEVELS",
    "MAX_POLICY_BYTES",
    "MAX_RULES",
    "Policy",
    "PolicyFormatError",
    "RecognitionPolicy",
    "RecognitionRule",
    "RuleMatch",
    "ValidationPolicy",
    "ValidationSettings",
    "load_policy",
]

#: Largest policy document.
MAX_POLICY_BYTES = 1 << 20
#: Most recognition rules.
MAX_RULES = 10_000
#: Wildcard in rule fields.
ANY = "*"
#: AdES levels, weakest first (PAdES / CAdES baseline B-B, B-T, B-LT, B-LTA).
LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")
_LAYER_KEYS = frozenset({"algorithms", "min_rsa_bits", "min_pades_level", "revocation_required",
                         "clock_skew_seconds", "max_revocation_age_seconds", "max_signature_age_seconds"})


class PolicyFormatError(BadInputError):
    """A policy document is malformed."""

    code = "bad_policy"
    default_zh = "策略格式错误"


def _bad(msg: str, where: str) -> PolicyFormatError:
    return PolicyFormatError(msg, message_zh=f"策略格式错误：{where}", field=where)


def _strset(v: Any, where: str) -> frozenset[str] | None:
    """``None``/absent = no constraint; ``"*"`` = anything; list of strings = one of those."""
    if v is None or v == ANY:
        return None
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _bad("a list of names or '*' is required", where)
    return None if ANY in v else frozenset(v)


@dataclass(frozen=True)
class RecognitionRule:
    """One line of the mutual-recognition mapping."""

    id: str
    """Stable name quoted in reports."""
    region: str
    """Region code the rule is about, or ``*``."""
    service_types: frozenset[str] | None
    """Service types it covers (``None``: all)."""
    artefact_types: frozenset[str] | None
    """Licence / seal / certificate types it covers (``None``: all)."""
    levels: frozenset[str] | None
    """Signature levels it covers (``None``: all, including artefacts without a level)."""
    accept: bool
    """Accept or refuse what it matches."""
    map_to: str | None = None
    """The local type a foreign type counts as (MRA equivalence), if any."""

    def matches(self, region: str, service_type: str, artefact_type: str | None, level: str | None) -> bool:
        """Every constraint holds."""
        return (
            self.region in (ANY, region)
            and (self.service_types is None or service_type in self.service_types)
            and (self.artefact_types is None or artefact_type in self.artefact_types)
            and (self.levels is None or level in self.levels)
        )


@dataclass(frozen=True)
class RuleMatch:
    """Which rule decided, and what it decided."""

    accepted: bool
    """The artefact is recognised."""
    rule_id: str
    """The rule that applied (``local-region`` / ``default-deny`` when none of the listed ones did)."""
    region: str
    """Region asked about."""
    service_type: str
    """Service type asked about."""
    artefact_type: str | None
    """Licence / seal / certificate type asked about."""
    level: str | None
    """Signature level asked about."""
    mapped_type: str | None = None
    """Local equivalent type, when the rule maps one."""

    @property
    def reason_en(self) -> str:
        """Plain English."""
        what = f"{self.service_type}/{self.artefact_type or '-'}/{self.level or '-'} from region {self.region}"
        verb = "accepted" if self.accepted else "not recognised"
        mapped = f" as local type {self.mapped_type}" if self.mapped_type else ""
        return f"{what} {verb}{mapped} by recognition rule '{self.rule_id}'"

    @property
    def reason_zh(self) -> str:
        """Plain Chinese."""
        verb = "予以承认" if self.accepted else "不予承认"
        mapped = f"（视同本地类型 {self.mapped_type}）" if self.mapped_type else ""
        return (f"来自地区 {self.region} 的 {self.service_type}/{self.artefact_type or '-'}/{self.level or '-'}"
                f"按互认规则“{self.rule_id}”{verb}{mapped}")

    def check(self) -> Check:
        """The ``recognition`` check for a report."""
        return Check("recognition", CheckStatus.PASSED if self.accepted else CheckStatus.FAILED,
                     self.reason_en, self.reason_zh)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {"accepted": self.accepted, "rule": self.rule_id, "region": self.region,
                "service_type": self.service_type, "artefact_type": self.artefact_type, "level": self.level,
                "mapped_type": self.mapped_type}


@dataclass(frozen=True)
class RecognitionPolicy:
    """Which foreign artefacts this region accepts (first matching rule wins)."""

    local_region: str
    """This region's code."""
    rules: tuple[RecognitionRule, ...] = ()
    """Ordered rules."""
    trust_local: bool = True
    """With no rule matching, accept the local region's own artefacts."""

    def decide(self, region: str, service_type: str, artefact_type: str | None, level: str | None) -> RuleMatch:
        """The rule that applies to (region, service type, artefact type, level)."""
        for r in self.rules:
            if r.matches(region, service_type, artefact_type, level):
                return RuleMatch(r.accept, r.id, region, service_type, artefact_type, level,
                                 r.map_to if r.accept else None)
        if region == self.local_region and self.trust_local:
            return RuleMatch(True, "local-region", region, service_type, artefact_type, level)
        return RuleMatch(False, "default-deny", region, service_type, artefact_type, level)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RecognitionPolicy:
        """Parse the ``recognition`` object (see docs/trust-lists.md)."""
        if not isinstance(d, Mapping) or not isinstance(d.get("local_region"), str):
            raise _bad("recognition needs local_region", "recognition")
        raw = d.get("rules", [])
        if not isinstance(raw, list) or len(raw) > MAX_RULES:
            raise _bad(f"rules is a list of at most {MAX_RULES}", "rules")
        rules = []
        for n, r in enumerate(raw):
            where = f"rules[{n}]"
            if not isinstance(r, Mapping) or not isinstance(r.get("id"), str) or not isinstance(r.get("region"), str):
                raise _bad("a rule needs id and region", where)
            if r.get("decision") not in ("accept", "reject"):
                raise _bad("decision is 'accept' or 'reject'", where)
            extra = set(r) - {"id", "region", "service_types", "artefact_types", "levels", "decision", "map_to",
                              "note"}
            if extra:
                raise _bad(f"unknown fields {sorted(extra)}", where)
            rules.append(RecognitionRule(
                id=r["id"], region=r["region"], service_types=_strset(r.get("service_types"), where),
                artefact_types=_strset(r.get("artefact_types"), where), levels=_strset(r.get("levels"), where),
                accept=r["decision"] == "accept", map_to=r.get("map_to")))
        if len({r.id for r in rules}) != len(rules):
            raise _bad("rule ids must be unique", "rules")
        trust_local = d.get("trust_local", True)
        if not isinstance(trust_local, bool):
            raise _bad("trust_local is a boolean", "trust_local")
        return cls(local_region=d["local_region"], rules=tuple(rules), trust_local=trust_local)


@dataclass(frozen=True)
class ValidationSettings:
    """The technical constraints in force for one (region, licence type)."""

    algorithms: AlgorithmPolicy
    """Signature algorithms and minimum RSA size."""
    min_pades_level: str
    """Weakest PAdES level accepted (one of :data:`LEVELS`)."""
    revocation_required: bool
    """Fail closed without covering revocation data."""
    clock_skew: timedelta
    """Tolerance on times compared with the validation time."""
    max_revocation_age: timedelta | None
    """Oldest acceptable CRL/OCSP thisUpdate relative to the validation time (``None``: no limit)."""
    max_signature_age: timedelta | None
    """Oldest acceptable signing time (``None``: no limit)."""
    applied: tuple[str, ...] = ()
    """Layers merged, e.g. ``("default", "region:110000", "licence_type:food")``."""

    def level_ok(self, level: str | None) -> bool:
        """``level`` is at least :attr:`min_pades_level`."""
        return level in LEVELS and LEVELS.index(level) >= LEVELS.index(self.min_pades_level)

    def path_policy(self) -> PathPolicy:
        """The matching path-validation policy."""
        return PathPolicy(require_revocation=self.revocation_required, algorithms=self.algorithms)


def _check_layer(layer: Any, where: str) -> dict[str, Any]:
    if not isinstance(layer, Mapping) or set(layer) - _LAYER_KEYS:
        raise _bad(f"a policy layer has only {sorted(_LAYER_KEYS)}", where)
    out = dict(layer)
    if "algorithms" in out:
        try:
            out["algorithms"] = frozenset(SignatureAlgorithm.from_name(a) for a in out["algorithms"])
        except (AlgorithmNotAllowedError, TypeError):
            raise _bad("algorithms lists known algorithm names", where) from None
    if "min_pades_level" in out and out["min_pades_level"] not in LEVELS:
        raise _bad(f"min_pades_level is one of {LEVELS}", where)
    for k in ("min_rsa_bits", "clock_skew_seconds", "max_revocation_age_seconds", "max_signature_age_seconds"):
        v = out.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise _bad(f"{k} is a non-negative integer", where)
    if "revocation_required" in out and not isinstance(out["revocation_required"], bool):
        raise _bad("revocation_required is a boolean", where)
    return out


_BASE = {"algorithms": frozenset(SignatureAlgorithm), "min_rsa_bits": 2048, "min_pades_level": "B-B",
         "revocation_required": True, "clock_skew_seconds": 300, "max_revocation_age_seconds": None,
         "max_signature_age_seconds": None}


@dataclass(frozen=True)
class ValidationPolicy:
    """Default constraints with overrides per region and per licence type."""

    default: Mapping[str, Any] = field(default_factory=dict)
    """Base layer (fields absent fall back to built-in defaults)."""
    regions: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Region code -> override layer."""
    licence_types: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Licence type -> override layer."""

    def effective(self, *, region: str | None = None, licence_type: str | None = None) -> ValidationSettings:
        """Merge default < region < licence type."""
        merged, applied = {**_BASE, **self.default}, ["default"]
        if region is not None and region in self.regions:
            merged.update(self.regions[region])
            applied.append(f"region:{region}")
        if licence_type is not None and licence_type in self.licence_types:
            merged.update(self.licence_types[licence_type])
            applied.append(f"licence_type:{licence_type}")

        def secs(k: str) -> timedelta | None:
            return None if merged[k] is None else timedelta(seconds=merged[k])

        return ValidationSettings(
            algorithms=AlgorithmPolicy(allowed=frozenset(merged["algorithms"]), min_rsa_bits=merged["min_rsa_bits"]),
            min_pades_level=merged["min_pades_level"], revocation_required=merged["revocation_required"],
            clock_skew=timedelta(seconds=merged["clock_skew_seconds"]),
            max_revocation_age=secs("max_revocation_age_seconds"),
            max_signature_age=secs("max_signature_age_seconds"), applied=tuple(applied))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ValidationPolicy:
        """Parse the ``validation`` object."""
        if not isinstance(d, Mapping) or set(d) - {"default", "regions", "licence_types"}:
            raise _bad("validation has only default, regions, licence_types", "validation")
        regions, types = d.get("regions", {}), d.get("licence_types", {})
        if not isinstance(regions, Mapping) or not isinstance(types, Mapping):
            raise _bad("regions and licence_types are objects", "validation")
        return cls(default=_check_layer(d.get("default", {}), "validation.default"),
                   regions={k: _check_layer(v, f"regions.{k}") for k, v in regions.items()},
                   licence_types={k: _check_layer(v, f"licence_types.{k}") for k, v in types.items()})


@dataclass(frozen=True)
class Policy:
    """A whole policy document."""

    recognition: RecognitionPolicy
    """Mutual recognition."""
    validation: ValidationPolicy
    """Technical constraints."""


def load_policy(data: bytes | str | Mapping[str, Any]) -> Policy:
    """Parse a policy document ``{"recognition": {...}, "validation": {...}}``.

    Raises:
        PolicyFormatError: malformed or too large.
    """
    if isinstance(data, (bytes, str)):
        if len(data) > MAX_POLICY_BYTES:
            raise _bad(f"policy larger than {MAX_POLICY_BYTES} bytes", "policy")
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise _bad("policy is not JSON", "policy") from None
    if not isinstance(data, Mapping) or "recognition" not in data or set(data) - {"recognition", "validation"}:
        raise _bad("policy has recognition (and optionally validation)", "policy")
    return Policy(recognition=RecognitionPolicy.from_dict(data["recognition"]),
                  validation=ValidationPolicy.from_dict(data.get("validation", {})))
