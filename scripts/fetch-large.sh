#!/usr/bin/env bash
# Builds the large benchmark corpus in corpora/large/ (~100k chunks; see
# corpora/README.md): the English dev sets (run scripts/fetch-devsets.sh
# first; this script does if corpora/dev is missing) plus the Python 3.11,
# PostgreSQL 15 and Linux kernel documentation from the Debian packages
# python3.11-doc, postgresql-doc-15 and linux-doc-6.1 (`apt-get download`,
# no installation; `dpkg-deb -x`), turned into one flat BEIR-style set by
# corpora/tools/make_large.py (standard library Python). Idempotent: the
# downloads and the build are kept in .cache/large and redone only when a
# package, the dev sets or the script changed. Not part of CI: ingesting it
# takes ~40 minutes on 2 cores (README, benchmarks).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${QUARRY_LARGE_CACHE:-$root/.cache/large}"
out="$root/corpora/large"
python="${PYTHON:-python3}"
packages=(python3.11-doc postgresql-doc-15 linux-doc-6.1)

[ -f "$root/corpora/dev/.stamp" ] || "$root/scripts/fetch-devsets.sh"
. "$root/scripts/lib/debian-packages.sh"
fetch_packages "$cache" "${packages[@]}"

stamp="$(cat "$cache"/pkg/*.from "$root/corpora/dev/.stamp" "$root/corpora/tools/make_large.py" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "large: corpora/large is up to date"
  exit 0
fi
rm -rf "$out"
"$python" "$root/corpora/tools/make_large.py" "$cache/pkg" "$root/corpora/dev" "$out"
echo "$stamp" > "$out/.stamp"
