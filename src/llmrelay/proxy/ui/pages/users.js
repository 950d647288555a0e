// Users: list, create, edit role, budgets and limits, delete.

import { api } from "../api.js";
import { h } from "../dom.js";
import { budgetCell, entityPage, LIMIT_FIELDS, limitsCell, stateCell } from "../entity.js";

const ROLES = ["internal_user", "internal_user_viewer", "proxy_admin", "proxy_admin_viewer"]
  .map((r) => [r, r]);
const EDIT = [{ name: "user_alias", label: "Name" }, { name: "user_email", label: "Email" },
  { name: "user_role", label: "Role", type: "select", options: ROLES, clearable: false },
  ...LIMIT_FIELDS];

export async function render(root) {
  await entityPage(root, {
    noun: "user",
    caption: "Users",
    name: (u) => u.user_id,
    load: async () => (await api("GET", "/user/list")).users,
    columns: [
      { label: "User id", value: (u) => h("code", null, u.user_id) },
      { label: "Name", value: (u) => u.user_alias || "" },
      { label: "Email", value: (u) => u.user_email || "" },
      { label: "Role", value: (u) => u.user_role },
      { label: "Spend / budget", value: budgetCell },
      { label: "Limits", value: limitsCell },
      { label: "State", value: stateCell },
    ],
    fields: EDIT,
    createOnly: [{ name: "user_id", label: "User id", help: "empty: one is made up" }],
    create: (body) => api("POST", "/user/new", { body: { auto_create_key: false, ...body } }),
    update: (u, body) => api("POST", "/user/update", { body: { ...body, user_id: u.user_id } }),
    remove: (u) => api("POST", "/user/delete", { body: { user_ids: [u.user_id] } }),
  });
}
