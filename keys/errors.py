"""One typed error family for the whole project.

Every failure that can reach a caller is a subclass of :class:`EsignError`. Each carries a
stable machine ``code``, an English ``message`` and a Chinese ``message_zh``, so the CLI and
HTTP layers can translate any of them without guessing (HTTP status and CLI exit code are
class attributes). Library exceptions (ctypes failures, pyca ``InvalidSignature``, asn1crypto
``ValueError``) are caught where they are raised and re-raised as one of these.
"""

from __future__ import annotations

__all__ = [
    "AlgorithmNotAllowedError",
    "BackendUnavailableError",
    "BadInputError",
    "CertificateError",
    "ConflictError",
    "EsignError",
    "InvalidSignatureError",
    "KeyFormatError",
    "KeyStoreError",
    "NotFoundError",
    "PathValidationError",
    "PermissionDeniedError",
    "SignatureFormatError",
    "VerificationError",
    "WrongPassphraseError",
]


class EsignError(Exception):
    """Root of every error esign raises on purpose."""

    code: str = "esign_error"
    http_status: int = 500
    exit_code: int = 3
    default_zh: str = "内部错误"

    def __init__(self, message: str, *, message_zh: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh or self.default_zh
        self.field = field

    def to_dict(self) -> dict[str, str | None]:
        """A JSON-safe description: code, English and Chinese reason, and the field at fault."""
        return {"code": self.code, "en": self.message, "zh": self.message_zh, "field": self.field}


class BadInputError(EsignError):
    """The caller handed us something malformed: a parse error, a wrong encoding, a bad option."""

    code = "bad_input"
    http_status = 400
    exit_code = 2
    default_zh = "输入格式错误"


class KeyFormatError(BadInputError):
    """A key could not be parsed, or is not of the expected type."""

    code = "bad_key"
    default_zh = "密钥格式错误或类型不符"


class WrongPassphraseError(BadInputError):
    """An encrypted key could not be decrypted with the passphrase given."""

    code = "wrong_passphrase"
    default_zh = "口令错误，无法解密私钥"


class SignatureFormatError(BadInputError):
    """A signature value is not in the encoding expected (DER or raw r||s)."""

    code = "bad_signature_encoding"
    default_zh = "签名值编码错误"


class CertificateError(BadInputError):
    """A certificate, CRL or chain could not be parsed or is structurally unacceptable."""

    code = "bad_certificate"
    default_zh = "证书格式错误"


class AlgorithmNotAllowedError(BadInputError):
    """The algorithm is unknown or not on the allow-list."""

    code = "algorithm_not_allowed"
    default_zh = "算法不在允许列表中"


class VerificationError(EsignError):
    """A check ran and did not pass."""

    code = "verification_failed"
    http_status = 422
    exit_code = 1
    default_zh = "验证未通过"


class InvalidSignatureError(VerificationError):
    """The signature value does not verify under the key and data given."""

    code = "invalid_signature"
    default_zh = "签名值验证失败"


class PathValidationError(VerificationError):
    """A certification path could not be built or did not validate."""

    code = "path_validation_failed"
    default_zh = "证书路径验证失败"


class BackendUnavailableError(EsignError):
    """A cryptographic backend is missing or failed its self-test (e.g. libcrypto without SM2)."""

    code = "backend_unavailable"
    http_status = 503
    exit_code = 3
    default_zh = "密码算法后端不可用"


class KeyStoreError(EsignError):
    """A key store (file or PKCS#11 token) could not be used."""

    code = "key_store_error"
    http_status = 500
    exit_code = 3
    default_zh = "密钥存储不可用"


class NotFoundError(EsignError):
    """The named object does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 2
    default_zh = "对象不存在"


class ConflictError(EsignError):
    """The request conflicts with the current state (e.g. revoking what is already revoked)."""

    code = "conflict"
    http_status = 409
    exit_code = 2
    default_zh = "请求与当前状态冲突"


class PermissionDeniedError(EsignError):
    """The principal is not allowed to do this."""

    code = "permission_denied"
    http_status = 403
    exit_code = 2
    default_zh = "无权执行此操作"
