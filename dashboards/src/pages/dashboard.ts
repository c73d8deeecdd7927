// A dashboard page, drawn from its definition: the filter bar, then each panel in order.
// Panels asking the same question share one request.

import { get } from "../api";
import type { Ctx, DashboardDef } from "../data/context";
import { pick } from "../i18n";
import type { Route } from "../state/route";
import type { User } from "../state/session";
import { h } from "../view/dom";
import { exportBar } from "../view/exportbar";
import { filterBar } from "../view/filterbar";
import { renderPanel } from "../view/panel";

export async function dashboardPage(main: HTMLElement, def: DashboardDef, route: Route, user: User, months: string[]): Promise<void> {
  const grid = h("div", { class: "grid" });
  main.replaceChildren(
    h("h2", { class: "page-title" }, pick(def.title_zh, def.title_en)),
    h("p", { class: "description" }, pick(def.description_zh, def.description_en)),
    filterBar(route, user, months),
    ...[exportBar(def.id, route)].filter((x): x is HTMLElement => x !== null),
    grid,
  );
  main.dataset.dashboard = def.id;
  main.dataset.state = "loading";
  const cache = new Map<string, Promise<unknown>>();
  const fetchJson = (url: string) => {
    if (!cache.has(url)) cache.set(url, get<unknown>(url));
    return cache.get(url)!;
  };
  const jobs = def.panels.map((panel) => {
    const el = h("section", {});
    grid.append(el);
    const ctx: Ctx = { params: route.params, panel, user };
    return renderPanel(el, ctx, fetchJson);
  });
  await Promise.all(jobs);
  // Milliseconds from the navigation's start until every panel was drawn (read by the
  // benchmark; a person sees the same moment).
  main.dataset.drawnMs = String(Math.round(performance.now()));
  main.dataset.state = "ready";
}
