"""Service key store over HTTP: create, list, show, rotate, sign with, and verify.

Keys are named ``<region>.<name>``; a principal works only on its own region's keys (admins
bound to ``*`` on all). Private keys never leave the store: there is no export endpoint, and
``sign`` returns only the signature. Every create, rotate and sign is in the audit log, with
the signed data recorded as its SHA-256 only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading

from asn1crypto.pem import armor
from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from api.auth import ALL_REGIONS, AuthPrincipal, Role, require_region, require_role
from api.deps import get_audit, get_settings
from api.schemas import PROBLEM_RESPONSES
from api.settings import Settings
from api.storage.audit import SqlAuditLog
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import BadInputError, NotFoundError
from keys.keypairs import KEY_GEN_CHOICES, load_public_key
from keys.provider import KeyInfo, KeyProvider, open_provider, validate_key_id
from keys.sigencoding import from_raw, to_raw

__all__ = ["get_keystore", "router"]

router = APIRouter(prefix="/v1/keys", tags=["keys"], responses=PROBLEM_RESPONSES)
_manage = require_role(Role.ADMIN, Role.ISSUER, Role.SIGNER)
_signer = require_role(Role.ISSUER, Role.SIGNER)
_anyone = require_role(*Role)
_open_lock = threading.Lock()
_MAX_SIGN_BYTES = 8 << 20


def get_keystore(request: Request) -> KeyProvider:
    """The service's key store, opened once per app (file store in ``<data_dir>/keys`` by default)."""
    state = request.app.state
    store: KeyProvider | None = getattr(state, "keystore", None)
    if store is not None:
        return store
    with _open_lock:
        store = getattr(state, "keystore", None)
        if store is None:
            settings: Settings = state.settings
            url = settings.keystore_url or f"file://{(settings.data_dir / 'keys').resolve()}"
            passphrase = None if url.startswith("pkcs11:") else settings.keystore_passphrase_bytes(create=settings.demo)
            store = open_provider(url, passphrase=passphrase, scrypt_n=settings.keystore_scrypt_n)
            state.keystore = store
    return store


class KeyCreate(BaseModel):
    """A new key in the service key store."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,40}$", examples=["enterprise-a-seal"])
    alg: str = Field(default="sm2", examples=list(KEY_GEN_CHOICES))
    region: str | None = Field(default=None, description="Defaults to the caller's region")


class KeyVersionOut(BaseModel):
    """One version of a key."""

    version: int
    alg: str
    status: str
    created_at: str
    fingerprint: str
    public_key_pem: str
    certificate_pem: str | None = None


class KeyOut(BaseModel):
    """A key and all its versions (old versions stay for verification)."""

    key_id: str
    current_version: int
    provider: str
    versions: list[KeyVersionOut]


class SignRequest(BaseModel):
    """Data to sign, base64; for SM2 an optional distinguishing ID."""

    data_b64: str
    uid: str | None = Field(default=None, description="SM2 ID; default 1234567812345678")
    raw: bool = Field(default=False, description="SM2/ECDSA: return 64-byte r||s instead of DER")
    pss: bool = Field(default=False, description="RSA: use RSA-PSS instead of PKCS#1 v1.5")


class SignResponse(BaseModel):
    """A signature made by a store key."""

    key_id: str
    version: int
    algorithm: str
    signature_b64: str
    data_sha256: str


class VerifyRequest(BaseModel):
    """A raw signature check against a public key or certificate (PEM)."""

    public_key_pem: str
    data_b64: str
    signature_b64: str
    uid: str | None = None
    raw: bool = False
    pss: bool = False


class VerifyResponse(BaseModel):
    """Whether the signature holds; ``reason`` says why not."""

    valid: bool
    algorithm: str
    reason: dict[str, str] | None = None


def _b64(value: str, field: str) -> bytes:
    try:
        out = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadInputError(f"{field} is not valid base64", message_zh="Base64 编码错误", field=field) from None
    if len(out) > _MAX_SIGN_BYTES:
        raise BadInputError(f"{field} is larger than 8 MiB", message_zh="数据过大", field=field)
    return out


def _region_of(key_id: str) -> str:
    return key_id.split(".", 1)[0]


def _key_out(store: KeyProvider, key_id: str) -> KeyOut:
    versions = store.public_keys(key_id)
    out = []
    for v in versions:
        cert = v.certificate
        out.append(
            KeyVersionOut(
                version=v.info.version,
                alg=v.info.alg,
                status=v.info.status.value,
                created_at=v.info.created_at.isoformat(),
                fingerprint=v.info.fingerprint,
                public_key_pem=armor("PUBLIC KEY", v.public_key.spki_der()).decode(),
                certificate_pem=armor("CERTIFICATE", cert).decode() if cert else None,
            )
        )
    current = store.key_info(key_id)
    return KeyOut(key_id=key_id, current_version=current.version, provider=store.kind, versions=out)




def _owned(principal: AuthPrincipal, key_id: str) -> str:
    validate_key_id(key_id)
    if "." not in key_id:
        raise NotFoundError("no such key", message_zh="密钥不存在", field="key_id")
    require_region(principal, _region_of(key_id))
    return key_id


@router.post("", response_model=KeyOut, status_code=status.HTTP_201_CREATED, summary="Create a key in the store")
def create_key(
    body: KeyCreate,
    principal: AuthPrincipal = Depends(_manage),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
    settings: Settings = Depends(get_settings),  # noqa: B008
) -> KeyOut:
    """Generate a key of ``alg`` named ``<region>.<name>``; its private part never leaves the store."""
    region = body.region or (settings.region if principal.region == ALL_REGIONS else principal.region)
    require_region(principal, region)
    key_id = validate_key_id(f"{region}.{body.name}")
    info: KeyInfo = store.create_key(key_id, alg=body.alg)
    audit.append(actor=principal.id, action="key.create", object_type="key", object_id=key_id,
                 details={"alg": info.alg, "version": info.version, "fingerprint": info.fingerprint})
    return _key_out(store, key_id)


class KeyListItem(BaseModel):
    """The current version of one key."""

    key_id: str
    version: int
    alg: str
    status: str
    fingerprint: str
    created_at: str
    has_certificate: bool


@router.get("", response_model=list[KeyListItem], summary="List keys")
def list_keys(
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
) -> list[KeyListItem]:
    """Current version of every key in the caller's region (all regions for a ``*`` admin)."""
    return [
        KeyListItem(key_id=i.key_id, version=i.version, alg=i.alg, status=i.status.value,
                    fingerprint=i.fingerprint, created_at=i.created_at.isoformat(),
                    has_certificate=i.has_certificate)
        for i in store.list_keys()
        if principal.region in (ALL_REGIONS, _region_of(i.key_id))
    ]


@router.get("/{key_id}", response_model=KeyOut, summary="A key with all its versions' public keys")
def show_key(
    key_id: str,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
) -> KeyOut:
    """Public keys and certificates of every version; never private material."""
    return _key_out(store, _owned(principal, key_id))


@router.post("/{key_id}/rotate", response_model=KeyOut, summary="New key version; the old one stays verify-only")
def rotate_key(
    key_id: str,
    principal: AuthPrincipal = Depends(_manage),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> KeyOut:
    """The new version becomes current; earlier versions are retired (verification only)."""
    info = store.rotate(_owned(principal, key_id))
    audit.append(actor=principal.id, action="key.rotate", object_type="key", object_id=key_id,
                 details={"version": info.version, "fingerprint": info.fingerprint})
    return _key_out(store, key_id)


@router.post("/{key_id}/sign", response_model=SignResponse, summary="Sign data with the key's current version")
def sign_with_key(
    key_id: str,
    body: SignRequest,
    principal: AuthPrincipal = Depends(_signer),  # noqa: B008
    store: KeyProvider = Depends(get_keystore),  # noqa: B008
    audit: SqlAuditLog = Depends(get_audit),  # noqa: B008
) -> SignResponse:
    """Signs ``data_b64``; the audit log records the data's SHA-256, never the data."""
    _owned(principal, key_id)
    data = _b64(body.data_b64, "data_b64")
    info = store.key_info(key_id)
    key = store.signing_key(key_id)
    alg = SignatureAlgorithm.RSA_PSS_SHA256 if (body.pss and key.key_type is KeyType.RSA) else None
    uid = body.uid.encode() if body.uid is not None else None
    sig = key.sign(data, algorithm=alg, uid=uid)
    used = alg or key.default_algorithm()
    if body.raw:
        sig = to_raw(key.key_type, sig)
    digest = hashlib.sha256(data).hexdigest()
    audit.append(actor=principal.id, action="key.sign", object_type="key", object_id=key_id,
                 details={"version": info.version, "data_sha256": digest, "algorithm": used.algo_name})
    return SignResponse(key_id=key_id, version=info.version, algorithm=used.algo_name,
                        signature_b64=base64.b64encode(sig).decode(), data_sha256=digest)


@router.post("/verify", response_model=VerifyResponse, summary="Check a raw signature against a public key")
def verify_signature(
    body: VerifyRequest,
    principal: AuthPrincipal = Depends(_anyone),  # noqa: B008
) -> VerifyResponse:
    """``valid: false`` with a reason when the signature does not hold; 400 for malformed input."""
    from keys.errors import InvalidSignatureError

    pub = load_public_key(body.public_key_pem.encode())
    sig = _b64(body.signature_b64, "signature_b64")
    data = _b64(body.data_b64, "data_b64")
    if body.raw:
        sig = from_raw(pub.key_type, sig)
    alg = SignatureAlgorithm.RSA_PSS_SHA256 if (body.pss and pub.key_type is KeyType.RSA) else None
    used = alg or pub.default_algorithm()
    try:
        pub.verify(sig, data, algorithm=alg, uid=body.uid.encode() if body.uid is not None else None)
    except InvalidSignatureError as exc:
        return VerifyResponse(valid=False, algorithm=used.algo_name, reason={"en": exc.message, "zh": exc.message_zh})
    return VerifyResponse(valid=True, algorithm=used.algo_name)
