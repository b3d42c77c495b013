#!/usr/bin/env bash
# Makes benches/peers/.venv with the pinned peer libraries (requirements.txt,
# all from PyPI; hnswlib builds from source, about a minute). Idempotent: a
# venv whose requirements are unchanged is kept. Prints the venv's python.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
stamp="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$venv"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$stamp" > "$venv/.stamp"
fi
echo "$venv/bin/python"
