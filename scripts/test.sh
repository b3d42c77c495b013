#!/usr/bin/env bash
# The test command: installs what is missing, fetches the model (the
# end-to-end tests use the real one), and runs every test of the workspace.
# One profile (release) serves the demo, the tests and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/fetch-models.sh
cargo test --release --locked --workspace "$@"
