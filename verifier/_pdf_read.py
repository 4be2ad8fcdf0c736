"""Reading untrusted PDFs for verification: a bounded pyHanko reader and signature enumeration.

The reader is pyHanko's :class:`PdfFileReader` (non-strict, with its default stream-decoding
limits for untrusted input) plus two things we need:

- a wall-clock :class:`Deadline` checked on every object fetch, so the difference analysis of a
  hostile file stops (with :class:`BudgetExceeded`) instead of running for minutes;
- a cache of decoded object streams. pyHanko re-inflates and re-parses a whole object stream for
  every historical object it reads from one, which is what makes the difference analysis of
  files with object streams slow (measured: 8,000 re-decodes for one revision pair of a 0.8 MB
  form). The cache keys on the stream's object number, which is exactly what pyHanko reads
  (``Reference(stmnum, 0)`` at the current revision), so results are the same.

Signature fields are enumerated by our own bounded walk of ``/AcroForm /Fields`` (pyHanko's
walker skips fields with a SubFilter it does not know, such as ``adbe.pkcs7.sha1``; we want
those reported, not silently dropped).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader

__all__ = [
    "MAX_FIELDS",
    "MAX_FIELD_DEPTH",
    "BoundedReader",
    "BudgetExceeded",
    "Deadline",
    "SigField",
    "enumerate_signature_fields",
]

#: Most form fields visited when looking for signatures.
MAX_FIELDS = 5000
#: Deepest /Kids nesting followed in the field tree.
MAX_FIELD_DEPTH = 32


class BudgetExceeded(Exception):
    """The wall-clock budget of the current phase ran out (internal)."""


class Deadline:
    """A wall-clock budget that can be armed for one phase and disarmed after it."""

    __slots__ = ("_until",)

    def __init__(self) -> None:
        self._until: float | None = None

    def arm(self, seconds: float) -> None:
        """Start a budget of ``seconds`` from now."""
        self._until = time.monotonic() + seconds

    def disarm(self) -> None:
        """No budget in force."""
        self._until = None

    def check(self) -> None:
        """Raise :class:`BudgetExceeded` when the armed budget has run out."""
        if self._until is not None and time.monotonic() > self._until:
            raise BudgetExceeded


class _BoundedHistorical(HistoricalResolver):
    def get_object(self, ref: generic.Reference, as_metadata_stream: bool = False):  # type: ignore[no-untyped-def]
        self.reader._deadline.check()  # type: ignore[attr-defined]
        return super().get_object(ref, as_metadata_stream=as_metadata_stream)


class BoundedReader(PdfFileReader):
    """pyHanko's reader with a deadline on object access and an object-stream cache."""

    def __init__(self, data: bytes, *, deadline: Deadline) -> None:
        self._deadline = deadline
        self._objstm: dict[int, tuple[bytes, int, dict[int, int]]] = {}
        super().__init__(BytesIO(data), strict=False)

    def get_object(self, ref, revision=None, never_decrypt=False, transparent_decrypt=True, as_metadata_stream=False):  # type: ignore[no-untyped-def]
        self._deadline.check()
        return super().get_object(
            ref,
            revision,
            never_decrypt=never_decrypt,
            transparent_decrypt=transparent_decrypt,
            as_metadata_stream=as_metadata_stream,
        )

    def get_historical_resolver(self, revision: int) -> HistoricalResolver:
        cache = self._historical_resolver_cache
        res = cache.get(revision)
        if res is None:
            res = cache[revision] = _BoundedHistorical(self, revision)
        return res

    def _objstm_index(self, stmnum: int) -> tuple[bytes, int, dict[int, int]]:
        hit = self._objstm.get(stmnum)
        if hit is not None:
            return hit
        stream = generic.Reference(stmnum, 0, self).get_object()
        if not isinstance(stream, generic.StreamObject) or stream.get("/Type") != "/ObjStm":
            raise misc.PdfReadError("object stream reference does not point to an /ObjStm")
        data = stream.read_data(DecodePurpose.OBJECT_STREAM)
        first = int(stream["/First"])
        n = int(stream["/N"])
        buf = BytesIO(data)
        offsets: dict[int, int] = {}
        for _ in range(n):
            try:
                misc.read_non_whitespace(buf, seek_back=True)
                objnum = generic.NumberObject.read_from_stream(buf)
                misc.read_non_whitespace(buf, seek_back=True)
                offset = generic.NumberObject.read_from_stream(buf)
                misc.read_non_whitespace(buf, seek_back=True)
            except ValueError:
                break
            offsets.setdefault(int(objnum), int(offset))  # pyHanko takes the first match
        hit = (data, first, offsets)
        self._objstm[stmnum] = hit
        return hit

    def _get_object_from_stream(self, idnum, stmnum, idx):  # type: ignore[no-untyped-def]
        self._deadline.check()
        data, first, offsets = self._objstm_index(stmnum)
        offset = offsets.get(idnum)
        if offset is None:
            return generic.NullObject()
        buf = BytesIO(data)
        buf.seek(first + offset)
        try:
            obj = generic.read_object(buf, generic.Reference(idnum, 0, self))
        except (misc.PdfStreamError, misc.PdfReadError):
            return generic.NullObject()
        return obj


@dataclass(frozen=True)
class SigField:
    """A filled signature field found in the form."""

    name: str
    """Fully qualified field name (partial names joined with dots)."""
    field: generic.DictionaryObject
    """The field (or merged field/widget) dictionary."""
    value_ref: generic.Reference | None
    """Reference to the signature dictionary (``None`` when /V is a direct object)."""


def _inherited(field: generic.DictionaryObject, key: str, parents: tuple[generic.DictionaryObject, ...]) -> object:
    if key in field:
        return field.raw_get(key)
    for p in reversed(parents):
        if key in p:
            return p.raw_get(key)
    return None


def enumerate_signature_fields(reader: PdfFileReader) -> Iterator[SigField]:
    """Every signature field with a value, by a bounded walk of the AcroForm field tree.

    Raises:
        misc.PdfReadError: the tree is malformed, loops, or is larger than the limits.
    """
    try:
        acroform = reader.root["/AcroForm"]
        fields = acroform["/Fields"]
    except (KeyError, TypeError):
        return
    if not isinstance(fields, generic.ArrayObject):
        raise misc.PdfReadError("/AcroForm /Fields is not an array")
    seen: set[tuple[int, int]] = set()
    count = 0
    stack: list[tuple[generic.PdfObject, str, tuple[generic.DictionaryObject, ...]]] = [
        (f, "", ()) for f in reversed(list(fields))
    ]
    while stack:
        raw, prefix, parents = stack.pop()
        count += 1
        if count > MAX_FIELDS:
            raise misc.PdfReadError(f"more than {MAX_FIELDS} form fields")
        if len(parents) > MAX_FIELD_DEPTH:
            raise misc.PdfReadError("form field tree nested too deeply")
        if isinstance(raw, generic.IndirectObject):
            key = (raw.idnum, raw.generation)
            if key in seen:
                raise misc.PdfReadError("form field tree contains a loop")
            seen.add(key)
        field = raw.get_object()
        if not isinstance(field, generic.DictionaryObject):
            continue
        partial = field.get("/T")
        name = prefix
        if partial is not None:
            name = f"{prefix}.{partial}" if prefix else str(partial)
        kids = field.get("/Kids")
        if isinstance(kids, generic.ArrayObject) and any(
            isinstance(k.get_object(), generic.DictionaryObject) and "/T" in k.get_object() for k in kids
        ):
            stack.extend((k, name, (*parents, field)) for k in reversed(list(kids)))
            continue
        if _inherited(field, "/FT", parents) != "/Sig":
            continue
        value = _inherited(field, "/V", parents)
        if value is None or isinstance(value, generic.NullObject):
            continue
        ref = value.reference if isinstance(value, generic.IndirectObject) else None
        yield SigField(name=name or "(unnamed)", field=field, value_ref=ref)
