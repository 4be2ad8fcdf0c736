"""Difference analysis after signing: pyHanko's rules, run once per revision and cached.

pyHanko reviews each signature separately: for a signature made in revision ``r`` it diffs ``r``
against every later revision, so a file with ``n`` signed revisions costs ``n(n-1)/2`` diffs, each
of which re-reads the objects involved. We diff each revision ``j`` exactly once, against the
latest *signed* revision before it (its "base"), and judge every signature from the chain of
per-revision results after it:

- modification level = the highest level over the revisions after the signature;
- any revision pyHanko's rules reject (``SuspiciousModification``) makes every earlier signature
  see a disallowed change (ModificationLevel.OTHER);
- FieldMDP: a field locked by the signature and changed in any later revision is a violation;
- DocMDP: the level must not exceed the signature's permission, and updates pyHanko allows only
  after approval signatures are a violation after a certification signature;
- stricter than pyHanko (the Shadow "replace" attack): a non-signature field whose value was set
  (and was not its default) when signed and is replaced later is a disallowed change unless the
  policy allows it.

The rules are pyHanko's default rules with one addition: ``/I`` (the selected indices of a choice
field, ISO 32000-1 Table 231) is a value key, like ``/V``.

Equivalence with pyHanko's per-signature review: each diff pyHanko makes, ``(r, j)``, is replaced
by ``(b(j), j)`` with ``r <= b(j) < j`` and ``b(j)`` signed; every update written in ``j`` is still
checked against a state that every earlier signature's review has vouched for. The corpus tests
compare both on every multi-signature file (tests/test_pdf_corpus_*.py).
"""

from __future__ import annotations

import bisect
import logging
import re
from dataclasses import dataclass, field

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    ModificationLevel,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.constants import VALUE_UPDATE_KEYS
from pyhanko.sign.diff_analysis.form_rules_api import FormUpdatingRule
from pyhanko.sign.diff_analysis.policies import StandardDiffPolicy
from pyhanko.sign.diff_analysis.rules.form_field_rules import (
    GenericFieldModificationRule,
    SigFieldCreationRule,
    SigFieldModificationRule,
)
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm

from verifier._pdf_changes import Change, describe_changes, field_values, replaced_values
from verifier._pdf_read import MAX_FIELD_DEPTH, MAX_FIELDS, BudgetExceeded, Deadline

__all__ = ["DiffEngine", "Review", "RevisionDiff", "esign_diff_policy"]

_MAX_MSG = 400
_log = logging.getLogger(__name__)


class _RecordingFormRule(FormUpdatingRule):
    """pyHanko's form rule that also remembers updates not allowed after a certification signature."""

    def __init__(self, field_rules: list) -> None:  # type: ignore[type-arg]
        super().__init__(field_rules=field_rules)
        self.not_when_certifying: list[str] = []

    def apply(self, old, new):  # type: ignore[no-untyped-def]
        for level, fu in super().apply(old, new):
            if not fu.valid_when_certifying:
                self.not_when_certifying.append(fu.field_name or repr(fu.updated_ref))
            yield level, fu


def esign_diff_policy() -> StandardDiffPolicy:
    """pyHanko's default rules, with ``/I`` accepted as a form-value key; a fresh instance."""
    return StandardDiffPolicy(
        global_rules=DEFAULT_DIFF_POLICY.global_rules,
        form_rule=_RecordingFormRule(
            field_rules=[
                SigFieldCreationRule(),
                SigFieldModificationRule(),
                GenericFieldModificationRule(value_update_keys=VALUE_UPDATE_KEYS | {"/I"}),
            ]
        ),
    )


@dataclass(frozen=True)
class RevisionDiff:
    """The judgment on one revision against its base."""

    base: int
    """The signed revision diffed against."""
    revision: int
    """This revision."""
    level: ModificationLevel | None
    """Level at which pyHanko's rules accept it (``None`` when rejected or not finished)."""
    rejected: str | None
    """Why the rules rejected it (``None`` when accepted)."""
    changed_fields: frozenset[str] = frozenset()
    """Form fields whose value changed."""
    not_when_certifying: tuple[str, ...] = ()
    """Updates that are only allowed after approval signatures."""
    replaced: tuple[str, ...] = ()
    """Fields whose earlier, non-default value was replaced."""
    changes: tuple[Change, ...] = ()
    """What changed, for people."""
    out_of_budget: bool = False
    """The time budget ran out before this revision was judged."""
    unanalysable: bool = False
    """The update could not be read or analysed (malformed objects, invalid field names)."""


@dataclass
class Review:
    """The outcome for one signature (all revisions after it)."""

    level: ModificationLevel = ModificationLevel.NONE
    """Highest modification level after signing (OTHER when anything was rejected)."""
    problems: list[str] = field(default_factory=list)
    """Disallowed changes, in English."""
    changes: list[Change] = field(default_factory=list)
    """Every change after signing."""
    changed_fields: set[str] = field(default_factory=set)
    """Fields changed after signing."""
    out_of_budget: bool = False
    """The analysis did not finish within its budget."""
    unanalysable: list[str] = field(default_factory=list)
    """Revisions that could not be analysed, and why."""
    docmdp_violation: str | None = None
    """Why DocMDP was broken, if it was."""
    fieldmdp_violation: str | None = None
    """Why FieldMDP was broken, if it was."""


def _announce_usage_queries(old: HistoricalResolver, new: HistoricalResolver) -> None:
    """Tell ``old`` which reverse-reference lookups pyHanko's rules will make, so one walk answers them.

    pyHanko's policy asks for the usages of every object ``new`` rewrote, and its form rules for the
    usages of every form field of ``old`` and of each field's indirect ``/AP`` dictionary. Anything
    not announced is still answered exactly (by one more walk), so this only saves time.
    """
    expect = getattr(old, "expect_usage_queries", None)
    if expect is None:
        return
    refs: set[generic.Reference] = set()
    try:
        refs.update(new.explicit_refs_in_revision())
        fields = old.root["/AcroForm"]["/Fields"]
        stack = [(f, 0) for f in fields] if isinstance(fields, generic.ArrayObject) else []
        while stack and len(refs) < 4 * MAX_FIELDS:
            raw, depth = stack.pop()
            if not isinstance(raw, generic.IndirectObject) or raw.reference in refs or depth > MAX_FIELD_DEPTH:
                continue
            refs.add(raw.reference)
            f = raw.get_object()
            if not isinstance(f, generic.DictionaryObject):
                continue
            ap = f.raw_get("/AP") if "/AP" in f else None
            if isinstance(ap, generic.IndirectObject):
                refs.add(ap.reference)
            kids = f.raw_get("/Kids") if "/Kids" in f else None
            if isinstance(kids, generic.ArrayObject):
                stack.extend((k, depth + 1) for k in kids)
    except BudgetExceeded:
        raise
    except Exception as exc:  # a hint only: pyHanko's rules meet (and judge) whatever is broken here
        _log.debug("usage hints incomplete: %s", type(exc).__name__)
    expect(refs)



_CONTEXT = re.compile(r"[A-Za-z]+Context\((?:[^()]|\([^()]*\))*\)")
_REFERENCE = re.compile(r"Reference\(idnum=\d+, generation=\d+\)")


def _sorted_items(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` (a ``", "``-joined list of ``pattern`` items) with the items sorted; unchanged
    unless the items make up the whole text."""
    items = pattern.findall(text)
    if not items or ", ".join(items) != text:
        return text
    return ", ".join(sorted(items))


def canonical_rejection(msg: str) -> str:
    """pyHanko's rejection message with its set-ordered lists sorted.

    pyHanko joins sets (unexplained references, the paths an object is still used in) in their
    iteration order, which follows string hashing and so changes from process to process; the
    same file would get differently worded (and, once truncated, differently abridged) reports.
    Sorting the listed items, and the per-object lines, makes the text a function of the file.
    """
    out: list[str] = []
    usages: list[str] = []
    for line in msg.split("\n"):
        m = re.fullmatch(r"( - Reference\(idnum=\d+, generation=\d+\) is also used in )(.*)( in the prior revision\.)",
                         line)
        if m:
            usages.append(m.group(1) + _sorted_items(m.group(2), _CONTEXT) + m.group(3))
            continue
        if usages:
            out.extend(sorted(usages))
            usages = []
        m = re.fullmatch(r"(There are unexplained xrefs in revision \d+: )(.*)(\.)", line)
        out.append(m.group(1) + _sorted_items(m.group(2), _REFERENCE) + m.group(3) if m else line)
    out.extend(sorted(usages))
    return "\n".join(out)

class DiffEngine:
    """Per-revision difference analysis for one reader, cached."""

    def __init__(
        self,
        reader: PdfFileReader,
        *,
        bases: list[int],
        deadline: Deadline,
        budget_seconds: float,
    ) -> None:
        self.reader = reader
        self.bases = sorted(set(bases))
        self.deadline = deadline
        self.budget_seconds = budget_seconds
        self._cache: dict[int, RevisionDiff] = {}
        self._fields: dict[int, dict] = {}  # type: ignore[type-arg]
        self._spent_out = False
        self.diffs_run = 0

    def _base_of(self, revision: int) -> int:
        i = bisect.bisect_left(self.bases, revision) - 1
        return self.bases[max(i, 0)]

    def _values(self, revision: int) -> dict:  # type: ignore[type-arg]
        if revision not in self._fields:
            self._fields[revision] = field_values(self.reader.get_historical_resolver(revision))
        return self._fields[revision]

    def revision_diff(self, revision: int) -> RevisionDiff:
        """Judge ``revision`` against its base (cached; runs under the wall-clock budget)."""
        hit = self._cache.get(revision)
        if hit is not None:
            return hit
        base = self._base_of(revision)
        if self._spent_out:
            out = RevisionDiff(base, revision, None, "time budget exhausted", out_of_budget=True)
            self._cache[revision] = out
            return out
        policy = esign_diff_policy()
        form_rule = policy.form_rule
        assert isinstance(form_rule, _RecordingFormRule)
        old = self.reader.get_historical_resolver(base)
        new = self.reader.get_historical_resolver(revision)
        self.deadline.arm(self.budget_seconds)
        self.diffs_run += 1
        try:
            try:
                _announce_usage_queries(old, new)
                result: DiffResult | None = policy.apply(old, new)
                rejected, unanalysable = None, False
            except SuspiciousModification as exc:
                result, rejected, unanalysable = None, canonical_rejection(str(exc))[:_MAX_MSG], False
            except (misc.PdfReadError, ValueError, KeyError, TypeError, AttributeError, AssertionError,
                    RecursionError) as exc:  # RecursionError: objects nested deeper than Python recursion
                result, rejected, unanalysable = None, str(exc)[:_MAX_MSG], True
            changed = frozenset(result.changed_form_fields) if result is not None else frozenset()
            try:
                replaced = tuple(replaced_values(self._values(base), self._values(revision)))
                changes = tuple(describe_changes(old, new, changed_fields=changed, replaced=list(replaced)))
            except (misc.PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
                replaced, changes = (), (Change("objects_changed", revision, f"not describable: {str(exc)[:100]}"),)
        except BudgetExceeded as exc:
            self._spent_out = True
            out = RevisionDiff(base, revision, None, exc.reason, out_of_budget=True)
            self._cache[revision] = out
            return out
        finally:
            self.deadline.disarm()
        out = RevisionDiff(
            base=base,
            revision=revision,
            level=result.modification_level if result is not None else None,
            rejected=rejected,
            changed_fields=changed,
            not_when_certifying=tuple(form_rule.not_when_certifying),
            replaced=replaced,
            changes=changes,
            unanalysable=unanalysable,
        )
        self._cache[revision] = out
        return out

    def review(
        self,
        signed_revision: int,
        *,
        docmdp: MDPPerm | None,
        fieldmdp: FieldMDPSpec | None,
        allow_value_replacement: bool,
    ) -> Review:
        """Judge everything written after ``signed_revision`` for the signature made there."""
        rv = Review()
        total = self.reader.xrefs.total_revisions
        for j in range(signed_revision + 1, total):
            d = self.revision_diff(j)
            rv.changes.extend(d.changes)
            rv.changed_fields |= d.changed_fields
            if d.out_of_budget:
                rv.out_of_budget = True
                rv.level = ModificationLevel.OTHER
                continue
            if d.unanalysable:
                rv.level = ModificationLevel.OTHER
                rv.unanalysable.append(f"revision {j}: {d.rejected}")
                continue
            if d.rejected is not None or d.level is None:
                rv.level = ModificationLevel.OTHER
                rv.problems.append(f"revision {j}: {d.rejected}")
                continue
            rv.level = max(rv.level, d.level)
            if d.replaced and not allow_value_replacement:
                rv.level = ModificationLevel.OTHER
                rv.problems.append(
                    f"revision {j}: the value of field(s) {', '.join(d.replaced)}, already set when signed, "
                    "was replaced"
                )
            if fieldmdp is not None:
                locked = sorted(n for n in d.changed_fields if fieldmdp.is_locked(n))
                if locked:
                    rv.fieldmdp_violation = f"revision {j} changed locked field(s) {', '.join(locked)}"
            if docmdp is not None and d.not_when_certifying:
                rv.docmdp_violation = (
                    f"revision {j} made updates allowed only after approval signatures "
                    f"({', '.join(d.not_when_certifying[:4])})"
                )
        if docmdp is not None and rv.docmdp_violation is None and rv.level is not ModificationLevel.OTHER:
            if rv.level.value > docmdp.value:
                rv.docmdp_violation = (
                    f"changes at level {rv.level.name} exceed the certification permission P={docmdp.value}"
                )
        return rv
