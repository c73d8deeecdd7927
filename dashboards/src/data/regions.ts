// Region names (GB/T 2260 codes) from the map outlines the build step extracted
// (`/geo/names.json`: provinces and prefectures in Chinese, provinces in English), overridden
// by the names the hub's answers carry.

import { get } from "../api";
import { lang, t } from "../i18n";

interface Names {
  zh: Record<string, string>;
  en: Record<string, string>;
  short: Record<string, string>;
}

let names: Names = { zh: {}, en: {}, short: {} };

export async function loadNames(): Promise<void> {
  names = await get<Names>("/geo/names.json");
}

/** The hub's own name for a code (from an API answer) wins over the outline's. */
export function learnName(code: string, name: string): void {
  if (code && name) names.zh[code] = name;
}

export function regionName(code: string): string {
  if (code === "000000" || code === "100000" || code === "") return t("national");
  if (lang() === "en" && names.en[code]) return names.en[code];
  return names.zh[code] ?? code;
}

/** The name on a map label: short in Chinese (广东), as the outlines name provinces. */
export function mapLabel(code: string): string {
  if (lang() === "zh" && names.short[code]) return names.short[code];
  return regionName(code);
}

export const isProvince = (code: string): boolean => /^\d{2}0000$/.test(code) && code !== "000000";
export const isPrefecture = (code: string): boolean => /^\d{4}00$/.test(code) && !code.endsWith("0000");
export const provinceOf = (code: string): string => `${code.slice(0, 2)}0000`;

export function provinces(): string[] {
  return Object.keys(names.zh).filter(isProvince).sort();
}

export function prefecturesOf(province: string): string[] {
  const p = province.slice(0, 2);
  return Object.keys(names.zh)
    .filter((c) => c.startsWith(p) && isPrefecture(c))
    .sort();
}

/** Whether `code` lies within `scope` (`000000` = national). */
export function within(code: string, scope: string): boolean {
  if (scope === "000000" || scope === "") return true;
  if (isProvince(scope)) return code.slice(0, 2) === scope.slice(0, 2);
  if (isPrefecture(scope)) return code.slice(0, 4) === scope.slice(0, 4);
  return code === scope;
}

/**
 * The regions a user of `scope` may pick in a drop-down: for the country, every province and
 * the prefectures of the selected one; for a province, it and its prefectures; for a
 * prefecture, only itself. Nothing outside the scope is ever offered.
 */
export function regionOptions(scope: string, selected: string): string[] {
  if (scope === "000000" || scope === "") {
    const out = ["", ...provinces()];
    if (selected && !isProvince(selected)) {
      out.push(...prefecturesOf(provinceOf(selected)));
    } else if (selected) {
      out.push(...prefecturesOf(selected));
    }
    return [...new Set(out)];
  }
  if (isProvince(scope)) return [scope, ...prefecturesOf(scope)];
  return [scope];
}
