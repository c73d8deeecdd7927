// Completeness (GET /api/v1/completeness), the registry (/platforms), one platform's history
// (/analytics/platforms/{code}/history) and staff and basic conditions (/analytics/staff).

import { query } from "../api";
import { BUCKETS, LEVELS, label, t } from "../i18n";
import { ignored, range, value, type Ctx } from "./context";
import { learnName, regionName } from "./regions";
import type { Row, Table } from "./table";

interface MissingPlatform {
  credit_code: string;
  name: string;
  region_code: string;
}
interface RegionCompleteness {
  region_code: string;
  region_name: string;
  expected: number;
  received: number;
  on_time: number;
  rate: number;
  on_time_rate: number;
  missing: MissingPlatform[];
}
interface CompletenessView {
  period: string;
  due_at: string;
  region: string;
  regions: RegionCompleteness[];
  total: RegionCompleteness;
}

/** `2026-12-10 23:59` (UTC+8) of an RFC 3339 time. */
function minutes(rfc3339: string): string {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return rfc3339;
  const cst = new Date(d.getTime() + 8 * 3600_000).toISOString();
  return `${cst.slice(0, 10)} ${cst.slice(11, 16)}`;
}

export function completenessUrl(ctx: Ctx): string {
  const r = range(ctx, "month");
  return `/api/v1/completeness${query({ period: r.to, region: value(ctx, "region") })}`;
}

function completenessRegions(v: CompletenessView, ctx: Ctx): Table {
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "region_code", kind: "code" },
      { key: "name", label: "region_name", kind: "text" },
      { key: "expected", label: "expected", kind: "int" },
      { key: "received", label: "received", kind: "int" },
      { key: "on_time", label: "on_time", kind: "int" },
      { key: "rate", label: "completeness_rate", kind: "pct" },
      { key: "on_time_rate", label: "on_time_rate", kind: "pct" },
    ],
    rows: v.regions.map((r) => {
      learnName(r.region_code, r.region_name);
      const any = r.expected > 0;
      return {
        code: r.region_code,
        name: regionName(r.region_code),
        expected: r.expected,
        received: r.received,
        on_time: r.on_time,
        rate: any ? r.rate : null,
        on_time_rate: any ? r.on_time_rate : null,
      };
    }),
    notes: [`${t("period")}: ${v.period} · ${t("due_at")}: ${minutes(v.due_at)}`],
    ignored: ignored(ctx, ["region"]),
  };
}

function missing(v: CompletenessView, ctx: Ctx): Table {
  return {
    code: "credit_code",
    name: "name",
    columns: [
      { key: "credit_code", label: "credit_code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "region_code", label: "region_code", kind: "code" },
      { key: "region_name", label: "region_name", kind: "text" },
    ],
    rows: v.total.missing.map((m) => ({
      credit_code: m.credit_code,
      name: m.name,
      region_code: m.region_code,
      region_name: regionName(m.region_code),
    })),
    notes: [`${t("period")}: ${v.period} · ${t("due_at")}: ${minutes(v.due_at)}`],
    ignored: ignored(ctx, ["region"]),
  };
}

function completenessHeadline(v: CompletenessView, ctx: Ctx): Table {
  const s = v.total;
  const any = s.expected > 0;
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "value", label: "value", kind: "num" },
    ],
    rows: [
      { code: "period", name: t("period"), value: v.period },
      { code: "expected", name: t("expected"), value: s.expected },
      { code: "received", name: t("received"), value: s.received },
      { code: "on_time", name: t("on_time"), value: s.on_time },
      { code: "rate", name: t("completeness_rate"), value: any ? `${(s.rate * 100).toFixed(1)}%` : null },
      { code: "on_time_rate", name: t("on_time_rate"), value: any ? `${(s.on_time_rate * 100).toFixed(1)}%` : null },
      { code: "due_at", name: t("due_at"), value: minutes(v.due_at) },
      // The answer is live (no nightly rebuild): the data are as of the moment it was asked.
      { code: "as_of", name: t("as_of"), value: minutes(new Date().toISOString()) },
    ],
    notes: [regionName(v.region)],
    ignored: ignored(ctx, ["region"]),
  };
}

interface PlatformDto {
  credit_code: string;
  name: string;
  region_code: string;
  platform_type: string;
  level: string;
  registered: string;
  closed: string | null;
}

export function platformsUrl(ctx: Ctx): string {
  return `/api/v1/platforms${query({ region: value(ctx, "region") })}`;
}

function platformList(list: PlatformDto[], ctx: Ctx): Table {
  return {
    code: "credit_code",
    name: "name",
    columns: [
      { key: "credit_code", label: "credit_code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "region_code", label: "region_code", kind: "code" },
      { key: "region_name", label: "region_name", kind: "text" },
      { key: "level", label: "level", kind: "text" },
      { key: "registered", label: "registered", kind: "date" },
      { key: "closed", label: "closed", kind: "date" },
    ],
    rows: list.map((p) => ({
      credit_code: p.credit_code,
      name: p.name,
      region_code: p.region_code,
      region_name: regionName(p.region_code),
      level: label(LEVELS, p.level),
      registered: p.registered,
      closed: p.closed ?? "—",
    })),
    notes: [],
    ignored: ignored(ctx, ["region"]),
  };
}

interface HistoryView {
  credit_code: string;
  name: string;
  region_code: string;
  period_kind: string;
  rows: {
    period: string;
    expected: boolean;
    report: null | {
      revision: number;
      on_time: boolean;
      services: number;
      free_services: number;
      satisfaction_rate: number | null;
      staff: null | { degree_share: number | null };
      finance: null | { service_revenue_share: number | null };
    };
  }[];
}

export function historyUrl(ctx: Ctx): string | null {
  const platform = ctx.params.get("platform");
  if (!platform) return null;
  const r = range(ctx, "month");
  return `/api/v1/analytics/platforms/${encodeURIComponent(platform)}/history${query({ from: r.from, to: r.to })}`;
}

function periods(v: HistoryView, ctx: Ctx): Table {
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "period", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "expected", label: "was_expected", kind: "bool" },
      { key: "reported", label: "was_reported", kind: "bool" },
      { key: "revision", label: "revision", kind: "int" },
      { key: "on_time", label: "on_time", kind: "bool" },
      { key: "services", label: "services", kind: "int" },
      { key: "free_services", label: "free_services", kind: "int" },
      { key: "satisfaction_rate", label: "satisfaction_rate", kind: "pct" },
      { key: "degree_share", label: "degree_share", kind: "pct" },
      { key: "service_revenue_share", label: "service_revenue_share", kind: "pct" },
    ],
    rows: v.rows.map((r): Row => ({
      code: r.period,
      name: v.name,
      expected: r.expected,
      reported: r.report !== null,
      revision: r.report?.revision,
      on_time: r.report ? r.report.on_time : null,
      services: r.report?.services,
      free_services: r.report?.free_services,
      satisfaction_rate: r.report?.satisfaction_rate,
      degree_share: r.report?.staff?.degree_share,
      service_revenue_share: r.report?.finance?.service_revenue_share,
    })),
    notes: [`${v.credit_code} · ${v.name} · ${regionName(v.region_code)} (${v.period_kind})`],
    ignored: ignored(ctx, []),
    periodKind: v.period_kind,
  };
}

interface Condition {
  meeting: number;
  assessed: number;
  share: number | null;
}
interface StaffRow {
  key: string;
  coverage: { reported: number; expected: number };
  with_staff: number;
  professional_staff: number;
  with_degree_or_title: number;
  degree_share: number | null;
  distribution: { bucket: string; reports: number }[];
  w101_degree_share: Condition;
  w102_service_revenue: Condition;
  w103_disclosures: Condition;
  service_revenue_share: number | null;
}
interface StaffView {
  period_kind: string;
  from: string;
  to: string;
  region: string;
  rows: StaffRow[];
  total: StaffRow;
}

export function staffUrl(ctx: Ctx): string {
  const r = range(ctx, "quarter");
  return `/api/v1/analytics/staff${query({ from: r.from, to: r.to, region: value(ctx, "region"), level: value(ctx, "level") })}`;
}

const met = (c: Condition): string => `${c.meeting}/${c.assessed}`;

function conditions(v: StaffView, ctx: Ctx): Table {
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "region_code", kind: "code" },
      { key: "name", label: "region_name", kind: "text" },
      { key: "with_staff", label: "with_staff", kind: "int" },
      { key: "professional_staff", label: "professional_staff", kind: "int" },
      { key: "degree_share", label: "degree_share", kind: "pct" },
      { key: "w101_share", label: "w101_share", kind: "pct" },
      { key: "w101", label: "w101_assessed", kind: "text" },
      { key: "w102_share", label: "w102_share", kind: "pct" },
      { key: "w102", label: "w102_assessed", kind: "text" },
      { key: "w103_share", label: "w103_share", kind: "pct" },
      { key: "w103", label: "w103_assessed", kind: "text" },
      { key: "service_revenue_share", label: "service_revenue_share", kind: "pct" },
      { key: "coverage", label: "reported_expected", kind: "text" },
    ],
    rows: v.rows.map((r) => {
      const reported = r.coverage.reported > 0;
      return {
        code: r.key,
        name: regionName(r.key),
        with_staff: reported ? r.with_staff : null,
        professional_staff: reported ? r.professional_staff : null,
        degree_share: r.degree_share,
        w101_share: r.w101_degree_share.share,
        w101: met(r.w101_degree_share),
        w102_share: r.w102_service_revenue.share,
        w102: met(r.w102_service_revenue),
        w103_share: r.w103_disclosures.share,
        w103: met(r.w103_disclosures),
        service_revenue_share: r.service_revenue_share,
        coverage: `${r.coverage.reported}/${r.coverage.expected}`,
      };
    }),
    notes: [`${t("periods_read")}${v.from} – ${v.to} (${v.period_kind})`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: v.period_kind,
  };
}

function distribution(v: StaffView, ctx: Ctx): Table {
  const reported = v.total.coverage.reported > 0;
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "bucket", kind: "text" },
      { key: "reports", label: "reports", kind: "int" },
    ],
    rows: v.total.distribution.map((b) => ({
      code: b.bucket,
      name: label(BUCKETS, b.bucket),
      reports: reported ? b.reports : null,
    })),
    notes: [`${regionName(v.region)} · ${t("periods_read")}${v.from} – ${v.to} (${v.period_kind})`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: v.period_kind,
  };
}

export const completenessViews = { regions: completenessRegions, missing, headline: completenessHeadline };
export const platformViews = { list: platformList };
export const historyViews = { periods };
export const staffViews = { conditions, distribution };

export { learnName };
