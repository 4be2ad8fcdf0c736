"""Describe, for people, what one incremental update changed: pages, content, annotations, fields.

This is a description, not a judgment (the judgment is pyHanko's rule-based difference analysis
in :mod:`verifier._pdf_diff`). It compares the page trees, annotation arrays and form-field values
of two revisions and names the kinds of change the issue asks to show: page added or removed,
page content changed, annotation added / removed / changed, form field filled or its value
replaced, signature or document timestamp added, document security store (DSS) updated.
Everything is bounded by :data:`MAX_PAGES` and :data:`MAX_FIELDS_DESCRIBED`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver

__all__ = ["MAX_FIELDS_DESCRIBED", "MAX_PAGES", "Change", "describe_changes", "field_values"]

#: Most pages walked per revision when describing changes.
MAX_PAGES = 5000
#: Most form fields read per revision when describing value changes.
MAX_FIELDS_DESCRIBED = 5000
_MAX_ITEMS = 8

_ZH = {
    "page_added": "新增页面",
    "page_removed": "删除页面",
    "content_changed": "页面内容被修改",
    "resources_changed": "页面资源被修改",
    "annotation_added": "新增注释",
    "annotation_removed": "删除注释",
    "annotation_changed": "注释被修改",
    "form_filled": "填写表单域",
    "form_value_replaced": "表单域原有的值被替换",
    "signature_added": "新增签名",
    "dss_updated": "更新了长期验证数据（DSS）",
    "metadata_updated": "更新了文档元数据",
    "catalog_changed": "文档目录（Catalog）被修改",
    "objects_changed": "对象被修改",
}


@dataclass(frozen=True)
class Change:
    """One kind of change found in one revision."""

    kind: str
    """``page_added``, ``content_changed``, ``annotation_added``, ``form_filled``, ..."""
    revision: int
    """The revision (0-based) that made it."""
    detail: str
    """Which pages / fields / objects, in English."""

    @property
    def zh(self) -> str:
        """The kind in Chinese, with the detail."""
        return f"第 {self.revision} 次修订：{_ZH.get(self.kind, self.kind)}（{self.detail}）"

    @property
    def en(self) -> str:
        """The kind in English, with the detail."""
        return f"revision {self.revision}: {self.kind.replace('_', ' ')} ({self.detail})"


def _pages(res: HistoricalResolver) -> list[generic.Reference]:
    out: list[generic.Reference] = []
    try:
        root = res.root.raw_get("/Pages")
    except (KeyError, AttributeError):
        return out
    stack = [root]
    seen: set[generic.Reference] = set()
    while stack and len(out) < MAX_PAGES:
        node = stack.pop()
        if not isinstance(node, generic.IndirectObject):
            continue
        ref = node.reference
        if ref in seen:
            continue
        seen.add(ref)
        obj = node.get_object()
        if not isinstance(obj, generic.DictionaryObject):
            continue
        kids = obj.get("/Kids") if obj.get("/Type") != "/Page" else None
        if isinstance(kids, generic.ArrayObject):
            stack.extend(reversed(list(kids)))
        else:
            out.append(ref)
    return out


def _annot_ids(page: generic.DictionaryObject) -> dict[object, generic.PdfObject]:
    annots = page.get("/Annots")
    out: dict[object, generic.PdfObject] = {}
    if not isinstance(annots, generic.ArrayObject):
        return out
    for i, a in enumerate(list(annots)[:MAX_PAGES]):
        key: object = a.reference if isinstance(a, generic.IndirectObject) else ("direct", i)
        out[key] = a
    return out


def _subtype(a: generic.PdfObject) -> str:
    try:
        obj = a.get_object()
        return str(obj.get("/Subtype", "?")).lstrip("/")
    except Exception:
        return "?"


def _norm(v: object, depth: int = 0) -> object:
    if depth > 8:
        return "..."
    if isinstance(v, generic.IndirectObject):
        return _norm(v.get_object(), depth + 1)
    if isinstance(v, (generic.TextStringObject, generic.ByteStringObject)):
        return bytes(v.original_bytes)
    if isinstance(v, generic.ArrayObject):
        return tuple(_norm(x, depth + 1) for x in v)
    if isinstance(v, generic.StreamObject):
        return ("stream", bytes(v.encoded_data or b""))
    if isinstance(v, generic.DictionaryObject):
        return tuple(sorted((str(k), _norm(v.raw_get(k), depth + 1)) for k in v))
    return v if isinstance(v, (int, float, str, bool)) or v is None else repr(v)


def field_values(res: HistoricalResolver) -> dict[str, tuple[str, object, object, object]]:
    """``{fq_name: (field type, value, default value, appearance)}`` for the terminal fields of a revision."""
    out: dict[str, tuple[str, object, object, object]] = {}
    try:
        fields = res.root["/AcroForm"]["/Fields"]
    except (KeyError, TypeError):
        return out
    stack: list[tuple[generic.PdfObject, str, str | None, int]] = [(f, "", None, 0) for f in fields]
    seen: set[object] = set()
    while stack and len(seen) < MAX_FIELDS_DESCRIBED:
        raw, prefix, ft, depth = stack.pop()
        key = raw.reference if isinstance(raw, generic.IndirectObject) else id(raw)
        if key in seen or depth > 32:
            continue
        seen.add(key)
        f = raw.get_object()
        if not isinstance(f, generic.DictionaryObject):
            continue
        t = f.get("/T")
        name = prefix if t is None else (f"{prefix}.{t}" if prefix else str(t))
        ft = str(f.get("/FT", ft)) if f.get("/FT", ft) is not None else None
        kids = f.get("/Kids")
        if isinstance(kids, generic.ArrayObject) and any(
            isinstance(k.get_object(), generic.DictionaryObject) and "/T" in k.get_object() for k in kids
        ):
            stack.extend((k, name, ft, depth + 1) for k in kids)
            continue
        if ft == "/Sig":  # signature values are judged by pyHanko's signature-field rules
            out[name] = ("/Sig", None, None, None)
            continue
        ap = _norm(f.raw_get("/AP")) if "/AP" in f else None
        out[name] = (
            ft or "",
            _norm(f.raw_get("/V")) if "/V" in f else None,
            _norm(f.raw_get("/DV")) if "/DV" in f else None,
            ap,
        )
    return out


def _is_empty(v: object) -> bool:
    return v is None or v in (b"", "", (), "/Off", "/")


def replaced_values(old: dict[str, tuple], new: dict[str, tuple]) -> list[str]:  # type: ignore[type-arg]
    """Non-signature fields that showed a value when signed and later show something else.

    Either the value, already set (and not the default) when signed, was replaced; or the value
    stayed and only its appearance (what people see) was redrawn - the Shadow "replace" attack.
    """
    out = []
    for name, (ft, v_old, dv_old, ap_old) in old.items():
        if ft == "/Sig" or name not in new:
            continue
        _, v_new, _, ap_new = new[name]
        if _is_empty(v_old) or v_old == dv_old:
            continue
        if v_new != v_old or (ap_old is not None and ap_new != ap_old):
            out.append(name)
    return out


def describe_changes(
    old: HistoricalResolver,
    new: HistoricalResolver,
    *,
    changed_fields: frozenset[str],
    replaced: list[str],
) -> list[Change]:
    """What ``new`` changed relative to ``old`` (the revision diffed against)."""
    rev = new.revision
    changes: list[Change] = []
    explicit = set(new.explicit_refs_in_revision())
    old_pages, new_pages = _pages(old), _pages(new)
    old_set, new_set = set(old_pages), set(new_pages)
    added = [i + 1 for i, p in enumerate(new_pages) if p not in old_set]
    removed = [i + 1 for i, p in enumerate(old_pages) if p not in new_set]
    if added:
        changes.append(Change("page_added", rev, f"page(s) {_fmt(added)}; now {len(new_pages)} page(s)"))
    if removed:
        changes.append(Change("page_removed", rev, f"old page(s) {_fmt(removed)}; now {len(new_pages)} page(s)"))
    content, resources, a_add, a_rem, a_chg = [], [], [], [], []
    for i, ref in enumerate(new_pages):
        if ref not in old_set:
            continue
        po, pn = old(ref), new(ref)
        if not isinstance(po, generic.DictionaryObject) or not isinstance(pn, generic.DictionaryObject):
            continue
        c_old, c_new = (
            po.raw_get("/Contents") if "/Contents" in po else None,
            pn.raw_get("/Contents") if "/Contents" in pn else None,
        )
        c_refs = (
            [c_new]
            if isinstance(c_new, generic.IndirectObject)
            else list(c_new or [])
            if isinstance(c_new, generic.ArrayObject)
            else []
        )
        if repr(c_old) != repr(c_new) or any(
            isinstance(c, generic.IndirectObject) and c.reference in explicit for c in c_refs
        ):
            content.append(i + 1)
        r_new = pn.raw_get("/Resources") if "/Resources" in pn else None
        r_old = po.raw_get("/Resources") if "/Resources" in po else None
        if repr(r_old) != repr(r_new) or (isinstance(r_new, generic.IndirectObject) and r_new.reference in explicit):
            resources.append(i + 1)
        ao, an = _annot_ids(po), _annot_ids(pn)
        for k, a in an.items():
            if k not in ao:
                a_add.append(f"p.{i + 1} {_subtype(a)}")
            elif isinstance(k, generic.Reference) and k in explicit and _subtype(a) != "Widget":
                a_chg.append(f"p.{i + 1} {_subtype(a)}")
        a_rem.extend(f"p.{i + 1} {_subtype(a)}" for k, a in ao.items() if k not in an)
    if content:
        changes.append(Change("content_changed", rev, f"page(s) {_fmt(content)}"))
    if resources:
        changes.append(Change("resources_changed", rev, f"page(s) {_fmt(resources)}"))
    sig_added = [a for a in a_add if a.endswith("Widget")]
    a_add = [a for a in a_add if not a.endswith("Widget")]
    for kind, items in (("annotation_added", a_add), ("annotation_removed", a_rem), ("annotation_changed", a_chg)):
        if items:
            changes.append(Change(kind, rev, _fmt(items)))
    if sig_added:
        changes.append(Change("signature_added", rev, f"new widget(s) {_fmt(sig_added)}"))
    filled = sorted(changed_fields - set(replaced))
    if filled:
        changes.append(Change("form_filled", rev, f"field(s) {_fmt(filled)}"))
    if replaced:
        changes.append(Change("form_value_replaced", rev, f"field(s) {_fmt(sorted(replaced))}"))
    try:
        root_old, root_new = old.root, new.root
        if "/DSS" in root_new and (
            "/DSS" not in root_old
            or any(
                isinstance(v, generic.IndirectObject) and v.reference in explicit for v in [root_new.raw_get("/DSS")]
            )
            or root_new.container_ref in explicit
        ):
            changes.append(Change("dss_updated", rev, "certificates / OCSP / CRLs for long-term validation"))
        keys_diff = sorted(set(root_old.keys()) ^ set(root_new.keys()) - {"/DSS", "/AcroForm", "/Perms"})
        if keys_diff:
            changes.append(Change("catalog_changed", rev, f"keys {_fmt(keys_diff)}"))
    except (KeyError, AttributeError):
        pass
    if not changes:
        changes.append(Change("objects_changed", rev, f"{len(explicit)} object(s) rewritten"))
    return changes


def _fmt(items: list[object]) -> str:
    shown = ", ".join(str(x) for x in items[:_MAX_ITEMS])
    return shown + (f" and {len(items) - _MAX_ITEMS} more" if len(items) > _MAX_ITEMS else "")
