// The choropleth: China by province (with the 南海诸岛 inset ECharts adds to the map named
// "china"), or one province by prefecture. Outlines come from the hub (`/geo/<code>.json`,
// decoded from echarts@4.9.0's map files at build time); features are matched by adcode.

import { get } from "../api";
import { pick, t } from "../i18n";
import { isMissing, type Table } from "../data/table";
import { isPrefecture, isProvince, mapLabel, provinceOf, regionName } from "../data/regions";
import { metricKind, tooltipHtml } from "./charts";
import { echarts, type Option } from "./echarts";

const registered = new Set<string>();
const SMALL = new Set(["810000", "820000"]);

/** The outline to draw for `region` ('' = the country), registered with ECharts. */
export async function mapFor(region: string): Promise<string> {
  const code = region === "" || region === "000000" ? "100000" : provinceOf(region);
  const name = code === "100000" ? "china" : `r${code}`;
  if (!registered.has(name)) {
    const geo = await get<object>(`/geo/${code}.json`);
    echarts.registerMap(name, geo as any);
    registered.add(name);
  }
  return name;
}

export function mapOption(table: Table, metric: string, map: string): Option {
  const kind = metricKind(table, metric);
  const values = table.rows.map((r) => r[metric]).filter((v) => !isMissing(v)) as number[];
  const max = values.length ? Math.max(...values) : 1;
  const byCode = new Map(table.rows.map((r) => [String(r[table.code]), r]));
  return {
    tooltip: {
      trigger: "item",
      confine: true,
      className: "chart-tooltip",
      formatter: (p: { name: string }) => {
        const row = byCode.get(p.name);
        if (row) return tooltipHtml(table, row, metric);
        return `<b>${regionName(p.name)}</b>${/^\d{6}$/.test(p.name) ? ` (${p.name})` : ""}<br>${t("no_data")}`;
      },
    },
    visualMap: {
      type: "continuous",
      min: 0,
      max: max > 0 ? max : 1,
      left: 8,
      bottom: 8,
      calculable: false,
      itemHeight: 100,
      text: [kind === "pct" ? `${Math.round(max * 100)}%` : String(Math.round(max * 100) / 100), "0"],
      inRange: { color: ["#dbe9f6", "#2f6fb3", "#0b2f5c"] },
    },
    series: [
      {
        type: "map",
        map,
        nameProperty: "code",
        roam: false,
        selectedMode: false,
        layoutCenter: ["50%", "50%"],
        layoutSize: "95%",
        itemStyle: { areaColor: "#d9d9d9", borderColor: "#ffffff", borderWidth: 0.8 },
        emphasis: { itemStyle: { areaColor: "#f2c14e" }, label: { show: true } },
        label: {
          show: true,
          fontSize: 10,
          color: "#1a1a1a",
          // A white halo keeps names readable on dark (high) regions.
          textBorderColor: "#ffffff",
          textBorderWidth: 2,
          formatter: (p: { name: string }) =>
            /^\d{6}$/.test(p.name) ? mapLabel(p.name) : p.name === "南海诸岛" ? pick("南海诸岛", "South China Sea Islands") : p.name,
        },
        data: table.rows.map((r) => ({
          name: String(r[table.code]),
          value: isMissing(r[metric]) ? "-" : Number(r[metric]),
          label: SMALL.has(String(r[table.code])) ? { show: false } : undefined,
        })).concat(
          // Hong Kong's and Macao's labels would cover Guangdong's: their regions keep their
          // colour and tooltip, without a label.
          [...SMALL].filter((c) => !byCode.has(c)).map((c) => ({ name: c, value: "-" as unknown as number, label: { show: false } })),
        ),
      },
    ],
  };
}

/** The region a click on `code` drills into, if any: provinces from the country. */
export function drillTarget(current: string, code: string, scope: string): string | null {
  const national = current === "" || current === "000000";
  if (national && isProvince(code) && (scope === "000000" || scope === "")) return code;
  if (isProvince(current) && isPrefecture(code) && code.startsWith(current.slice(0, 2))) return code;
  return null;
}
