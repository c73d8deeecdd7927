#!/usr/bin/env bash
# The whole test suite: installs what is missing, lints the wire contract, checks formatting and
# clippy, builds the binaries, and runs every test (unit and end-to-end against real ClickHouse
# servers started in temp dirs).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

echo "== buf lint (proto/)"
(cd proto && ../node_modules/.bin/buf lint)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (binaries used by end-to-end tests)"
cargo build --workspace --bins --locked

echo "== cargo test"
cargo test --workspace --locked -- --test-threads="${SME_TEST_THREADS:-2}"
