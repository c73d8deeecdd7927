// The export bar of a dashboard: the page's filters as an export of the statistic the page
// shows (GET /api/v1/exports, the same figures as the panels), with the rows' level and the
// format; the link downloads with the session cookie. The hub refuses (403) anything outside
// the user's region.

import { lang, t, type Word } from "../i18n";
import { toKind, type PeriodKind } from "../state/periods";
import type { Route } from "../state/route";
import { h } from "./dom";

/** The statistics of each dashboard, with the period kind they read. */
const STATISTICS: Record<string, [string, PeriodKind][]> = {
  overview: [["volume", "month"], ["completeness", "month"]],
  layout: [["coverage", "month"]],
  volume: [["volume", "month"]],
  staff: [["staff", "quarter"]],
  satisfaction: [["satisfaction", "month"]],
  completeness: [["completeness", "month"], ["missing", "month"]],
  demo: [["demo", "month"]],
};

const STAT_WORD: Record<string, Word> = {
  volume: "stat_volume",
  completeness: "stat_completeness",
  missing: "stat_missing",
  coverage: "stat_coverage",
  staff: "stat_staff",
  satisfaction: "stat_satisfaction",
  demo: "stat_demo",
};

const LEVELS: [string, Word][] = [
  ["", "level_default"],
  ["province", "level_province"],
  ["prefecture", "level_prefecture"],
  ["county", "level_county"],
  ["platform", "level_platform"],
];

const FORMATS: [string, string][] = [
  ["xlsx", "Excel (XLSX)"],
  ["csv", "CSV (UTF-8)"],
  ["sdmx-csv", "SDMX-CSV 2.0"],
  ["ndjson", "JSON (NDJSON)"],
];

function choice(id: string, word: Word, options: [string, string][]): [HTMLElement, HTMLSelectElement] {
  const s = h("select", { id, name: id });
  for (const [value, text] of options) s.append(h("option", { value }, text));
  return [h("label", { for: id }, h("span", {}, t(word)), s), s];
}

/** The export URL of `statistic` under the page's filters. */
export function exportUrl(route: Route, statistic: string, kind: PeriodKind, level: string, format: string): string {
  const p = route.params;
  const q = new URLSearchParams({ statistics: statistic, format });
  const from = p.get("from") ?? "";
  const to = p.get("to") ?? from;
  // Coverage and demo read the 12 months up to `to`.
  const window = statistic === "coverage" || statistic === "demo";
  q.set("from", toKind(window ? to : from, kind, window ? "last" : "first"));
  q.set("to", toKind(to, kind, "last"));
  for (const [key, param] of [
    ["region", "region"],
    ["function", "function"],
    ["industry", "industry"],
    ["enterprise_size", "enterprise_size"],
    ["level", "demo_level"],
  ] as const) {
    const v = p.get(key);
    if (v && statistic === "volume") q.set(param, v);
    else if (v && (key === "region" || key === "level")) q.set(param, v);
  }
  if (level) q.set("area_level", level);
  q.set("lang", lang());
  return `/api/v1/exports?${q.toString()}`;
}

/** The bar, or nothing for a page without a statistic to export (one platform's history). */
export function exportBar(page: string, route: Route): HTMLElement | null {
  const stats = STATISTICS[page];
  if (!stats) return null;
  const [statLabel, stat] = choice(
    "export-statistic",
    "export_statistic",
    stats.map(([s]): [string, string] => [s, t(STAT_WORD[s])]),
  );
  const [levelLabel, level] = choice(
    "export-level",
    "export_level",
    LEVELS.map(([v, w]): [string, string] => [v, t(w)]),
  );
  const [formatLabel, format] = choice("export-format", "export_format", FORMATS);
  const link = h("a", { id: "export-link", class: "button", download: "" }, t("export_download"));
  const update = () => {
    const kind = stats.find(([s]) => s === stat.value)?.[1] ?? "month";
    link.setAttribute("href", exportUrl(route, stat.value, kind, level.value, format.value));
  };
  for (const s of [stat, level, format]) s.addEventListener("change", update);
  update();
  const form = h(
    "form",
    { class: "filters export", "aria-label": t("export_title") },
    h("strong", {}, t("export_title")),
    statLabel,
    levelLabel,
    formatLabel,
    link,
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  return form;
}
