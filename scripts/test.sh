#!/usr/bin/env bash
# The whole test suite: installs what is missing, lints the wire contract, checks formatting and
# clippy, builds the binaries, runs the demo end to end with them, runs every test (unit and
# end-to-end against real ClickHouse servers started in temp dirs), runs the SQL the hub sent on a
# current ClickHouse release, reads the SDMX exports with an independent SDMX library, then
# checks the agent's Debian package (build, lintian, install, remove, reinstall, purge:
# scripts/packaging-check.sh; needs root; SME_SKIP_PACKAGING=1 skips it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

# A clean clone gains nothing from incremental compilation, and its caches would about double the
# build's disk use; CI (and anyone who sets CI) builds without them.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"; fi
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
disk_report() {
  mkdir -p "$target_dir"
  echo "   disk: $(du -sh "$target_dir" 2>/dev/null | cut -f1) in $target_dir," \
    "$(df -h --output=avail "$target_dir" | tail -1 | tr -d ' ') free"
}
disk_report

echo "== buf lint (proto/)"
(cd proto && ../node_modules/.bin/buf lint)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo build (binaries used by end-to-end tests)"
cargo build --workspace --bins --locked

echo "== demo (scripts/demo.sh end to end with the debug binaries, free ports, a temp dir)"
demo_tmp="$(mktemp -d)"
disk_report
SME_DEMO_BIN="$target_dir/debug" SME_DEMO_EXIT=1 SME_DEMO_DIR="$demo_tmp/demo" \
  SME_DEMO_GRPC=127.0.0.1:0 SME_DEMO_HTTP=127.0.0.1:0 SME_DEMO_WEB=127.0.0.1:0 scripts/demo.sh \
  || { echo "scripts/demo.sh failed; its files (hub.log, agents/) are in $demo_tmp/demo" >&2; exit 1; }
rm -rf "$demo_tmp"

echo "== cargo test"
# Every SQL statement the hub sends during the tests is logged, then run on a current release.
sql_log="$(mktemp -t sme-hub-sql.XXXXXX)"
# The export tests also leave their SDMX files here for the SDMX check.
export_samples="$(mktemp -d -t sme-export-samples.XXXXXX)"
SME_HUB_SQL_LOG="$sql_log" SME_EXPORT_SAMPLES="$export_samples" \
  cargo test --workspace --locked -- --test-threads="${SME_TEST_THREADS:-2}"

disk_report

echo "== the hub's SQL on a current ClickHouse (chDB $chdb_version)"
"$sql_check_venv/bin/python" scripts/sql_check.py "$sql_log"
rm -f "$sql_log"

echo "== the SDMX exports read by an independent SDMX library (sdmx1 $sdmx1_version)"
"$sdmx_check_venv/bin/python" scripts/sdmx_check.py "$export_samples"
rm -rf "$export_samples"

if [ "${SME_SKIP_PACKAGING:-}" = 1 ]; then
  echo "== packaging check skipped (SME_SKIP_PACKAGING=1)"
elif [ "$(id -u)" -ne 0 ]; then
  echo "== packaging check skipped: it installs and purges the sme-agent package, run as root (CI does)"
else
  echo "== packaging check (the agent's .deb)"
  scripts/packaging-check.sh
fi
