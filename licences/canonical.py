"""The canonical licence document: one deterministic byte string per licence version, which is signed.

Encoding: **canonical JSON** (chosen over DER because the document is read by people and by
web clients, and the rules below make it exactly reproducible):

1. UTF-8 without BOM; no insignificant whitespace (separators ``,`` and ``:``);
2. object keys sorted by Unicode code point, each key at most once;
3. strings in Unicode NFC (a non-NFC string is refused, not silently normalised -- field
   validation normalises input first); characters other than ``"``, ``\\`` and C0 controls are
   written as themselves (no ``\\u`` escapes for CJK);
4. numbers are integers with ``|n| <= 2**53 - 1``; no floats, no ``NaN``; no ``null``
   (an absent optional value is an absent key); booleans allowed;
5. nesting at most :data:`MAX_DEPTH`.

The document (``format`` = :data:`DOCUMENT_FORMAT`) carries the GB/T 36903 core metadata, the
type-specific fields and where to look up the status (authority + index). It does **not** carry
the status itself: status changes after signing and is published in the status list.

The signed licence (``format`` = :data:`SIGNED_FORMAT`) is itself canonical JSON::

    {"format":"esign.signed-licence/1","licence":"<base64 of the document bytes>",
     "signature":{"format":"ses"|"cms","value":"<base64 of SES_Signature or CMS SignedData>"}}

The exact signed bytes travel base64-encoded, so nothing needs re-encoding before verification.
It is parsed by :func:`verifier.licence.parse_unverified_signed_licence` (the verifier owns parsing).
"""

from __future__ import annotations

import base64
import json
import unicodedata
from datetime import UTC
from typing import Any

from keys.errors import BadInputError
from licences.model import Licence, SignatureFormat
from verifier.licence import DOCUMENT_FORMAT, SIGNED_FORMAT, SignedLicence, parse_unverified_signed_licence

__all__ = [
    "DOCUMENT_FORMAT",
    "MAX_DEPTH",
    "SIGNED_FORMAT",
    "SignedLicence",
    "canonical_json",
    "document_dict",
    "encode_document",
    "encode_signed",
    "parse_unverified_signed_licence",
]

#: Deepest nesting of objects/arrays in a canonical document.
MAX_DEPTH = 8
_MAX_INT = 2**53 - 1


def _check(value: Any, depth: int, path: str) -> None:
    if isinstance(value, str):  # the common case first
        if not unicodedata.is_normalized("NFC", value):
            raise BadInputError(f"{path}: string is not in Unicode NFC", message_zh="字符串未经 NFC 规范化",
                                field=path)
        return
    if depth > MAX_DEPTH:
        raise BadInputError(f"{path}: nested deeper than {MAX_DEPTH}", message_zh="嵌套层级过深", field=path)
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise BadInputError(f"{path}: object keys must be strings", field=path)
            _check(k, depth + 1, path)
            _check(v, depth + 1, path + "." + k)
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > _MAX_INT:
            raise BadInputError(f"{path}: integer out of range", message_zh="整数超出范围", field=path)
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _check(v, depth + 1, f"{path}[{i}]")
        return
    what = "null" if value is None else type(value).__name__
    raise BadInputError(f"{path}: {what} is not allowed in canonical JSON", message_zh="规范 JSON 中不允许该类型",
                        field=path)


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON of ``value`` (rules in the module docstring).

    Raises:
        BadInputError: floats, ``None``, non-NFC strings, big integers, deep nesting, other types.
    """
    _check(value, 0, "$")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def document_dict(licence: Licence) -> dict[str, Any]:
    """The document of a licence version as a dict (before encoding)."""
    doc: dict[str, Any] = {
        "format": DOCUMENT_FORMAT,
        "id": licence.licence_id,
        "type": {"code": licence.type_code, "name": licence.type_name},
        "number": licence.number,
        "holder": {"name": licence.holder_name, "id": licence.holder_id, "id_type": licence.holder_id_type},
        "issuer": {"name": licence.issuer_name, "code": licence.issuer_code, "authority": licence.authority_id,
                   "region": licence.region},
        "issued_at": licence.issued_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "issued_on": licence.issued_on.isoformat(),
        "valid_from": licence.valid_from.isoformat(),
        "version": licence.version,
        "serial": licence.serial,
        "status_list": {"authority": licence.authority_id, "index": licence.status_index},
        "fields": dict(licence.fields),
    }
    if licence.valid_until is not None:
        doc["valid_until"] = licence.valid_until.isoformat()
    if licence.supersedes is not None:
        doc["supersedes"] = licence.supersedes
    return doc


def encode_document(licence: Licence) -> bytes:
    """The canonical document bytes of a licence version (what gets signed)."""
    return canonical_json(document_dict(licence))


def encode_signed(document: bytes, signature: bytes, signature_format: SignatureFormat) -> bytes:
    """The signed-licence envelope around the exact document bytes and their signature."""
    # Every value is ASCII (format names, base64), so plain sorted-key JSON is already canonical.
    return json.dumps({
        "format": SIGNED_FORMAT,
        "licence": base64.b64encode(document).decode("ascii"),
        "signature": {"format": SignatureFormat(signature_format).value,
                      "value": base64.b64encode(signature).decode("ascii")},
    }, sort_keys=True, separators=(",", ":")).encode("ascii")
