#!/usr/bin/env bash
# The whole test suite: ruff lint, ruff format check, then pytest (which prints the summary line last).
set -uo pipefail
cd "$(dirname "$0")/.."
NEED_CHROMIUM=1 NEED_PHP=1 bash scripts/setup.sh || exit 1

status=0
echo "== ruff check"; .venv/bin/ruff check . || status=1
echo "== ruff format --check"; .venv/bin/ruff format --check . || status=1
echo "== pytest"
.venv/bin/python -m pytest "$@"
pytest_status=$?
[ "$pytest_status" = 0 ] || status=$pytest_status
exit "$status"
