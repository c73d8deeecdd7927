// The filter bar shared by every dashboard: period range, region, function, industry,
// enterprise size, platform level. Values live in the address; the region drop-down offers
// only the user's scope and what lies below it.

import { FUNCTIONS, INDUSTRIES, LEVELS, SIZES, label, t, type Word } from "../i18n";
import { regionName, regionOptions } from "../data/regions";
import { patch, type FilterKey, type Route } from "../state/route";
import type { User } from "../state/session";
import { h } from "./dom";

function select(
  key: FilterKey,
  word: Word,
  options: [string, string][],
  current: string,
): HTMLElement {
  const s = h("select", { name: key, id: `filter-${key}` });
  for (const [value, text] of options) {
    const o = h("option", { value }, text);
    if (value === current) o.selected = true;
    s.append(o);
  }
  s.addEventListener("change", () => patch({ [key]: s.value }));
  return h("label", { for: `filter-${key}` }, h("span", {}, t(word)), s);
}

export function filterBar(route: Route, user: User, months: string[]): HTMLElement {
  const p = route.params;
  const period = months.map((m): [string, string] => [m, m]);
  const scopeNational = user.scope === "000000" || user.scope === "";
  const regions = regionOptions(user.scope, p.get("region") ?? "").map((c): [string, string] => [
    c,
    c === "" ? t("national") : `${regionName(c)} ${c}`,
  ]);
  const all: [string, string] = ["", t("all")];
  const table = (tab: Record<string, [string, string]>, withKey = false) => [
    all,
    ...Object.keys(tab).map((k): [string, string] => [k, withKey ? `${k} ${label(tab, k)}` : label(tab, k)]),
  ];
  const form = h(
    "form",
    { class: "filters", "aria-label": t("filter_region") },
    select("from", "filter_from", period, p.get("from") ?? ""),
    select("to", "filter_to", period, p.get("to") ?? ""),
    select("region", "filter_region", regions, p.get("region") ?? (scopeNational ? "" : user.scope)),
    select("function", "filter_function", table(FUNCTIONS, true), p.get("function") ?? ""),
    select("industry", "filter_industry", table(INDUSTRIES, true), p.get("industry") ?? ""),
    select("enterprise_size", "filter_size", table(SIZES), p.get("enterprise_size") ?? ""),
    select("level", "filter_level", table(LEVELS), p.get("level") ?? ""),
  );
  form.addEventListener("submit", (e) => e.preventDefault());
  return form;
}
