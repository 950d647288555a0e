// Keys: list, create (the new key is shown once), edit limits and budgets, block and
// unblock, regenerate, delete.

import { api } from "../api.js";
import { fmt, h, say, secretDialog } from "../dom.js";
import { budgetCell, entityPage, LIMIT_FIELDS, limitsCell, stateCell } from "../entity.js";

const EDIT = [{ name: "key_alias", label: "Alias" }, ...LIMIT_FIELDS];

async function teamOptions() {
  try {
    const teams = await api("GET", "/team/list");
    return [["", "(none)"], ...teams.map((t) => [t.team_id, t.team_alias || t.team_id])];
  } catch {
    return null; // this key may not list teams: a text field instead
  }
}

export async function render(root) {
  const teams = await teamOptions();
  const teamField = teams
    ? { name: "team_id", label: "Team", type: "select", options: teams }
    : { name: "team_id", label: "Team id" };
  const name = (k) => k.key_alias || fmt.short(k.token, 12);
  await entityPage(root, {
    noun: "key",
    caption: "Virtual keys",
    name,
    load: async () => (await api("GET", "/key/list", { query: { return_full_object: true } })).keys,
    columns: [
      { label: "Alias", value: (k) => k.key_alias || "" },
      { label: "Token", value: (k) => h("code", { title: k.token }, fmt.short(k.token, 10)) },
      { label: "Team", value: (k) => k.team_id || "" },
      { label: "User", value: (k) => k.user_id || "" },
      { label: "Spend / budget", value: budgetCell },
      { label: "Limits", value: limitsCell },
      { label: "Models", value: (k) => fmt.list(k.models) || "all" },
      { label: "State", value: stateCell },
    ],
    fields: EDIT,
    createOnly: [teamField, { name: "user_id", label: "User id" },
      { name: "duration", label: "Expires after", help: "e.g. 30d; empty: never" }],
    create: (body) => api("POST", "/key/generate", { body }),
    created: (result) => secretDialog("New key", result.key,
      "Copy the key now: it is shown once. The proxy keeps only its hash."),
    update: (k, body) => api("POST", "/key/update", { body: { ...body, key: k.token } }),
    block: (k, blocked) => api("POST", blocked ? "/key/block" : "/key/unblock",
      { body: { key: k.token } }),
    remove: (k) => api("POST", "/key/delete", { body: { keys: [k.token] } }),
    extra: (k, refresh) => [h("button", { type: "button", cls: "small",
      "aria-label": `Regenerate key ${name(k)}`, onclick: async () => {
        try {
          const result = await api("POST", "/key/regenerate", { body: { key: k.token } });
          await refresh();
          await secretDialog("Regenerated key", result.key,
            "The old key stopped working. Copy the new one now: it is shown once.");
        } catch (err) {
          say(err.message, true);
        }
      } }, "Regenerate")],
  });
}
