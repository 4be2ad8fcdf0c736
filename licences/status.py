"""Per-issuer status lists (IETF Token Status List style): 2 bits per licence version, zlib, signed.

Every licence version gets a stable index in its authority's list at issuance. The list is a
bitstring with entry ``i`` in bits ``2*(i % 4) .. 2*(i % 4) + 1`` of byte ``i // 4`` (least
significant first, as in the IETF draft), values :class:`~licences.model.StatusCode`
(0 valid, 1 revoked, 2 suspended, 3 superseded), compressed with zlib (DEFLATE, level 9).

Envelope (deterministic CBOR, parsed and verified by :func:`verifier.licence.verify_status_list`)::

    {"typ": "esign-status-list/1", "payload": bstr, "alg": "<signature OID>",
     "cert": bstr (signer certificate), "sig": bstr (signature over payload)}
    payload = {"authority", "issuer", "list_id", "version", "iat", "exp", "ttl", "size",
               "status_list": {"bits": 2, "lst": bstr}}

The signature is made directly with the authority's key (SM2 with SM3 by default), not a seal
signature or CMS: that keeps a million-entry list with 1 % revoked under 16 KB including the
signature and the certificate. CBOR rather than JSON so the bitstring is not base64-inflated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from keys.errors import BadInputError
from keys.interfaces import SigningKey
from keys.x509 import Certificate, Crl
from licences.model import IssuingAuthority, LicenceStatus, StatusCode, status_code
from licences.ports import LicenceRepository
from verifier.licence import (
    MAX_STATUS_LIST_SIZE,
    STATUS_LIST_TYPE,
    StatusList,
    verify_status_list,
)
from verifier.pki import PathPolicy, TrustStore

__all__ = [
    "DEFAULT_TTL",
    "DEFAULT_VALIDITY",
    "StatusList",
    "encode_bitstring",
    "load_status_list",
    "publish_status_list",
    "sign_status_list",
]

#: How long verifiers may cache a list before fetching again.
DEFAULT_TTL = timedelta(minutes=15)
#: How long a published list stays usable (``exp - iat``).
DEFAULT_VALIDITY = timedelta(days=1)


def encode_bitstring(size: int, entries: Iterable[tuple[int, int | StatusCode]]) -> bytes:
    """The uncompressed 2-bit bitstring of ``size`` entries; unset entries are 0 (valid).

    Raises:
        BadInputError: size out of range, or an index or value outside it.
    """
    if not (0 <= size <= MAX_STATUS_LIST_SIZE):
        raise BadInputError(f"status list size must be 0..{MAX_STATUS_LIST_SIZE}", field="size")
    buf = bytearray((size + 3) // 4)
    for index, value in entries:
        if not (0 <= index < size) or not (0 <= int(value) <= 3):
            raise BadInputError(f"status entry ({index}, {value}) out of range", field="index")
        shift = (index & 3) << 1
        byte = index >> 2
        buf[byte] = (buf[byte] & ~(3 << shift)) | (int(value) << shift)
    return bytes(buf)


def sign_status_list(*, authority: str, issuer: str, size: int, entries: Iterable[tuple[int, int | StatusCode]],
                     key: SigningKey, cert_der: bytes, at: datetime, version: int | None = None,
                     ttl: timedelta = DEFAULT_TTL, validity: timedelta = DEFAULT_VALIDITY) -> bytes:
    """Encode, compress and sign a status list; returns the CBOR envelope.

    Args:
        authority: the authority id (``list_id`` too).
        issuer: the authority's USCC.
        size: number of indices allocated so far.
        entries: ``(index, code)`` pairs that are not 0.
        key: the authority's signing key (handle).
        cert_der: its certificate (embedded).
        at: issuing time.
        version: increasing list version (default: ``at`` in epoch seconds).
    """
    import zlib

    import cbor2

    if at.tzinfo is None:
        raise BadInputError("at must be timezone-aware", field="at")
    if ttl <= timedelta(0) or validity < ttl:
        raise BadInputError("ttl must be positive and not longer than the validity", field="ttl")
    iat = int(at.timestamp())
    raw = encode_bitstring(size, entries)
    comp = zlib.compressobj(9, zlib.DEFLATED, 15, 9)
    lst = comp.compress(raw) + comp.flush()
    payload = cbor2.dumps({"authority": authority, "issuer": issuer, "list_id": authority,
                           "version": iat if version is None else version, "iat": iat,
                           "exp": iat + int(validity.total_seconds()), "ttl": int(ttl.total_seconds()),
                           "size": size, "status_list": {"bits": 2, "lst": lst}}, canonical=True)
    alg = key.default_algorithm()
    sig = key.sign(payload, algorithm=alg)
    return bytes(cbor2.dumps({"typ": STATUS_LIST_TYPE, "payload": payload, "alg": alg.oid, "cert": cert_der,
                              "sig": sig}, canonical=True))


def publish_status_list(repo: LicenceRepository, authority: IssuingAuthority, *, key: SigningKey, at: datetime,
                        ttl: timedelta = DEFAULT_TTL, validity: timedelta = DEFAULT_VALIDITY) -> bytes:
    """The signed status list of every licence version the authority issued, as of now.

    ``version`` is the repository's change counter for the authority, so it increases with every
    issuance or status change and equal versions have equal content.
    """
    size, changes = repo.status_size(authority.id)
    entries = ((i, status_code(s)) for i, s in repo.status_entries(authority.id) if s is not LicenceStatus.VALID)
    return sign_status_list(authority=authority.id, issuer=authority.uscc, size=size, entries=entries, key=key,
                            cert_der=authority.certificate, at=at, version=changes, ttl=ttl, validity=validity)


def load_status_list(data: bytes, *, trust: TrustStore, at: datetime, intermediates: Sequence[Certificate] = (),
                     crls: Sequence[Crl] = (), policy: PathPolicy | None = None) -> StatusList:
    """Verify a published status list (signature, signer path, time window) and return it.

    Raises:
        BadInputError: not a status list.
        StatusListError / StatusListExpiredError: see :func:`verifier.licence.verify_status_list`.
    """
    return verify_status_list(data, trust=trust, at=at, intermediates=intermediates, crls=crls, policy=policy)
