// Period codes as the hub writes them (UTC+8): `2026-M05`, `2026-Q2`, `2026-A`.

export type PeriodKind = "month" | "quarter" | "year";

interface Parsed {
  year: number;
  kind: PeriodKind;
  n: number;
}

export function parsePeriod(code: string): Parsed | null {
  const m = /^(\d{4})-(?:M(\d{2})|Q([1-4])|A)$/.exec(code);
  if (!m) return null;
  const year = Number(m[1]);
  if (m[2]) {
    const n = Number(m[2]);
    return n >= 1 && n <= 12 ? { year, kind: "month", n } : null;
  }
  if (m[3]) return { year, kind: "quarter", n: Number(m[3]) };
  return { year, kind: "year", n: 1 };
}

function format(p: Parsed): string {
  if (p.kind === "month") return `${p.year}-M${String(p.n).padStart(2, "0")}`;
  if (p.kind === "quarter") return `${p.year}-Q${p.n}`;
  return `${p.year}-A`;
}

/** The period of `kind` containing the first (or last) month of `code`. */
export function toKind(code: string, kind: PeriodKind, edge: "first" | "last"): string {
  const p = parsePeriod(code);
  if (!p) return code;
  let month: number;
  if (p.kind === "month") month = p.n;
  else if (p.kind === "quarter") month = edge === "first" ? p.n * 3 - 2 : p.n * 3;
  else month = edge === "first" ? 1 : 12;
  if (kind === "month") return format({ year: p.year, kind, n: month });
  if (kind === "quarter") return format({ year: p.year, kind, n: Math.ceil(month / 3) });
  return format({ year: p.year, kind, n: 1 });
}

/** `count` months ending with `last`, oldest first. */
export function monthsEndingWith(last: string, count: number): string[] {
  const p = parsePeriod(last);
  if (!p || p.kind !== "month") return [];
  const out: string[] = [];
  let { year, n } = p;
  for (let i = 0; i < count; i++) {
    out.unshift(format({ year, kind: "month", n }));
    n -= 1;
    if (n === 0) {
      n = 12;
      year -= 1;
    }
  }
  return out;
}
