#!/usr/bin/env bash
# Builds the retrieval dev sets in corpora/dev/ (see corpora/README.md) from
# documentation that ships in Debian packages: sqlite3-doc, r-doc-html,
# git-doc, gnome-user-docs (English, German, French, Dutch, Danish, Italian,
# each against its own language and, for the five others, against the
# English pages) and, for the GNOME sets' out-of-domain questions,
# libreoffice-help-de / -fr / -nl / -da / -it. The packages come from
# the Debian archive with `apt-get download` (no installation), are unpacked
# with `dpkg-deb -x`, and corpora/tools/make_devsets.py (standard library
# Python) turns them into BEIR-style sets. Idempotent: downloads and the build
# are kept in .cache/devsets and redone only when a package or the script
# changed.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${QUARRY_DEVSETS_CACHE:-$root/.cache/devsets}"
out="$root/corpora/dev"
python="${PYTHON:-python3}"
packages=(sqlite3-doc r-doc-html git-doc gnome-user-docs libreoffice-help-de libreoffice-help-fr
  libreoffice-help-nl libreoffice-help-da libreoffice-help-it)

. "$root/scripts/lib/debian-packages.sh"
fetch_packages "$cache" "${packages[@]}"

stamp="$(cat "$cache"/pkg/*.from "$root/corpora/tools/make_devsets.py" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
  echo "devsets: corpora/dev is up to date"
  exit 0
fi
"$python" "$root/corpora/tools/make_devsets.py" "$cache/pkg" "$out"
echo "$stamp" > "$out/.stamp"
