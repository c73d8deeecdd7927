#!/usr/bin/env bash
# The whole test suite: installs what is missing, lints the wire contract, checks formatting and
# clippy, builds the binaries, runs every test (unit and end-to-end against real ClickHouse
# servers started in temp dirs), and runs the SQL the hub sent on a current ClickHouse release.
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
# Every SQL statement the hub sends during the tests is logged, then run on a current release.
sql_log="$(mktemp -t sme-hub-sql.XXXXXX)"
SME_HUB_SQL_LOG="$sql_log" cargo test --workspace --locked -- --test-threads="${SME_TEST_THREADS:-2}"

echo "== the hub's SQL on a current ClickHouse (chDB $chdb_version)"
"$sql_check_venv/bin/python" scripts/sql_check.py "$sql_log"
rm -f "$sql_log"
