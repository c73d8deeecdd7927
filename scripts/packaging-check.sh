#!/usr/bin/env bash
# The agent's Debian package as a platform operator gets it, following the README: builds it with
# `cargo deb -p sme-agent`, checks the binary is the shipped `agent` profile, runs lintian (no
# errors or warnings), installs it with apt, enrols it with a hub started here (its own
# ClickHouse), runs `status` and the service as the service user (log lines piped: no escape
# codes), removes and reinstalls it (config and identity kept), purges it with nothing pending
# (state gone, user kept), and with a report pending (refused, then forced).
#
# Needs root (installs the package on this machine; it refuses if sme-agent is installed for
# real), cargo-deb and lintian (scripts/setup.sh installs both), and a built sme-hub (built here
# if missing). Works without a running systemd. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

fail() {
  echo "packaging check FAILED: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || fail "run as root: it installs and purges the sme-agent package on this machine"
for tool in cargo-deb lintian apt-get dpkg-deb readelf runuser python3; do
  command -v "$tool" >/dev/null || fail "$tool not found: run scripts/setup.sh (or apt-get install lintian binutils; cargo install cargo-deb --locked)"
done

# A machine where sme-agent was installed by someone else is not ours to purge; a leftover of an
# interrupted run of this check (the marker) is.
marker=/var/tmp/sme-agent-packaging-check
pkg_state() { dpkg-query -W -f='${db:Status-Status}' sme-agent 2>/dev/null || echo not-installed; }
if [ "$(pkg_state)" != not-installed ] && [ ! -e "$marker" ]; then
  fail "sme-agent is installed on this machine; this check would purge it. Run it on a build machine"
fi
user_existed=
getent passwd sme-agent >/dev/null && user_existed=yes

work=$(mktemp -d /tmp/sme-packaging.XXXXXX)
chmod 0755 "$work" # the service user reads the import files here, apt's _apt user the .deb
hub_pid=
cleanup() {
  local rc=$?
  if [ -n "$hub_pid" ]; then kill "$hub_pid" 2>/dev/null || true; wait "$hub_pid" 2>/dev/null || true; fi
  if [ -e "$marker" ]; then
    SME_AGENT_PURGE_PENDING=discard DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq sme-agent >/dev/null 2>&1 || true
    # The package keeps its system user (Debian practice); this check leaves the machine as it was.
    if [ -z "$user_existed" ] && getent passwd sme-agent >/dev/null; then
      deluser --system sme-agent >/dev/null 2>&1 || true
      delgroup --system sme-agent >/dev/null 2>&1 || true
    fi
    rm -f "$marker"
  fi
  if [ "$rc" -ne 0 ]; then echo "(files of the failed check kept in $work)" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

step() { echo "== [$((SECONDS - started)) s] $*"; }
apt_q() { DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }
as_agent() { runuser -u sme-agent -- env -i PATH=/usr/bin:/bin /usr/bin/sme-agent --config /etc/sme-agent/agent.toml "$@"; }
has_escape() { grep -q $'\x1b' "$1"; }

step "cargo deb -p sme-agent (the README's command)"
target="${CARGO_TARGET_DIR:-$PWD/target}"
cargo deb -p sme-agent --locked >"$work/cargo-deb.log" 2>&1 || { cat "$work/cargo-deb.log"; fail "cargo deb -p sme-agent"; }
deb=$(tail -n 1 "$work/cargo-deb.log")
[ -f "$deb" ] || fail "cargo deb did not name the package it wrote (last line: $deb)"
cp "$deb" "$work/"
deb="$work/$(basename "$deb")"
echo "$deb"

step "the packaged binary is the size-optimised agent profile (target/agent/sme-agent)"
dpkg-deb -x "$deb" "$work/root"
build_id() { readelf -n "$1" | sed -n 's/^ *Build ID: *//p'; }
packaged=$(build_id "$work/root/usr/bin/sme-agent")
shipped=$(build_id "$target/agent/sme-agent")
[ -n "$packaged" ] && [ "$packaged" = "$shipped" ] ||
  fail "/usr/bin/sme-agent in the package (build id ${packaged:-none}) is not $target/agent/sme-agent (${shipped:-none}): check profile = \"agent\" in agent/Cargo.toml [package.metadata.deb]"
echo "build id $packaged, $(stat -c %s "$work/root/usr/bin/sme-agent") bytes"
synopsis=$(dpkg-deb -f "$deb" Description | sed -n 1p)
[ "${#synopsis}" -lt 80 ] || fail "the synopsis is ${#synopsis} characters (dpkg cuts it at 80): $synopsis"
[ "$(stat -c %a "$work/root/etc/sme-agent/agent.toml")" = 644 ] || fail "agent.toml is not packaged 0644"

step "lintian (no errors or warnings; overrides only with a written reason)"
rc=0; lintian --fail-on error,warning "$deb" >"$work/lintian.txt" 2>&1 || rc=$?
grep -v 'running with root privileges' "$work/lintian.txt" || true
[ "$rc" -eq 0 ] || fail "lintian found errors or warnings (above)"

step "install with apt (no systemd needed)"
touch "$marker"
apt_q install "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log"; fail "apt-get install $deb"; }
if grep -iE 'warn|error' "$work/install.log"; then fail "installing printed warnings (above; whole log in $work/install.log)"; fi
getent passwd sme-agent | grep -q ':/var/lib/sme-agent:' || fail "no system user sme-agent with home /var/lib/sme-agent"
[ "$(stat -c '%U:%G %a' /var/lib/sme-agent)" = "sme-agent:sme-agent 750" ] || fail "/var/lib/sme-agent is $(stat -c '%U:%G %a' /var/lib/sme-agent)"
[ "$(stat -c '%U:%G %a' /var/lib/sme-agent/inbox)" = "sme-agent:sme-agent 2770" ] || fail "the inbox is $(stat -c '%U:%G %a' /var/lib/sme-agent/inbox)"
[ "$(stat -c '%U:%G %a' /etc/sme-agent/agent.toml)" = "root:root 644" ] || fail "agent.toml is $(stat -c '%U:%G %a' /etc/sme-agent/agent.toml)"
[ -f /usr/share/man/man1/sme-agent.1.gz ] || fail "no man page sme-agent(1)"

step "status as the service user, before enrolment"
rc=0; as_agent status >"$work/status0.txt" 2>&1 || rc=$?
cat "$work/status0.txt"
[ "$rc" -eq 1 ] || fail "status before enrolment exited $rc, expected 1 (something to fix: enrol)"

step "a hub to enrol with (its own ClickHouse)"
hub_bin="$target/debug/sme-hub"
[ -x "$hub_bin" ] || cargo build -p sme-hub --bin sme-hub --locked
read -r grpc_port http_port < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
mkdir -p "$work/hub"
cat >"$work/hub.toml" <<TOML
data_dir = "$work/hub"
[grpc]
listen = "127.0.0.1:$grpc_port"
[http]
listen = "127.0.0.1:$http_port"
[registry]
enforce = false
TOML
hub() { "$hub_bin" --config "$work/hub.toml" "$@"; }
start_hub() {
  : >"$work/hub.log"
  "$hub_bin" --config "$work/hub.toml" serve >>"$work/hub.log" 2>&1 &
  hub_pid=$!
  for _ in $(seq 1 240); do
    grep -q "^ClickHouse (HTTP): " "$work/hub.log" && return 0
    kill -0 "$hub_pid" 2>/dev/null || break
    sleep 0.5
  done
  cat "$work/hub.log"
  fail "the hub did not start"
}
stop_hub() { kill "$hub_pid"; wait "$hub_pid" 2>/dev/null || true; hub_pid=; }
hub ca init >/dev/null
start_hub
platform=12110108MB000000XB
enroll() {
  as_agent enroll --hub "https://127.0.0.1:$grpc_port" --platform "$platform" \
    --token "$(hub token issue --platform "$platform" 2>/dev/null)"
}
enroll

step "status and the service as the service user; log lines piped"
as_agent sync >/dev/null || true # heartbeat: caches the hub's calendar
as_agent status >"$work/status1.txt" 2>&1 || { cat "$work/status1.txt"; fail "status after enrolment"; }
grep -q "$platform" "$work/status1.txt" || { cat "$work/status1.txt"; fail "status does not name platform $platform"; }
rc=0; timeout -s TERM 5 runuser -u sme-agent -- env -i PATH=/usr/bin:/bin RUST_LOG=info \
  /usr/bin/sme-agent --config /etc/sme-agent/agent.toml run 2>"$work/run.log" || rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || { cat "$work/run.log"; fail "sme-agent run exited $rc"; }
[ -s "$work/run.log" ] || fail "sme-agent run logged nothing at RUST_LOG=info"
if has_escape "$work/run.log"; then cat -v "$work/run.log" | head -5; fail "the agent's log lines carry escape codes when stderr is a pipe"; fi
echo "$(wc -l <"$work/run.log") log lines, no escape codes: $(head -n 1 "$work/run.log")"

step "remove: configuration, identity and user stay"
identity_sum=$(sha256sum /var/lib/sme-agent/identity/identity.toml)
sed -i 's/^poll_secs = 60$/poll_secs = 30/' /etc/sme-agent/agent.toml
apt_q remove sme-agent >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "apt-get remove"; }
[ ! -e /usr/bin/sme-agent ] || fail "/usr/bin/sme-agent is still there after remove"
grep -q '^poll_secs = 30$' /etc/sme-agent/agent.toml || fail "remove lost the edited /etc/sme-agent/agent.toml"
[ ! -e /var/lib/sme-agent/pending-at-removal ] || fail "remove noted pending reports where there were none"

step "reinstall: configuration and identity kept"
apt_q install "$deb" >"$work/reinstall.log" 2>&1 || { cat "$work/reinstall.log"; fail "reinstall"; }
grep -q '^poll_secs = 30$' /etc/sme-agent/agent.toml || fail "reinstall replaced the edited /etc/sme-agent/agent.toml"
[ "$(sha256sum /var/lib/sme-agent/identity/identity.toml)" = "$identity_sum" ] || fail "reinstall changed the identity"
as_agent status >"$work/status2.txt" 2>&1 || { cat "$work/status2.txt"; fail "status after reinstall"; }
grep -q "$platform" "$work/status2.txt" || fail "status after reinstall does not name platform $platform"

step "purge with nothing pending: state gone, user kept"
apt_q purge sme-agent >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "apt-get purge"; }
[ ! -e /var/lib/sme-agent ] && [ ! -e /etc/sme-agent/agent.toml ] || fail "purge left /var/lib/sme-agent or /etc/sme-agent/agent.toml"
getent passwd sme-agent >/dev/null || fail "purge deleted the system user sme-agent"
[ "$(pkg_state)" = not-installed ] || fail "sme-agent is not fully purged"

step "purge with a report pending: refused, then forced"
apt_q install "$deb" >"$work/install2.log" 2>&1 || { cat "$work/install2.log"; fail "install after purge"; }
enroll
as_agent sync >/dev/null || true # caches the hub's calendar
stop_hub
month=$(TZ=Asia/Shanghai date -d "$(TZ=Asia/Shanghai date +%Y-%m-01) -1 day" +%Y-%m)
cat >"$work/records.csv" <<CSV
record_id,date,function,enterprise_credit_code,enterprise_size,industry,enterprise_region,fee_fen,free,satisfaction,person_times
PK-001,$month-03,management consulting,91110000600037341L,small,L,110105,880000,no,very satisfied,0
PK-002,$month-04,7,91440300708461136T,micro,P,440305,0,yes,,120
CSV
printf '{"period": "%s", "startups_counselled": 4, "registrations_assisted": 1}\n' "${month/-/-M}" >"$work/profile.json"
chmod 0644 "$work/records.csv" "$work/profile.json"
as_agent import "$work/records.csv" "$work/profile.json"
as_agent sync >"$work/sync.txt" 2>&1 || true
pending=$(as_agent status --json 2>/dev/null | sed -n 's/^ *"pending": *\([0-9][0-9]*\),*$/\1/p' | sed -n 1p) || true
[ "${pending:-0}" -gt 0 ] || { cat "$work/sync.txt"; fail "no report pending after a sync with the hub stopped"; }
echo "$pending report(s) pending"
rc=0; apt_q purge sme-agent >"$work/purge-pending.log" 2>&1 || rc=$?
cat "$work/purge-pending.log" | grep '^sme-agent:\|^  ' || true
[ "$rc" -ne 0 ] || fail "purge went ahead with a report pending"
grep -q 'NOT purging /var/lib/sme-agent' "$work/purge-pending.log" || fail "the refused purge did not say why"
[ -f /var/lib/sme-agent/identity/identity.toml ] && [ -f /var/lib/sme-agent/agent.db ] || fail "the refused purge deleted the identity or the store"
echo "refused (apt-get exit $rc), state kept; package state: $(pkg_state)"
# What the refusal advises: installed again, the agent still has its identity and the report.
apt_q install "$deb" >"$work/install3.log" 2>&1 || { cat "$work/install3.log"; fail "install after the refused purge"; }
still=$(as_agent status --json 2>/dev/null | sed -n 's/^ *"pending": *\([0-9][0-9]*\),*$/\1/p' | sed -n 1p) || true
[ "${still:-0}" = "$pending" ] || fail "installed again after the refused purge, $still report(s) pending instead of $pending"
[ -f /etc/sme-agent/agent.toml ] || fail "installed again after the refused purge, /etc/sme-agent/agent.toml is missing"
SME_AGENT_PURGE_PENDING=discard apt_q purge sme-agent >"$work/purge-forced.log" 2>&1 || { cat "$work/purge-forced.log"; fail "SME_AGENT_PURGE_PENDING=discard apt-get purge"; }
[ ! -e /var/lib/sme-agent ] || fail "the forced purge left /var/lib/sme-agent"
[ "$(pkg_state)" = not-installed ] || fail "sme-agent is not fully purged"

echo "== packaging check passed in $((SECONDS - started)) s"
