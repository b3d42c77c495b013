#!/usr/bin/env bash
# Fuzzes every parser with cargo-fuzz (libFuzzer), seeded from
# corpora/formats and corpora/hostile. A crash (an uncaught panic, an abort,
# a stack overflow, out of memory) or an input slower than 10 s is a
# finding: it is copied to fuzz/regressions/TARGET/ (commit it: formats'
# tests replay every file there) and the script fails. Panics the parsers
# catch are listed, once per place; QUARRY_FUZZ_STRICT=1 makes them
# findings too (see fuzz/src/lib.rs).
#
#   scripts/fuzz.sh [--quick] [SECONDS_PER_TARGET] [TARGET...]
#
# --quick (CI) runs each target for a fixed 3,000 inputs from a fixed seed
# (at most 60 s), so the run is the same every time: a CI failure is a
# finding that reproduces, not the luck of one run. The default runs 60 s
# per target from a random seed.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=60
seed=0   # 0: libFuzzer picks one
runs=-1  # -1: until the time is up
if [[ "${1:-}" == "--quick" ]]; then secs=60; seed=1; runs=3000; shift; fi
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then secs="$1"; shift; fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(ls fuzz/fuzz_targets | sed 's/\.rs$//')
fi
# cargo-fuzz wants a nightly compiler; without one, the stable toolchain
# takes nightly flags with RUSTC_BOOTSTRAP=1 (no sanitizer is used).
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz" >&2
  cargo "${toolchain[@]}" install cargo-fuzz --version 0.13.2 --locked
fi
# No sanitizer: the parsers are safe Rust (what is sought is panics and
# hangs), and a sanitized build of every dependency takes much longer.
(cd fuzz && cargo "${toolchain[@]}" fuzz build -s none) >&2
work="$(mktemp -d "${TMPDIR:-/tmp}/quarry-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT
failed=()
for t in "${targets[@]}"; do
  corpus="$work/$t"
  mkdir -p "$corpus" "$work/artifacts-$t"
  exts="$t"
  case "$t" in xlsx|xls|ods) exts="xlsx xls ods" ;; md) exts="md markdown" ;; cfg) exts="cfg conf ini" ;; esac
  for e in $exts; do
    find corpora/formats corpora/hostile -type f -name "*.$e" -exec cp {} "$corpus/" \; 2>/dev/null || true
  done
  [[ -d "fuzz/regressions/$t" ]] && cp fuzz/regressions/"$t"/* "$corpus/" 2>/dev/null || true
  budget="${secs}s"
  [[ "$runs" -gt 0 ]] && budget="$runs inputs (at most ${secs}s)"
  echo "fuzz: $t for $budget on $(ls "$corpus" | wc -l) seeds" >&2
  if ! (cd fuzz && cargo "${toolchain[@]}" fuzz run -s none "$t" "$corpus" -- \
      -max_total_time="$secs" -seed="$seed" -runs="$runs" -timeout=10 -rss_limit_mb=3072 -max_len=1048576 \
      -artifact_prefix="$work/artifacts-$t/" -print_final_stats=1 >"$work/$t.log" 2>&1); then
    mkdir -p "fuzz/regressions/$t"
    for a in "$work/artifacts-$t"/*; do
      [[ -f "$a" ]] || continue
      cp "$a" "fuzz/regressions/$t/"
      echo "fuzz: $t: finding saved as fuzz/regressions/$t/$(basename "$a")" >&2
    done
    tail -30 "$work/$t.log" >&2
    failed+=("$t")
  else
    grep -E "stat::number_of_executed_units|Done [0-9]+ runs" "$work/$t.log" | tail -1 | sed "s/^/fuzz: $t: /" >&2 || true
  fi
  grep "^fuzz: caught panic" "$work/$t.log" | sort -u | sed "s/^fuzz: /fuzz: $t: /" >&2 || true
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, $budget each, no findings" >&2
