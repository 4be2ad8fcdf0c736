"""A throwaway SoftHSM2 for tests: its own token directory, two initialised tokens, a PIN file.

Use the ``softhsm`` fixture (session scoped: SoftHSM2 reads ``SOFTHSM2_CONF`` once, when the
module is first initialised in the process, so every test shares one token directory)::

    from tests.softhsm import softhsm  # noqa: F401  (fixture)

    @pytest.mark.softhsm
    def test_x(softhsm): ...

Without ``softhsm2-util`` or the module the tests skip, or FAIL when ``ESIGN_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._services import require_service

__all__ = ["SOFTHSM_MODULE", "SoftHsm", "softhsm", "softhsm_available"]

SOFTHSM_MODULE = os.environ.get("ESIGN_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
USER_PIN = "1234-esign-test"
SO_PIN = "so-5678-esign-test"


@dataclass(frozen=True)
class SoftHsm:
    """The tokens made for this test session."""

    module: str
    """Path of the PKCS#11 library."""
    conf: Path
    """The softhsm2.conf written for the session."""
    label: str
    """Label of the main token (shared by tests; use unique key ids)."""
    pin_label: str
    """Label of a second token on which no one logs in before the wrong-PIN test."""
    pin: str
    """User PIN of both tokens."""
    pin_file: Path
    """A 0600 file holding :attr:`pin`."""

    def url(self, label: str | None = None) -> str:
        """A pkcs11: URI for ``open_provider``."""
        return f"pkcs11:token={label or self.label};module-path={self.module};pin-source=file:{self.pin_file}"


def softhsm_available() -> tuple[bool, str]:
    """Whether SoftHSM2 can be used here, and why not."""
    if shutil.which("softhsm2-util") is None:
        return False, "softhsm2-util is not on PATH (apt-get install softhsm2)"
    if not os.path.isfile(SOFTHSM_MODULE):
        return False, f"{SOFTHSM_MODULE} not found (set ESIGN_SOFTHSM_MODULE)"
    return True, ""


def _init_token(label: str) -> None:
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", USER_PIN, "--so-pin", SO_PIN],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHsm]:
    """Initialise two SoftHSM2 tokens in a temporary directory for the whole test session."""
    ok, why = softhsm_available()
    require_service("SoftHSM2", ok, why)
    base = tmp_path_factory.mktemp("softhsm")
    tokens = base / "tokens"
    tokens.mkdir(mode=0o700)
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        _init_token("esign-test")
        _init_token("esign-pin")
        import pkcs11

        loaded = pkcs11._loaded.get(os.path.realpath(SOFTHSM_MODULE))
        if loaded is not None:  # initialised earlier with another configuration: re-read ours
            loaded.reinitialize()
        pin_file = base / "pin"
        pin_file.write_text(USER_PIN + "\n")
        pin_file.chmod(0o600)
        yield SoftHsm(SOFTHSM_MODULE, conf, "esign-test", "esign-pin", USER_PIN, pin_file)
    finally:
        if old is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = old
