// The login form (POST /api/v1/session).

import { Problem } from "../api";
import { lang, t } from "../i18n";
import { patch } from "../state/route";
import { login, type User } from "../state/session";
import { button, h } from "../view/dom";

export function loginPage(root: HTMLElement, done: (u: User) => void): void {
  const name = h("input", { id: "login-name", name: "name", autocomplete: "username", required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const message = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", "data-action": "login" }, t("login"));
  const form = h(
    "form",
    { class: "login" },
    h("h1", {}, t("app_title")),
    h("label", { for: "login-name" }, t("user_name"), name),
    h("label", { for: "login-password" }, t("password"), password),
    submit,
    message,
    button(t("language_switch"), () => patch({ lang: lang() === "zh" ? "en" : "" }), { class: "link", "data-action": "lang" }),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    message.textContent = "";
    try {
      done(await login(name.value, password.value));
    } catch (err) {
      message.textContent = `${t("login_failed")}: ${err instanceof Problem ? err.text() : String(err)}`;
    } finally {
      submit.disabled = false;
    }
  });
  root.replaceChildren(form);
  root.dataset.state = "ready";
  name.focus();
}
