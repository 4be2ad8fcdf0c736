"""Electronic licences (电子证照): catalogue, identifiers, issuance, lifecycle, status lists, bulk.

Layering: ``licences`` sits above ``esign`` and ``verifier`` and never imports web, database or
cache frameworks; storage is reached through :mod:`licences.ports`. Modules:

- :mod:`licences.identifiers` -- licence identifier (MOD 37,36), USCC, resident ID, area codes;
- :mod:`licences.catalogue` -- licence types and field validation;
- :mod:`licences.model` -- authorities, licences, events, statuses;
- :mod:`licences.ports` -- repository Protocols (+ an in-memory implementation);
- :mod:`licences.canonical` -- the canonical document and the signed-licence envelope;
- :mod:`licences.issuance` -- :class:`~licences.issuance.LicenceService` (issue, register authorities);
- :mod:`licences.lifecycle` -- suspend, reinstate, revoke, correct (new versions);
- :mod:`licences.status` -- signed, compressed status lists;
- :mod:`licences.bulk` -- CSV / JSON-lines issuance with a per-row report.

Verification of a signed licence is the verifier's: :func:`verifier.licence.verify_licence`.
"""

__all__: list[str] = []
