"""Typed errors of the licence domain, all inside the project's one family (:mod:`keys.errors`).

Each carries an English ``message``, a Chinese ``message_zh`` and the ``field`` at fault, so the
HTTP layer answers with a 4xx problem naming the field and the CLI prints the same. Mapping:

- malformed input (not JSON, not a CSV) -> :class:`~keys.errors.BadInputError` (400);
- well-formed input that breaks a rule of the licence type or of a code scheme
  (missing field, wrong type, wrong check character, holder ID of the wrong kind, unknown type)
  -> :class:`InvalidFieldError` and subclasses (422);
- an authority issuing outside its region or licence types -> :class:`NotAuthorisedToIssueError` (403);
- an operation the licence's state does not allow (revoke twice) -> :class:`LicenceStateError` (409);
- a status list that does not verify -> :class:`StatusListError` / :class:`StatusListExpiredError`
  (422; defined next to the verification code in :mod:`verifier.licence`, re-exported here).
"""

from __future__ import annotations

from keys.errors import BadInputError, ConflictError, NotFoundError, PermissionDeniedError
from verifier.licence import StatusListError, StatusListExpiredError

__all__ = [
    "CheckCharacterError",
    "ConsentError",
    "HolderKindError",
    "InvalidFieldError",
    "LicenceNotFoundError",
    "LicenceStateError",
    "NotAuthorisedToIssueError",
    "ObjectionStateError",
    "StatusListError",
    "StatusListExpiredError",
    "UnknownLicenceTypeError",
]


class InvalidFieldError(BadInputError):
    """A field is missing, of the wrong type, too long, or breaks a rule of the licence type."""

    code = "invalid_field"
    http_status = 422
    default_zh = "字段缺失或不符合要求"


class CheckCharacterError(InvalidFieldError):
    """A code's check character does not match (licence identifier, USCC, resident ID number)."""

    code = "wrong_check_character"
    default_zh = "校验位错误"


class HolderKindError(InvalidFieldError):
    """The holder ID does not match the holder kind (person: resident ID number; organisation: USCC)."""

    code = "holder_kind_mismatch"
    default_zh = "持证主体代码与持证主体类型不符"


class UnknownLicenceTypeError(InvalidFieldError):
    """No licence type with this code in the catalogue (national or the region's)."""

    code = "unknown_licence_type"
    default_zh = "证照类型不存在"


class NotAuthorisedToIssueError(PermissionDeniedError):
    """The issuing authority may not issue this licence type, or not in this region."""

    code = "issuer_not_authorised"
    default_zh = "发证机构无权签发该证照"


class LicenceNotFoundError(NotFoundError):
    """No licence (or issuing authority) with this identifier."""

    code = "licence_not_found"
    default_zh = "证照不存在"


class LicenceStateError(ConflictError):
    """The licence's current state does not allow this change (e.g. revoking a revoked licence)."""

    code = "licence_state_conflict"
    default_zh = "证照当前状态不允许此操作"


class ObjectionStateError(ConflictError):
    """The objection was already decided or withdrawn, or one is already open for this licence and filer."""

    code = "objection_state_conflict"
    default_zh = "异议当前状态不允许此操作"


class ConsentError(PermissionDeniedError):
    """A consent grant does not allow this use (not the grantee, revoked, expired)."""

    code = "consent_refused"
    default_zh = "用证授权不允许此次使用"
