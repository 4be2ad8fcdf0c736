#!/usr/bin/env bash
# Install (if needed) and run every check: layering contracts, lint, and the test suite.
# Tests that need PostgreSQL (127.0.0.1:5432, db "test") and Redis (127.0.0.1:6379) talk to
# them for real. Without them they skip with the reason; with ESIGN_REQUIRE_SERVICES=1 (CI)
# a missing service is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh --test
export ESIGN_TEST_PG_URL="${ESIGN_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
export ESIGN_TEST_REDIS_URL="${ESIGN_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}"
echo "== import-linter (layers point down)"
.venv/bin/lint-imports
echo "== ruff"
.venv/bin/ruff check keys esign verifier licences api tests bench
echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
