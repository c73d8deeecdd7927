#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts the hub with its own ClickHouse, enrols a
# fleet of platform agents (one per province-level region below), has each send its recent
# monthly and quarterly reports over mutual TLS, prints what to look at, and keeps the hub running
# until Ctrl-C.
#
# Environment: SME_DEMO_DIR (default ./demo-data, wiped at start), SME_DEMO_GRPC (127.0.0.1:7443),
# SME_DEMO_HTTP (127.0.0.1:8080), SME_DEMO_EXIT=1 to stop after the reports are in.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

demo_dir="${SME_DEMO_DIR:-$PWD/demo-data}"
grpc="${SME_DEMO_GRPC:-127.0.0.1:7443}"
http="${SME_DEMO_HTTP:-127.0.0.1:8080}"
web="${SME_DEMO_WEB:-127.0.0.1:8443}"

echo "== building (release)"
cargo build --release --bins --locked
bin="${CARGO_TARGET_DIR:-$PWD/target}/release"

rm -rf "$demo_dir"
mkdir -p "$demo_dir/hub" "$demo_dir/agents"
cat > "$demo_dir/hub.toml" <<TOML
data_dir = "$demo_dir/hub"
[grpc]
listen = "$grpc"
[http]
listen = "$http"
[web]
listen = "$web"
TOML

echo "== starting the hub (embedded ClickHouse under $demo_dir/hub/clickhouse)"
"$bin/sme-hub" --config "$demo_dir/hub.toml" ca init
"$bin/sme-hub" --config "$demo_dir/hub.toml" serve >"$demo_dir/hub.log" 2>&1 &
hub_pid=$!
trap 'kill $hub_pid 2>/dev/null || true; wait $hub_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  grep -q "^ClickHouse (HTTP): " "$demo_dir/hub.log" && break
  kill -0 $hub_pid 2>/dev/null || { cat "$demo_dir/hub.log"; echo "the hub did not start" >&2; exit 1; }
  sleep 0.5
done
grep -q "^ClickHouse (HTTP): " "$demo_dir/hub.log" || { cat "$demo_dir/hub.log"; echo "the hub did not start in 60 s" >&2; exit 1; }

# One platform per region: Beijing Haidian, Shanghai Pudong, Shenzhen, Hangzhou, Chengdu, Wuhan,
# Xi'an, Urumqi, Kunming, Dalian, Qingdao, Lanzhou (characters 3–8 are the region code).
platforms=(12110108MB000000XB 91310115MB000001XQ 12440300MB000002XL 91330100MB000003XB
           12510100MB000004XN 91420100MB000005X0 12610100MB000006XF 91650100MB000007XU
           12530100MB000008X3 91210200MB000009XP 12370200MB000010XQ 91620100MB000011XY)

# Recent closed periods in UTC+8: the last three months and the last quarter.
periods=$(TZ=Asia/Shanghai python3 - 2>/dev/null <<'PY' || true
import datetime
t = datetime.date.today().replace(day=1)
out = []
for _ in range(3):
    t = (t - datetime.timedelta(days=1)).replace(day=1)
    out.append(f"{t.year}-M{t.month:02d}")
d = datetime.date.today()
q = (d.month - 1) // 3
y = d.year if q > 0 else d.year - 1
q = q if q > 0 else 4
out.append(f"{y}-Q{q}")
print(" ".join(out))
PY
)
if [ -z "$periods" ]; then
  y=$(TZ=Asia/Shanghai date +%Y); m=$(TZ=Asia/Shanghai date +%-m)
  pm=$(( m == 1 ? 12 : m - 1 )); py=$(( m == 1 ? y - 1 : y ))
  periods=$(printf '%d-M%02d' "$py" "$pm")
fi

echo "== enrolling ${#platforms[@]} platforms and sending reports for: $periods"
for id in "${platforms[@]}"; do
  agent_dir="$demo_dir/agents/$id"
  mkdir -p "$agent_dir"
  printf 'data_dir = "%s"\n' "$agent_dir" > "$agent_dir/agent.toml"
  token=$("$bin/sme-hub" --config "$demo_dir/hub.toml" token issue --platform "$id" 2>/dev/null)
  "$bin/sme-agent" --config "$agent_dir/agent.toml" enroll --hub "https://$grpc" --platform "$id" --token "$token"
  for period in $periods; do
    "$bin/sme-agent" --config "$agent_dir/agent.toml" example-report --period "$period" > "$agent_dir/$period.json"
    "$bin/sme-agent" --config "$agent_dir/agent.toml" send "$agent_dir/$period.json" | head -1
  done
done

ch_url=$(sed -n 's/^ClickHouse (HTTP): //p' "$demo_dir/hub.log" | head -1)
cat <<TXT

== done. What to look at:
  hub log:            $demo_dir/hub.log
  gRPC (agents):      https://$grpc   (health: grpc.health.v1, reflection enabled)
  ClickHouse (HTTP):  ${ch_url:-see hub.log}
  services per region and function (current revision of each platform's report, all periods):
    echo "SELECT region_code, function, sum(services) AS services FROM (SELECT report_id, function, any(region_code) AS region_code, any(services) AS services FROM sme.service_volume WHERE report_id IN (SELECT report_id FROM sme.current_reports) GROUP BY report_id, function) GROUP BY region_code, function ORDER BY region_code, function FORMAT PrettyCompact" | curl -s '${ch_url:-http://127.0.0.1:8123}/' --data-binary @-
  audit trail:
    echo "SELECT received_at, platform_id, period, outcome FROM sme.audit ORDER BY received_at FORMAT PrettyCompact" | curl -s '${ch_url:-http://127.0.0.1:8123}/' --data-binary @-
TXT

if [ "${SME_DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo "hub running (pid $hub_pid); Ctrl-C to stop"
wait $hub_pid
