// One page shape for keys, teams, users and organisations: a table with per-row actions
// (edit, block/unblock, delete, ...) and a "New ..." form. What a caller may do is decided
// by the API: a refused action shows the API's reason.

import { confirmDialog, fmt, formDialog, h, readForm, say, table } from "./dom.js";

// The budget and limit fields every level has (LiteLLM's names).
export const LIMIT_FIELDS = [
  { name: "models", label: "Models (comma-separated; empty: all)", kind: "list" },
  { name: "max_budget", label: "Max budget (USD)", type: "number", min: 0 },
  { name: "soft_budget", label: "Soft budget (USD, alert only)", type: "number", min: 0 },
  { name: "budget_duration", label: "Budget window", help: "e.g. 30d, 1h; empty: for ever" },
  { name: "rpm_limit", label: "Requests per minute", type: "number", min: 0 },
  { name: "tpm_limit", label: "Tokens per minute", type: "number", min: 0 },
  { name: "max_parallel_requests", label: "Parallel requests", type: "number", min: 0 },
];

export const budgetCell = (r) =>
  r.max_budget === null || r.max_budget === undefined
    ? fmt.money(r.spend ?? 0)
    : `${fmt.money(r.spend ?? 0)} / ${fmt.money(r.max_budget)}`;

export const limitsCell = (r) => [
  r.rpm_limit != null ? `${fmt.num(r.rpm_limit)} rpm` : "",
  r.tpm_limit != null ? `${fmt.num(r.tpm_limit)} tpm` : "",
  r.max_parallel_requests != null ? `${r.max_parallel_requests} parallel` : "",
  r.budget_duration ? `per ${r.budget_duration}` : "",
].filter(Boolean).join(", ");

export const stateCell = (r) =>
  h("span", { cls: r.blocked ? "badge bad" : "badge ok" }, r.blocked ? "Blocked" : "Active");

function withValues(fields, row) {
  return fields.map((f) => {
    const v = row ? row[f.name] : undefined;
    return { ...f, value: Array.isArray(v) ? v.join(", ") : v ?? "" };
  });
}

async function act(label, fn, refresh) {
  try {
    await fn();
    say(label);
    await refresh();
  } catch (err) {
    say(err.message, true);
  }
}

// spec: {noun, caption, load(), columns, fields, createOnly, name(row), create(body),
//        created(result), update(row, body), remove(row), block(row, bool), extra(row, refresh)}
export async function entityPage(root, spec) {
  const listBox = h("div", { cls: "list" });
  const refresh = async () => {
    const rows = await spec.load();
    const actions = { label: "Actions", cls: "actions-cell", value: (row) => rowActions(row) };
    listBox.replaceChildren(table(spec.caption, [...spec.columns, actions], rows,
      `No ${spec.noun}s yet.`));
  };

  function rowActions(row) {
    const name = spec.name(row);
    const buttons = [];
    if (spec.update) {
      buttons.push(h("button", { type: "button", cls: "small",
        "aria-label": `Edit ${spec.noun} ${name}`, onclick: () => edit(row) }, "Edit"));
    }
    if (spec.block) {
      const blocked = !!row.blocked;
      buttons.push(h("button", { type: "button", cls: "small",
        "aria-label": `${blocked ? "Unblock" : "Block"} ${spec.noun} ${name}`,
        onclick: () => act(`${blocked ? "Unblocked" : "Blocked"} ${spec.noun} ${name}.`,
          () => spec.block(row, !blocked), refresh) }, blocked ? "Unblock" : "Block"));
    }
    for (const extra of spec.extra ? spec.extra(row, refresh) : []) buttons.push(extra);
    if (spec.remove) {
      buttons.push(h("button", { type: "button", cls: "small danger",
        "aria-label": `Delete ${spec.noun} ${name}`, onclick: async () => {
          if (await confirmDialog(`Delete ${spec.noun} ${name}?`, "Delete")) {
            await act(`Deleted ${spec.noun} ${name}.`, () => spec.remove(row), refresh);
          }
        } }, "Delete"));
    }
    return h("div", { cls: "row-actions" }, buttons);
  }

  async function edit(row) {
    const fields = withValues(spec.fields, row);
    const done = await formDialog(`Edit ${spec.noun} ${spec.name(row)}`, fields,
      (form) => spec.update(row, readForm(form, spec.fields, true)));
    if (done) {
      say(`Saved ${spec.noun} ${spec.name(row)}.`);
      await refresh();
    }
  }

  async function create() {
    const fields = [...(spec.createOnly || []), ...spec.fields];
    const result = await formDialog(`New ${spec.noun}`, withValues(fields, null),
      (form) => spec.create(readForm(form, fields)), "Create");
    if (result) {
      await refresh();
      if (spec.created) await spec.created(result);
      else say(`Created ${spec.noun}.`);
    }
  }

  const tools = h("div", { cls: "toolbar" });
  if (spec.create) {
    tools.append(h("button", { type: "button", onclick: create }, `New ${spec.noun}`));
  }
  tools.append(h("button", { type: "button", cls: "secondary", onclick: () =>
    refresh().then(() => say("Refreshed."), (e) => say(e.message, true)) }, "Refresh"));
  root.append(tools, listBox);
  await refresh();
  return refresh;
}
