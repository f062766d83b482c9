#!/usr/bin/env bash
# Message catalogues: extract the English source strings, update the Russian catalogue, compile it.
#   bash scripts/i18n.sh          extract + update (then translate the new entries in messages.po)
#   bash scripts/i18n.sh compile  compile messages.po into the committed messages.mo
set -euo pipefail
cd "$(dirname "$0")/.."
BABEL=.venv/bin/pybabel
DIR=b24app/translations
KEYWORDS=(-k _ -k say -k gettext -k ngettext:1,2 -k lazy_gettext -k gettext_in:2 -k ngettext_in:2,3)
if [ "${1:-}" = "compile" ]; then
  "$BABEL" compile -d "$DIR" -D messages --statistics
  exit 0
fi
POT=$(mktemp --suffix .pot)
trap 'rm -f "$POT"' EXIT
"$BABEL" extract -F babel.cfg "${KEYWORDS[@]}" --no-location --sort-output -o "$POT" .
"$BABEL" update -i "$POT" -d "$DIR" -D messages -l ru --no-fuzzy-matching --ignore-obsolete
echo "now translate the empty msgstr entries in $DIR/ru/LC_MESSAGES/messages.po, then: bash scripts/i18n.sh compile"
