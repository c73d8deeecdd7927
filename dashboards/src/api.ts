// The hub's JSON API, same origin only (the page never talks to another host). Errors arrive
// as RFC 9457 problems and are thrown as `Problem` with the hub's text in both languages.

import { lang } from "./i18n";

export interface RowProblem {
  location: string;
  column?: string | null;
  value?: string | null;
  en: string;
  zh: string;
}

export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly kind: string,
    readonly detailEn: string,
    readonly detailZh: string,
    readonly field: string | undefined,
    readonly problems: RowProblem[],
  ) {
    super(detailEn);
  }

  /** The hub's explanation in the current language. */
  text(): string {
    return lang() === "zh" ? this.detailZh || this.detailEn : this.detailEn;
  }
}

let csrf = "";

export function setCsrf(token: string): void {
  csrf = token;
}

let onUnauthenticated: () => void = () => {};

export function whenUnauthenticated(f: () => void): void {
  onUnauthenticated = f;
}

export async function request<T>(method: string, path: string, body?: BodyInit, type?: string): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (type) headers["Content-Type"] = type;
  const resp = await fetch(path, { method, headers, body, credentials: "same-origin" });
  const text = await resp.text();
  const json = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const p = json ?? {};
    const problem = new Problem(
      resp.status,
      String(p.type ?? ""),
      String(p.detail ?? resp.statusText),
      String(p.detail_zh ?? ""),
      p.field,
      Array.isArray(p.problems) ? p.problems : [],
    );
    if (resp.status === 401 && path !== "/api/v1/session") onUnauthenticated();
    throw problem;
  }
  return json as T;
}

export const get = <T>(path: string): Promise<T> => request<T>("GET", path);

/** A query string from the non-empty values. */
export function query(params: Record<string, string | undefined>): string {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) s.set(k, v);
  const q = s.toString();
  return q ? `?${q}` : "";
}
