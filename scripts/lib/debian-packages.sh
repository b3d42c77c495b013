# Sourced by scripts/fetch-devsets.sh and scripts/fetch-large.sh.
#
# fetch_packages CACHE PACKAGE...: downloads each package's .deb from the
# Debian archive into CACHE/debs with `apt-get download` (no installation;
# `apt-get update` first on a machine with no package lists yet) unless one
# is there, and unpacks the newest .deb of each into CACHE/pkg/PACKAGE with
# `dpkg-deb -x`, again only when that .deb changed (CACHE/pkg/PACKAGE.from
# names the one unpacked).
fetch_packages() {
  local cache="$1"; shift
  local packages=("$@") missing=() p deb sudo=""
  mkdir -p "$cache/debs" "$cache/pkg"
  for p in "${packages[@]}"; do
    compgen -G "$cache/debs/${p}_*.deb" >/dev/null || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "downloading ${missing[*]}"
    if ! (cd "$cache/debs" && apt-get download -qq "${missing[@]}" 2>/dev/null); then
      [ "$(id -u)" -eq 0 ] || sudo="sudo"
      $sudo apt-get update -qq
      (cd "$cache/debs" && apt-get download -qq "${missing[@]}")
    fi
  fi
  for p in "${packages[@]}"; do
    deb="$(cd "$cache/debs" && ls -1 "${p}"_*.deb | sort | tail -n 1)"
    if [ "$(cat "$cache/pkg/$p.from" 2>/dev/null)" != "$deb" ]; then
      rm -rf "${cache:?}/pkg/$p"
      dpkg-deb -x "$cache/debs/$deb" "$cache/pkg/$p"
      echo "$deb" > "$cache/pkg/$p.from"
    fi
  done
}
