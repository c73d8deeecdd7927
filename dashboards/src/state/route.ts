// The page and its filters live in the address (`#/volume?from=2026-M01&to=2026-M12&region=440000`),
// so a link reproduces the view. Changing a filter pushes a new address; `hashchange` redraws.

export const FILTER_KEYS = [
  "from",
  "to",
  "region",
  "function",
  "industry",
  "enterprise_size",
  "level",
  "platform",
  "lang",
] as const;

export type FilterKey = (typeof FILTER_KEYS)[number];

export interface Route {
  page: string;
  params: Map<FilterKey, string>;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [page, query = ""] = hash.split("?", 2);
  const search = new URLSearchParams(query);
  const params = new Map<FilterKey, string>();
  for (const k of FILTER_KEYS) {
    const v = search.get(k);
    if (v) params.set(k, v);
  }
  return { page: page || "", params };
}

export function href(page: string, params: Map<FilterKey, string>): string {
  const search = new URLSearchParams();
  for (const k of FILTER_KEYS) {
    const v = params.get(k);
    if (v) search.set(k, v);
  }
  const q = search.toString();
  return `#/${page}${q ? `?${q}` : ""}`;
}

/** Goes to `page` with `params` (a new history entry). */
export function go(page: string, params: Map<FilterKey, string>): void {
  const next = href(page, params);
  if (location.hash !== next) location.hash = next;
}

/** The current page with `patch` applied to its filters (empty string removes one). */
export function patch(changes: Partial<Record<FilterKey, string>>): void {
  const r = currentRoute();
  for (const [k, v] of Object.entries(changes) as [FilterKey, string][]) {
    if (v) r.params.set(k, v);
    else r.params.delete(k);
  }
  go(r.page, r.params);
}
