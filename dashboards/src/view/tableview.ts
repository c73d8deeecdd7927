// The data-table view of a panel: every number behind its chart, for reading and for screen
// readers.

import { columnLabel, formatCell, type Table } from "../data/table";
import { patch, type FilterKey } from "../state/route";
import { h } from "./dom";

export interface Link {
  column: string;
  param: FilterKey;
  valueFrom: string;
}

export function tableView(caption: string, table: Table, link?: Link): HTMLTableElement {
  const head = h(
    "tr",
    {},
    ...table.columns.map((c) => h("th", { scope: "col", "data-col": c.key }, columnLabel(c))),
  );
  const body = h("tbody");
  for (const row of table.rows) {
    const tr = h("tr", { "data-code": String(row[table.code] ?? "") });
    for (const c of table.columns) {
      const text = formatCell(row[c.key], c.kind);
      let cell: Node = document.createTextNode(text);
      if (link && link.column === c.key && row[link.valueFrom]) {
        const a = h("a", { href: "#", "data-link": link.param }, text);
        a.addEventListener("click", (e) => {
          e.preventDefault();
          patch({ [link.param]: String(row[link.valueFrom]) });
        });
        cell = a;
      }
      const numeric = ["int", "num", "pct", "yuan"].includes(c.kind);
      tr.append(h("td", { "data-col": c.key, class: numeric ? "num" : undefined }, cell));
    }
    body.append(tr);
  }
  return h("table", { class: "data" }, h("caption", {}, caption), h("thead", {}, head), body);
}
