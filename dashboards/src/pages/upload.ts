// Registry uploads (coordinators: platforms of their region) and SME counts (planners): the
// file is previewed first (dry run, nothing written) with its row-level problems; only a
// clean preview can be confirmed, and the hub imports exactly the file previewed (its sha256).

import { Problem, request, type RowProblem } from "../api";
import { t } from "../i18n";
import { h } from "../view/dom";
import { tableView } from "../view/tableview";

interface ImportDto {
  kind: string;
  rows: number;
  changed: number;
  warnings: string[];
  dry_run: boolean;
  sha256: string;
}

export function uploadPage(main: HTMLElement, endpoint: string, title: string): void {
  const file = h("input", { id: "upload-file", name: "file", type: "file", accept: ".csv,.xlsx" });
  const preview = h("button", { type: "submit", "data-action": "preview" }, t("preview"));
  const confirm = h("button", { type: "button", "data-action": "confirm", disabled: true }, t("confirm_import"));
  const result = h("div", { class: "result", role: "status" });
  let previewed: { name: string; bytes: ArrayBuffer; sha256: string } | null = null;

  const send = (name: string, bytes: ArrayBuffer, extra: string) =>
    request<ImportDto>(
      "POST",
      `${endpoint}?file_name=${encodeURIComponent(name)}${extra}`,
      bytes,
      "application/octet-stream",
    );

  const warnings = (w: string[]) =>
    w.length ? h("div", {}, h("h3", {}, t("warnings")), h("ul", {}, ...w.map((x) => h("li", {}, x)))) : null;

  const problems = (list: RowProblem[]) =>
    tableView(t("row_problems"), {
      code: "location",
      name: "column",
      columns: [
        { key: "location", label: "location", kind: "code" },
        { key: "column", label: "column", kind: "text" },
        { key: "value", label: "value", kind: "text" },
        { key: "message", label: "problem", kind: "text" },
      ],
      rows: list.map((p) => ({ location: p.location, column: p.column ?? "—", value: p.value ?? "—", message: `${p.zh} / ${p.en}` })),
      notes: [],
      ignored: [],
    });

  const form = h(
    "form",
    { class: "action" },
    h("label", { for: "upload-file" }, t("file"), file),
    h("div", { class: "buttons" }, preview, confirm),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    confirm.disabled = true;
    previewed = null;
    const f = file.files?.[0];
    if (!f) return;
    const bytes = await f.arrayBuffer();
    try {
      const dto = await send(f.name, bytes, "&dry_run=true");
      previewed = { name: f.name, bytes, sha256: dto.sha256 };
      confirm.disabled = false;
      result.className = "result ok";
      result.replaceChildren(h("p", { "data-outcome": "preview" }, t("preview_ok", { rows: dto.rows, changed: dto.changed })), warnings(dto.warnings) ?? "");
    } catch (err) {
      result.className = "result error";
      if (err instanceof Problem) {
        result.replaceChildren(h("p", { "data-outcome": "rejected" }, err.text()), err.problems.length ? problems(err.problems) : "");
      } else {
        result.replaceChildren(h("p", { "data-outcome": "rejected" }, String(err)));
      }
    }
  });
  confirm.addEventListener("click", async () => {
    if (!previewed) return;
    confirm.disabled = true;
    try {
      const dto = await send(previewed.name, previewed.bytes, `&dry_run=false&confirm_sha256=${previewed.sha256}`);
      result.className = "result ok";
      result.replaceChildren(h("p", { "data-outcome": "imported" }, t("imported", { rows: dto.rows, changed: dto.changed })), warnings(dto.warnings) ?? "");
    } catch (err) {
      result.className = "result error";
      result.replaceChildren(h("p", { "data-outcome": "rejected" }, err instanceof Problem ? err.text() : String(err)));
    } finally {
      previewed = null;
    }
  });
  main.replaceChildren(h("h2", { class: "page-title" }, title), form, result);
  main.dataset.state = "ready";
}
