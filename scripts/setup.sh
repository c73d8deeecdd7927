#!/usr/bin/env bash
# Installs what building, testing and running SME Platform Reporting needs on a fresh Debian or
# Ubuntu machine, skipping what is already there. Sourced by demo.sh and test.sh.
set -euo pipefail

root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_packages=()
command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ] || apt_packages+=(clickhouse-server clickhouse-client)
command -v node >/dev/null 2>&1 || apt_packages+=(nodejs npm)
command -v cc >/dev/null 2>&1 || apt_packages+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || apt_packages+=(pkg-config)
command -v curl >/dev/null 2>&1 || apt_packages+=(curl ca-certificates)
# The agent's Debian package check (scripts/packaging-check.sh): lintian, readelf (binutils).
command -v lintian >/dev/null 2>&1 || apt_packages+=(lintian)
command -v readelf >/dev/null 2>&1 || apt_packages+=(binutils)
command -v python3 >/dev/null 2>&1 || apt_packages+=(python3)
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || apt_packages+=(python3-venv)
# The dashboards' browser test (tests/tests/dashboards.rs): Debian's Chromium and its
# chromedriver, and CJK fonts so Chinese labels render (and show in the screenshots).
[ -x /usr/bin/chromium ] || apt_packages+=(chromium)
[ -x /usr/bin/chromedriver ] || apt_packages+=(chromium-driver)
[ -f /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] || apt_packages+=(fonts-noto-cjk)
if [ "${#apt_packages[@]}" -gt 0 ]; then
  echo "== installing with apt: ${apt_packages[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_packages[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust (https://rustup.rs, or apt-get install cargo) and run again" >&2
  exit 1
fi

# cargo-deb builds the agent's .deb (`cargo deb -p sme-agent`); pinned so the package and the
# packaging check do not change under us.
cargo_deb_version=3.8.0
if ! cargo deb --version 2>/dev/null | grep -q "$cargo_deb_version"; then
  echo "== installing cargo-deb $cargo_deb_version (crates.io)"
  cargo install cargo-deb --version "$cargo_deb_version" --locked
fi

# JavaScript tooling (buf lint) from the npm registry, pinned by package-lock.json.
if [ ! -x "$root_dir/node_modules/.bin/buf" ]; then
  echo "== installing npm packages (package-lock.json)"
  (cd "$root_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The dashboards' front end (TypeScript, ECharts 6, esbuild), which the hub serves.
"$root_dir/scripts/dashboards.sh"

# A current ClickHouse release for the SQL check of test.sh (scripts/sql_check.py): chDB, the
# ClickHouse engine in-process, from PyPI. Pinned; about 180 MB to download and 560 MB
# installed. Its pandas/pyarrow dependencies are only for DataFrame input and are left out.
chdb_version="26.9.0"
sql_check_venv="$root_dir/.venv-sql-check"
if [ "$("$sql_check_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("chdb-core"))' 2>/dev/null)" != "$chdb_version" ]; then
  echo "== installing chdb-core $chdb_version (PyPI) into $sql_check_venv"
  python3 -m venv "$sql_check_venv"
  "$sql_check_venv/bin/pip" install --quiet --disable-pip-version-check --no-deps "chdb-core==$chdb_version"
fi

# An independent SDMX library for the export check of test.sh (scripts/sdmx_check.py): sdmx1
# from PyPI, pinned, with its dependencies (pandas, lxml; about 200 MB installed).
sdmx1_version="2.28.0"
sdmx_check_venv="$root_dir/.venv-sdmx-check"
if [ "$("$sdmx_check_venv/bin/python" -c 'import importlib.metadata as m; print(m.version("sdmx1"))' 2>/dev/null)" != "$sdmx1_version" ]; then
  echo "== installing sdmx1 $sdmx1_version (PyPI) into $sdmx_check_venv"
  python3 -m venv "$sdmx_check_venv"
  "$sdmx_check_venv/bin/pip" install --quiet --disable-pip-version-check "sdmx1==$sdmx1_version"
fi
