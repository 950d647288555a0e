// The audit log: every admin change (who, what, when), each opening to the values before
// and after, changed fields marked.

import { api } from "../api.js";
import { fmt, h, say } from "../dom.js";

const TABLES = ["", "keys", "teams", "users", "organizations", "end_users", "tags", "budgets",
  "team_members"];
const ACTIONS = ["", "created", "updated", "deleted", "blocked", "unblocked", "regenerated",
  "member_added", "member_deleted"];

function select(name, label, values) {
  const id = "audit-" + name;
  return h("div", { cls: "field" }, h("label", { for: id }, label),
    h("select", { id, name }, values.map((v) => h("option", { value: v }, v || "any"))));
}

const show = (v) => (v === undefined ? "" : JSON.stringify(v));

function changes(e) {
  const before = e.before_value || {};
  const after = e.updated_values || {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const rows = names.map((n) => {
    const changed = show(before[n]) !== show(after[n]);
    return h("tr", { cls: changed ? "changed" : undefined },
      h("th", { scope: "row" }, n, changed ? h("span", { cls: "sr-only" }, " (changed)") : null),
      h("td", null, show(before[n])), h("td", null, show(after[n])));
  });
  if (!rows.length) return h("p", { cls: "muted" }, "No values recorded.");
  return h("div", { cls: "scroll" }, h("table", { cls: "diff" },
    h("caption", { cls: "sr-only" }, "Values before and after"),
    h("thead", null, h("tr", null, h("th", { scope: "col" }, "Field"),
      h("th", { scope: "col" }, "Before"), h("th", { scope: "col" }, "After"))),
    h("tbody", null, rows)));
}

function entry(e) {
  return h("li", null, h("details", { cls: "log-row" },
    h("summary", null, h("span", { cls: "when" }, fmt.when(e.updated_at)),
      h("span", { cls: "by" }, e.changed_by || ""),
      h("span", { cls: "badge" }, e.action),
      h("span", null, e.table_name),
      h("code", null, fmt.short(e.object_id, 16))),
    h("div", { cls: "detail" }, changes(e))));
}

export async function render(root) {
  const form = h("form", { cls: "filters", "aria-label": "Filter the audit log" },
    select("table_name", "Table", TABLES), select("action", "Action", ACTIONS),
    h("div", { cls: "field" }, h("label", { for: "audit-by" }, "Changed by"),
      h("input", { id: "audit-by", name: "changed_by", autocomplete: "off" })),
    h("div", { cls: "actions" }, h("button", { type: "submit" }, "Apply")));
  const list = h("ul", { cls: "log", "aria-label": "Audit entries" });
  const more = h("button", { type: "button", cls: "secondary", hidden: true }, "Older changes");
  let page = 1;

  async function load(append = false) {
    const q = { page, page_size: 50 };
    for (const name of ["table_name", "action", "changed_by"]) {
      const v = form.elements[name].value.trim();
      if (v) q[name] = v;
    }
    const data = await api("GET", "/audit", { query: q });
    if (!append) list.replaceChildren();
    list.append(...data.audit_logs.map(entry));
    if (!list.children.length) list.append(h("li", { cls: "empty" }, "No changes match."));
    more.hidden = !data.has_more;
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    page = 1;
    load().catch((e) => say(e.message, true));
  });
  more.addEventListener("click", () => { page += 1; load(true).catch((e) => say(e.message, true)); });
  root.append(form, list, more);
  await load();
}
