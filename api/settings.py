"""Service settings, read from ``ESIGN_*`` environment variables (see ``docs/configuration.md``).

Everything that differs between a laptop demo and production is here, and only here: the
storage backends are chosen purely by ``database_url`` and ``redis_url``. Secrets (keystore
passphrase, bootstrap admin token, PII hashing key) are never given defaults in code; for the
demo they are generated once into ``<data_dir>/secrets/`` with mode 0600.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from keys.errors import BadInputError, KeyStoreError

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_REGION",
    "DEFAULT_REGION_NAME",
    "MAX_PEERS",
    "PeerDeployment",
    "Settings",
    "read_or_create_secret",
]

#: Demo region: GB/T 2260 code of Guangdong province (the landing page and token names say "demo").
DEFAULT_REGION = "440000"
DEFAULT_REGION_NAME = "广东省（演示） Guangdong (demo)"
#: Largest request body accepted by default (10 MiB): a signed PDF with some margin.
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: Most peer deployments in ``ESIGN_PEERS`` (one per province-level region, with room to spare).
MAX_PEERS = 64
_SECRET_FILE_MODE = 0o600

_log = logging.getLogger("esign.settings")


class PeerDeployment(BaseModel):
    """One other esign deployment (``ESIGN_PEERS``): where it is and which token this deployment holds there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(max_length=500)
    """Base URL (``http(s)://host[:port][/prefix]``, no query); ``/v1/holders/{id}/licences`` is appended."""
    token_file: Path
    """File whose first line is the bearer token of this deployment's ``wallet`` principal at the peer
    (read at each request, so it can be rotated without a restart)."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        scheme, sep, rest = v.partition("://")
        if scheme.lower() not in ("http", "https") or not sep or not rest or any(c in rest for c in "?#@ "):
            raise ValueError("peer url must be http(s)://host[:port][/path], without credentials, query or fragment")
        return v


class Settings(BaseSettings):
    """All service settings. Every field maps to ``ESIGN_<FIELD>`` (case-insensitive)."""

    model_config = SettingsConfigDict(env_prefix="ESIGN_", extra="ignore", frozen=True)

    data_dir: Path = Path("./var")
    """Directory for the SQLite database, secrets and the demo PKI."""
    database_url: str | None = None
    """SQLAlchemy URL. Default ``sqlite:///<data_dir>/esign.db``; production ``postgresql+psycopg://...``."""
    redis_url: str | None = None
    """``redis://host:port/db``; ``None`` uses the in-process cache."""
    cache_prefix: str = "esign:"
    """Prefix of every cache key (lets several deployments share one Redis database)."""
    cache_max_entries: int = Field(default=10_000, ge=1)
    """Capacity of the in-process LRU cache."""
    cache_default_ttl: float = Field(default=300.0, gt=0)
    """Default time-to-live of cache entries, seconds."""
    auth_cache_ttl: float = Field(default=30.0, ge=0)
    """How long a token lookup is cached (0 disables); revocation clears it at once."""
    region: str = DEFAULT_REGION
    """Region this deployment serves (GB/T 2260 code)."""
    region_name: str = DEFAULT_REGION_NAME
    """Human name of the region, shown on the landing page."""
    demo: bool = True
    """Bootstrap a demo region (principals, tokens, PKI) when the database is empty."""
    demo_pki: bool = True
    """With ``demo``: also create the region's root and issuing CA under ``<data_dir>/pki/<region>``."""
    trust_refresh_seconds: int = Field(default=3600, ge=60)
    """How often trust lists imported from a URL are refreshed (the last good copy stays in use)."""
    policy_file: Path | None = None
    """Recognition / validation policy (JSON, docs/trust-lists.md §3) applied by ``POST /v1/verify``;
    unset: the local region's own artefacts only (rule ``local-region``), nothing foreign."""
    public_base_url: str = "http://127.0.0.1:8000"
    """Where relying parties reach this service; CRL distribution points in issued certificates point here."""
    keystore_url: str | None = None
    """Where service keys live: ``file:///dir`` or a ``pkcs11:`` URI (default: file store in ``<data_dir>/keys``)."""
    keystore_scrypt_n: int | None = None
    """scrypt cost for new key files (tests lower it; leave unset in production)."""
    keystore_passphrase: SecretStr | None = None
    """Passphrase of the file keystore. Prefer ``keystore_passphrase_file``."""
    keystore_passphrase_file: Path | None = None
    """File holding the keystore passphrase (first line)."""
    admin_token: SecretStr | None = None
    """If set, an ``admin`` principal with this token is ensured at start-up (production bootstrap)."""
    pii_hash_key_file: Path | None = None
    """Key for hashing personal data in logs and audit entries; default ``<data_dir>/secrets/pii.key``."""
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, ge=0)
    """Largest request body accepted; larger requests get 413."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level of the JSON log lines on stderr."""
    run_migrations: bool = True
    """Apply database migrations at start-up."""
    problem_base_uri: str = "/problems/"
    """Prefix of RFC 9457 problem ``type`` URIs; each resolves to a page served by this service."""
    db_pool_size: int = Field(default=5, ge=1)
    """Connection pool size for PostgreSQL."""
    peer_rate_limit: int = Field(default=600, ge=0)
    """Calls a ``wallet`` principal (a peer deployment) may make to ``GET /v1/holders/{id}/licences`` per
    ``peer_rate_window`` seconds; past it 429 with ``Retry-After``. 0 turns the limit off."""
    peer_rate_window: float = Field(default=60.0, gt=0)
    """Length of the rate-limit window, seconds."""
    peers: dict[str, PeerDeployment] = Field(default_factory=dict)
    """Other esign deployments whose holders' licences the wallet lists (``GET /v1/wallet/licences?federated=true``):
    JSON ``{"510000": {"url": "https://esign.sc.example", "token_file": "/run/secrets/peer-510000.token"}}``,
    keyed by the peer's GB/T 2260 region code; the token is this deployment's ``wallet`` credential at that peer."""

    @field_validator("region")
    @classmethod
    def _region_code(cls, v: str) -> str:
        if not (len(v) == 6 and v.isdigit()) and v != "demo":
            raise ValueError("region must be a 6-digit GB/T 2260 code (or 'demo')")
        return v

    @field_validator("peers")
    @classmethod
    def _peer_regions(cls, v: dict[str, PeerDeployment]) -> dict[str, PeerDeployment]:
        if len(v) > MAX_PEERS:
            raise ValueError(f"at most {MAX_PEERS} peers")
        for code in v:
            if not (len(code) == 6 and code.isdigit()):
                raise ValueError(f"peer region {code[:20]!r} must be a 6-digit GB/T 2260 code")
        return v

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    # -- derived values -------------------------------------------------------------------

    @property
    def secrets_dir(self) -> Path:
        """``<data_dir>/secrets`` (created 0700 on demand)."""
        return self.data_dir / "secrets"

    @property
    def pki_dir(self) -> Path:
        """``<data_dir>/pki``: one sub-directory per region."""
        return self.data_dir / "pki"

    def resolved_database_url(self) -> str:
        """The database URL in use (the SQLite default when none is configured)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'esign.db').resolve()}"

    def keystore_passphrase_bytes(self, *, create: bool) -> bytes:
        """The keystore passphrase: env value, else the file, else (``create``) a generated demo one.

        Raises:
            KeyStoreError: no passphrase configured and ``create`` is false, or the file is unreadable.
        """
        if self.keystore_passphrase is not None:
            return self.keystore_passphrase.get_secret_value().encode()
        if self.keystore_passphrase_file is not None:
            try:
                line = self.keystore_passphrase_file.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise KeyStoreError(
                    f"cannot read ESIGN_KEYSTORE_PASSPHRASE_FILE ({exc.strerror})",
                    message_zh="无法读取密钥库口令文件",
                ) from exc
            if not line or not line[0]:
                raise KeyStoreError("ESIGN_KEYSTORE_PASSPHRASE_FILE is empty", message_zh="密钥库口令文件为空")
            return line[0].encode()
        if not create:
            raise KeyStoreError(
                "no keystore passphrase: set ESIGN_KEYSTORE_PASSPHRASE_FILE (or ESIGN_KEYSTORE_PASSPHRASE)",
                message_zh="未配置密钥库口令",
            )
        path = self.secrets_dir / "keystore.pass"
        existed = path.exists()
        value = read_or_create_secret(path, lambda: secrets.token_urlsafe(32))
        if not existed:
            _log.warning("generated a demo keystore passphrase", extra={"path": str(path)})
        return value.encode()

    def pii_hash_key(self) -> bytes:
        """Key for :func:`keys.audit.pii_digest` (file, generated on first use)."""
        path = self.pii_hash_key_file or (self.secrets_dir / "pii.key")
        return bytes.fromhex(read_or_create_secret(path, lambda: secrets.token_hex(32)))


def read_or_create_secret(path: Path, make: object) -> str:
    """Read the first line of ``path``; if missing, write ``make()`` to it with mode 0600.

    The parent directory is created with mode 0700. Creation uses ``O_EXCL`` so two processes
    starting together never overwrite each other's secret.

    Raises:
        KeyStoreError: the file cannot be read or written.
    """
    assert callable(make)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _SECRET_FILE_MODE)
        except FileExistsError:
            value = path.read_text(encoding="utf-8").strip()
            if not value:
                raise BadInputError(f"secret file {path} is empty", message_zh="密钥文件为空") from None
            return value
        value = str(make())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value + "\n")
        return value
    except OSError as exc:
        raise KeyStoreError(f"cannot use secret file {path} ({exc.strerror})", message_zh="无法读写密钥文件") from exc
