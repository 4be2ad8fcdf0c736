#!/usr/bin/env bash
# Install what esign needs on a fresh Debian/Ubuntu machine, into ./.venv.
#   scripts/bootstrap.sh          runtime only
#   scripts/bootstrap.sh --test   runtime + test tools (SoftHSM2, OpenSSL CLI, pytest, ...)
# Idempotent: a second run only checks. Python versions are pinned in requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "esign: need root (or sudo) to install Debian packages: $*" >&2; return 1; fi; }

apt_pkgs=()
python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null || apt_pkgs+=(python3 python3-venv)
python3 -m venv --help >/dev/null 2>&1 || apt_pkgs+=(python3-venv)
# SM2 comes from the system libcrypto (OpenSSL 3.x); Debian's libssl3 has it enabled.
ldconfig -p 2>/dev/null | grep -q 'libcrypto.so.3' || apt_pkgs+=(libssl3)
# Licence files are rendered with real CJK text (TrueType outlines; see docs/licence-files.md).
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || apt_pkgs+=(fonts-wqy-microhei)
if [ "$want_test" = 1 ]; then
  command -v openssl >/dev/null || apt_pkgs+=(openssl)
  [ -e /usr/lib/softhsm/libsofthsm2.so ] || apt_pkgs+=(softhsm2)
  command -v pdfsig >/dev/null || apt_pkgs+=(poppler-utils)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
  echo "esign: installing Debian packages: ${apt_pkgs[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

stamp=".venv/.esign-installed"
extras=""; [ "$want_test" = 1 ] && extras="[test]"
sig="$(cat pyproject.toml requirements.lock 2>/dev/null | sha256sum | cut -c1-16)$extras"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$sig" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip==25.3"
  .venv/bin/python -m pip install -q --disable-pip-version-check -c requirements.lock -e ".$extras"
  echo "$sig" > "$stamp"
fi
