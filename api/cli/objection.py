"""``esign objection`` and ``esign consent``: disputes and holder consent, as the local operator.

Both work on the service database and key store (the same ``ESIGN_*`` settings as ``esign serve``)
and are audited as actor ``cli``. The operator acts on a written request: ``objection file``
records who asks (``--filer``, ``--role``, ``--region``: a window in another region is the usual
case); ``consent grant|revoke`` need the holder's ID (``--holder-id``, checked against the licence)
because only the holder may consent. Remote systems use the HTTP API instead (``docs/licences.md``).

Exit codes: 0 success; 2 bad input or a refused operation (the error JSON on stderr names the
field); 3 backend failure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from api.cli import emit, fail
from api.cli.licence import _fields, _read, _service
from keys.errors import EsignError

__all__ = ["consent", "objection"]


def _now() -> datetime:
    return datetime.now(UTC)


def _run(fn: Any) -> Any:
    try:
        return fn()
    except EsignError as exc:
        fail(exc, exit_code=3 if exc.http_status >= 500 else 2)


@click.group("objection")
def objection() -> None:
    """Objections against licences (异议处理): file, list, show, decide, withdraw."""


@objection.command("file")
@click.argument("licence_id")
@click.option("--ground", required=True,
              type=click.Choice(["wrong_data", "wrong_status", "not_holder", "suspected_forgery", "other"]))
@click.option("--reason", required=True, help="What is wrong (at most 500 characters).")
@click.option("--evidence", "evidence", multiple=True, type=click.Path(dir_okay=False),
              help="An evidence file (repeatable, at most 5).")
@click.option("--filer", default="cli", show_default=True, help="Who asks (name or principal id).")
@click.option("--role", "role", default="operator", show_default=True,
              type=click.Choice(["operator", "staff", "verifier", "issuer"]))
@click.option("--region", default="*", show_default=True, help="Region the filer acts from (GB/T 2260).")
def file_cmd(licence_id: str, ground: str, reason: str, evidence: tuple[str, ...], filer: str, role: str,
             region: str) -> None:
    """File an objection; it lands in the queue of the licence's issuing authority."""
    import mimetypes

    from licences.objections import Actor, EvidenceFile, file_objection, objection_to_dict

    def go() -> Any:
        files = [EvidenceFile(Path(p).name, mimetypes.guess_type(p)[0] or "application/octet-stream",
                              _read(p, "evidence")) for p in evidence]
        return file_objection(_service(), licence_id, actor=Actor(filer, role, region), ground=ground,
                              reason=reason, evidence=files, at=_now())

    emit(objection_to_dict(_run(go)))


@objection.command("list")
@click.option("--authority", help="Only this authority's queue.")
@click.option("--state", type=click.Choice(["filed", "accepted", "rejected", "withdrawn"]))
@click.option("--licence", "licence_id", help="Only objections against this licence version.")
def list_cmd(authority: str | None, state: str | None, licence_id: str | None) -> None:
    """List objections, newest first."""
    from licences.model import ObjectionState
    from licences.objections import objection_to_dict

    def go() -> Any:
        return _service().repo.list_objections(authority_ids=[authority] if authority else None,
                                               state=ObjectionState(state) if state else None, licence_id=licence_id)

    emit([objection_to_dict(o) for o in _run(go)])


@objection.command("show")
@click.argument("objection_id")
def show_cmd(objection_id: str) -> None:
    """One objection and where it stands."""
    from licences.objections import objection_to_dict

    emit(objection_to_dict(_run(lambda: _service().repo.get_objection(objection_id))))


@objection.command("decide")
@click.argument("objection_id")
@click.option("--accept/--reject", required=True, help="Accept (then --resolution) or reject.")
@click.option("--resolution", type=click.Choice(["corrected", "revoked"]), help="How an accepted objection is met.")
@click.option("--fields", "fields_json", help="Corrected fields: a JSON object, or @file.json.")
@click.option("--field", "pairs", multiple=True, help="One corrected field: name=value (repeatable).")
@click.option("--reason", required=True, help="The authority's reason (shown to the filer).")
def decide_cmd(objection_id: str, accept: bool, resolution: str | None, fields_json: str | None,
               pairs: tuple[str, ...], reason: str) -> None:
    """Decide: a correction issues version n+1 in the same transaction; a revocation revokes."""
    from licences.objections import decide, objection_to_dict

    def go() -> Any:
        changes = _fields(fields_json, pairs) if (fields_json or pairs) else None
        return decide(_service(), objection_id, accept=accept, reason=reason, actor="cli", at=_now(), region=None,
                      resolution=resolution, changes=changes)

    obj, lic = _run(go)
    out = objection_to_dict(obj)
    out["licence"] = None if lic is None else {"licence_id": lic.licence_id, "version": lic.version,
                                               "status": lic.status.value}
    emit(out)


@objection.command("withdraw")
@click.argument("objection_id")
def withdraw_cmd(objection_id: str) -> None:
    """Withdraw an open objection (as the operator, on the filer's request)."""
    from licences.objections import Actor, objection_to_dict, withdraw

    emit(objection_to_dict(_run(lambda: withdraw(_service(), objection_id, actor=Actor("cli", "operator", "*"),
                                                 at=_now()))))


# --- consent -------------------------------------------------------------------------------------


@click.group("consent")
def consent() -> None:
    """Holder consent (用证授权): grant, revoke, list, fetch, uses; and the holder's wallet."""


def _holder(holder_id: str) -> Any:
    from licences.identifiers import validate_id_number, validate_uscc
    from licences.objections import Actor

    subject = (validate_id_number(holder_id, field="holder_id").number if holder_id.strip()[:17].isdigit()
               else validate_uscc(holder_id, field="holder_id").code)
    return Actor("cli", "operator", "*", subject=subject)


def _relying_party(svc: Any, principal_id: str) -> Any:
    from sqlalchemy import select

    from api.storage.models import Principal
    from keys.errors import NotFoundError
    from licences.consent import RelyingParty

    db = svc.repo._db  # the CLI's own service: the same database
    with db.session() as s:
        row = s.scalars(select(Principal).where(Principal.id == principal_id)).one_or_none()
        if row is None or row.revoked_at is not None or row.role not in ("staff", "verifier"):
            raise NotFoundError("no active relying party (staff or verifier principal) with this id",
                                message_zh="使用方不存在或已停用", field="relying_party")
        return RelyingParty(row.id, row.name, row.region)


@consent.command("grant")
@click.argument("licence_id")
@click.option("--holder-id", required=True, help="The holder's resident ID number or USCC (checked).")
@click.option("--relying-party", required=True, help="Principal id of the relying system or window.")
@click.option("--field", "fields", multiple=True, required=True, help="A field it may see (repeatable).")
@click.option("--purpose", required=True, help="Why (shown to the holder).")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366), help="How long.")
def grant_cmd(licence_id: str, holder_id: str, relying_party: str, fields: tuple[str, ...], purpose: str,
              days: int) -> None:
    """Record a holder's consent for one relying party, fields, purpose and time limit."""
    from licences.consent import consent_to_dict, grant

    now = _now()

    def go() -> Any:
        svc = _service()
        return grant(svc, licence_id, holder=_holder(holder_id), relying_party=_relying_party(svc, relying_party),
                     fields=list(fields), purpose=purpose, at=now, expires_at=now + timedelta(days=days))

    emit(consent_to_dict(_run(go), at=now))


@consent.command("revoke")
@click.argument("grant_id")
@click.option("--holder-id", required=True, help="The holder who granted it.")
def revoke_cmd(grant_id: str, holder_id: str) -> None:
    """Revoke a grant (409 when already revoked)."""
    from licences.consent import consent_to_dict, revoke_grant

    now = _now()
    emit(consent_to_dict(_run(lambda: revoke_grant(_service(), grant_id, holder=_holder(holder_id), at=now)), at=now))


@consent.command("list")
@click.option("--holder-id", help="Grants of this holder.")
@click.option("--relying-party", help="Grants to this relying party.")
def list_grants_cmd(holder_id: str | None, relying_party: str | None) -> None:
    """List grants, newest first."""
    from licences.consent import consent_to_dict

    now = _now()
    subject = _holder(holder_id).subject if holder_id else None
    emit([consent_to_dict(g, at=now) for g in _run(lambda: _service().repo.list_consents(
        holder_id=subject, relying_party=relying_party))])


@consent.command("uses")
@click.option("--holder-id", required=True, help="The holder.")
def uses_cmd(holder_id: str) -> None:
    """Every use of the holder's licences under their grants (served and refused)."""
    from licences.consent import use_to_dict, uses_of_holder

    emit([use_to_dict(g, u) for g, u in _run(lambda: uses_of_holder(_service(), _holder(holder_id).subject))])


@consent.command("wallet")
@click.option("--holder-id", required=True, help="The holder.")
@click.option("--federated", is_flag=True,
              help="Also ask the peer deployments of ESIGN_PEERS; prints {licences, regions} (a peer down is noted).")
def wallet_cmd(holder_id: str, federated: bool) -> None:
    """Every licence issued to the holder in this service, every region, newest first."""
    from licences.consent import wallet
    from licences.model import effective_status

    now = _now()
    if federated:
        emit(_run(lambda: _federated_wallet(_holder(holder_id).subject, now)))
        return
    emit([{"licence_id": x.licence_id, "region": x.region, "type_code": x.type_code, "version": x.version,
           "status": effective_status(x, now).value, "superseded_by": x.superseded_by}
          for x in _run(lambda: wallet(_service(), _holder(holder_id).subject))])


def _federated_wallet(holder_id: str, now: datetime) -> dict[str, Any]:
    """Local wallet items and the peers', merged by ``licences.federation.federate`` (as the HTTP listing)."""
    from pydantic import ValidationError

    from api.peers import HttpPeerDirectory
    from api.settings import Settings
    from keys.errors import BadInputError
    from licences.consent import wallet
    from licences.federation import federate, wallet_item

    try:
        peers = Settings().peers
    except ValidationError as exc:
        raise BadInputError(f"ESIGN_* settings are invalid: {exc.errors()[0].get('msg', '')[:200]}",
                            message_zh="配置无效", field=str(exc.errors()[0].get("loc", ("settings",))[0])) from None
    local = [wallet_item(x, now) for x in wallet(_service(), holder_id)]
    return federate(local, holder_id, HttpPeerDirectory(peers)).to_dict()


@consent.command("fetch")
@click.argument("grant_id")
@click.option("--relying-party", required=True, help="The relying party named in the grant.")
@click.option("--status-uri", help="Status-list URL to put in the token (e.g. https://<host>/v1/status-lists/<id>).")
def fetch_cmd(grant_id: str, relying_party: str, status_uri: str | None) -> None:
    """Fetch the granted fields of the current version as a signed ESL1 token (logged for the holder)."""
    from licences.consent import fetch

    s = _run(lambda: fetch(_service(), grant_id, relying_party=relying_party, at=_now(), status_uri=status_uri))
    emit({"grant_id": grant_id, "licence_id": s.licence.licence_id, "version": s.licence.version,
          "disclosed": s.disclosed, "token": s.token, "token_expires_at": s.expires_at.isoformat()})

