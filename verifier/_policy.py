"""RFC 5280 §6.1 certificate policy processing: the valid_policy_tree and its counters.

Qualifiers are not tracked (they never change the verdict). The tree is bounded by
:data:`MAX_POLICY_NODES` so crafted mapping chains cannot blow it up.
"""

from __future__ import annotations

from asn1crypto import core

from keys.x509 import Certificate

__all__ = ["ANY_POLICY", "MAX_POLICY_NODES", "PolicyState"]

ANY_POLICY = "2.5.29.32.0"
#: Upper bound on nodes in the valid_policy_tree.
MAX_POLICY_NODES = 1000


class _Node:
    __slots__ = ("children", "expected", "parent", "policy")

    def __init__(self, policy: str, expected: set[str], parent: _Node | None) -> None:
        self.policy = policy
        self.expected = expected
        self.parent = parent
        self.children: list[_Node] = []
        if parent is not None:
            parent.children.append(self)


def _policies(cert: Certificate) -> list[str] | None:
    value = cert.asn1.certificate_policies_value
    if value is None:
        return None
    return [p["policy_identifier"].dotted for p in value]


def _ext_value(cert: Certificate, name: str) -> core.Asn1Value | None:
    return getattr(cert.asn1, f"{name}_value")


class PolicyState:
    """State of §6.1.2 (a), (d), (e), (f) for one path of ``n`` certificates."""

    def __init__(
        self,
        n: int,
        *,
        initial_policy_set: frozenset[str],
        explicit: bool,
        mapping_inhibit: bool,
        any_inhibit: bool,
    ) -> None:
        self.n = n
        self.user_set = initial_policy_set
        self.root: _Node | None = _Node(ANY_POLICY, {ANY_POLICY}, None)
        self.levels: list[list[_Node]] = [[self.root]]
        self.explicit_policy = 0 if explicit else n + 1
        self.inhibit_any = 0 if any_inhibit else n + 1
        self.policy_mapping = 0 if mapping_inhibit else n + 1
        self.count = 1

    def _new(self, policy: str, expected: set[str], parent: _Node, depth: int) -> None:
        self.count += 1
        if self.count > MAX_POLICY_NODES:
            raise OverflowError("policy tree too large")
        node = _Node(policy, expected, parent)
        while len(self.levels) <= depth:
            self.levels.append([])
        self.levels[depth].append(node)

    def _delete(self, node: _Node, depth: int) -> None:
        self.levels[depth].remove(node)
        for child in list(node.children):
            self._delete(child, depth + 1)
        if node.parent is not None:
            node.parent.children.remove(node)
        else:
            self.root = None

    def _prune(self, below: int) -> None:
        """Delete childless nodes at depths < ``below``, bottom up."""
        for depth in range(min(below, len(self.levels)) - 1, -1, -1):
            for node in list(self.levels[depth]):
                if not node.children:
                    self._delete(node, depth)
        if self.root is None:
            self.levels = [[]]

    def process(self, cert: Certificate, i: int) -> str | None:
        """§6.1.3 (d)-(f) for certificate ``i`` (1-based). Returns an error text or ``None``."""
        try:
            policies = _policies(cert)
            if policies is not None and self.root is not None:
                prev = self.levels[i - 1] if len(self.levels) > i - 1 else []
                for p in (q for q in policies if q != ANY_POLICY):
                    matched = False
                    for node in prev:
                        if p in node.expected:
                            self._new(p, {p}, node, i)
                            matched = True
                    if not matched:
                        for node in prev:
                            if node.policy == ANY_POLICY:
                                self._new(p, {p}, node, i)
                if ANY_POLICY in policies and (self.inhibit_any > 0 or (i < self.n and cert.self_issued)):
                    for node in prev:
                        have = {c.policy for c in node.children}
                        for p in sorted(node.expected - have):
                            self._new(p, {p}, node, i)
                self._prune(i)
            elif policies is None:
                self.root = None
                self.levels = [[]]
        except OverflowError as exc:
            return str(exc)
        if self.explicit_policy <= 0 and self.root is None:
            return "no valid certificate policy (explicit policy required)"
        return None

    def prepare_next(self, cert: Certificate, i: int) -> str | None:
        """§6.1.4 (a), (b), (h), (i), (j) after intermediate ``cert`` (number ``i``)."""
        mappings = _ext_value(cert, "policy_mappings")
        if mappings is not None:
            pairs = [(m["issuer_domain_policy"].dotted, m["subject_domain_policy"].dotted) for m in mappings]
            if any(ANY_POLICY in pair for pair in pairs):
                return "policyMappings maps to or from anyPolicy"
            mapped: dict[str, set[str]] = {}
            for a, b in pairs:
                mapped.setdefault(a, set()).add(b)
            if self.root is not None and len(self.levels) > i:
                level = self.levels[i]
                if self.policy_mapping > 0:
                    for idp, targets in mapped.items():
                        hits = [nd for nd in level if nd.policy == idp]
                        for nd in hits:
                            nd.expected = set(targets)
                        if not hits and self.inhibit_any > 0:
                            for nd in [nd for nd in level if nd.policy == ANY_POLICY]:
                                assert nd.parent is not None
                                self._new(idp, set(targets), nd.parent, i)
                else:
                    for nd in [nd for nd in level if nd.policy in mapped]:
                        self._delete(nd, i)
                    self._prune(i)
        if not cert.self_issued:
            self.explicit_policy = max(self.explicit_policy - 1, 0)
            self.policy_mapping = max(self.policy_mapping - 1, 0)
            self.inhibit_any = max(self.inhibit_any - 1, 0)
        pc = _ext_value(cert, "policy_constraints")
        if pc is not None:
            req = pc["require_explicit_policy"].native
            if req is not None and req < self.explicit_policy:
                self.explicit_policy = req
            inh = pc["inhibit_policy_mapping"].native
            if inh is not None and inh < self.policy_mapping:
                self.policy_mapping = inh
        ia = _ext_value(cert, "inhibit_any_policy")
        if ia is not None and ia.native < self.inhibit_any:
            self.inhibit_any = ia.native
        return None

    def wrap_up(self, cert: Certificate) -> str | None:
        """§6.1.5 (a), (b), (g) and the final test for the leaf ``cert``."""
        if self.explicit_policy > 0:
            self.explicit_policy -= 1
        pc = _ext_value(cert, "policy_constraints")
        if pc is not None and pc["require_explicit_policy"].native == 0:
            self.explicit_policy = 0
        if self.root is not None and ANY_POLICY not in self.user_set:
            n = self.n
            while len(self.levels) <= n:
                self.levels.append([])
            # Nodes whose parent is anyPolicy form the valid_policy_node_set.
            node_set = [
                (d, nd)
                for d in range(1, n + 1)
                for nd in self.levels[d]
                if nd.parent is not None and nd.parent.policy == ANY_POLICY
            ]
            for d, nd in node_set:
                if nd.policy != ANY_POLICY and nd.policy not in self.user_set and nd in self.levels[d]:
                    self._delete(nd, d)
            for nd in [nd for nd in self.levels[n] if nd.policy == ANY_POLICY] if self.root is not None else []:
                parent = nd.parent
                self._delete(nd, n)
                if parent is not None:
                    have = {c.policy for c in parent.children}
                    for p in sorted(self.user_set - have):
                        self._new(p, {p}, parent, n)
            if self.root is not None:
                self._prune(n)
        if self.explicit_policy <= 0 and self.root is None:
            return "no acceptable certificate policy for this path"
        return None
