#!/usr/bin/env bash
# Installs what the demo and the tests need: redis-server (Chromium and php-cli for tests) through apt
# when missing, and a virtual environment at .venv with the project and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=()
command -v redis-server >/dev/null 2>&1 || packages+=(redis-server)
if [ "${NEED_CHROMIUM:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then packages+=(chromium); fi
# the Leyka bridge (contrib/leyka-bridge) is PHP: its tests need php-cli
if [ "${NEED_PHP:-0}" = 1 ] && ! command -v php >/dev/null 2>&1; then packages+=(php-cli); fi
if [ ${#packages[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: apt-get install ${packages[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null
fi

python=""
for candidate in python3.11 python3.12 python3.13 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python="$candidate"; break
  fi
done
[ -n "$python" ] || { echo "setup: Python 3.11 or newer is required" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv || { echo "setup: python3-venv is missing (apt-get install python3-venv)" >&2; exit 1; }
fi

stamp=".venv/.blago24-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
