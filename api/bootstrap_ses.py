"""Demo seals at first start: the region's seal-maker key and certificate, and one enterprise seal.

:func:`bootstrap` is idempotent: each piece is created only when missing.

1. ``<region>.seal-maker``: an SM2 key in the service key store with a ``seal_maker``
   certificate from the region's issuing CA (the seal maker, 制章者, used by ``POST /v1/seals``).
2. ``<region>.demo-enterprise``: an SM2 signer key with an ``enterprise_signer`` certificate.
3. A demo seal of :data:`DEMO_ENTERPRISE` listing that signer, in the seal register.

Needs the region PKI (``ESIGN_DEMO_PKI`` or ``esign ca init``); without it this step logs and
does nothing.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime, timedelta

from api.settings import Settings
from keys.errors import EsignError, KeyStoreError, NotFoundError
from keys.provider import KeyProvider, open_provider

__all__ = ["DEMO_ENTERPRISE", "DEMO_SIGNER_KEY_NAME", "bootstrap", "open_service_keystore", "render_seal_png"]

#: USCC-shaped id of the demo enterprise (not a real one).
DEMO_ENTERPRISE = "91440300DEMO00001X"
#: Name (after ``<region>.``) of the demo enterprise's signer key.
DEMO_SIGNER_KEY_NAME = "demo-enterprise"
_log = logging.getLogger("esign.bootstrap.ses")


def render_seal_png(text: str, *, size: int = 240) -> bytes:
    """A simple red round seal with a star and ``text`` drawn around it (PNG, transparent background)."""
    import math

    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    red = (200, 16, 16, 255)
    c, r = size / 2, size / 2 - 6
    d.ellipse((c - r, c - r, c + r, c + r), outline=red, width=max(4, size // 40))
    pts = []
    for i in range(10):
        rad = (r * 0.28) if i % 2 == 0 else (r * 0.11)
        ang = -math.pi / 2 + i * math.pi / 5
        pts.append((c + rad * math.cos(ang), c + rad * math.sin(ang)))
    d.polygon(pts, fill=red)
    font = ImageFont.load_default()
    chars = [ch for ch in text if ch.isascii()] or list("SEAL")
    n = len(chars)
    for i, ch in enumerate(chars):
        ang = math.pi + math.pi * (0.15 + 0.7 * i / max(n - 1, 1))
        d.text((c + r * 0.78 * math.cos(ang) - 3, c + r * 0.78 * math.sin(ang) - 5), ch, fill=red, font=font)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def open_service_keystore(settings: Settings) -> KeyProvider:
    """The service key store, opened as :func:`api.routes.keys.get_keystore` opens it."""
    url = settings.keystore_url or f"file://{(settings.data_dir / 'keys').resolve()}"
    passphrase = None if url.startswith("pkcs11:") else settings.keystore_passphrase_bytes(create=settings.demo)
    return open_provider(url, passphrase=passphrase, scrypt_n=settings.keystore_scrypt_n)


def _ensure_key(store: KeyProvider, key_id: str, *, profile: str, subject: dict[str, str], region: object,
                at: datetime) -> None:
    try:
        info = store.key_info(key_id)
    except NotFoundError:
        info = store.create_key(key_id, alg="sm2")
    try:
        store.certificate(key_id)
        return
    except NotFoundError:
        pass
    issued = region.ca().issue(subject=subject, profile=profile,  # type: ignore[attr-defined]
                               public_key=store.public_key(key_id), at=at)
    store.attach_certificate(key_id, info.version, issued.der)


def bootstrap(settings: Settings, *, at: datetime) -> None:
    """Create the demo seal maker, signer and seal when missing (see the module docstring)."""
    from api.routes.ca import open_region
    from api.routes.seals import maker_key_id

    try:
        region = open_region(settings)
    except KeyStoreError as exc:
        _log.warning("seal bootstrap skipped: %s", exc.message)
        return
    code = settings.region
    try:
        store = open_service_keystore(settings)
    except EsignError as exc:
        _log.warning("seal bootstrap skipped: key store unavailable (%s)", exc.message)
        return
    try:
        _ensure_key(store, maker_key_id(code), profile="seal_maker", region=region, at=at,
                    subject={"C": "CN", "O": f"{code} eSign", "CN": f"{code} 电子印章制作系统"})
        signer_id = f"{code}.{DEMO_SIGNER_KEY_NAME}"
        _ensure_key(store, signer_id, profile="enterprise_signer", region=region, at=at,
                    subject={"C": "CN", "O": "示例科技有限公司", "CN": "示例科技有限公司 电子签章"})
        _demo_seal(settings, store, signer_id, at=at)
    except EsignError as exc:
        _log.warning("seal bootstrap incomplete: %s", exc.message)
    finally:
        store.close()


def _demo_seal(settings: Settings, store: KeyProvider, signer_id: str, *, at: datetime) -> None:
    from api.routes.seals import maker_key_id
    from api.storage.audit import SqlAuditLog
    from api.storage.db import Database
    from api.storage.seals import SqlSealRegister
    from esign.ses import make_seal

    db = Database(settings.resolved_database_url())
    try:
        register = SqlSealRegister(db, audit=SqlAuditLog(db, clock=lambda: at))
        if register.list(region=settings.region, enterprise=DEMO_ENTERPRISE, limit=1):
            return
        at = at.replace(microsecond=0)
        code = settings.region
        der = make_seal(maker_key=store.signing_key(maker_key_id(code)),
                        maker_cert_der=store.certificate(maker_key_id(code)),
                        seal_id=f"{code}DEMO0001", seal_type=1, name="示例科技有限公司合同专用章",
                        signer_certs=[store.certificate(signer_id)], valid_from=at,
                        valid_to=at + timedelta(days=365), picture=render_seal_png("DEMO CONTRACT SEAL"),
                        width_mm=40, height_mm=40, at=at)
        register.add(der, region=code, enterprise=DEMO_ENTERPRISE, at=at, actor="system")
        _log.info("demo seal registered", extra={"seal_id": f"{code}DEMO0001"})
    finally:
        db.dispose()
