// What a panel's request is made of: the page's filters, the panel's defaults, the user.

import type { User } from "../state/session";
import type { FilterKey } from "../state/route";
import { toKind, type PeriodKind } from "../state/periods";
import { t, type Word } from "../i18n";

export interface PanelDef {
  id: string;
  order: number;
  title_zh: string;
  title_en: string;
  note_zh: string;
  note_en: string;
  analytic: string;
  view: string;
  chart: string;
  metric?: string | null;
  width: string;
  defaults: Record<string, string>;
}

export interface DashboardDef {
  id: string;
  order: number;
  title_zh: string;
  title_en: string;
  description_zh: string;
  description_en: string;
  roles: string[];
  panels: PanelDef[];
}

export interface Ctx {
  params: Map<FilterKey, string>;
  panel: PanelDef;
  user: User;
}

const FILTER_WORD: Partial<Record<FilterKey, Word>> = {
  region: "filter_region",
  function: "filter_function",
  industry: "filter_industry",
  enterprise_size: "filter_size",
  level: "filter_level",
};

/** A filter value: the page's, else the panel's default. */
export function value(ctx: Ctx, key: FilterKey): string | undefined {
  return ctx.params.get(key) || ctx.panel.defaults[key] || undefined;
}

/** The page's period range in `kind` (the panel's `period_kind`, else `fallback`). */
export function range(ctx: Ctx, fallback: PeriodKind): { kind: PeriodKind; from: string; to: string } {
  const kind = (ctx.panel.defaults.period_kind as PeriodKind) || fallback;
  const from = ctx.params.get("from") ?? "";
  const to = ctx.params.get("to") ?? from;
  return { kind, from: toKind(from, kind, "first"), to: toKind(to, kind, "last") };
}

/** The filters set on the page that `accepted` does not take, as labels. */
export function ignored(ctx: Ctx, accepted: FilterKey[]): string[] {
  const out: string[] = [];
  for (const [k, w] of Object.entries(FILTER_WORD) as [FilterKey, Word][]) {
    if (ctx.params.get(k) && !accepted.includes(k)) out.push(t(w));
  }
  return out;
}
