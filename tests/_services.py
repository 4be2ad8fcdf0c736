"""Skip-or-fail for tests that need a real service.

On a developer machine without PostgreSQL, Redis or SoftHSM2 such tests skip with the reason;
CI sets ``ESIGN_REQUIRE_SERVICES=1`` and then a missing service is a failure, never a skip.
"""

from __future__ import annotations

import os

import pytest

__all__ = ["REQUIRE_SERVICES", "needs_tool", "require_service"]

REQUIRE_SERVICES = os.environ.get("ESIGN_REQUIRE_SERVICES") == "1"


def require_service(name: str, available: bool, why: str) -> None:
    """Fail (CI) or skip (elsewhere) the calling test when ``name`` is not available."""
    if available:
        return
    msg = f"{name} not available: {why}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{msg} (ESIGN_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(msg)


def needs_tool(name: str) -> pytest.MarkDecorator:
    """Mark a test that runs the ``name`` command: skipped without it locally, failed in CI."""
    import shutil

    missing = shutil.which(name) is None
    if missing and REQUIRE_SERVICES:
        return pytest.mark.usefixtures()  # the test runs and fails on the missing tool, loudly
    return pytest.mark.skipif(missing, reason=f"{name} not installed (scripts/bootstrap.sh --test installs it)")
