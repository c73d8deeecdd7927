// ECharts options drawn from a panel's table — the same rows its data table shows.

import { t } from "../i18n";
import { columnLabel, formatCell, isMissing, type Kind, type Row, type Table } from "../data/table";
import type { Option } from "./echarts";

const PALETTE = ["#2f6fb3", "#e08a2c", "#3a9e6f", "#b84a62", "#7a5fb0", "#8c8c3a", "#3aa3b8"];

export function metricKind(table: Table, metric: string): Kind {
  return table.columns.find((c) => c.key === metric)?.kind ?? "num";
}

function metricLabel(table: Table, metric: string): string {
  const c = table.columns.find((c) => c.key === metric);
  return c ? columnLabel(c) : metric;
}

const num = (v: unknown): number | "-" => (isMissing(v as number) ? "-" : Number(v));

function axisFormatter(kind: Kind): ((v: number) => string) | undefined {
  return kind === "pct" ? (v: number) => `${Math.round(v * 100)}%` : undefined;
}

/** Tooltip text of one row: name, code, value, reported/expected. */
export function tooltipHtml(table: Table, row: Row, metric: string): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const lines = [
    `<b>${esc(String(row[table.name] ?? ""))}</b> (${esc(String(row[table.code] ?? ""))})`,
    `${esc(metricLabel(table, metric))}: ${esc(formatCell(row[metric], metricKind(table, metric)))}`,
  ];
  if (row.coverage !== undefined) lines.push(`${t("reported_expected")}: ${esc(String(row.coverage))}`);
  return lines.join("<br>");
}

function categoryName(table: Table, row: Row, metric: string): string {
  const name = String(row[table.name] ?? row[table.code] ?? "");
  return isMissing(row[metric]) ? `${name}\n(${t("no_data")})` : name;
}

function tooltip(table: Table, metric: string) {
  return {
    trigger: "item",
    confine: true,
    className: "chart-tooltip",
    formatter: (p: { dataIndex: number }) => tooltipHtml(table, table.rows[p.dataIndex], metric),
  };
}

export function barOption(table: Table, metric: string, horizontal: boolean): Option {
  const kind = metricKind(table, metric);
  const rows = horizontal ? [...table.rows].reverse() : table.rows;
  const view: Table = { ...table, rows };
  const categories = {
    type: "category",
    data: rows.map((r) => categoryName(table, r, metric)),
    axisLabel: horizontal ? { width: 120, overflow: "truncate" } : { interval: 0, rotate: rows.length > 6 ? 35 : 0, fontSize: 11 },
  };
  const values = { type: "value", axisLabel: { formatter: axisFormatter(kind) } };
  return {
    color: PALETTE,
    tooltip: tooltip(view, metric),
    grid: { left: horizontal ? 130 : 56, right: 24, top: 24, bottom: horizontal ? 32 : 72 },
    xAxis: horizontal ? values : categories,
    yAxis: horizontal ? categories : values,
    series: [{ type: "bar", name: metricLabel(table, metric), data: rows.map((r) => num(r[metric])), barMaxWidth: 36 }],
  };
}

export function lineOption(table: Table, metric: string): Option {
  const kind = metricKind(table, metric);
  return {
    color: PALETTE,
    tooltip: tooltip(table, metric),
    grid: { left: 56, right: 24, top: 24, bottom: 40 },
    xAxis: { type: "category", data: table.rows.map((r) => String(r[table.code])) },
    yAxis: { type: "value", axisLabel: { formatter: axisFormatter(kind) } },
    series: [
      {
        type: "line",
        name: metricLabel(table, metric),
        data: table.rows.map((r) => num(r[metric])),
        connectNulls: false,
        symbolSize: 8,
      },
    ],
  };
}

export function stackedOption(table: Table): Option {
  const series = ["free_services", "paid_services"].map((k) => ({
    type: "bar",
    stack: "total",
    name: metricLabel(table, k),
    data: table.rows.map((r) => num(r[k])),
    barMaxWidth: 36,
  }));
  return {
    color: PALETTE,
    legend: { top: 0 },
    tooltip: {
      trigger: "item",
      confine: true,
      className: "chart-tooltip",
      formatter: (p: { dataIndex: number; seriesIndex: number }) =>
        tooltipHtml(table, table.rows[p.dataIndex], p.seriesIndex === 0 ? "free_services" : "paid_services"),
    },
    grid: { left: 56, right: 24, top: 36, bottom: 72 },
    xAxis: {
      type: "category",
      data: table.rows.map((r) => categoryName(table, r, "services")),
      axisLabel: { interval: 0, rotate: table.rows.length > 6 ? 35 : 0, fontSize: 11 },
    },
    yAxis: { type: "value" },
    series,
  };
}

export function pieOption(table: Table, metric: string): Option {
  const rows = table.rows.filter((r) => !isMissing(r[metric]));
  const view: Table = { ...table, rows };
  return {
    color: PALETTE,
    tooltip: tooltip(view, metric),
    legend: { bottom: 0 },
    series: [
      {
        type: "pie",
        radius: ["35%", "65%"],
        data: rows.map((r) => ({ name: String(r[table.name]), value: Number(r[metric]) })),
        label: { formatter: "{b}: {d}%" },
      },
    ],
  };
}
