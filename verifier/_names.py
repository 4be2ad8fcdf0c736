"""RFC 5280 §4.2.1.10 / §6.1 name constraints: state, intersection and matching.

Supported name forms: directoryName, rfc822Name (incl. emailAddress attributes of the subject
DN), dNSName, uniformResourceIdentifier and iPAddress. A constraint of any other form, when the
certificate carries a name of that form, fails closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from asn1crypto import core, x509

from keys.x509 import name_to_str

__all__ = ["MAX_NAME_CHECKS", "NameConstraintsState", "names_of"]

#: Most (name, constraint) comparisons for one certificate; beyond it the check fails closed.
MAX_NAME_CHECKS = 1 << 16

_SUPPORTED = ("directory_name", "rfc822_name", "dns_name", "uniform_resource_identifier", "ip_address")


def _rdns(name: x509.Name) -> list[x509.RelativeDistinguishedName]:
    return list(name.chosen)


def _dn_within(name: x509.Name, base: x509.Name) -> bool:
    n, b = _rdns(name), _rdns(base)
    return len(b) <= len(n) and all(n[i] == b[i] for i in range(len(b)))


def _host_within(host: str, base: str) -> bool:
    host, base = host.lower().rstrip("."), base.lower().rstrip(".")
    if not base:
        return True
    if base.startswith("."):
        return host.endswith(base)
    return host == base or host.endswith("." + base)


def _email_within(addr: str, base: str) -> bool:
    if "@" in base:
        return addr.lower() == base.lower()
    if "@" not in addr:
        return False
    host = addr.rsplit("@", 1)[1].lower()
    if base.startswith("."):
        return host.endswith(base.lower())
    return host == base.lower()


def _uri_within(uri: str, base: str) -> bool:
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        return False
    if not host:
        return False
    if base.startswith("."):
        return host.lower().endswith(base.lower())
    return host.lower() == base.lower()


def _ip_within(ip: bytes, base: bytes) -> bool:
    half = len(base) // 2
    if len(ip) != half or half not in (4, 16):
        return False
    addr, mask = base[:half], base[half:]
    return all((ip[i] & mask[i]) == (addr[i] & mask[i]) for i in range(half))


def _within(kind: str, value: object, base: object) -> bool:
    if kind == "directory_name":
        assert isinstance(value, x509.Name) and isinstance(base, x509.Name)
        return _dn_within(value, base)
    if kind == "rfc822_name":
        return _email_within(str(value), str(base))
    if kind == "dns_name":
        return _host_within(str(value), str(base))
    if kind == "uniform_resource_identifier":
        return _uri_within(str(value), str(base))
    if kind == "ip_address":
        assert isinstance(value, bytes) and isinstance(base, bytes)
        return _ip_within(value, base)
    return False


def _gn_value(gn: x509.GeneralName) -> tuple[str, object]:
    kind = gn.name
    if kind == "directory_name":
        return kind, gn.chosen
    if kind == "ip_address":
        return kind, bytes(gn.chosen.contents)
    return kind, gn.native if isinstance(gn.native, str) else gn.chosen.dump()


def names_of(cert: x509.Certificate) -> list[tuple[str, object]]:
    """The names name constraints apply to: subject DN, its emailAddress values, and the SAN."""
    out: list[tuple[str, object]] = []
    subject = cert.subject
    if len(_rdns(subject)):
        out.append(("directory_name", subject))
        for rdn in _rdns(subject):
            for atv in rdn:
                if atv["type"].native == "email_address":
                    out.append(("rfc822_name", str(atv["value"].native)))
    san = cert.subject_alt_name_value
    if san is not None:
        out.extend(_gn_value(gn) for gn in san)
    return out


def _subtrees(subtrees: x509.GeneralSubtrees | core.Void) -> dict[str, list[object]]:
    out: dict[str, list[object]] = {}
    if isinstance(subtrees, core.Void):
        return out
    for st in subtrees:
        kind, value = _gn_value(st["base"])
        if kind == "ip_address":
            value = bytes(st["base"].chosen.contents)
        out.setdefault(kind, []).append(value)
    return out


def _intersect(kind: str, old: list[object], new: list[object]) -> list[object]:
    out: list[object] = []
    for a in old:
        for b in new:
            if _within(kind, b, a):
                out.append(b)
            elif _within(kind, a, b):
                out.append(a)
    return out


@dataclass
class NameConstraintsState:
    """permitted_subtrees / excluded_subtrees of RFC 5280 §6.1.2 (b), (c), per name form."""

    permitted: dict[str, list[object]] = field(default_factory=dict)
    """Name form -> permitted bases; a form absent here is unrestricted."""
    excluded: dict[str, list[object]] = field(default_factory=dict)
    """Name form -> excluded bases."""

    def update(self, nc: x509.NameConstraints) -> None:
        """§6.1.4 (g): intersect permitted, union excluded."""
        permitted = _subtrees(nc["permitted_subtrees"])
        for kind, bases in permitted.items():
            if kind in self.permitted:
                self.permitted[kind] = _intersect(kind, self.permitted[kind], bases)
            else:
                self.permitted[kind] = list(bases)
        excluded = _subtrees(nc["excluded_subtrees"])
        for kind, bases in excluded.items():
            self.excluded.setdefault(kind, []).extend(bases)

    def violation(self, cert: x509.Certificate) -> str | None:
        """§6.1.3 (b), (c): the first name of ``cert`` outside the constraints, described; else ``None``."""
        names = names_of(cert)
        bases = sum(len(v) for v in self.permitted.values()) + sum(len(v) for v in self.excluded.values())
        if bases and len(names) * bases > MAX_NAME_CHECKS:
            return f"too many names ({len(names)}) and constraints ({bases}) to check"
        for kind, value in names:
            shown = name_to_str(value) if isinstance(value, x509.Name) else repr(value)
            if kind not in _SUPPORTED:
                if kind in self.permitted or kind in self.excluded:
                    return f"name form {kind} is constrained but not supported"
                continue
            bases = self.permitted.get(kind)
            if bases is not None and not any(_within(kind, value, b) for b in bases):
                return f"{kind} {shown} is outside the permitted subtrees"
            if any(_within(kind, value, b) for b in self.excluded.get(kind, ())):
                return f"{kind} {shown} is within an excluded subtree"
        return None
