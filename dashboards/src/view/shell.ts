// The frame of every page once logged in: navigation (the dashboards of the definitions, then
// the user's action pages), who is logged in, the language switch and logout.

import { lang, pick, t } from "../i18n";
import type { DashboardDef } from "../data/context";
import { regionName } from "../data/regions";
import { currentRoute, href, patch } from "../state/route";
import { logout, type User } from "../state/session";
import { button, h } from "./dom";

export interface ActionPage {
  id: string;
  title: () => string;
  roles: User["role"][];
}

export const ACTION_PAGES: ActionPage[] = [
  { id: "reopen", title: () => t("page_reopen"), roles: ["coordinator", "admin"] },
  { id: "registry", title: () => t("page_registry"), roles: ["coordinator", "admin"] },
  { id: "sme-counts", title: () => t("page_sme_counts"), roles: ["planner", "admin"] },
];

export function shell(user: User, dashboards: DashboardDef[], main: HTMLElement): HTMLElement {
  const route = currentRoute();
  // Links keep the filters (and the language) when moving between dashboards.
  const link = (id: string, text: string) =>
    h("a", { href: href(id, route.params), "aria-current": route.page === id ? "page" : undefined, "data-page": id }, text);
  const nav = h(
    "nav",
    { class: "pages" },
    ...dashboards.map((d) => link(d.id, pick(d.title_zh, d.title_en))),
    ...ACTION_PAGES.filter((p) => p.roles.includes(user.role)).map((p) => link(p.id, p.title())),
  );
  const role = t(user.role === "planner" ? "role_planner" : user.role === "coordinator" ? "role_coordinator" : "role_admin");
  const who = h("span", { class: "who", "data-scope": user.scope }, `${user.name} · ${role} · ${regionName(user.scope)}`);
  const switchLang = button(t("language_switch"), () => patch({ lang: lang() === "zh" ? "en" : "" }), {
    "data-action": "lang",
    lang: lang() === "zh" ? "en" : "zh-CN",
  });
  const out = button(t("logout"), async () => {
    await logout().catch(() => undefined);
    location.hash = "#/login";
    location.reload();
  }, { "data-action": "logout" });
  return h(
    "div",
    { class: "shell" },
    h("header", { class: "top" }, h("h1", {}, t("app_title")), h("div", { class: "user" }, who, switchLang, out)),
    nav,
    main,
  );
}
