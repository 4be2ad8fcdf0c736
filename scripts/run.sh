#!/usr/bin/env bash
# Install (if needed) and run the service on the embedded default (SQLite + in-process cache).
# A demo region is bootstrapped on first run; open http://127.0.0.1:8000/ .
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/esign serve "$@"
