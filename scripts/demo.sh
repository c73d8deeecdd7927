#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts the hub with its own ClickHouse, imports
# a registry of demo platforms (one per province-level region below, two of which never report),
# enrols an agent for each reporting platform, has each send its recent monthly and quarterly
# reports over mutual TLS, prints what a planner looks at (completeness per province with the
# missing platforms, services per province and function), and keeps the hub running until Ctrl-C.
#
# Environment:
#   SME_DEMO_DIR   working folder, wiped at start (default ./demo-data)
#   SME_DEMO_GRPC  gRPC listen address (default 127.0.0.1:7443; port 0 picks a free port)
#   SME_DEMO_HTTP  metrics listen address (default 127.0.0.1:8080; port 0 picks a free port)
#   SME_DEMO_WEB   web service (HTTPS, JSON API) listen address (default 127.0.0.1:8443; port 0 too)
#   SME_DEMO_BIN   folder with prebuilt sme-hub and sme-agent: no release build (scripts/test.sh
#                  passes its debug binaries)
#   SME_DEMO_EXIT=1  stop after the reports are in (exit status 0 only if every report was accepted)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

demo_dir="${SME_DEMO_DIR:-$PWD/demo-data}"
grpc="${SME_DEMO_GRPC:-127.0.0.1:7443}"
http="${SME_DEMO_HTTP:-127.0.0.1:8080}"
web="${SME_DEMO_WEB:-127.0.0.1:8443}"

if [ -n "${SME_DEMO_BIN:-}" ]; then
  bin="$SME_DEMO_BIN"
else
  echo "== building (release)"
  cargo build --release --bins --locked
  bin="${CARGO_TARGET_DIR:-$PWD/target}/release"
fi
for b in sme-hub sme-agent; do
  [ -x "$bin/$b" ] || { echo "$bin/$b not found: build it (cargo build --bins) or unset SME_DEMO_BIN" >&2; exit 1; }
done

rm -rf "$demo_dir"
mkdir -p "$demo_dir/hub" "$demo_dir/agents"
hub_toml="$demo_dir/hub.toml"
cat > "$hub_toml" <<TOML
data_dir = "$demo_dir/hub"
[grpc]
listen = "$grpc"
[http]
listen = "$http"
[web]
listen = "$web"
TOML
hub() { "$bin/sme-hub" --config "$hub_toml" "$@"; }

echo "== starting the hub (embedded ClickHouse under $demo_dir/hub/clickhouse)"
hub ca init
# The binary itself, not the hub function: $! must be the hub's pid for the trap below.
"$bin/sme-hub" --config "$hub_toml" serve >"$demo_dir/hub.log" 2>&1 &
hub_pid=$!
trap 'kill $hub_pid 2>/dev/null || true; wait $hub_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  grep -q "^ClickHouse (HTTP): " "$demo_dir/hub.log" && break
  kill -0 $hub_pid 2>/dev/null || { cat "$demo_dir/hub.log"; echo "the hub did not start (log above, $demo_dir/hub.log)" >&2; exit 1; }
  sleep 0.5
done
grep -q "^ClickHouse (HTTP): " "$demo_dir/hub.log" || { cat "$demo_dir/hub.log"; echo "the hub did not start in 120 s (log above)" >&2; exit 1; }
# The addresses the hub actually bound (the configured ones may say port 0).
grpc=$(sed -n 's/^sme-hub serving gRPC on //p' "$demo_dir/hub.log" | head -1)
http=$(sed -n 's|^metrics and health (HTTP): http://\([^/]*\)/.*|\1|p' "$demo_dir/hub.log" | head -1)
ch_url=$(sed -n 's/^ClickHouse (HTTP): //p' "$demo_dir/hub.log" | head -1)
# The embedded ClickHouse lets in only the hub's accounts: the demo reads as the read-only one,
# whose password is in the hub's private (0600) password file.
ch_accounts=$(sed -n 's/^ClickHouse accounts: //p' "$demo_dir/hub.log" | head -1)
account() { sed -n "/^\[$1\]/,/^\[/s/^$2 = \"\(.*\)\"$/\1/p" "$ch_accounts"; }
ch_auth="$(account analytics user):$(account analytics password)"

# The registry (平台名录): one platform per region — Beijing Haidian, Shanghai Pudong, Shenzhen,
# Hangzhou, Chengdu, Wuhan, Xi'an, Urumqi, Kunming, Dalian, Qingdao, Lanzhou report; Guangzhou
# and Harbin are registered but never report, so completeness shows what missing looks like.
# Characters 3–8 of each code are the region code; the registry's region is what counts.
cat > "$demo_dir/platforms.csv" <<'CSV'
统一社会信用代码,平台名称,所在地区,平台类型,示范级别,独立法人,登记日期
12110108MB000000XB,海淀区中小企业公共服务平台（演示）,110108,综合,国家级示范,是,2015-03-01
91310115MB000001XQ,浦东新区中小企业服务中心（演示）,310115,综合,省级示范,是,2016-06-15
12440300MB000002XL,深圳市中小企业公共服务平台（演示）,440300,综合,国家级示范,是,2014-09-01
91330100MB000003XB,杭州市质量检测服务平台（演示）,330100,专业,省级示范,是,2017-01-10
12510100MB000004XN,成都市创业辅导服务平台（演示）,510100,专业,无,是,2018-04-20
91420100MB000005X0,武汉市技术创新服务平台（演示）,420100,专业,省级示范,是,2016-11-01
12610100MB000006XF,西安市中小企业公共服务平台（演示）,610100,综合,无,是,2019-02-28
91650100MB000007XU,乌鲁木齐市中小企业服务平台（演示）,650100,综合,无,是,2020-07-01
12530100MB000008X3,昆明市中小企业公共服务平台（演示）,530100,综合,无,是,2019-05-05
91210200MB000009XP,大连市管理咨询服务平台（演示）,210200,专业,无,是,2018-08-08
12370200MB000010XQ,青岛市人员培训服务平台（演示）,370200,专业,省级示范,是,2017-03-03
91620100MB000011XY,兰州市中小企业公共服务平台（演示）,620100,综合,无,是,2021-01-01
91440100MB000012XT,广州市市场开拓服务平台（演示）,440100,专业,无,是,2019-10-10
12230100MB000013XF,哈尔滨市中小企业公共服务平台（演示）,230100,综合,无,是,2020-03-15
CSV
echo "== importing the platform registry ($demo_dir/platforms.csv)"
hub registry import "$demo_dir/platforms.csv" --by demo
silent=(91440100MB000012XT 12230100MB000013XF)
platforms=()
while IFS=, read -r id _; do
  [[ "$id" =~ ^[0-9A-Z]{18}$ ]] || continue
  [[ " ${silent[*]} " == *" $id "* ]] || platforms+=("$id")
done < "$demo_dir/platforms.csv"

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
read -r last_month _ <<<"$periods"
last_quarter=$(tr ' ' '\n' <<<"$periods" | grep Q || true)

echo "== enrolling ${#platforms[@]} platforms and sending reports for: $periods"
sent=0
for id in "${platforms[@]}"; do
  agent_dir="$demo_dir/agents/$id"
  mkdir -p "$agent_dir"
  printf 'data_dir = "%s"\n' "$agent_dir" > "$agent_dir/agent.toml"
  agent() { "$bin/sme-agent" --config "$agent_dir/agent.toml" "$@"; }
  token=$(hub token issue --platform "$id" 2>/dev/null)
  agent enroll --hub "https://$grpc" --platform "$id" --token "$token" >/dev/null
  line="  $id enrolled;"
  for period in $periods; do
    agent example-report --period "$period" > "$agent_dir/$period.json"
    if ! receipt=$(agent send "$agent_dir/$period.json" 2>&1); then
      printf '%s\n' "$receipt" >&2
      echo "the $period report of $id was not accepted (hub log: $demo_dir/hub.log)" >&2
      exit 1
    fi
    line+=" $period ${receipt%%:*}"
    sent=$((sent + 1))
  done
  echo "$line"
done
# The hub's side: its audit trail has every report accepted and nothing else (the audit rows of
# a batch are written just after its receipts, hence the short wait).
audit_sql="SELECT countIf(outcome = 'accepted'), countIf(outcome != 'accepted') FROM sme.audit FORMAT TSV"
for _ in $(seq 1 20); do
  read -r accepted other < <(curl -sS --fail -u "$ch_auth" "$ch_url/" --data-binary "$audit_sql")
  [ "$accepted" -ge "$sent" ] && break
  sleep 0.5
done
if [ "$accepted" != "$sent" ] || [ "$other" != 0 ]; then
  echo "the hub's audit trail has $accepted accepted and $other other submissions; $sent were sent (hub log: $demo_dir/hub.log)" >&2
  exit 1
fi
echo "== $sent of $sent reports accepted (the hub's audit trail agrees)"

echo
echo "== reporting completeness of $last_month by province (报送完整性)"
hub completeness --period "$last_month"
if [ -n "$last_quarter" ]; then
  echo
  echo "== reporting completeness of $last_quarter by province"
  hub completeness --period "$last_quarter"
fi

# Services of the current revision of each platform's report, one period (one period kind per
# figure), deduplicated by (report, function) as every published figure is.
services_sql="SELECT v.province AS province, d.name AS name, uniqExact(v.platform_id) AS platforms,
    sum(v.services) AS all_services, sum(v.free_services) AS free_of_charge,
    sumIf(v.services, v.function = 1) AS f1_information, sumIf(v.services, v.function = 2) AS f2_technology,
    sumIf(v.services, v.function = 3) AS f3_quality, sumIf(v.services, v.function = 4) AS f4_consulting,
    sumIf(v.services, v.function = 5) AS f5_startup, sumIf(v.services, v.function = 6) AS f6_market,
    sumIf(v.services, v.function = 7) AS f7_training
FROM (SELECT report_id, function, any(platform_id) AS platform_id, any(province_code) AS province,
             any(services) AS services, any(free_services) AS free_services
      FROM sme.service_volume
      WHERE period = '$last_month'
        AND report_id IN (SELECT report_id FROM sme.current_reports WHERE period = '$last_month')
      GROUP BY report_id, function) AS v
ANY LEFT JOIN (SELECT code AS province, argMax(name, revision) AS name FROM sme.divisions GROUP BY code) AS d
USING province
GROUP BY province, name ORDER BY province FORMAT PrettyCompactNoEscapes"
echo
echo "== services of $last_month by province and function (服务次数, current revisions)"
curl -sS --fail-with-body -u "$ch_auth" "$ch_url/" --data-binary "$services_sql" \
  || { echo "the services query failed (ClickHouse at $ch_url)" >&2; exit 1; }

# Sign-ins for the web service: a national planner and a coordinator of Guangdong (440000),
# each checked by logging in over HTTPS (trusting only the hub's CA) and reading one figure.
web_url=$(sed -n 's/^Web: //p' "$demo_dir/hub.log" | head -1)
web_url="${web_url%/}"
ca_cert="$demo_dir/hub/ca/ca.cert.pem"
planner_pw="demo-$(head -c 9 /dev/urandom | base64 | tr '+/' 'xy')"
coordinator_pw="demo-$(head -c 9 /dev/urandom | base64 | tr '+/' 'xy')"
echo "$planner_pw" | "$bin/sme-hub" --config "$hub_toml" user add planner --role planner --password-stdin >/dev/null
echo "$coordinator_pw" | "$bin/sme-hub" --config "$hub_toml" user add gd-coordinator --role coordinator --region 440000 --password-stdin >/dev/null
check_login() {
  local name="$1" password="$2" jar
  jar="$(mktemp)"
  curl -sS --fail-with-body --cacert "$ca_cert" -c "$jar" -o "$jar.body" -H 'Content-Type: application/json' \
    -H "Origin: $web_url" -d "{\"name\":\"$name\",\"password\":\"$password\"}" "$web_url/api/v1/session" \
    || { echo "logging in as $name at $web_url failed: $(cat "$jar.body")" >&2; rm -f "$jar" "$jar.body"; exit 1; }
  curl -sS --fail-with-body --cacert "$ca_cert" -b "$jar" -o "$jar.body" "$web_url/api/v1/analytics/volume?from=$last_month" \
    || { echo "the volume figure for $name at $web_url failed: $(cat "$jar.body")" >&2; rm -f "$jar" "$jar.body"; exit 1; }
  rm -f "$jar.body"
  rm -f "$jar"
}
check_login planner "$planner_pw"
check_login gd-coordinator "$coordinator_pw"
# The dashboards' page and its bundle are served by the hub itself.
page=$(curl -sS --fail-with-body --cacert "$ca_cert" "$web_url/") \
  || { echo "the dashboards' page at $web_url/ failed: $page (run scripts/dashboards.sh)" >&2; exit 1; }
bundle=$(printf '%s' "$page" | sed -n 's|.*src="\(/assets/app-[^"]*\.js\)".*|\1|p' | head -1)
[ -n "$bundle" ] && curl -sS --fail --cacert "$ca_cert" -o /dev/null "$web_url$bundle" \
  || { echo "the dashboards' bundle is not served at $web_url$bundle" >&2; exit 1; }
echo
echo "== web service: $web_url/ (dashboards: open it in a browser; API /api/v1/, OpenAPI /api/v1/openapi.json)"
echo "  planner (national):       planner / $planner_pw"
echo "  coordinator (440000 广东): gd-coordinator / $coordinator_pw"
echo "  the hub's CA certificate (trust it in the browser or with curl --cacert): $ca_cert"

cat <<TXT

== done. What to look at:
  hub log:            $demo_dir/hub.log
  gRPC (agents):      https://$grpc   (health: grpc.health.v1, reflection enabled)
  metrics (HTTP):     http://$http/metrics
  ClickHouse (HTTP):  $ch_url   (accounts and passwords: $ch_accounts)
  the registry:       $bin/sme-hub --config $hub_toml registry list
  completeness:       $bin/sme-hub --config $hub_toml completeness --period $last_month [--region 440000]
  audit trail:
    echo "SELECT received_at, platform_id, period, outcome FROM sme.audit ORDER BY received_at FORMAT PrettyCompact" | curl -s -u "sme_analytics:\$(sed -n '/^\[analytics\]/,/^\[/s/^password = "\(.*\)"\$/\1/p' $ch_accounts)" '$ch_url/' --data-binary @-
TXT

if [ "${SME_DEMO_EXIT:-0}" = 1 ]; then exit 0; fi
echo "hub running (pid $hub_pid); Ctrl-C to stop"
wait $hub_pid
