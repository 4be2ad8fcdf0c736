"""Checking anything signed: certificate paths now; PDFs, OFD, seals and licences later.

Imports only ``keys`` (never signing code or private-key providers). Every check returns a
:class:`~verifier.report.ValidationReport`, never a bare bool.
"""

from verifier import _names_fast, _path_memo
from verifier.chain import load_crls, load_trust_store, verify_certificate_bundle
from verifier.pki import MAX_CHAIN_DEPTH, PathPolicy, TrustStore, validate_path
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport

_names_fast.install()  # name comparison: equal DER first, memoised RFC 4518 preparation (see the module)
_path_memo.install()  # one pyHanko path validation per signer certificate and context (see the module)

__all__ = [
    "MAX_CHAIN_DEPTH",
    "Check",
    "CheckStatus",
    "Indication",
    "PathPolicy",
    "Reason",
    "SubIndication",
    "TrustStore",
    "ValidationReport",
    "load_crls",
    "load_trust_store",
    "validate_path",
    "verify_certificate_bundle",
]
