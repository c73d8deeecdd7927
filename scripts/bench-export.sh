#!/usr/bin/env bash
# Time and peak memory of a national, platform-level export of every month of the synthetic
# national data set (36 months by default), in each format, through `sme-hub export`.
#
#   scripts/bench-export.sh [DATA_DIR] [FROM] [TO]      (defaults /var/tmp/sme-bench 2023-M11 2026-M10)
#
# DATA_DIR is a hub data dir seeded by sme-bench-analytics (`cargo run --release -p sme-tests
# --bin sme-bench-analytics -- --data-dir /var/tmp/sme-bench -n 1`); a hub is started on it so
# its ClickHouse stays up between the exports. Needs a release build of sme-hub
# (`cargo build --release -p sme-hub`) and GNU time. The synthetic registry's prefecture codes
# are imported as divisions first (SDMX codes REF_AREA from the division table).
# Figures: "Exports" in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data="${1:-/var/tmp/sme-bench}"
from="${2:-2023-M11}"
to="${3:-2026-M10}"
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/sme-hub"
[ -x "$bin" ] || { echo "no $bin: cargo build --release -p sme-hub" >&2; exit 1; }
[ -x /usr/bin/time ] || apt-get install -y time >/dev/null
[ -d "$data/clickhouse" ] || { echo "$data holds no hub data: seed it with sme-bench-analytics" >&2; exit 1; }
work=$(mktemp -d -p "$(dirname "$data")" sme-bench-export.XXXX)
cat > "$work/hub.toml" <<TOML
data_dir = "$data"
[grpc]
listen = "127.0.0.1:0"
[http]
listen = "127.0.0.1:0"
[web]
listen = "127.0.0.1:0"
TOML
"$bin" --config "$work/hub.toml" serve >"$work/hub.log" 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null || true; wait $hub 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 240); do
  grep -q "^ClickHouse (HTTP): " "$work/hub.log" && break
  sleep 0.5
done
grep -q "^ClickHouse (HTTP): " "$work/hub.log" || { cat "$work/hub.log"; echo "the hub did not start" >&2; exit 1; }

export_one() { # FORMAT FILE → "seconds max_rss_kib"
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" --config "$work/hub.toml" export \
    --statistics volume --format "$1" --from "$from" --to "$to" --region 000000 \
    --level platform --quiet -o "$2" >"$work/out" 2>"$work/err" \
    || { cat "$work/err" >&2; exit 1; }
  cat "$work/time"
}

echo "| format | rows | file | time | peak RSS of sme-hub export |"
echo "|---|---|---|---|---|"
for format in csv ndjson xlsx sdmx-csv; do
  if [ "$format" = sdmx-csv ]; then
    # Every prefecture code of the national CSV, as divisions (names are the codes).
    { echo "revision,code,name,name_en"
      awk -F, 'NR > 1 && $3 ~ /^[0-9][0-9][0-9][0-9]00$/ && $3 !~ /0000$/ { print "2023," $3 ",地市" $3 "," $3 }' \
        "$work/national.csv" | sort -u; } > "$work/prefectures.csv"
    "$bin" --config "$work/hub.toml" registry import "$work/prefectures.csv" --kind divisions >/dev/null
  fi
  file="$work/national.$format"
  read -r secs rss < <(export_one "$format" "$file")
  rows=$(sed -n 's/.*(\([0-9]*\) rows.*/\1/p' "$work/out")
  size=$(du -m "$file" | cut -f1)
  printf '| %s | %s | %s MiB | %s s | %s MiB |\n' "$format" "$rows" "$size" "$secs" "$((rss / 1024))"
done
