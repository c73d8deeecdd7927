// Demo-platform candidates (GET /api/v1/analytics/demo-candidates): both tiers' gates and the
// score's components, each shown, so a planner can defend the ranking.

import { query } from "../api";
import { LEVELS, label, lang, pick, t } from "../i18n";
import { ignored, range, value, type Ctx } from "./context";
import { regionName } from "./regions";
import type { Column, Row, Table } from "./table";

interface Gate {
  id: string;
  label_zh: string;
  label_en: string;
  value: number | null;
  threshold: number;
  met: boolean | null;
}
interface Component {
  id: string;
  weight: number;
  value: number | null;
  points: number;
}
interface Candidate {
  credit_code: string;
  name: string;
  region_code: string;
  level: string;
  tier: "national" | "basic" | "none";
  basic: Gate[];
  national: Gate[];
  components: Component[];
  score: number;
}
interface DemoView {
  from: string;
  to: string;
  quarters: string[];
  year: string;
  region: string;
  assessed: number;
  basic: number;
  national: number;
  listed_tier: string;
  candidates: Candidate[];
  truncated: number;
  formula: string;
}

const TIERS: Record<string, [string, string]> = {
  national: ["达到国家级示范门槛", "National thresholds met"],
  basic: ["达到基本条件", "Basic conditions met"],
  none: ["未达基本条件", "Basic conditions not met"],
};

const COMPONENTS: Record<string, [string, string]> = {
  smes_served: ["服务企业数百分位", "SMEs served (percentile)"],
  satisfaction: ["满意率", "Satisfaction rate"],
  functions: ["服务功能覆盖", "Functions covered"],
  growth: ["服务企业增长", "Growth of SMEs served"],
  senior_titles: ["高级职称占比", "Senior-title share"],
  timeliness: ["按时报送", "Timeliness"],
};

export function demoUrl(ctx: Ctx): string {
  const r = range(ctx, "month");
  return `/api/v1/analytics/demo-candidates${query({
    from: r.from,
    to: r.to,
    region: value(ctx, "region"),
    level: value(ctx, "level"),
    tier: ctx.panel.defaults.tier,
    limit: "1000",
  })}`;
}

function window(v: DemoView): string {
  return pick(
    `月度：${v.from} – ${v.to}；季度：${v.quarters.join("、") || "—"}；年度：${v.year}`,
    `Months ${v.from} – ${v.to}; quarters ${v.quarters.join(", ") || "—"}; year ${v.year}`,
  );
}

const base = (c: Candidate): Row => ({
  credit_code: c.credit_code,
  name: c.name,
  region: regionName(c.region_code),
  tier: label(TIERS, c.tier),
});

const baseColumns: Column[] = [
  { key: "credit_code", label: "credit_code", kind: "code" },
  { key: "name", label: "name", kind: "text" },
  { key: "region", label: "region_name", kind: "text" },
  { key: "tier", label: ["层级", "Tier"], kind: "text" },
];

const num = (x: number): string =>
  Number.isInteger(x) ? x.toLocaleString(lang() === "zh" ? "zh-CN" : "en-US") : x.toLocaleString(lang() === "zh" ? "zh-CN" : "en-US", { maximumFractionDigits: 3 });

function gateCell(g: Gate): string {
  const mark = g.met === null ? t("no_data") : g.met ? "✓" : "✗";
  const shown = g.value === null ? "—" : num(g.value);
  return `${mark} ${shown} (≥ ${num(g.threshold)})`;
}

function summary(v: DemoView, ctx: Ctx): Table {
  return {
    code: "code",
    name: "name",
    columns: [
      { key: "code", label: "code", kind: "code" },
      { key: "name", label: "name", kind: "text" },
      { key: "value", label: "value", kind: "int" },
    ],
    rows: [
      { code: "assessed", name: pick("评估平台数", "Platforms assessed"), value: v.assessed },
      { code: "basic", name: pick("达到基本条件", "Basic conditions met"), value: v.basic },
      { code: "national", name: pick("达到国家级示范门槛", "National thresholds met"), value: v.national },
      { code: "truncated", name: pick("未列出", "Not listed (limit)"), value: v.truncated },
    ],
    notes: [`${regionName(v.region)} · ${window(v)}`, `${t("formula")}${v.formula}`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

function candidates(v: DemoView, ctx: Ctx): Table {
  return {
    code: "credit_code",
    name: "name",
    columns: [{ key: "rank", label: "rank", kind: "int" }, ...baseColumns, { key: "level", label: "level", kind: "text" }, { key: "score", label: ["评分", "Score"], kind: "num" }],
    rows: v.candidates.map((c, i) => ({ rank: i + 1, ...base(c), level: label(LEVELS, c.level), score: c.score })),
    notes: [window(v), `${t("formula")}${v.formula}`],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

function gates(v: DemoView, ctx: Ctx): Table {
  const first = v.candidates[0];
  const all = first ? [...first.basic, ...first.national] : [];
  return {
    code: "credit_code",
    name: "name",
    columns: [
      ...baseColumns,
      ...all.map((g): Column => ({ key: g.id, label: [`${g.id} ${g.label_zh}`, `${g.id} ${g.label_en}`], kind: "text" })),
    ],
    rows: v.candidates.map((c) => {
      const row = base(c);
      for (const g of [...c.basic, ...c.national]) row[g.id] = gateCell(g);
      return row;
    }),
    notes: [window(v), pick("无数据的门槛视为未达标。", "A gate without data is not met.")],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

function components(v: DemoView, ctx: Ctx): Table {
  const first = v.candidates[0];
  const ids = first ? first.components.map((c) => c) : [];
  return {
    code: "credit_code",
    name: "name",
    columns: [
      ...baseColumns,
      ...ids.flatMap((c): Column[] => [
        { key: `${c.id}_value`, label: [`${label(COMPONENTS, c.id)}（分项值）`, `${label(COMPONENTS, c.id)} (value)`], kind: "pct" },
        { key: `${c.id}_points`, label: [`${label(COMPONENTS, c.id)}（得分/${c.weight}）`, `${label(COMPONENTS, c.id)} (points of ${c.weight})`], kind: "num" },
      ]),
      { key: "score", label: ["评分", "Score"], kind: "num" },
    ],
    rows: v.candidates.map((c) => {
      const row = base(c);
      for (const k of c.components) {
        row[`${k.id}_value`] = k.value;
        row[`${k.id}_points`] = k.points;
      }
      row.score = c.score;
      return row;
    }),
    notes: [window(v), pick("未知的分项得 0 分。", "An unknown component earns 0 points.")],
    ignored: ignored(ctx, ["region", "level"]),
    periodKind: "month",
  };
}

export const demoViews = { summary, candidates, gates, components };
