// Layout and coverage (GET /api/v1/analytics/layout): regions, "where to build next",
// functions without provider, headline figures.

import { query } from "../api";
import { FUNCTIONS, label, pick, t } from "../i18n";
import { ignored, range, value, type Ctx } from "./context";
import { learnName, regionName } from "./regions";
import type { Row, Table } from "./table";

interface Coverage {
  reported: number;
  expected: number;
}
interface LayoutRow {
  region_code: string;
  region_name: string;
  active_platforms: number;
  smes: number | null;
  sme_year: number | null;
  platforms_per_10k_smes: number | null;
  enterprises_reached: number;
  reach: number | null;
  platforms_reported: number;
  platforms_with_records: number;
  functions_without_provider: number[];
  firms_located: number;
  firms_served_from_elsewhere: number;
  inflow_share: number | null;
  coverage: Coverage;
}
interface Priority {
  rank: number;
  region_code: string;
  priority: number;
  density_gap: number;
  missing_functions: number;
  reach_gap: number | null;
}
export interface LayoutView {
  from: string;
  to: string;
  region: string;
  rows: LayoutRow[];
  total: LayoutRow;
  formula: string;
  where_to_build_next: Priority[];
  not_ranked: string[];
}

export function layoutUrl(ctx: Ctx): string {
  const r = range(ctx, "month");
  return `/api/v1/analytics/layout${query({ from: r.from, to: r.to, region: value(ctx, "region"), level: value(ctx, "level") })}`;
}

const covered = (c: Coverage): string => `${c.reported}/${c.expected}`;

function regionRow(r: LayoutRow): Row {
  learnName(r.region_code, r.region_name);
  const reported = r.coverage.reported > 0;
  return {
    code: r.region_code,
    name: regionName(r.region_code),
    active_platforms: r.active_platforms,
    smes: r.smes,
    platforms_per_10k_smes: r.platforms_per_10k_smes,
    enterprises_reached: reported && r.platforms_with_records > 0 ? r.enterprises_reached : null,
    reach: r.reach,
    missing_functions: reported ? r.functions_without_provider.length : null,
    functions_without_provider: reported
      ? r.functions_without_provider.map((f) => label(FUNCTIONS, String(f))).join("、") || "—"
      : null,
    firms_located: r.firms_located,
    firms_served_from_elsewhere: r.firms_served_from_elsewhere,
    inflow_share: r.inflow_share,
    coverage: covered(r.coverage),
  };
}

function regions(v: LayoutView, ctx: Ctx): Table {
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "region_code", kind: "code" },
      { key: "name", label: "region_name", kind: "text" },
      { key: "active_platforms", label: "active_platforms", kind: "int" },
      { key: "smes", label: "smes", kind: "int" },
      { key: "platforms_per_10k_smes", label: "platforms_per_10k_smes", kind: "num" },
      { key: "enterprises_reached", label: "enterprises_reached", kind: "int" },
      { key: "reach", label: "reach", kind: "pct" },
      { key: "missing_functions", label: "missing_functions", kind: "int" },
      { key: "functions_without_provider", label: "functions_without_provider", kind: "text" },
      { key: "firms_located", label: "firms_located", kind: "int" },
      { key: "firms_served_from_elsewhere", label: "firms_served_from_elsewhere", kind: "int" },
      { key: "inflow_share", label: "inflow_share", kind: "pct" },
      { key: "coverage", label: "monthly_reports", kind: "text" },
    ],
    rows: v.rows.map(regionRow),
    notes: [`${t("periods_read")}${v.from} – ${v.to}`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

function priorities(v: LayoutView, ctx: Ctx): Table {
  for (const r of v.rows) learnName(r.region_code, r.region_name);
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "rank", label: "rank", kind: "int" },
      { key: "code", label: "region_code", kind: "code" },
      { key: "name", label: "region_name", kind: "text" },
      { key: "priority", label: "priority", kind: "num" },
      { key: "density_gap", label: "density_gap", kind: "num" },
      { key: "missing_functions", label: "missing_functions", kind: "int" },
      { key: "reach_gap", label: "reach_gap", kind: "num" },
    ],
    rows: v.where_to_build_next.map((p) => ({
      rank: p.rank,
      code: p.region_code,
      name: regionName(p.region_code),
      priority: p.priority,
      density_gap: p.density_gap,
      missing_functions: p.missing_functions,
      reach_gap: p.reach_gap,
    })),
    notes: [
      `${t("formula")}${v.formula}`,
      ...(v.not_ranked.length ? [`${t("not_ranked")}${v.not_ranked.join("; ")}`] : []),
    ],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

function functionGaps(v: LayoutView, ctx: Ctx): Table {
  const assessed = v.rows.filter((r) => r.coverage.reported > 0);
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "filter_function", kind: "text" },
      { key: "regions_without_provider", label: "regions_without_provider", kind: "int" },
      { key: "regions_assessed", label: "regions_assessed", kind: "int" },
    ],
    rows: Object.keys(FUNCTIONS).map((f) => ({
      code: f,
      name: label(FUNCTIONS, f),
      regions_without_provider: assessed.length
        ? assessed.filter((r) => r.functions_without_provider.includes(Number(f))).length
        : null,
      regions_assessed: assessed.length,
    })),
    notes: [
      pick("只计有月报的地区；没有任何报送的地区为无数据，不计入。", "Only regions with monthly reports count; a region nobody reported from is no data, not counted."),
    ],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

function headline(v: LayoutView, ctx: Ctx): Table {
  const s = v.total;
  learnName(s.region_code, s.region_name);
  const rows: Row[] = [
    { code: "active_platforms", name: t("active_platforms"), value: s.active_platforms },
    { code: "smes", name: t("smes"), value: s.smes },
    { code: "platforms_per_10k_smes", name: t("platforms_per_10k_smes"), value: s.platforms_per_10k_smes },
    {
      code: "enterprises_reached",
      name: t("enterprises_reached"),
      value: s.platforms_with_records > 0 ? s.enterprises_reached : null,
    },
    { code: "platforms_with_records", name: t("platforms_with_records"), value: `${s.platforms_with_records}/${s.platforms_reported}` },
    { code: "monthly_reports", name: t("monthly_reports"), value: covered(s.coverage) },
  ];
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "value", label: "value", kind: "num" },
    ],
    rows,
    notes: [`${regionName(s.region_code)} · ${t("periods_read")}${v.from} – ${v.to}`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

export const layoutViews = { regions, priorities, function_gaps: functionGaps, headline };
