"""B-LT and B-LTA: Document Security Store and document timestamps (see :mod:`esign.pdf`).

ETSI EN 319 142-1 §5.4-5.5: a B-LT file carries in its DSS (``/DSS`` in the catalog) every
certificate and revocation value needed to validate its signatures; B-LTA adds a document
timestamp (``/SubFilter /ETSI.RFC3161``) over everything, DSS included. Renewing an archive
timestamp = adding the validation data of the last document timestamp to the DSS, then a
new document timestamp over that (§5.5, "LTA-level augmentation" repeated).

The DSS is written from the certificates found in the file's own signatures and timestamp
tokens plus the caller's :class:`~esign._pdf_input.ValidationData`; nothing is fetched (the
core never opens sockets) and the same code serves SM2, whose chains pyHanko cannot validate.
"""

from __future__ import annotations

import uuid
from typing import BinaryIO

from asn1crypto import cms, x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from esign._pdf_input import BrokenPdfError, ValidationData
from keys.errors import BackendUnavailableError, BadInputError

__all__ = ["DOC_TIMESTAMP_MD", "MAX_SIGNATURES", "add_document_timestamp", "add_dss", "embedded_certificates"]

#: Digest of document timestamps (SHA-256 for every signature algorithm: TSAs and validators all know it).
DOC_TIMESTAMP_MD = "sha256"
#: Most signatures and timestamps read from one file when collecting certificates.
MAX_SIGNATURES = 200


def _certs_of_signed_data(sd: cms.SignedData) -> list[x509.Certificate]:
    out: list[x509.Certificate] = []
    for choice in sd["certificates"] or ():
        if choice.name == "certificate":
            out.append(choice.chosen)
    for si in sd["signer_infos"]:
        for attr in si["unsigned_attrs"] or ():
            if attr["type"].native != "signature_time_stamp_token":
                continue
            for token in attr["values"]:
                inner = token["content"]
                if isinstance(inner, cms.SignedData):
                    out.extend(_certs_of_signed_data(inner))
    return out


def embedded_certificates(reader: PdfFileReader) -> list[x509.Certificate]:
    """Every certificate in the file's signatures, document timestamps and their timestamp tokens."""
    certs: list[x509.Certificate] = []
    try:
        sigs = list(reader.embedded_signatures)
        if len(sigs) > MAX_SIGNATURES:
            raise BadInputError(f"the PDF has more than {MAX_SIGNATURES} signatures", message_zh="签名数量过多",
                                field="file")
        for sig in sigs:
            certs.extend(_certs_of_signed_data(sig.signed_data))
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise BrokenPdfError(f"a signature in the PDF cannot be read: {str(exc)[:160]}", field="file") from None
    return certs


def add_dss(output: BinaryIO, *, data: ValidationData, extra_certs: list[x509.Certificate] = ()) -> None:
    """Append an incremental update adding the file's certificates and ``data`` to the DSS."""
    vcerts, crls, ocsps = data.parsed()
    output.seek(0)
    reader = PdfFileReader(output, strict=True)
    certs = embedded_certificates(reader) + list(extra_certs) + vcerts
    output.seek(0)
    try:
        DocumentSecurityStore.add_dss(output, sig_contents=None, certs=certs, crls=crls, ocsps=ocsps,
                                      force_write=False, strict=True)
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise BrokenPdfError(f"the DSS cannot be written: {str(exc)[:160]}", field="file") from None


async def add_document_timestamp(output: BinaryIO, *, timestamper: TimeStamper) -> None:
    """Append a document timestamp (ETSI.RFC3161) over the whole file as it stands."""
    output.seek(0)
    w = IncrementalPdfFileWriter(output, strict=True)
    stamper = PdfTimeStamper(timestamper, field_name=f"DocTimeStamp-{uuid.uuid4().hex[:12]}")
    try:
        await stamper.async_timestamp_pdf(w, DOC_TIMESTAMP_MD, validation_context=None, in_place=True)
    except SigningError as exc:
        raise BackendUnavailableError(f"the time-stamp authority failed: {str(exc)[:160]}",
                                      message_zh="时间戳服务失败") from None
    except (PdfError, ValueError, KeyError, TypeError) as exc:
        raise BrokenPdfError(f"the document timestamp cannot be added: {str(exc)[:160]}", field="file") from None
