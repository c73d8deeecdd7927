// The table behind every chart: what the data-table view shows, what the CSV holds and what
// the chart is drawn from (one set of rows for all three). A missing value is "no data", never 0.

import { lang, t, type Word } from "../i18n";

export type Kind = "code" | "text" | "int" | "num" | "pct" | "yuan" | "bool" | "date";

export interface Column {
  key: string;
  label: Word | [string, string];
  kind: Kind;
}

export type Cell = string | number | boolean | null | undefined;
export type Row = Record<string, Cell>;

export interface Table {
  columns: Column[];
  rows: Row[];
  /** Column holding the row's code (region, function, period …) and its name. */
  code: string;
  name: string;
  /** Extra text under the chart (the formula, the record coverage …). */
  notes: string[];
  /** What the panel's filters did not apply to. */
  ignored: string[];
  /** The period kind read. */
  periodKind?: string;
}

export function columnLabel(c: Column): string {
  if (Array.isArray(c.label)) return lang() === "zh" ? c.label[0] : c.label[1];
  return t(c.label);
}

export function isMissing(v: Cell): boolean {
  return v === null || v === undefined || (typeof v === "number" && !Number.isFinite(v));
}

/** A cell as a person reads it. */
export function formatCell(v: Cell, kind: Kind): string {
  if (isMissing(v)) return t("no_data");
  if (typeof v === "string") return v;
  const locale = lang() === "zh" ? "zh-CN" : "en-US";
  switch (kind) {
    case "int":
      return Number(v).toLocaleString(locale, { maximumFractionDigits: 0 });
    case "num":
      return Number(v).toLocaleString(locale, { maximumFractionDigits: 2 });
    case "pct": {
      // Small shares keep two significant digits (0.023%), others one decimal (65.5%).
      const p = Number(v) * 100;
      const digits = p !== 0 && Math.abs(p) < 1 ? { maximumSignificantDigits: 2 } : { maximumFractionDigits: 1 };
      return `${p.toLocaleString(locale, digits)}%`;
    }
    case "yuan":
      return Number(v).toLocaleString(locale, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    case "bool":
      return v ? t("yes") : t("no");
    default:
      return String(v);
  }
}

/** A cell as the CSV holds it: full precision, no thousands separators. */
function csvCell(v: Cell, kind: Kind): string {
  if (isMissing(v)) return t("no_data");
  if (kind === "bool") return v ? t("yes") : t("no");
  if (typeof v === "string") return v;
  if (kind === "pct") return String(Math.round(Number(v) * 100000) / 1000) + "%";
  return String(v);
}

function quote(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** UTF-8 CSV with a BOM (so Excel in China opens it as UTF-8), code and name columns first. */
export function toCsv(table: Table): Blob {
  const cols = [
    ...table.columns.filter((c) => c.key === table.code || c.key === table.name),
    ...table.columns.filter((c) => c.key !== table.code && c.key !== table.name),
  ];
  const lines = [cols.map((c) => quote(columnLabel(c))).join(",")];
  for (const row of table.rows) lines.push(cols.map((c) => quote(csvCell(row[c.key], c.kind))).join(","));
  return new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
}
