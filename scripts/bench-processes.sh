#!/usr/bin/env bash
# Hub ingestion with the hub, its ClickHouse and the load generator as separate processes, and
# the CPU time each of them spent while the agents were sending: where the machine's cores go.
#
#   scripts/bench-processes.sh [AGENTS] [CONCURRENCY]      (defaults 6000 1500)
#
# Needs a release build (`cargo build --release -p sme-hub -p sme-tests --bins`) and
# clickhouse-server (scripts/setup.sh installs it). Figures: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
agents="${1:-6000}"
concurrency="${2:-1500}"
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
dir=$(mktemp -d)
grpc="127.0.0.1:$((20000 + RANDOM % 20000))"
http="127.0.0.1:$((40000 + RANDOM % 20000))"
web="127.0.0.1:$((10000 + RANDOM % 10000))"
cat > "$dir/hub.toml" <<TOML
data_dir = "$dir/hub"
[grpc]
listen = "$grpc"
[http]
listen = "$http"
[web]
listen = "$web"
[registry]
cache_seconds = 5
TOML
"$bin/sme-hub" --config "$dir/hub.toml" ca init >/dev/null
"$bin/sme-hub" --config "$dir/hub.toml" serve >"$dir/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true; wait $hub 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 120); do
  grep -q "^ClickHouse (HTTP): " "$dir/hub.log" && break
  sleep 0.5
done
ch_url=$(sed -n 's/^ClickHouse (HTTP): //p' "$dir/hub.log" | head -1)
[ -n "$ch_url" ] || { cat "$dir/hub.log"; echo "the hub did not start" >&2; exit 1; }
# The hub starts clickhouse-server through a small launcher shell: find the server itself.
clickhouse=""
for p in $(pgrep -f -- "--config-file=$dir/hub"); do
  case "$(cat "/proc/$p/comm")" in clickhouse*) clickhouse=$p ;; esac
done
[ -n "$clickhouse" ] || { echo "clickhouse-server process not found" >&2; exit 1; }

# CPU seconds (user + system, threads included) of a process.
cpu() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# The load generator registers the platforms as the hub's ingest account (embedded server).
ch_accounts=$(sed -n 's/^ClickHouse accounts: //p' "$dir/hub.log" | head -1)
SME_HUB_CLICKHOUSE_PASSWORD=$(sed -n '/^\[ingest\]/,/^\[/s/^password = "\(.*\)"$/\1/p' "$ch_accounts")
export SME_HUB_CLICKHOUSE_PASSWORD
loadgen=("$bin/sme-loadgen" --hub "https://$grpc" --ca-dir "$dir/hub/ca"
         --clickhouse-url "$ch_url" --clickhouse-user sme_ingest
         --agents "$agents" --concurrency "$concurrency")
"${loadgen[@]}" --register --register-only 2>&1 | tail -1
sleep 6   # the hub's registry copy expires (cache_seconds = 5)

"${loadgen[@]}" >"$dir/loadgen.out" 2>"$dir/loadgen.err" &
gen=$!
until grep -q "^sending" "$dir/loadgen.err" 2>/dev/null; do sleep 0.05; done
h0=$(cpu "$hub"); c0=$(cpu "$clickhouse"); g0=$(cpu "$gen"); t0=$(date +%s.%N)
until grep -q "reports/s" "$dir/loadgen.out" 2>/dev/null; do sleep 0.05; done
h1=$(cpu "$hub"); c1=$(cpu "$clickhouse"); g1=$(cpu "$gen"); t1=$(date +%s.%N)
wait "$gen"
cat "$dir/loadgen.out"
reports=$(sed -n 's/.* agents, \([0-9]*\) reports in.*/\1/p' "$dir/loadgen.out" | head -1)
awk -v n="$reports" -v w="$t1 - $t0" -v h="$h1 - $h0" -v c="$c1 - $c0" -v g="$g1 - $g0" \
    -v t0="$t0" -v t1="$t1" -v h0="$h0" -v h1="$h1" -v c0="$c0" -v c1="$c1" -v g0="$g0" -v g1="$g1" 'BEGIN {
  wall = t1 - t0; hub = h1 - h0; ch = c1 - c0; gen = g1 - g0
  printf "\nCPU while sending (%.1f s wall, %d reports, %d cores):\n", wall, n, 2
  printf "| process | CPU s | share of 2 cores | CPU ms per report |\n|---|---:|---:|---:|\n"
  printf "| hub (TLS server, validation, lookups, writer) | %.1f | %.0f %% | %.2f |\n", hub, 100*hub/(2*wall), 1000*hub/n
  printf "| ClickHouse (inserts, lookups, merges) | %.1f | %.0f %% | %.2f |\n", ch, 100*ch/(2*wall), 1000*ch/n
  printf "| load generator (TLS clients) | %.1f | %.0f %% | %.2f |\n", gen, 100*gen/(2*wall), 1000*gen/n
  printf "\nhub + ClickHouse alone: %.2f CPU ms per report = at most %.0f reports/s on 2 cores of their own\n", 1000*(hub+ch)/n, 2*n/(hub+ch)
}'
