// One panel: title, its chart (or headline figures), the data-table view of the same rows,
// CSV and PNG downloads, notes (period kind, formula, coverage) and "no data" states.

import { Problem } from "../api";
import { CATALOGUE } from "../data/catalogue";
import type { Ctx } from "../data/context";
import { isProvince, provinceOf, regionName } from "../data/regions";
import { formatCell, isMissing, toCsv, type Table } from "../data/table";
import { pick, t } from "../i18n";
import { patch } from "../state/route";
import { barOption, lineOption, pieOption, stackedOption } from "./charts";
import { button, h, saveAs } from "./dom";
import { echarts, type Option } from "./echarts";
import { drillTarget, mapFor, mapOption } from "./map";
import { tableView, type Link } from "./tableview";

export type Fetch = (url: string) => Promise<unknown>;

const charts = new Set<echarts.ECharts>();

/** Disposes the charts of the previous page. */
export function disposeCharts(): void {
  for (const c of charts) c.dispose();
  charts.clear();
}

export function resizeCharts(): void {
  for (const c of charts) c.resize();
}

function stamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}`;
}

function savePng(option: Option, width: number, height: number, name: string): void {
  const div = h("div", { style: `position:fixed;left:-10000px;top:0;width:${width}px;height:${height}px` });
  document.body.append(div);
  const c = echarts.init(div, null, { renderer: "canvas", width, height });
  c.setOption({ ...option, animation: false });
  const url = c.getDataURL({ type: "png", pixelRatio: 2, backgroundColor: "#ffffff" });
  c.dispose();
  div.remove();
  saveAs(url, name);
}

function headlineCards(table: Table): HTMLElement {
  const value = table.columns.find((c) => c.key === "value");
  return h(
    "dl",
    { class: "headline" },
    ...table.rows.map((r) =>
      h(
        "div",
        { class: "card", "data-code": String(r.code) },
        h("dt", {}, String(r.name)),
        h("dd", { class: isMissing(r.value) ? "nodata" : undefined }, formatCell(r.value, value?.kind ?? "num")),
      ),
    ),
  );
}

function breadcrumb(ctx: Ctx): HTMLElement {
  const region = ctx.params.get("region") ?? "";
  const scope = ctx.user.scope;
  const national = scope === "000000" || scope === "";
  const trail: string[] = [];
  if (national) trail.push("");
  if (region && isProvince(provinceOf(region)) && (national || scope === provinceOf(region))) trail.push(provinceOf(region));
  if (region && !isProvince(region)) trail.push(region);
  if (!national && !trail.includes(scope)) trail.unshift(scope);
  const nav = h("nav", { class: "breadcrumb", "aria-label": t("breadcrumb_up") });
  trail.forEach((code, i) => {
    if (i > 0) nav.append(" › ");
    const text = code ? regionName(code) : t("national");
    if (i === trail.length - 1) nav.append(h("span", { "aria-current": "page" }, text));
    else nav.append(button(text, () => patch({ region: code === scope && !national ? "" : code }), { class: "link" }));
  });
  return nav;
}

export async function renderPanel(el: HTMLElement, ctx: Ctx, fetchJson: Fetch): Promise<void> {
  const def = ctx.panel;
  const title = pick(def.title_zh, def.title_en);
  el.replaceChildren();
  el.className = `panel ${def.width}`;
  el.dataset.panel = def.id;
  el.dataset.state = "loading";
  const tools = h("div", { class: "tools" });
  const header = h("header", {}, h("h2", {}, title), tools);
  const body = h("div", { class: "body" }, h("p", { class: "muted" }, t("loading")));
  const notes = h("div", { class: "notes" });
  el.append(header, body, notes);
  const analytic = CATALOGUE[def.analytic];
  const url = analytic?.url(ctx);
  if (!analytic || !analytic.views[def.view]) {
    body.replaceChildren(h("p", { class: "error", role: "alert" }, `${def.analytic}.${def.view}?`));
    el.dataset.state = "error";
    return;
  }
  if (!url) {
    body.replaceChildren(h("p", { class: "muted" }, t("pick_platform")));
    el.dataset.state = "empty";
    return;
  }
  const region = ctx.params.get("region") ?? "";
  const scope = ctx.user.scope;
  // The outline loads while the figures are asked for.
  const outline = def.chart === "map" ? mapFor(region || (scope === "000000" ? "" : scope)) : null;
  outline?.catch(() => undefined); // reported below, with the panel's other errors
  let table: Table;
  let mapName = "";
  try {
    table = analytic.views[def.view](await fetchJson(url), ctx);
    if (outline) mapName = await outline;
  } catch (e) {
    const text = e instanceof Problem ? e.text() : String(e);
    body.replaceChildren(h("p", { class: "error", role: "alert" }, `${t("error")}: ${text}`));
    el.dataset.state = "error";
    return;
  }
  const note = pick(def.note_zh, def.note_en);
  for (const n of [note, ...table.notes]) if (n) notes.append(h("p", {}, n));
  if (table.ignored.length) notes.append(h("p", { class: "muted" }, t("not_filtered_by") + table.ignored.join("、")));

  const link: Link | undefined =
    def.analytic === "platforms"
      ? { column: "name", param: "platform", valueFrom: "credit_code" }
      : def.chart === "map"
        ? { column: "name", param: "region", valueFrom: "code" }
        : undefined;
  const tableBox = h("div", { class: "table-box" }, tableView(title, table, link));
  const fileBase = `${def.id}-${stamp()}`;
  tools.append(
    button(t("download_csv"), () => {
      const blobUrl = URL.createObjectURL(toCsv(table));
      saveAs(blobUrl, `${fileBase}.csv`);
      setTimeout(() => URL.revokeObjectURL(blobUrl), 10_000);
    }, { "data-action": "csv" }),
  );

  if (def.chart === "table") {
    body.replaceChildren(tableBox);
    el.dataset.state = table.rows.length ? "ready" : "empty";
    if (!table.rows.length) body.append(h("p", { class: "muted" }, t("no_data")));
    return;
  }
  if (def.chart === "headline") {
    tableBox.hidden = true;
    body.replaceChildren(headlineCards(table), tableBox);
    tools.prepend(toggle(tableBox, null));
    el.dataset.state = "ready";
    return;
  }

  const metric = def.metric ?? "services";
  let option: Option;
  const chartBox = h("div", { class: def.chart === "map" ? "chart map" : "chart", role: "img", "aria-label": title });
  if (outline) {
    option = mapOption(table, metric, mapName);
    body.replaceChildren(breadcrumb(ctx), chartBox, tableBox);
  } else {
    option =
      def.chart === "bar" || def.chart === "hbar"
        ? barOption(table, metric, def.chart === "hbar")
        : def.chart === "line"
          ? lineOption(table, metric)
          : def.chart === "pie"
            ? pieOption(table, metric)
            : stackedOption(table);
    body.replaceChildren(chartBox, tableBox);
  }
  tableBox.hidden = true;
  tools.prepend(toggle(tableBox, chartBox));
  tools.append(
    button(t("download_png"), () => savePng(option, chartBox.clientWidth || 800, chartBox.clientHeight || 400, `${fileBase}.png`), {
      "data-action": "png",
    }),
  );
  const chart = echarts.init(chartBox, null, { renderer: "svg" });
  charts.add(chart);
  if (def.chart === "map") {
    chart.on("click", (p: { name?: string }) => {
      const target = p.name ? drillTarget(region, p.name, ctx.user.scope) : null;
      if (target) patch({ region: target });
    });
  }
  await new Promise<void>((resolve) => {
    chart.on("finished", () => resolve());
    chart.setOption(option);
    setTimeout(resolve, 3000);
  });
  // Nothing to draw (nobody reported anything the chart plots): say so, never a row of zeros.
  const plotted = def.chart === "stacked_bar" ? "services" : metric;
  const empty = !table.rows.some((r) => !isMissing(r[plotted]));
  if (empty) body.prepend(h("p", { class: "muted nodata", role: "status" }, t("no_data")));
  el.dataset.state = empty ? "empty" : "ready";
}

function toggle(tableBox: HTMLElement, chartBox: HTMLElement | null): HTMLButtonElement {
  const b = button(t("show_table"), () => {
    const showTable = tableBox.hidden;
    tableBox.hidden = !showTable;
    if (chartBox) chartBox.hidden = showTable;
    b.textContent = showTable ? t("show_chart") : t("show_table");
    b.setAttribute("aria-pressed", String(showTable));
    if (!showTable) resizeCharts();
  }, { "data-action": "table", "aria-pressed": "false" });
  return b;
}
