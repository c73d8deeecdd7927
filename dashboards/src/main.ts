// The dashboards' entry point: language and filters from the address, login, then the page.

import "./style.css";
import { get, whenUnauthenticated } from "./api";
import type { DashboardDef } from "./data/context";
import { loadNames } from "./data/regions";
import { setLang, t } from "./i18n";
import { dashboardPage } from "./pages/dashboard";
import { loginPage } from "./pages/login";
import { reopenPage } from "./pages/reopen";
import { uploadPage } from "./pages/upload";
import { monthsEndingWith } from "./state/periods";
import { currentRoute, href } from "./state/route";
import { forget, me, resume, type User } from "./state/session";
import { h } from "./view/dom";
import { disposeCharts, resizeCharts } from "./view/panel";
import { ACTION_PAGES, shell } from "./view/shell";

const root = document.getElementById("app")!;

interface CalendarPeriod {
  period: string;
  state: string;
}

let dashboards: DashboardDef[] = [];
let months: string[] = [];

async function loadSessionData(): Promise<void> {
  const [defs, calendar] = await Promise.all([
    get<{ dashboards: DashboardDef[] }>("/api/v1/dashboards"),
    get<CalendarPeriod[]>("/api/v1/calendar?kind=month&count=36"),
  ]);
  dashboards = defs.dashboards;
  months = calendar
    .filter((p) => p.state !== "in_progress")
    .map((p) => p.period)
    .sort();
}

/** Fills in the default period range (the 12 months that ended last) without a history entry. */
function withDefaults(): boolean {
  const r = currentRoute();
  if (r.params.get("from") && r.params.get("to")) return false;
  const last = months[months.length - 1];
  if (!last) return false;
  const range = monthsEndingWith(last, 12);
  if (!r.params.get("to")) r.params.set("to", last);
  if (!r.params.get("from")) r.params.set("from", range[0]);
  location.replace(href(r.page || dashboards[0]?.id || "", r.params));
  return true;
}

async function render(): Promise<void> {
  disposeCharts();
  const route = currentRoute();
  setLang(route.params.get("lang") === "en" ? "en" : "zh");
  document.title = t("app_title");
  const user = me();
  if (!user || route.page === "login") {
    if (user && route.page === "login") {
      location.replace(href(dashboards[0]?.id ?? "", route.params));
      return;
    }
    loginPage(root, async () => {
      await loadSessionData();
      const r = currentRoute();
      location.hash = href(dashboards[0]?.id ?? "", r.params).slice(1);
    });
    return;
  }
  if (withDefaults()) return;
  const main = h("main", { id: "main" });
  root.replaceChildren(shell(user, dashboards, main));
  root.dataset.state = "ready";
  const page = route.page || dashboards[0]?.id;
  const def = dashboards.find((d) => d.id === page);
  if (def) return dashboardPage(main, def, route, user, months);
  const action = ACTION_PAGES.find((p) => p.id === page && p.roles.includes(user.role));
  if (action?.id === "reopen") return reopenPage(main, user);
  if (action?.id === "registry") return uploadPage(main, "/api/v1/registry/imports", t("page_registry"));
  if (action?.id === "sme-counts") return uploadPage(main, "/api/v1/sme-counts/imports", t("page_sme_counts"));
  location.replace(href(dashboards[0]?.id ?? "", route.params));
}

async function boot(): Promise<void> {
  setLang(currentRoute().params.get("lang") === "en" ? "en" : "zh");
  whenUnauthenticated(() => {
    forget();
    void render();
  });
  const [, user]: [void, User | null] = await Promise.all([loadNames(), resume()]);
  if (user) await loadSessionData();
  window.addEventListener("hashchange", () => void render());
  window.addEventListener("resize", () => resizeCharts());
  await render();
}

void boot();
