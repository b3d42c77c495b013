#!/usr/bin/env bash
# The test command: installs what is missing, fetches the model (the
# end-to-end tests use the real one), starts a PostgreSQL server for the
# shared-backend tests, and runs every test of the workspace, then the
# end-to-end suite on PostgreSQL.
# One profile (release) serves the demo, the tests and the benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/fetch-models.sh
# A throwaway PostgreSQL with pgvector (PyPI wheel) for the shared-backend
# tests, stopped and removed on exit.
pgdir="$(mktemp -d "${TMPDIR:-/tmp}/quarry-pg.XXXXXX")"
trap './scripts/pg.sh stop "$pgdir" || true; rm -rf "$pgdir"' EXIT
QUARRY_TEST_DATABASE_URL="$(./scripts/pg.sh start "$pgdir")"
export QUARRY_TEST_DATABASE_URL
cargo test --release --locked --workspace "$@"
# The end-to-end suite again, every deployment on PostgreSQL.
QUARRY_TEST_BACKEND=postgres cargo test --release --locked -p quarry --test e2e "$@"
