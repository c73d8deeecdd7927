// The analytics a panel can name (mirrors the hub's `web::dashboards::CATALOGUE`): for each
// (analytic, view), the request and the table made of its answer.

import type { Ctx } from "./context";
import { demoUrl, demoViews } from "./demo";
import { layoutUrl, layoutViews } from "./layout";
import {
  completenessUrl,
  completenessViews,
  historyUrl,
  historyViews,
  platformsUrl,
  platformViews,
  staffUrl,
  staffViews,
} from "./reporting";
import { satisfactionUrl, satisfactionViews, volumeUrl, volumeViews } from "./services";
import type { Table } from "./table";

type View = (json: any, ctx: Ctx) => Table;

interface Analytic {
  url: (ctx: Ctx) => string | null;
  views: Record<string, View>;
}

export const CATALOGUE: Record<string, Analytic> = {
  layout: { url: layoutUrl, views: layoutViews },
  volume: { url: volumeUrl, views: volumeViews },
  satisfaction: { url: satisfactionUrl, views: satisfactionViews },
  staff: { url: staffUrl, views: staffViews },
  completeness: { url: completenessUrl, views: completenessViews },
  platforms: { url: platformsUrl, views: platformViews },
  demo_candidates: { url: demoUrl, views: demoViews },
  history: { url: historyUrl, views: historyViews },
};
