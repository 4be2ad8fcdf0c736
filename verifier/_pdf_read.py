"""Reading untrusted PDFs for verification: a bounded pyHanko reader and signature enumeration.

The reader is pyHanko's :class:`PdfFileReader` (non-strict, with its default stream-decoding
limits for untrusted input) plus two things we need:

- a wall-clock :class:`Deadline` checked on every object fetch, so the difference analysis of a
  hostile file stops (with :class:`BudgetExceeded`) instead of running for minutes;
- a cache of decoded object streams. pyHanko re-inflates and re-parses a whole object stream for
  every historical object it reads from one, which is what makes the difference analysis of
  files with object streams slow (measured: 8,000 re-decodes for one revision pair of a 0.8 MB
  form). The cache keys on the stream's object number, which is exactly what pyHanko reads
  (``Reference(stmnum, 0)`` at the current revision), so results are the same;
- a fast reader for hex strings (signature ``/Contents``) on our own input stream: pyHanko reads
  them one byte at a time through a generator, which was a third of the time spent verifying a
  small signed file. Same result, same errors (anything unusual falls back to pyHanko's reader);
- a *targeted* reverse-reference index for the difference analysis (see
  :meth:`_BoundedHistorical.usages_of`): pyHanko's ``_load_reverse_xref_cache`` records every
  path from the trailer to every object of the base revision, which costs far more than the paths
  the analysis asks about (those to the objects a later revision rewrote and to form fields).
  We run pyHanko's own walk but prune every object that cannot reach a queried object, so the
  paths to queried objects are exactly pyHanko's, and bound the walk by :data:`MAX_USAGE_PATHS`.

Signature fields are enumerated by our own bounded walk of ``/AcroForm /Fields`` (pyHanko's
walker skips fields with a SubFilter it does not know, such as ``adbe.pkcs7.sha1``; we want
those reported, not silently dropped).
"""

from __future__ import annotations

import binascii
import codecs
import functools
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath

from keys.x509 import Certificate, parse_certificate

__all__ = [
    "MAX_FIELDS",
    "MAX_FIELD_DEPTH",
    "MAX_USAGE_PATHS",
    "BoundedReader",
    "BudgetExceeded",
    "Deadline",
    "SigField",
    "certificate_once",
    "enumerate_signature_fields",
    "new_file_memo",
    "pdf_string_fast",
    "shipped",
]

#: Most form fields visited when looking for signatures.
MAX_FIELDS = 5000
#: Deepest /Kids nesting followed in the field tree.
MAX_FIELD_DEPTH = 32
#: Most reference paths recorded by one walk of the reverse-reference index (memory bound: each is
#: one linked-list cell and, for queried objects, one tuple). A file whose object graph has more
#: paths than this to the objects the analysis asks about is not analysed (INDETERMINATE).
MAX_USAGE_PATHS = 200_000
#: ``"targeted"`` (default): pyHanko's reverse-reference walk pruned to the objects asked about;
#: ``"full"``: pyHanko's unpruned walk, kept as the reference the equivalence tests compare with.
USAGE_INDEX = "targeted"


#: Most certificates remembered per file by :func:`certificate_once`.
MAX_MEMO_CERTS = 512
_CERTS: ContextVar[dict[bytes, Certificate] | None] = ContextVar("esign_pdf_cert_memo", default=None)


def new_file_memo() -> None:
    """Start a fresh per-file memo (call once at the start of verifying a file)."""
    _CERTS.set({})


def certificate_once(der: bytes) -> Certificate:
    """:func:`keys.x509.parse_certificate`, remembered for the current file.

    The signatures of one file usually carry the same signer and CA certificates, and each report
    names them (chain, signer): parsing is a pure function of the DER, so it is done once per
    certificate per file instead of two or three times per signature. Errors are not remembered.
    Outside a file being verified (no memo started) this is plain ``parse_certificate``.
    """
    memo = _CERTS.get()
    if memo is None:
        return parse_certificate(der)
    hit = memo.get(der)
    if hit is None:
        hit = parse_certificate(der)
        if len(memo) < MAX_MEMO_CERTS:
            memo[bytes(der)] = hit
    return hit


class BudgetExceeded(Exception):
    """The budget of the current phase (wall clock or reference paths) ran out (internal)."""

    def __init__(self, reason: str = "time budget exhausted") -> None:
        super().__init__(reason)
        self.reason = reason


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
    """A revision view with the reader's deadline on every fetch and a targeted reverse-reference index.

    pyHanko's difference analysis asks the base revision for ``_get_usages_of_ref(ref)``: every
    path (``/Root/AcroForm/Fields/3`` ...) by which ``ref`` is reached from the trailer. pyHanko
    answers from an index of all paths to all objects, built (``_load_reverse_xref_cache``) by a
    recursive walk of every path of the object graph, once per base revision. The analysis only
    asks about a few objects: those a later revision rewrote, the form fields and their ``/AP``
    dictionaries. Here the index is built for those objects only (:meth:`usage_paths`), by a walk
    that follows pyHanko's rules (listed there) and differs in three ways that do not change the
    answer: it does not enter objects from which no queried object can be reached (a path to ``t``
    only passes through objects that reach ``t``), it walks a per-object skeleton that keeps only
    the containers leading to references, and it keeps a path as a list rather than linked cells.
    The equivalence tests compare it with pyHanko's index for every revision of the interop corpora.
    Unreadable objects are never pruned, so the walk fails where pyHanko's fails.

    Lookups are batched: the diff announces what it will ask (:meth:`expect_usage_queries`);
    anything else asked is answered by one more walk. ``usage_index="full"`` on the reader selects
    pyHanko's own unpruned walk (the reference).
    """

    def __init__(self, reader: PdfFileReader, revision: int) -> None:
        super().__init__(reader, revision)
        self._usages: dict[generic.Reference, set] = {}  # type: ignore[type-arg]
        self._expected: set[generic.Reference] = set()
        self._ids: dict[generic.Reference, int] = {}
        self._refs: list[generic.Reference] = []
        self._skeletons: dict[int, object] = {}
        self._broken: set[int] = set()
        self._edges: dict[int, frozenset[int]] | None = None
        self._counting = False
        self._paths = 0
        self.index_walks = 0
        """Walks made for the reverse-reference index (for tests and benchmarks)."""

    def get_object(self, ref: generic.Reference, as_metadata_stream: bool = False):  # type: ignore[no-untyped-def]
        self.reader._deadline.check()  # type: ignore[attr-defined]
        return super().get_object(ref, as_metadata_stream=as_metadata_stream)

    def __call__(self, ref: generic.Reference):  # type: ignore[no-untyped-def]
        if self._counting:  # pyHanko's walk: one recorded path per call
            self._count_path()
        return self.get_object(ref)

    def _count_path(self) -> None:
        self._paths += 1
        if self._paths > MAX_USAGE_PATHS:
            raise BudgetExceeded(
                f"more than {MAX_USAGE_PATHS} reference paths in revision {self.revision} (object graph too tangled)"
            )

    # -- pyHanko's hooks -----------------------------------------------------------------------------

    def _load_reverse_xref_cache(self) -> None:
        if _usage_mode(self.reader) == "full":
            if self._indirect_object_access_cache is None:
                self._counting, self._paths = True, 0
                self.index_walks += 1
                try:
                    super()._load_reverse_xref_cache()
                finally:
                    self._counting = False
            return
        pending = {r for r in self._expected if r not in self._usages}
        if pending:
            self._index(pending)

    def _get_usages_of_ref(self, ref: generic.Reference):  # type: ignore[no-untyped-def]
        if _usage_mode(self.reader) == "full":
            return super()._get_usages_of_ref(ref)
        hit = self._usages.get(ref)
        if hit is None:
            self._index({ref} | {r for r in self._expected if r not in self._usages})
            hit = self._usages[ref]
        return hit

    # -- targeted index ------------------------------------------------------------------------------

    def expect_usage_queries(self, refs: Iterable[generic.Reference]) -> None:
        """Announce references whose usages will be asked for (answered together by one walk)."""
        self._expected.update(r for r in refs if r not in self._usages)

    def _index(self, targets: set[generic.Reference]) -> None:
        found = self.usage_paths(targets, keep=self._reaching(targets))
        for t in targets:
            self._usages[t] = found.get(t, set())
        self._expected -= targets

    def _id(self, ref: generic.Reference) -> int:
        """A small integer for ``ref`` (References hash in Python; ints in C)."""
        i = self._ids.get(ref)
        if i is None:
            i = self._ids[ref] = len(self._refs)
            self._refs.append(ref)
        return i

    def _skeleton_of(self, obj: object) -> object:
        """What the walk needs of an object: references (as ids), and the containers leading to them.

        A reference becomes its id (``int``); a dictionary ``(True, ((key, skeleton), ...))`` and an
        array ``(False, ((index, skeleton), ...))``, keeping only entries that lead to a reference
        (and no ``/Parent`` entry, which the walk never follows); anything else ``None``.
        """
        if isinstance(obj, generic.IndirectObject):
            return self._id(obj.reference)
        if isinstance(obj, generic.DictionaryObject):
            d = tuple((k, sk) for k, v in obj.items() if k != "/Parent" and (sk := self._skeleton_of(v)) is not None)
            return (True, d) if d else None
        if isinstance(obj, generic.ArrayObject):
            a = tuple((i, sk) for i, v in enumerate(obj) if (sk := self._skeleton_of(v)) is not None)
            return (False, a) if a else None
        return None

    def _skeleton(self, i: int) -> object:
        try:
            return self._skeletons[i]
        except KeyError:
            pass
        try:
            obj = self.get_object(self._refs[i])
        except BudgetExceeded:
            raise
        except Exception:
            self._broken.add(i)
            raise
        sk = self._skeletons[i] = self._skeleton_of(obj)
        return sk

    def _reference_graph(self) -> dict[int, frozenset[int]]:
        """``id -> ids it holds`` for every object reachable from the trailer (each read once)."""
        if self._edges is not None:
            return self._edges
        edges: dict[int, frozenset[int]] = {}
        edges[-1] = start = frozenset(_skeleton_ids(self._skeleton_of(self.trailer_view)))
        todo = list(start)
        while todo:
            i = todo.pop()
            if i in edges:
                continue
            try:
                out = frozenset(_skeleton_ids(self._skeleton(i)))
            except BudgetExceeded:
                raise
            except Exception:  # the walk fails on it, if it gets there (never pruned: see _reaching)
                out = frozenset()
            edges[i] = out
            todo.extend(j for j in out if j not in edges)
        self._edges = edges
        return edges

    def _reaching(self, targets: set[generic.Reference]) -> set[int]:
        """Ids of the objects from which some target can be reached (targets and unreadable ones included)."""
        edges = self._reference_graph()
        back: dict[int, list[int]] = {}
        for src, outs in edges.items():
            for dst in outs:
                back.setdefault(dst, []).append(src)
        keep = {self._id(t) for t in targets} | self._broken
        todo = list(keep)
        while todo:
            for src in back.get(todo.pop(), ()):
                if src not in keep:
                    keep.add(src)
                    todo.append(src)
        return keep

    def _page_tree_paths(self) -> dict[generic.Reference, tuple]:  # type: ignore[type-arg]
        """Canonical path of every page-tree node (pyHanko's rule: only entered by that path)."""
        pages = self.root.raw_get("/Pages")
        base: tuple = ("/Root", "/Pages")  # type: ignore[type-arg]
        out: dict[generic.Reference, tuple] = {}  # type: ignore[type-arg]
        if isinstance(pages, generic.IndirectObject):
            out[pages.reference] = base
        stack = [(enumerate(pages.get_object()["/Kids"]), base)]
        while stack:
            ix, kid = next(stack[-1][0], (None, None))
            if ix is None:
                stack.pop()
                continue
            kid_path = (*stack[-1][1], "/Kids", ix)
            if isinstance(kid, generic.IndirectObject):
                if kid.reference in out:
                    raise misc.PdfReadError("Circular reference in page tree in mapping stage")
                out[kid.reference] = kid_path
            kid = kid.get_object()  # type: ignore[union-attr]
            if kid.get("/Type", None) == "/Pages":
                stack.append((enumerate(kid["/Kids"]), kid_path))
        return out

    def _struct_tree_refs(self) -> set[generic.Reference]:
        """Structure elements of the structure tree (pyHanko enters them only from the tree)."""
        out: set[generic.Reference] = set()
        end = object()
        try:
            stack = [iter(_struct_kids(self.root.raw_get("/StructTreeRoot").get_object()))]
            while stack:
                child = next(stack[-1], end)
                if child is end:
                    stack.pop()
                    continue
                ref = child.reference if isinstance(child, generic.IndirectObject) else None
                elem = child.get_object() if ref is not None else child  # type: ignore[union-attr]
                if not isinstance(elem, generic.DictionaryObject):
                    continue
                try:
                    if elem["/Type"] != "/StructElem":
                        continue
                except KeyError:
                    pass
                if ref is not None:
                    if ref in out:
                        raise misc.PdfReadError("Circular reference in structure tree in mapping stage")
                    out.add(ref)
                stack.append(iter(_struct_kids(elem)))
        except KeyError:  # as pyHanko: no structure tree, or a missing entry ends the mapping
            pass
        return out

    def usage_paths(
        self, targets: set[generic.Reference] | None, *, keep: set[int] | None = None
    ) -> dict[generic.Reference, set]:  # type: ignore[type-arg]
        """Every path from the trailer to each target (to every object when ``targets`` is None).

        pyHanko's rules: a path ends at an object already on it (no cycles); values under
        ``/Parent`` are not followed, nor ``/P`` inside the structure tree (entered by
        ``/Root /StructTreeRoot /K``); a page-tree node is recorded on every path that reaches it
        but only entered by its canonical path down ``/Pages /Kids``; a structure element is
        recorded but only entered from inside the structure tree. Objects whose id is not in
        ``keep`` (when given; see :meth:`_reaching`) are not entered. Paths are ``RawPdfPath``
        values, as pyHanko's index holds them.
        """
        pages = {self._id(r): p for r, p in self._page_tree_paths().items()}
        structs = {self._id(r) for r in self._struct_tree_refs()}
        wanted = None if targets is None else {self._id(t) for t in targets}
        deadline = self.reader._deadline  # type: ignore[attr-defined]
        bodies: dict[int, object] = {}
        found: dict[int, list[tuple]] = {}  # type: ignore[type-arg]
        path: list[object] = []
        on_path: set[int] = set()
        entered: list[tuple[int, int]] = []  # (depth, id) of the objects on the path
        self.index_walks += 1
        self._paths = 0
        top = self._skeleton_of(self.trailer_view)
        # (depth, key or index, skeleton, inside the structure tree)
        stack: list[tuple[int, object, object, bool]] = [
            (0, k, sk, False) for k, sk in reversed(top[1] if top else ())  # type: ignore[index]
        ]
        while stack:
            depth, elem, sk, in_struct = stack.pop()
            if len(path) > depth:
                del path[depth:]
                while entered and entered[-1][0] >= depth:
                    on_path.discard(entered.pop()[1])
            path.append(elem)
            if sk.__class__ is int:
                if sk in on_path:
                    continue
                self._count_path()
                if not self._paths & 1023:
                    deadline.check()
                if wanted is None or sk in wanted:
                    found.setdefault(sk, []).append(tuple(path))  # type: ignore[arg-type]
                if keep is not None and sk not in keep:
                    continue
                body = bodies.get(sk, bodies)
                if body is bodies:
                    body = self._skeleton(sk)  # type: ignore[arg-type]
                    if keep is not None:
                        body = _pruned(body, keep)
                    bodies[sk] = body  # type: ignore[index]
                canonical = pages.get(sk)  # type: ignore[call-overload]
                if (canonical is not None and tuple(path) != canonical) or (not in_struct and sk in structs):
                    continue
                on_path.add(sk)  # type: ignore[arg-type]
                entered.append((depth, sk))  # type: ignore[arg-type]
                sk = body
            if sk is None:
                continue
            is_dict, children = sk  # type: ignore[misc]
            d1 = depth + 1
            if is_dict:
                enter_struct = depth == 1 and path[0] == "/Root" and path[1] == "/StructTreeRoot"
                for k, child in reversed(children):
                    if in_struct and k == "/P":
                        continue
                    stack.append((d1, k, child, in_struct or (enter_struct and k == "/K")))
            else:
                stack.extend((d1, ix, child, in_struct) for ix, child in reversed(children))
        refs = self._refs
        return {refs[i]: {RawPdfPath(*p) for p in ps} for i, ps in found.items()}


def _struct_kids(elem: generic.DictionaryObject) -> tuple[object, ...]:
    try:
        kids = elem["/K"]
    except KeyError:
        return ()
    return tuple(kids) if isinstance(kids, generic.ArrayObject) else (kids,)


def _skeleton_ids(sk: object) -> Iterator[int]:
    stack = [sk]
    while stack:
        s = stack.pop()
        if s.__class__ is int:
            yield s  # type: ignore[misc]
        elif s is not None:
            stack.extend(child for _, child in s[1])  # type: ignore[index]


def _pruned(sk: object, keep: set[int]) -> object:
    """``sk`` without the references outside ``keep`` (and containers left empty by that)."""
    if sk is None or sk.__class__ is int:
        return sk if sk is None or sk in keep else None
    kids = tuple((k, p) for k, child in sk[1] if (p := _pruned(child, keep)) is not None)  # type: ignore[index]
    return (sk[0], kids) if kids else None  # type: ignore[index]


class _PdfInput(BytesIO):
    """The input stream of our readers: a BytesIO that keeps the bytes for the fast hex-string path."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.data = data


_HEX = b"0123456789abcdefABCDEF"
_pyhanko_read_hex = generic.read_hex_string_from_stream


def _read_hex_string(stream):  # type: ignore[no-untyped-def]
    """pyHanko's hex-string reader, without the byte-at-a-time loop on our own input streams.

    The fast path takes ``<`` up to the next ``>``, drops PDF white space and decodes; a string
    with a comment (``%``), a byte that is neither white space nor a hex digit, or no closing
    ``>`` goes to pyHanko's reader, so results and errors are pyHanko's.
    """
    if type(stream) is not _PdfInput:
        return _pyhanko_read_hex(stream)
    start = stream.tell()
    data = stream.data
    end = data.find(b">", start + 1)
    if end < 0 or data[start : start + 1] != b"<":
        return _pyhanko_read_hex(stream)
    digits = data[start + 1 : end].translate(None, misc.PDF_WHITESPACE)
    if b"%" in digits or digits.translate(None, _HEX):
        return _pyhanko_read_hex(stream)
    if len(digits) % 2:
        digits += b"0"
    stream.seek(end + 1)
    return pdf_string_fast(binascii.unhexlify(digits))


_PDFDOC_UNDEFINED = bytes(i for i, ch in enumerate(generic._pdfDocEncoding) if ch == "\u0000")
_PDFDOC_TABLE = {i: ch for i, ch in enumerate(generic._pdfDocEncoding) if ch != chr(i)}
_BOMS = (codecs.BOM_UTF16_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF8)


def pdf_string_fast(raw: bytes) -> Any:
    """``generic.pdf_string(raw)``, the same object, without a Python loop over every byte.

    pyHanko tries PDFDocEncoding byte by byte on every string without a byte-order mark, which
    for a signature's ``/Contents`` (kilobytes of DER) walks most of the bytes before meeting
    one the encoding lacks. Here one ``translate`` finds whether any byte is undefined (then it
    is a byte string, as pyHanko's ``UnicodeDecodeError`` path gives), and a defined string is
    decoded through a table. Strings with a byte-order mark go to pyHanko unchanged.
    """
    if raw.startswith(_BOMS):
        return generic.pdf_string(raw)
    if len(raw.translate(None, _PDFDOC_UNDEFINED)) != len(raw):
        return generic.ByteStringObject(raw)
    text = generic.TextStringObject(raw.decode("latin-1").translate(_PDFDOC_TABLE))
    text.autodetected_encoding = generic.TextStringEncoding.PDF_DOC
    return text


_pyhanko_read_until_delimiter = generic.read_until_delimiter
_pyhanko_decode_name = generic._decode_name
_DELIMITER = re.compile(
    b"[" + b"".join(re.escape(bytes((c,))) for c in misc.PDF_WHITESPACE + misc.PDF_DELIMITERS) + b"]"
)


def _read_until_delimiter(stream):  # type: ignore[no-untyped-def]
    """pyHanko's token reader (names, keywords) in one regular-expression search on our own input
    streams: the bytes up to the next white-space or delimiter byte, the stream left on that byte
    (or at the end). Other streams go to pyHanko's byte-at-a-time reader."""
    if type(stream) is not _PdfInput:
        return _pyhanko_read_until_delimiter(stream)
    start = stream.tell()
    found = _DELIMITER.search(stream.data, start)
    stop = len(stream.data) if found is None else found.start()
    stream.seek(stop)
    return stream.data[start:stop]


@functools.lru_cache(maxsize=4096)
def _decoded_name(name_bytes: bytes) -> str:
    return str(_pyhanko_decode_name(name_bytes))


def _decode_name(name_bytes: bytes) -> Any:
    """pyHanko's name decoding, remembered per distinct name (a pure function; errors are not
    remembered). A file spells the same few dozen names (/Type, /Annots, ...) thousands of times.
    Each call returns a new :class:`NameObject`: pyHanko's parser sets ``container_ref`` on every
    object it reads, so one shared instance would carry the container of whichever read came last."""
    return generic.NameObject(_decoded_name(name_bytes))


_pyhanko_read_name = generic.NameObject.read_from_stream


def _read_name(stream):  # type: ignore[no-untyped-def]
    """pyHanko's name reader; on our own input streams with the fast token read and the memo."""
    if type(stream) is not _PdfInput:
        return _pyhanko_read_name(stream)
    if stream.read(1) != b"/":
        raise generic.PdfReadError("Name object should start with /")
    return _decode_name(_read_until_delimiter(stream))


if getattr(generic, "read_hex_string_from_stream", None) is _pyhanko_read_hex:
    # pyHanko's object parser looks the function up in its module on every call; other streams are
    # passed straight through, so only readers built on _PdfInput see a difference (speed).
    generic.read_hex_string_from_stream = _read_hex_string
if getattr(generic, "read_until_delimiter", None) is _pyhanko_read_until_delimiter:
    generic.read_until_delimiter = _read_until_delimiter
if generic.NameObject.__dict__.get("read_from_stream") is not None and \
        generic.NameObject.__dict__["read_from_stream"].__func__ is _pyhanko_read_name:
    generic.NameObject.read_from_stream = staticmethod(_read_name)


@contextmanager
def shipped() -> Iterator[None]:
    """pyHanko's own hex-string, token and name readers for the duration (benchmarks time pyHanko
    as shipped, without even the type check by which ours hand other streams to pyHanko)."""
    mine = (generic.read_hex_string_from_stream, generic.read_until_delimiter,
            generic.NameObject.__dict__["read_from_stream"])
    generic.read_hex_string_from_stream = _pyhanko_read_hex
    generic.read_until_delimiter = _pyhanko_read_until_delimiter
    generic.NameObject.read_from_stream = staticmethod(_pyhanko_read_name)
    try:
        yield
    finally:
        generic.read_hex_string_from_stream, generic.read_until_delimiter = mine[0], mine[1]
        generic.NameObject.read_from_stream = mine[2]


def _usage_mode(reader: PdfFileReader) -> str:
    return getattr(reader, "usage_index", USAGE_INDEX)


class BoundedReader(PdfFileReader):
    """pyHanko's reader with a deadline on object access and an object-stream cache."""

    def __init__(self, data: bytes, *, deadline: Deadline, usage_index: str | None = None) -> None:
        self._deadline = deadline
        self._objstm: dict[int, tuple[bytes, int, dict[int, int]]] = {}
        self.usage_index = usage_index or USAGE_INDEX
        """``"targeted"`` or ``"full"`` (see :data:`USAGE_INDEX`)."""
        super().__init__(_PdfInput(data), strict=False)

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
        buf = _PdfInput(data)
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
