// Coordinators (and admins): reopen a locked period for one platform or a whole region, with
// the reason (POST /api/v1/reopenings), and the reopenings so far.

import { get, Problem, request } from "../api";
import { regionName, regionOptions } from "../data/regions";
import { t } from "../i18n";
import type { User } from "../state/session";
import { h } from "../view/dom";
import { tableView } from "../view/tableview";

interface Platform {
  credit_code: string;
  name: string;
  region_code: string;
}
interface Reopening {
  reopened_at: string;
  period: string;
  target: string;
  target_id: string;
  region_code: string;
  until: string;
  by_name: string;
  reason: string;
}
interface CalendarPeriod {
  period: string;
  state: string;
}

export async function reopenPage(main: HTMLElement, user: User): Promise<void> {
  main.dataset.state = "loading";
  const [platforms, months, quarters] = await Promise.all([
    get<Platform[]>("/api/v1/platforms"),
    get<CalendarPeriod[]>("/api/v1/calendar?kind=month&count=24"),
    get<CalendarPeriod[]>("/api/v1/calendar?kind=quarter&count=8"),
  ]);
  const period = h("select", { id: "reopen-period", name: "period" });
  for (const p of [...months, ...quarters].filter((p) => p.state !== "in_progress")) {
    period.append(h("option", { value: p.period }, `${p.period} (${p.state})`));
  }
  const target = h("select", { id: "reopen-target", name: "target" });
  for (const p of platforms) target.append(h("option", { value: `platform:${p.credit_code}` }, `${t("target_platform")}: ${p.name} ${p.credit_code}`));
  for (const r of regionOptions(user.scope, "").filter(Boolean)) {
    target.append(h("option", { value: `region:${r}` }, `${t("target_region")}: ${regionName(r)} ${r}`));
  }
  const reason = h("textarea", { id: "reopen-reason", name: "reason", required: true, rows: "2" });
  const until = h("input", { id: "reopen-until", name: "until", type: "date" });
  const message = h("p", { role: "status" });
  const list = h("div", { class: "table-box" });
  const form = h(
    "form",
    { class: "action" },
    h("label", { for: "reopen-period" }, t("period"), period),
    h("label", { for: "reopen-target" }, `${t("target_platform")} / ${t("target_region")}`, target),
    h("label", { for: "reopen-reason" }, t("reason"), reason),
    h("label", { for: "reopen-until" }, t("until"), until),
    h("button", { type: "submit", "data-action": "reopen" }, t("submit_reopen")),
    message,
  );
  const refresh = async () => {
    const rows = await get<Reopening[]>("/api/v1/reopenings");
    list.replaceChildren(
      tableView(t("reopenings"), {
        code: "target_id",
        name: "name",
        columns: [
          { key: "target_id", label: "code", kind: "code" },
          { key: "name", label: "name", kind: "text" },
          { key: "period", label: "period", kind: "code" },
          { key: "reason", label: "reason", kind: "text" },
          { key: "until", label: "until", kind: "text" },
          { key: "by_name", label: "by_whom", kind: "text" },
          { key: "reopened_at", label: "as_of", kind: "text" },
        ],
        rows: rows.map((r) => ({
          ...r,
          name: r.target === "platform" ? platforms.find((p) => p.credit_code === r.target_id)?.name ?? r.target_id : regionName(r.target_id),
        })),
        notes: [],
        ignored: [],
      }),
    );
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const [kind, id] = target.value.split(":");
    const body: Record<string, string> = { period: period.value, reason: reason.value };
    body[kind] = id;
    if (until.value) body.until = until.value;
    try {
      await request("POST", "/api/v1/reopenings", JSON.stringify(body), "application/json");
      message.className = "ok";
      message.textContent = `${t("reopened")}: ${period.value} · ${target.selectedOptions[0]?.text ?? id}`;
      reason.value = "";
      await refresh();
    } catch (err) {
      message.className = "error";
      message.textContent = err instanceof Problem ? err.text() : String(err);
    }
  });
  main.replaceChildren(h("h2", { class: "page-title" }, t("page_reopen")), form, list);
  await refresh();
  main.dataset.state = "ready";
}
