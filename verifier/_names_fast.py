"""Faster X.509 name comparison: equal encodings first, RFC 4518 string preparation memoised.

Comparing two X.509 names (RFC 5280 §7.1) runs each attribute value through the LDAP
string preparation of RFC 4518 (map, NFKC normalise, prohibit, insignificant spaces).
asn1crypto does this in ``NameTypeAndValue._ldap_string_prep`` and keeps the result on the
parsed object, but every signature's CMS is parsed anew, so a file with six signatures by
one signer prepares the same few DN strings again for each signature: matching the signer
(issuer and serial), the ESS signing-certificate identifiers, path building and the PAdES
level checks each compare names. Profiling a six-revision PDF put a quarter of the whole
verification in this one function (about 115 µs per call).

Two shortcuts, both exact:

* names whose DER encodings are identical are equal (RFC 5280 §7.1: a binary match is a
  match), which is the usual case (an issuer name copied from the CA's subject), so the
  comparison answers without parsing the RDNs at all; names that differ in bytes are
  compared by a canonical form (per RDN: size, types and prepared values) computed once per
  distinct encoding, which is what asn1crypto's comparison compares;
* the preparation is a pure function of the string (``self`` is not used), so its result is
memoised per distinct string here, bounded by :data:`MAX_CACHED`. A string that fails
preparation (prohibited code points) is not cached: it raises the same ``ValueError`` every
time. :func:`install` is idempotent and is called when the PDF, CMS and path verifiers load;
:func:`original_prep` gives the unmemoised function, which tests compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from asn1crypto import x509 as _x509

__all__ = ["MAX_CACHED", "install", "installed", "original_name_eq", "original_prep", "shipped"]

MAX_CACHED = 4096
"""Distinct attribute strings remembered (LRU); a few hundred bytes each at most."""

_ORIGINAL: Callable[[Any, str], str] = _x509.NameTypeAndValue._ldap_string_prep
_NAME_EQ: Callable[[Any, Any], bool] = _x509.Name.__eq__


def original_prep(string: str) -> str:
    """asn1crypto's own RFC 4518 preparation of ``string``, unmemoised."""
    return _ORIGINAL(None, string)


@lru_cache(maxsize=MAX_CACHED)
def _prep(string: str) -> str:
    return _ORIGINAL(None, string)


def _memoised(self: Any, string: str) -> str:
    if not isinstance(string, str):  # asn1crypto only passes str; anything else takes the original path
        return _ORIGINAL(self, string)
    return _prep(string)


@lru_cache(maxsize=MAX_CACHED)
def _canonical(der: bytes) -> tuple[tuple[int, tuple[tuple[str, str], ...]], ...]:
    """The comparison form of the RDN sequence encoded as ``der``: per RDN, in order, its size and its
    (type, prepared value) pairs; two names compare equal under asn1crypto's rules exactly when
    these are equal (same RDN count, and per RDN the same size, types and prepared values)."""
    out = []
    for rdn in _x509.RDNSequence.load(der):
        values: dict[str, str] = {}
        for ntv in rdn:
            values[ntv["type"].native] = ntv.prepped_value
        out.append((len(rdn), tuple(sorted(values.items()))))
    return tuple(out)


def _name_eq(self: Any, other: Any) -> bool:
    if not isinstance(other, _x509.Name):
        return False
    a, b = self.chosen.dump(), other.chosen.dump()  # the RDNSequence, whatever tag the Name carries
    if a == b:
        return True
    try:
        return _canonical(a) == _canonical(b)
    except Exception:
        return _NAME_EQ(self, other)


def original_name_eq(a: Any, b: Any) -> bool:
    """asn1crypto's own comparison of two names."""
    return _NAME_EQ(a, b)


def install() -> None:
    """Route asn1crypto's name comparison through the shortcuts (process-wide, idempotent)."""
    _x509.NameTypeAndValue._ldap_string_prep = _memoised
    _x509.Name.__eq__ = _name_eq


def installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _x509.NameTypeAndValue._ldap_string_prep is _memoised and _x509.Name.__eq__ is _name_eq


@contextmanager
def shipped() -> Iterator[None]:
    """asn1crypto as shipped for the duration (benchmarks time other libraries without our memo)."""
    was = installed()
    _x509.NameTypeAndValue._ldap_string_prep = _ORIGINAL
    _x509.Name.__eq__ = _NAME_EQ
    try:
        yield
    finally:
        if was:
            install()
