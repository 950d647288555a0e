// The request log: usage records newest first, filtered by key, model, status and time;
// with store_prompts_in_spend_logs each row opens to its request and response bodies.

import { api } from "../api.js";
import { fmt, h, pretty, say } from "../dom.js";

const PAGE = 50;
const FILTERS = [
  { name: "api_key", label: "Key (sk-… or token)" },
  { name: "model", label: "Model" },
  { name: "status", label: "Status", type: "select",
    options: [["", "any"], ["success", "success"], ["failure", "failure"]] },
  { name: "start_date", label: "From", type: "datetime-local" },
  { name: "end_date", label: "To", type: "datetime-local" },
];

function control(f) {
  const id = "log-" + f.name;
  const input = f.type === "select"
    ? h("select", { id, name: f.name }, f.options.map(([v, l]) => h("option", { value: v }, l)))
    : h("input", { id, name: f.name, type: f.type || "text", autocomplete: "off",
      spellcheck: "false" });
  return h("div", { cls: "field" }, h("label", { for: id }, f.label), input);
}

function detail(r) {
  const parts = [];
  if (r.messages) parts.push(h("h3", null, "Request"), h("pre", null, pretty(r.messages)));
  if (r.response) parts.push(h("h3", null, "Response"), h("pre", null, pretty(r.response)));
  if (!parts.length) {
    parts.push(h("p", { cls: "muted" },
      "Bodies are not stored (general_settings.store_prompts_in_spend_logs is off)."));
  }
  const facts = [["Call id", r.call_id], ["Deployment", r.model], ["Provider", r.provider],
    ["Team", r.team_id], ["User", r.user_id], ["End user", r.end_user],
    ["Tags", fmt.list(r.request_tags)], ["Cache hit", r.cache_hit ? "yes" : "no"]]
    .filter(([, v]) => v);
  return [h("dl", { cls: "facts" }, facts.map(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
    ...parts];
}

function row(r) {
  const ok = r.status === "success";
  const summary = h("summary", null,
    h("span", { cls: "when" }, fmt.when(r.start_time)),
    h("span", { cls: ok ? "badge ok" : "badge bad" }, r.status),
    h("span", { cls: "model" }, r.model_group || r.model),
    h("span", null, r.key_alias || fmt.short(r.key_hash, 10)),
    h("span", null, `${fmt.num(r.total_tokens)} tokens`),
    h("span", null, fmt.money(r.cost)),
    h("span", null, fmt.ms(r.latency_ms)));
  return h("li", null, h("details", { cls: "log-row" }, summary, h("div", { cls: "detail" },
    detail(r))));
}

export async function render(root) {
  const form = h("form", { cls: "filters", "aria-label": "Filter the request log" },
    FILTERS.map(control), h("div", { cls: "actions" },
      h("button", { type: "submit" }, "Apply"),
      h("button", { type: "reset", cls: "secondary" }, "Clear")));
  const count = h("p", { cls: "muted", "aria-live": "polite" });
  const list = h("ul", { cls: "log", "aria-label": "Requests" });
  const more = h("button", { type: "button", cls: "secondary", hidden: true }, "Older requests");
  let offset = 0;

  function params() {
    const q = { limit: PAGE, offset, allow_partial: "true" };
    for (const f of FILTERS) {
      let v = form.elements[f.name].value.trim();
      if (v && f.type === "datetime-local") v = new Date(v).toISOString();
      if (v) q[f.name] = v;
    }
    return q;
  }

  async function load(append = false) {
    const rows = await api("GET", "/spend/logs", { query: params() });
    if (!append) list.replaceChildren();
    list.append(...rows.map(row));
    count.textContent = list.children.length
      ? `${list.children.length} request${list.children.length === 1 ? "" : "s"} shown.`
      : "No requests match.";
    more.hidden = rows.length < PAGE;
  }

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    offset = 0;
    load().catch((e) => say(e.message, true));
  });
  form.addEventListener("reset", () => setTimeout(() => { offset = 0; load().catch(() => {}); }));
  more.addEventListener("click", () => {
    offset += PAGE;
    load(true).catch((e) => say(e.message, true));
  });
  root.append(form, count, list, more);
  await load();
}
