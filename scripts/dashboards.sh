#!/usr/bin/env bash
# Builds the dashboards' front end into dashboards/dist/ (served by the hub): npm ci from
# dashboards/package-lock.json (the npm registry is the only network use, and only when
# node_modules is missing or older than the lock file), the TypeScript check, then esbuild
# and the map outlines (dashboards/build.mjs). Run by scripts/setup.sh, so demo.sh and
# test.sh build it; nothing built is committed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../dashboards"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== installing the dashboards' npm packages (dashboards/package-lock.json)"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "== building the dashboards (tsc --noEmit, esbuild, map outlines)"
./node_modules/.bin/tsc --noEmit -p .
node build.mjs
