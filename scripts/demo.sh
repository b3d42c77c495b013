#!/usr/bin/env bash
# One command on a fresh machine: install what is missing, fetch the models,
# build quarry, ingest the bundled sample help centre and answer a question.
# Then `./target/release/quarry serve` serves it on http://127.0.0.1:7700.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh
./scripts/fetch-models.sh
cargo build --release --locked --bin quarry
export QUARRY_DATA_DIR="${QUARRY_DATA_DIR:-quarry-data}"
./target/release/quarry ingest corpora/sqlite-sample/docs
./target/release/quarry query "How do I create an AUTOINCREMENT column?" --top-k 3
echo
# The same content, asked in Dutch: the default model matches across languages.
./target/release/quarry query "Hoe maak ik een kolom die automatisch oplopende nummers krijgt?" --top-k 3
echo
echo "Next: ./target/release/quarry serve, then open http://127.0.0.1:7700/ (the playground),"
echo "      POST /v1/query, or connect Dify to POST /retrieval (docs/http-api.md)"
