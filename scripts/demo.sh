#!/usr/bin/env bash
# The demo: Redis, the sandbox portal, the web app and a worker, with the app installed; Ctrl-C stops all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/b24app demo "$@"
