"""One certificate authority directory: issue, revoke, CRLs, end-entity rotation (see :mod:`keys.ca`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from keys._ca_store import Profile, atomic_write, check_profile, locked, read_json, write_json
from keys.errors import BadInputError, ConflictError, NotFoundError
from keys.interfaces import SigningKey, VerifyingKey
from keys.keypairs import generate_key, load_public_key
from keys.pkcs8 import SCRYPT_N, decrypt_private_key, encrypt_private_key
from keys.x509 import (
    Certificate,
    build_certificate,
    build_crl,
    cert_to_pem,
    crl_to_pem,
    ext_authority_key_identifier,
    ext_basic_constraints,
    ext_crl_distribution_points,
    ext_extended_key_usage,
    ext_key_usage,
    ext_subject_alt_name,
    ext_subject_key_identifier,
    make_name,
    parse_certificate,
    random_serial,
    subject_key_identifier,
)

__all__ = ["REVOCATION_REASONS", "CertificateAuthority", "IssuedCertificate"]

#: RFC 5280 §5.3.1 reason codes accepted by :meth:`CertificateAuthority.revoke`.
REVOCATION_REASONS = (
    "unspecified",
    "key_compromise",
    "ca_compromise",
    "affiliation_changed",
    "superseded",
    "cessation_of_operation",
    "certificate_hold",
    "privilege_withdrawn",
)
_DEFAULT_CRL_VALIDITY = timedelta(days=7)


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate a CA issued."""

    serial: int
    """Serial number."""
    der: bytes
    """DER certificate."""
    profile: str
    """Profile it was issued under."""

    @property
    def pem(self) -> bytes:
        """PEM form."""
        return cert_to_pem(self.der)

    @property
    def serial_hex(self) -> str:
        """Serial as lower-case hex (the index key)."""
        return format(self.serial, "x")


def _hex(serial: int) -> str:
    return format(serial, "x")


def _parse_serial(serial: int | str) -> int:
    if isinstance(serial, int):
        return serial
    try:
        return int(serial.lower().removeprefix("0x"), 16)
    except ValueError:
        raise BadInputError(f"serial {serial!r} is not hex", message_zh="序列号格式错误", field="serial") from None


def _spki_of(public_key: bytes | VerifyingKey) -> bytes:
    if isinstance(public_key, (bytes, bytearray)):
        return load_public_key(bytes(public_key)).spki_der()
    return public_key.spki_der()


class CertificateAuthority:
    """One CA directory. Keys are decrypted only for the operation that needs them."""

    def __init__(self, directory: Path, *, passphrase: bytes, crl_url: str | None = None, scrypt_n: int = SCRYPT_N):
        self.directory = Path(directory)
        self._passphrase = passphrase
        self._crl_url = crl_url
        self._scrypt_n = scrypt_n

    def __repr__(self) -> str:
        return f"<CertificateAuthority {self.directory}>"

    # -- state --------------------------------------------------------------------------
    @property
    def _state_path(self) -> Path:
        return self.directory / "state.json"

    def state(self) -> dict[str, Any]:
        """The parsed state.json (a copy)."""
        return dict(read_json(self._state_path))

    @property
    def name(self) -> str:
        """CA name within the region (``root``, ``issuing``, ...)."""
        return str(self.state()["name"])

    @property
    def cert(self) -> Certificate:
        """Current CA certificate."""
        st = self.state()
        return parse_certificate(st["certs"][st["current"]]["pem"].encode())

    def all_certs(self) -> list[Certificate]:
        """Every certificate this CA has had, current one first."""
        st = self.state()
        cur = st["current"]
        order = [cur, *[s for s in st["certs"] if s != cur]]
        return [parse_certificate(st["certs"][s]["pem"].encode()) for s in order]

    def _key(self, st: dict[str, Any]) -> SigningKey:
        path = self.directory / "keys" / f"{st['current']}.pem"
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise NotFoundError(f"CA key {path} missing", message_zh="CA 私钥文件缺失") from exc
        return decrypt_private_key(data, passphrase=self._passphrase)

    def _save_key(self, serial: int, key: SigningKey) -> None:
        pem = encrypt_private_key(key, passphrase=self._passphrase, scrypt_n=self._scrypt_n)
        atomic_write(self.directory / "keys" / f"{_hex(serial)}.pem", pem)

    def _commit(self, st: dict[str, Any]) -> None:
        write_json(self._state_path, st)
        cur = st["certs"][st["current"]]["pem"].encode()
        atomic_write(self.directory / "cert.pem", cur, mode=0o644)

    # -- issuing ------------------------------------------------------------------------
    def _sign_cert(
        self,
        st: dict[str, Any],
        *,
        subject_name: Any,
        spki: bytes,
        profile: Profile,
        at: datetime,
        validity_days: int | None,
        dns: Sequence[str] = (),
        email: Sequence[str] = (),
    ) -> tuple[int, bytes]:
        issuer_cert = parse_certificate(st["certs"][st["current"]]["pem"].encode())
        if at < issuer_cert.not_before or at > issuer_cert.not_after:
            raise ConflictError(
                "the CA certificate is not valid at this time", message_zh="CA 证书在该时间不在有效期内"
            )
        key = self._key(st)
        not_after = min(at + timedelta(days=validity_days or profile.validity_days), issuer_cert.not_after)
        exts = [
            ext_basic_constraints(ca=profile.ca, path_len=profile.path_len),
            ext_key_usage(profile.key_usage),
            ext_subject_key_identifier(spki),
            ext_authority_key_identifier(issuer_cert.ski or subject_key_identifier(issuer_cert.spki_der)),
        ]
        if profile.eku:
            exts.append(ext_extended_key_usage(profile.eku, critical=profile.eku_critical))
        if dns or email:
            exts.append(ext_subject_alt_name(dns=dns, email=email))
        if self._crl_url:
            exts.append(ext_crl_distribution_points([f"{self._crl_url.rstrip('/')}/{st['name']}.crl"]))
        serial = random_serial()
        der = build_certificate(
            subject=make_name(subject_name),
            issuer=issuer_cert.subject,
            subject_spki=spki,
            issuer_key=key,
            not_before=at,
            not_after=not_after,
            extensions=exts,
            serial=serial,
        )
        return serial, der

    def issue(
        self,
        *,
        subject: str | dict[str, str],
        profile: str,
        public_key: bytes | VerifyingKey,
        at: datetime,
        validity_days: int | None = None,
        dns: Sequence[str] = (),
        email: Sequence[str] = (),
        replaces: int | None = None,
    ) -> IssuedCertificate:
        """Issue an end-entity certificate for ``public_key`` (PEM/DER SPKI or certificate, or a key).

        The issued index is updated in one atomic write; if anything fails, it is unchanged.
        """
        prof = check_profile(profile)
        spki = _spki_of(public_key)
        with locked(self.directory):
            st = self.state()
            serial, der = self._sign_cert(
                st,
                subject_name=subject,
                spki=spki,
                profile=prof,
                at=at,
                validity_days=validity_days,
                dns=dns,
                email=email,
            )
            cert = parse_certificate(der)
            st.setdefault("issued", {})[_hex(serial)] = {
                "subject": cert.subject_str,
                "profile": profile,
                "not_before": cert.not_before.isoformat(),
                "not_after": cert.not_after.isoformat(),
                "status": "good",
                "pem": cert_to_pem(der).decode(),
                "replaces": None if replaces is None else _hex(replaces),
            }
            self._commit(st)
        return IssuedCertificate(serial=serial, der=der, profile=profile)

    def issue_with_new_key(
        self,
        *,
        subject: str | dict[str, str],
        profile: str,
        at: datetime,
        alg: str | None = None,
        key_passphrase: bytes,
        validity_days: int | None = None,
        replaces: int | None = None,
    ) -> tuple[IssuedCertificate, bytes]:
        """Generate a key and issue its certificate; the key comes back encrypted (PEM)."""
        key = generate_key(alg or self.state()["alg"])
        encrypted = encrypt_private_key(key, passphrase=key_passphrase, scrypt_n=self._scrypt_n)
        issued = self.issue(
            subject=subject,
            profile=profile,
            public_key=key.public_key(),
            at=at,
            validity_days=validity_days,
            replaces=replaces,
        )
        return issued, encrypted

    def rotate_end_entity(
        self, serial: int | str, *, at: datetime, key_passphrase: bytes
    ) -> tuple[IssuedCertificate, bytes]:
        """New key and certificate for the subject and profile of ``serial``; the old one stays valid."""
        entry = self.lookup(serial)
        old = parse_certificate(entry["pem"].encode())
        return self.issue_with_new_key(
            subject=old.subject,
            profile=entry["profile"],
            at=at,
            key_passphrase=key_passphrase,
            replaces=_parse_serial(serial),
        )

    def lookup(self, serial: int | str) -> dict[str, Any]:
        """The index entry of an issued certificate."""
        key = _hex(_parse_serial(serial))
        entry = self.state().get("issued", {}).get(key)
        if entry is None:
            raise NotFoundError(
                f"no certificate with serial {key} issued by this CA", message_zh="未找到该序列号的证书", field="serial"
            )
        return dict(entry)

    # -- revocation ---------------------------------------------------------------------
    def revoke(self, serial: int | str, *, reason: str = "unspecified", at: datetime) -> None:
        """Mark an issued certificate revoked at ``at`` with an RFC 5280 reason."""
        if reason not in REVOCATION_REASONS:
            raise BadInputError(
                f"unknown reason {reason!r}; one of {', '.join(REVOCATION_REASONS)}",
                message_zh="未知的吊销原因",
                field="reason",
            )
        key = _hex(_parse_serial(serial))
        with locked(self.directory):
            st = self.state()
            entry = st.get("issued", {}).get(key)
            if entry is None:
                raise NotFoundError(
                    f"no certificate with serial {key}", message_zh="未找到该序列号的证书", field="serial"
                )
            if entry["status"] == "revoked":
                raise ConflictError(f"certificate {key} is already revoked", message_zh="该证书已被吊销")
            entry.update(status="revoked", revoked_at=at.isoformat(), reason=reason)
            self._commit(st)

    def issue_crl(self, *, at: datetime, validity: timedelta = _DEFAULT_CRL_VALIDITY) -> bytes:
        """Sign a new complete CRL (next CRL number) valid from ``at``; saved as crl.pem; returns DER."""
        with locked(self.directory):
            st = self.state()
            issuer_cert = parse_certificate(st["certs"][st["current"]]["pem"].encode())
            number = int(st.get("crl_number", 0)) + 1
            revoked = [
                (int(s, 16), datetime.fromisoformat(e["revoked_at"]), e["reason"])
                for s, e in sorted(st.get("issued", {}).items())
                if e["status"] == "revoked"
            ]
            der = build_crl(
                issuer=issuer_cert.subject,
                issuer_key=self._key(st),
                issuer_key_id=issuer_cert.ski,
                this_update=at,
                next_update=at + validity,
                crl_number=number,
                revoked=revoked,
            )
            st["crl_number"] = number
            atomic_write(self.directory / "crl.pem", crl_to_pem(der), mode=0o644)
            self._commit(st)
        return der
