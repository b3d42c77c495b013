#!/usr/bin/env bash
# The long fault-injection run: the crash points, the failing fsync and the
# kill -9 loops of quarry/tests/faults.rs, each loop ROUNDS times longer
# than in the default test run (which is ROUNDS=1).
#
#   scripts/faults.sh [ROUNDS]     default 10 (about 25 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-10}"
./scripts/fetch-models.sh >/dev/null
QUARRY_FAULT_ROUNDS="$rounds" cargo test --release --locked -p quarry --test faults -- --test-threads=1 --nocapture
