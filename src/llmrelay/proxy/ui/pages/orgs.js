// Organisations: list, create, edit budgets and limits, delete.

import { api } from "../api.js";
import { h } from "../dom.js";
import { budgetCell, entityPage, LIMIT_FIELDS, limitsCell } from "../entity.js";

const EDIT = [{ name: "organization_alias", label: "Name", clearable: false }, ...LIMIT_FIELDS];

export async function render(root) {
  await entityPage(root, {
    noun: "organisation",
    caption: "Organisations",
    name: (o) => o.organization_alias || o.organization_id,
    load: () => api("GET", "/organization/list"),
    columns: [
      { label: "Name", value: (o) => o.organization_alias || "" },
      { label: "Organisation id", value: (o) => h("code", null, o.organization_id) },
      { label: "Teams", value: (o) => (o.teams || []).map((t) => t.team_alias || t.team_id).join(", ") },
      { label: "Spend / budget", value: budgetCell },
      { label: "Limits", value: limitsCell },
    ],
    fields: EDIT,
    create: (body) => api("POST", "/organization/new", { body }),
    update: (o, body) => api("PATCH", "/organization/update",
      { body: { ...body, organization_id: o.organization_id } }),
    remove: (o) => api("DELETE", "/organization/delete",
      { body: { organization_ids: [o.organization_id] } }),
  });
}
