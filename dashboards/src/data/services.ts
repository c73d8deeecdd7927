// Service volume (GET /api/v1/analytics/volume) and satisfaction (/analytics/satisfaction).

import { query } from "../api";
import { FUNCTIONS, INDUSTRIES, SIZES, label, t } from "../i18n";
import type { FilterKey } from "../state/route";
import { ignored, range, value, type Ctx } from "./context";
import { regionName } from "./regions";
import type { Row, Table } from "./table";

interface Coverage {
  reported: number;
  expected: number;
}
interface VolumeRow {
  key: string;
  services: number;
  free_services: number;
  paid_services: number;
  free_share: number | null;
  revenue_fen: number;
  person_times: number;
  coverage: Coverage;
}
interface VolumeView {
  period_kind: string;
  from: string;
  to: string;
  region: string;
  by: string;
  source: "volumes" | "records";
  rows: VolumeRow[];
  total: VolumeRow;
  records: { reports: number; with_records: number; records_omitted: number; platforms_with_records: number };
}

const VOLUME_FILTERS: FilterKey[] = ["region", "function", "industry", "enterprise_size", "level"];

export function volumeUrl(ctx: Ctx): string {
  const r = range(ctx, "month");
  const q: Record<string, string | undefined> = { by: ctx.panel.defaults.by, from: r.from, to: r.to };
  for (const k of VOLUME_FILTERS) q[k] = value(ctx, k);
  return `/api/v1/analytics/volume${query(q)}`;
}

/** The name of a row key of `by`. */
export function keyName(by: string, key: string): string {
  switch (by) {
    case "function":
      return label(FUNCTIONS, key);
    case "region":
      return regionName(key);
    case "industry":
      return key === "" ? t("not_given") : `${key} ${label(INDUSTRIES, key)}`;
    case "enterprise_size":
      return label(SIZES, key);
    default:
      return key;
  }
}

function volumeRows(v: VolumeView, ctx: Ctx): Table {
  const rows = new Map<string, Row>();
  const noData = (key: string): Row => ({
    code: key,
    name: keyName(v.by, key),
    services: null,
    free_services: null,
    paid_services: null,
    free_share: null,
    revenue_yuan: null,
    person_times: null,
    coverage: "0",
  });
  // The seven functions always show, so a function nobody reported reads "no data".
  if (v.by === "function") for (const f of Object.keys(FUNCTIONS)) rows.set(f, noData(f));
  for (const r of v.rows) {
    const reported = r.coverage.reported > 0;
    rows.set(
      r.key,
      reported
        ? {
            code: r.key,
            name: keyName(v.by, r.key),
            services: r.services,
            free_services: r.free_services,
            paid_services: r.paid_services,
            free_share: r.free_share,
            revenue_yuan: r.revenue_fen / 100,
            person_times: r.person_times,
            coverage: `${r.coverage.reported}/${r.coverage.expected}`,
          }
        : noData(r.key),
    );
  }
  const notes = [`${t("periods_read")}${v.from} – ${v.to} (${v.period_kind})`];
  if (v.source === "records") {
    notes.push(
      t("records_note", {
        with: v.records.with_records,
        reports: v.records.reports,
        platforms: v.records.platforms_with_records,
      }),
    );
  }
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "services", label: "services", kind: "int" },
      { key: "free_services", label: "free_services", kind: "int" },
      { key: "paid_services", label: "paid_services", kind: "int" },
      { key: "free_share", label: "free_share", kind: "pct" },
      { key: "revenue_yuan", label: "revenue_yuan", kind: "yuan" },
      { key: "person_times", label: "person_times", kind: "int" },
      { key: "coverage", label: "reported_expected", kind: "text" },
    ],
    rows: [...rows.values()],
    notes,
    ignored: ignored(ctx, VOLUME_FILTERS),
    periodKind: v.period_kind,
  };
}

interface SatisfactionRow {
  key: string;
  responses: number;
  satisfied: number;
  rate: number | null;
  mean_score: number | null;
  coverage: Coverage;
}
interface SatisfactionView {
  period_kind: string;
  from: string;
  to: string;
  by: string;
  rows: SatisfactionRow[];
  total: SatisfactionRow;
  previous: SatisfactionRow | null;
  rate_change: number | null;
}

export function satisfactionUrl(ctx: Ctx): string {
  const r = range(ctx, "month");
  return `/api/v1/analytics/satisfaction${query({
    by: ctx.panel.defaults.by,
    from: r.from,
    to: r.to,
    region: value(ctx, "region"),
    level: value(ctx, "level"),
  })}`;
}

function satRow(by: string, r: SatisfactionRow): Row {
  const reported = r.coverage.reported > 0;
  return {
    code: r.key,
    name: keyName(by, r.key),
    responses: reported ? r.responses : null,
    satisfied: reported ? r.satisfied : null,
    rate: r.rate,
    mean_score: r.mean_score,
    coverage: `${r.coverage.reported}/${r.coverage.expected}`,
  };
}

const SAT_COLUMNS = [
  { key: "code", label: "code", kind: "code" },
  { key: "name", label: "name", kind: "text" },
  { key: "responses", label: "responses", kind: "int" },
  { key: "satisfied", label: "satisfied", kind: "int" },
  { key: "rate", label: "rate", kind: "pct" },
  { key: "mean_score", label: "mean_score", kind: "num" },
  { key: "coverage", label: "reported_expected", kind: "text" },
] as const;

function satisfactionRows(v: SatisfactionView, ctx: Ctx): Table {
  return {
    code: "code",
    name: "name",
    columns: [...SAT_COLUMNS],
    rows: v.rows.map((r) => satRow(v.by, r)),
    notes: [`${t("periods_read")}${v.from} – ${v.to} (${v.period_kind})`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: v.period_kind,
  };
}

function satisfactionHeadline(v: SatisfactionView, ctx: Ctx): Table {
  const reported = v.total.coverage.reported > 0;
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "value", label: "value", kind: "num" },
    ],
    rows: [
      { code: "rate", name: t("rate"), value: v.total.rate === null ? null : `${(v.total.rate * 100).toFixed(1)}%` },
      { code: "mean_score", name: t("mean_score"), value: v.total.mean_score },
      { code: "responses", name: t("responses"), value: reported ? v.total.responses : null },
      {
        code: "previous_rate",
        name: t("previous_rate"),
        value: v.previous?.rate == null ? null : `${(v.previous.rate * 100).toFixed(1)}%`,
      },
      {
        code: "rate_change",
        name: t("rate_change"),
        value: v.rate_change === null ? null : `${v.rate_change >= 0 ? "+" : ""}${(v.rate_change * 100).toFixed(1)} pp`,
      },
      { code: "coverage", name: t("reported_expected"), value: `${v.total.coverage.reported}/${v.total.coverage.expected}` },
    ],
    notes: [`${t("periods_read")}${v.from} – ${v.to} (${v.period_kind})`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: v.period_kind,
  };
}

export const volumeViews = { rows: volumeRows };
export const satisfactionViews = { rows: satisfactionRows, headline: satisfactionHeadline };
