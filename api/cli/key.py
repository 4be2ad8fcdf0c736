"""``esign key``: generate key pairs, sign and verify raw data, show a key.

Exit codes (``docs/cli.md``): 0 success / signature valid; 1 signature invalid; 2 bad input
(unreadable or truncated key, wrong passphrase, wrong key type, wrong signature encoding, bad
option); 3 backend failure (e.g. libcrypto without SM2).

Signature encodings are explicit: DER by default; ``--raw`` means fixed-width ``r||s`` (64
bytes for SM2 and P-256, IEEE P1363). There is no auto-detection: a raw signature given without
``--raw`` (or DER given with it) is a bad-input error (exit 2) that names the flag to use, not
"invalid". A signature is never silently reinterpreted.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import click
from asn1crypto.pem import armor

from api.cli import emit, fail
from api.cli._lt_common import read_file as _read
from keys._sm2 import der_to_raw, raw_to_der
from keys.algorithms import KeyType, SignatureAlgorithm
from keys.errors import BadInputError, EsignError, KeyFormatError, SignatureFormatError
from keys.interfaces import SigningKey, VerifyingKey
from keys.keypairs import KEY_GEN_CHOICES, generate_key, load_public_key, pem_blocks
from keys.sigencoding import der_to_p1363, p1363_to_der

__all__ = ["MAX_INPUT_BYTES", "MAX_KEY_FILE_BYTES", "key"]

#: Largest file ``esign key sign/verify`` reads into memory for ``--in``.
MAX_INPUT_BYTES = 256 << 20
#: Largest key, certificate, signature or passphrase file read.
MAX_KEY_FILE_BYTES = 1 << 20
_RAW_WIDTH = {KeyType.SM2: 32, KeyType.P256: 32}


# --- fixed-width r||s for ECDSA (IEEE P1363) --------------------------------------------------


# --- helpers -------------------------------------------------------------------------------------




def _passphrase(path: str | None) -> bytes | None:
    if path is None:
        return None
    data = _read(path, limit=MAX_KEY_FILE_BYTES, what="passphrase")
    first = data.split(b"\n", 1)[0].rstrip(b"\r")  # like openssl -passin file: the first line
    if not first:
        raise BadInputError("the passphrase file is empty", message_zh="口令文件为空", field="passphrase")
    return first


def _spki_fingerprint(pub: VerifyingKey) -> str:
    return hashlib.sha256(pub.spki_der()).hexdigest()


def _describe(pub: VerifyingKey) -> dict[str, object]:
    return {
        "key_type": pub.key_type.value,
        "key_bits": pub.key_bits,
        "algorithm": pub.default_algorithm().algo_name,
        "spki_sha256": _spki_fingerprint(pub),
    }


def _warn(en: str, zh: str) -> None:
    click.echo(json.dumps({"warning": {"en": en, "zh": zh}}, ensure_ascii=False), err=True)


def _load_private(path: str, passphrase: bytes | None) -> SigningKey:
    from keys.pkcs8 import is_encrypted_pem, load_private_key

    data = _read(path, limit=MAX_KEY_FILE_BYTES, what="key")
    _check_pem_complete(data)
    if passphrase is not None and b"-----BEGIN" in data and not is_encrypted_pem(data):
        _warn("the key file is not encrypted; --passphrase-file ignored", "私钥文件未加密，已忽略口令文件")
        passphrase = None
    return load_private_key(data, passphrase=passphrase)


def _check_pem_complete(data: bytes) -> None:
    if b"-----BEGIN" in data and not pem_blocks(data):
        raise KeyFormatError(
            "the PEM file is truncated or corrupt (no complete BEGIN/END block)",
            message_zh="PEM 文件不完整或已损坏",
            field="key",
        )


def _uid(key_type: KeyType, id_text: str | None) -> bytes | None:
    if id_text is None:
        return None
    if key_type is not KeyType.SM2:
        raise BadInputError(
            f"--id (SM2 distinguishing ID) given, but the key is {key_type.value}, not SM2",
            message_zh="--id 仅适用于 SM2 密钥",
            field="id",
        )
    if not id_text:
        raise BadInputError("--id must not be empty", message_zh="SM2 用户标识不能为空", field="id")
    return id_text.encode("utf-8")


def _algorithm(key_type: KeyType, variant: str | None) -> SignatureAlgorithm | None:
    if variant is None:
        return None
    if key_type is not KeyType.RSA:
        raise BadInputError(
            f"--alg-variant pss applies to RSA keys only, not {key_type.value}",
            message_zh="--alg-variant pss 仅适用于 RSA 密钥",
            field="alg-variant",
        )
    return SignatureAlgorithm.RSA_PSS_SHA256


def _raw_width(key_type: KeyType) -> int:
    width = _RAW_WIDTH.get(key_type)
    if width is None:
        raise BadInputError(
            f"--raw applies to SM2 and ECDSA P-256 keys only; {key_type.value} signatures have one encoding",
            message_zh="--raw 仅适用于 SM2 与 ECDSA P-256 密钥",
            field="raw",
        )
    return width


def _write_private(path: str, pem: bytes, *, force: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise BadInputError(f"{path} exists; use --force to replace it", message_zh="文件已存在", field="out") from None
    except OSError as exc:
        raise BadInputError(f"cannot write {path}: {exc.strerror}", message_zh="无法写入文件", field="out") from exc
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), 0o600)  # also when --force replaced a file with wider permissions
        fh.write(pem)


def _write(path: str, data: bytes, what: str) -> None:
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise BadInputError(f"cannot write {path}: {exc.strerror}", message_zh="无法写入文件", field=what) from exc


# --- commands -----------------------------------------------------------------------------------


@click.group("key", context_settings={"help_option_names": ["-h", "--help"]})
def key() -> None:
    """Generate keys; sign and verify raw data (SM2, P-256, RSA, Ed25519).

    Exit codes: 0 ok/valid, 1 invalid signature, 2 bad input, 3 backend failure.
    """


@key.command("generate")
@click.option("--alg", "alg", type=click.Choice(KEY_GEN_CHOICES), required=True, help="Key type to generate.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Private key file (PKCS#8 PEM).")
@click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False),
    help="Encrypt the key (PBES2/scrypt/AES-256-CBC) with the first line of this file (>= 8 bytes).",
)
@click.option("--pub-out", type=click.Path(dir_okay=False), help="Also write the public key (SPKI PEM) here.")
@click.option("--force", is_flag=True, help="Replace --out if it exists.")
def generate(alg: str, out: str, passphrase_file: str | None, pub_out: str | None, force: bool) -> None:
    """Generate a key pair and write the private key with mode 0600.

    Without --passphrase-file the key is written unencrypted and a warning goes to stderr.
    """
    try:
        passphrase = _passphrase(passphrase_file)
        k = generate_key(alg)
        if passphrase is None:
            # clear PKCS#8, the same form `openssl genpkey` writes
            body = armor("PRIVATE KEY", k.private_der())  # type: ignore[attr-defined]
            _warn(
                f"{out} holds an UNENCRYPTED private key (mode 0600); use --passphrase-file to encrypt it",
                "私钥未加密保存（权限 0600），建议使用 --passphrase-file 加密",
            )
        else:
            from keys.pkcs8 import encrypt_private_key

            body = encrypt_private_key(k, passphrase=passphrase)
        pub = k.public_key()
        _write_private(out, body, force=force)
        if pub_out:
            _write(pub_out, armor("PUBLIC KEY", pub.spki_der()), "pub-out")
    except EsignError as exc:
        fail(exc)
    emit({"out": out, "encrypted": passphrase is not None, "pub_out": pub_out, **_describe(pub)})




@key.command("sign")
@click.option(
    "--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Private key (PKCS#8/SEC1 PEM)."
)
@click.option("--in", "in_path", required=True, type=click.Path(dir_okay=False), help="Data to sign.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Where to write the signature.")
@click.option("--id", "id_text", help="SM2 distinguishing ID (default 1234567812345678). SM2 keys only.")
@click.option("--raw", is_flag=True, help="Write fixed-width r||s (SM2, P-256) instead of DER.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase for an encrypted key.")
@click.option("--alg-variant", type=click.Choice(["pss"]), help="RSA only: sign with RSA-PSS (SHA-256, salt 32).")
def sign(
    key_path: str, in_path: str, out: str, id_text: str | None, raw: bool, passphrase_file: str | None,
    alg_variant: str | None,
) -> None:  # fmt: skip
    """Sign the bytes of --in. SM2 signs SM3(Z_A || data) with the given (or standard) ID."""
    try:
        sk = _load_private(key_path, _passphrase(passphrase_file))
        uid = _uid(sk.key_type, id_text)
        algorithm = _algorithm(sk.key_type, alg_variant)
        width = _raw_width(sk.key_type) if raw else 0
        data = _read(in_path, limit=MAX_INPUT_BYTES, what="in")
        sig = sk.sign(data, algorithm=algorithm, uid=uid)
        if raw:
            sig = der_to_raw(sig) if sk.key_type is KeyType.SM2 else der_to_p1363(sig, width)
        _write(out, sig, "out")
        pub = sk.public_key()
    except EsignError as exc:
        fail(exc)
    result: dict[str, object] = {
        "out": out,
        "encoding": "raw" if raw else ("der" if sk.key_type in _RAW_WIDTH else "native"),
        "signature_bytes": len(sig),
        "data_sha256": hashlib.sha256(data).hexdigest(),
        **_describe(pub),
    }
    result["algorithm"] = (algorithm or sk.default_algorithm()).algo_name
    if sk.key_type is KeyType.SM2:
        result["id"] = id_text if id_text is not None else "1234567812345678"
    emit(result)


@key.command("verify")
@click.option("--key", "key_path", required=True, type=click.Path(dir_okay=False), help="Public key or certificate.")
@click.option("--in", "in_path", required=True, type=click.Path(dir_okay=False), help="The signed data.")
@click.option("--sig", "sig_path", required=True, type=click.Path(dir_okay=False), help="The signature file.")
@click.option("--id", "id_text", help="SM2 distinguishing ID (default 1234567812345678). SM2 keys only.")
@click.option("--raw", is_flag=True, help="The signature is fixed-width r||s (SM2, P-256), not DER.")
@click.option("--alg-variant", type=click.Choice(["pss"]), help="RSA only: verify RSA-PSS (SHA-256, salt 32).")
def verify(key_path: str, in_path: str, sig_path: str, id_text: str | None, raw: bool, alg_variant: str | None) -> None:
    """Check a signature over the bytes of --in. Exit 0 valid, 1 invalid, 2 bad input.

    The encoding is never guessed: DER unless --raw is given.
    """
    try:
        key_data = _read(key_path, limit=MAX_KEY_FILE_BYTES, what="key")
        _check_pem_complete(key_data)
        pub = load_public_key(key_data)
        uid = _uid(pub.key_type, id_text)
        algorithm = _algorithm(pub.key_type, alg_variant)
        sig = _read(sig_path, limit=MAX_KEY_FILE_BYTES, what="sig")
        sig = _decode_signature(pub.key_type, sig, raw=raw)
        data = _read(in_path, limit=MAX_INPUT_BYTES, what="in")
        pub.verify(sig, data, algorithm=algorithm, uid=uid)
    except EsignError as exc:
        fail(exc)
    emit({"valid": True, **_describe(pub), "algorithm": (algorithm or pub.default_algorithm()).algo_name})


def _decode_signature(key_type: KeyType, sig: bytes, *, raw: bool) -> bytes:
    """Turn the file's bytes into what VerifyingKey.verify takes (DER for SM2/ECDSA), strictly."""
    if raw:
        width = _raw_width(key_type)
        return raw_to_der(sig) if key_type is KeyType.SM2 else p1363_to_der(sig, width)
    if key_type not in _RAW_WIDTH:
        return sig
    try:
        if key_type is KeyType.SM2:
            der_to_raw(sig)
        else:
            der_to_p1363(sig, _RAW_WIDTH[key_type])
    except SignatureFormatError as exc:
        hint = " (it is 64 bytes: if it is raw r||s, add --raw)" if len(sig) == 64 else ""
        raise SignatureFormatError(f"{exc.message}{hint}", message_zh=exc.message_zh, field="sig") from None
    return sig


@key.command("show")
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--passphrase-file", type=click.Path(dir_okay=False), help="Passphrase, if KEY_FILE is encrypted.")
def show(key_file: str, passphrase_file: str | None) -> None:
    """Describe a private key, public key or certificate: type, size, SPKI SHA-256.

    Never prints private material.
    """
    try:
        data = _read(key_file, limit=MAX_KEY_FILE_BYTES, what="key")
        _check_pem_complete(data)
        labels = [label for label, _ in pem_blocks(data)] if b"-----BEGIN" in data else []
        if (labels and labels[0].endswith("PRIVATE KEY")) or passphrase_file is not None:
            encrypted = bool(labels) and labels[0] == "ENCRYPTED PRIVATE KEY"
            pub = _load_private(key_file, _passphrase(passphrase_file)).public_key()
            kind = "private key"
        else:
            encrypted = False
            pub = _load_public_or_private_der(data)
            kind = "certificate" if labels[:1] == ["CERTIFICATE"] else "public key"
    except EsignError as exc:
        fail(exc)
    emit({"file": key_file, "kind": kind, "encrypted": encrypted, **_describe(pub)})


def _load_public_or_private_der(data: bytes) -> VerifyingKey:
    """A public key or certificate (PEM/DER); bare DER that is a clear PKCS#8 key also works."""
    try:
        return load_public_key(data)
    except KeyFormatError:
        if b"-----BEGIN" in data:
            raise
    from keys.pkcs8 import load_private_key

    return load_private_key(data, passphrase=None).public_key()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(key())
