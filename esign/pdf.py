"""Sign PDF files: PAdES B-B, B-T, B-LT, B-LTA with RSA, ECDSA P-256, Ed25519 and SM2.

pyHanko writes the incremental update, the signature field and its appearance, and the CMS;
the private operation goes through :class:`keys.interfaces.SigningKey` (file key store, PKCS#11
token) via :class:`esign._pdf_signer.KeySigner`. What each algorithm produces:

=============  =========  ==========================  ============================
key            digest     CMS signatureAlgorithm      /SubFilter
=============  =========  ==========================  ============================
RSA            SHA-256    sha256WithRSA (or PSS)      ETSI.CAdES.detached (PAdES)
ECDSA P-256    SHA-256    ecdsa-with-SHA256           ETSI.CAdES.detached (PAdES)
Ed25519        SHA-512    Ed25519 (RFC 8419)          ETSI.CAdES.detached (PAdES)
SM2            SM3        SM2-with-SM3 (1.2.156...501) adbe.pkcs7.detached
=============  =========  ==========================  ============================

No PAdES profile defines SM2, so SM2 signatures use the ISO 32000 ``adbe.pkcs7.detached``
SubFilter (with the signing-certificate-v2 attribute all the same), which Chinese readers accept.

Levels (ETSI EN 319 142-1): ``b-b`` signature only; ``b-t`` + signature timestamp from the
``timestamper``; ``b-lt`` + DSS with the certificates and the caller's CRLs/OCSP responses;
``b-lta`` + a document timestamp. :func:`extend_pdf` raises a signed file to B-LT/B-LTA later
and renews archive timestamps. Remote (three-step) signing is in :mod:`esign._pdf_remote`,
re-exported here. All times are passed in (``at``); nothing is fetched from the network.

Output is never half-written: :func:`sign_pdf_file` / :func:`extend_pdf_file` write a temporary
file next to the target and rename it; large files stream (the input is not loaded in memory).
"""

from __future__ import annotations

from esign._pdf_core import (
    DOCMDP_LEVELS,
    LEVELS,
    SignOptions,
    extend_pdf,
    extend_pdf_file,
    normalise_level,
    sign_pdf,
    sign_pdf_file,
    write_atomically,
)
from esign._pdf_input import (
    MAX_PDF_BYTES,
    BrokenPdfError,
    EncryptedPdfError,
    NotAPdfError,
    PdfInputError,
    StampSpec,
    ValidationData,
)
from esign._pdf_remote import MAX_STATE_AGE, RemotePreparation, finish_remote, prepare_remote
from esign._pdf_signer import SM2_SIG_OID, SM3_OID, KeySigner, register_sm_oids

__all__ = [
    "DOCMDP_LEVELS",
    "LEVELS",
    "MAX_PDF_BYTES",
    "MAX_STATE_AGE",
    "SM2_SIG_OID",
    "SM3_OID",
    "BrokenPdfError",
    "EncryptedPdfError",
    "KeySigner",
    "NotAPdfError",
    "PdfInputError",
    "RemotePreparation",
    "SignOptions",
    "StampSpec",
    "ValidationData",
    "extend_pdf",
    "extend_pdf_file",
    "finish_remote",
    "normalise_level",
    "prepare_remote",
    "register_sm_oids",
    "sign_pdf",
    "sign_pdf_file",
    "write_atomically",
]
