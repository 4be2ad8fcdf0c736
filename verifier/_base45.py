"""Base45 (RFC 9285), strict: our own encoder and decoder for QR payloads.

Decoding refuses (``ValueError``) anything RFC 9285 §4 does not produce: characters outside
the 45-character alphabet (lower case included), a length that leaves one dangling character
(``len % 3 == 1``), a triple whose value exceeds 65535 and a final pair above 255. So every
accepted string has exactly one decoding and re-encodes to itself.
"""

from __future__ import annotations

__all__ = ["ALPHABET", "MAX_BASE45_CHARS", "b45decode", "b45encode"]

#: RFC 9285 §4 alphabet, value = index.
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
#: Longest Base45 text decoded (a version-40 QR code holds at most 4,296 alphanumeric characters).
MAX_BASE45_CHARS = 8192

_VALUE = {c: i for i, c in enumerate(ALPHABET)}
# Value of every (first, second) pair, so the loop does one dict look-up per two characters.
_PAIR = {a + b: _VALUE[a] + _VALUE[b] * 45 for a in ALPHABET for b in ALPHABET}


def b45encode(data: bytes) -> str:
    """Base45 text of ``data`` (RFC 9285 §4.1)."""
    out: list[str] = []
    n = len(data)
    for i in range(0, n - 1, 2):
        v = (data[i] << 8) | data[i + 1]
        e, rest = divmod(v, 2025)
        d, c = divmod(rest, 45)
        out.append(ALPHABET[c] + ALPHABET[d] + ALPHABET[e])
    if n % 2:
        d, c = divmod(data[-1], 45)
        out.append(ALPHABET[c] + ALPHABET[d])
    return "".join(out)


# Character -> value for bytes.translate; 0xFF marks characters outside the alphabet.
_XLAT = bytes(_VALUE.get(chr(i), 0xFF) for i in range(256))


def _explain(text: str) -> ValueError:
    bad = next((c for c in text if c not in _VALUE), None)
    if bad is not None:
        return ValueError(f"character {bad!r} is not in the Base45 alphabet")
    full = len(text) - len(text) % 3
    for i in range(0, full, 3):
        if _PAIR[text[i : i + 2]] + _VALUE[text[i + 2]] * 2025 > 0xFFFF:
            return ValueError(f"Base45 triple at offset {i} exceeds 65535")
    return ValueError(f"Base45 final pair at offset {full} exceeds 255")


def b45decode(text: str) -> bytes:
    """Bytes of the Base45 ``text``; raises ``ValueError`` on any non-canonical input.

    The triples are decoded all at once with big-integer arithmetic on 24-bit lanes (each lane
    holds c0 + 45*c1 + 2025*c2 <= 91,124, so lanes never carry into each other), which keeps the
    per-character work in C: about 10x faster than a Python loop over the triples.
    """
    n = len(text)
    if n > MAX_BASE45_CHARS:
        raise ValueError(f"Base45 text longer than {MAX_BASE45_CHARS} characters")
    if n % 3 == 1:
        raise ValueError("Base45 length leaves a single dangling character")
    try:
        vals = text.encode("ascii").translate(_XLAT)
    except UnicodeEncodeError:
        raise _explain(text) from None
    if b"\xff" in vals:
        raise _explain(text)
    full = n - n % 3
    k = full // 3
    # One lane buffer reused for the three digit positions; c0 + 45 * (c1 + 45 * c2) per lane.
    lanes = bytearray(3 * k)
    lanes[2::3] = vals[2:full:3]
    total = int.from_bytes(lanes, "big") * 45
    lanes[2::3] = vals[1:full:3]
    total = (total + int.from_bytes(lanes, "big")) * 45
    lanes[2::3] = vals[0:full:3]
    total += int.from_bytes(lanes, "big")
    wide = total.to_bytes(3 * k, "big")
    if wide[0::3].count(0) != k:
        raise _explain(text)
    out = bytearray(2 * k)
    out[0::2] = wide[1::3]
    out[1::2] = wide[2::3]
    if full != n:
        v = vals[full] + 45 * vals[full + 1]
        if v > 0xFF:
            raise _explain(text)
        out.append(v)
    return bytes(out)
