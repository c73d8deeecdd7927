#!/usr/bin/env bash
# The whole test suite: installs what is missing, lints the wire contract, checks formatting and
# clippy, builds the binaries, runs every test (unit and end-to-end against real ClickHouse
# servers started in temp dirs), then checks the agent's Debian package (build, lintian, install,
# remove, reinstall, purge: scripts/packaging-check.sh; needs root; SME_SKIP_PACKAGING=1 skips it).
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

if [ "${SME_SKIP_PACKAGING:-}" = 1 ]; then
  echo "== packaging check skipped (SME_SKIP_PACKAGING=1)"
elif [ "$(id -u)" -ne 0 ]; then
  echo "== packaging check skipped: it installs and purges the sme-agent package, run as root (CI does)"
else
  echo "== packaging check (the agent's .deb)"
  scripts/packaging-check.sh
fi
