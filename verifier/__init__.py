"""Checking anything signed: certificate paths now; PDFs, OFD, seals and licences later.

Imports only ``keys`` (never signing code or private-key providers). Every check returns a
:class:`~verifier.report.ValidationReport`, never a bare bool.
"""

from verifier.chain import load_crls, load_trust_store, verify_certificate_bundle
from verifier.pki import MAX_CHAIN_DEPTH, PathPolicy, TrustStore, validate_path
from verifier.report import Check, CheckStatus, Indication, Reason, SubIndication, ValidationReport

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
