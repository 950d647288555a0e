// Teams: list, create, edit budgets and limits, block, delete, add and remove members.

import { api } from "../api.js";
import { formDialog, h, readForm, say } from "../dom.js";
import { budgetCell, entityPage, LIMIT_FIELDS, limitsCell, stateCell } from "../entity.js";

const EDIT = [{ name: "team_alias", label: "Name" },
  { name: "organization_id", label: "Organisation id" }, ...LIMIT_FIELDS];
const MEMBER = [{ name: "user_id", label: "User id", required: true },
  { name: "role", label: "Role", type: "select", options: [["user", "member"], ["admin", "team admin"]] }];

function members(t) {
  return (t.members_with_roles || []).map((m) =>
    `${m.user_id || m.user_email}${m.role === "admin" ? " (admin)" : ""}`).join(", ");
}

export async function render(root) {
  const name = (t) => t.team_alias || t.team_id;
  await entityPage(root, {
    noun: "team",
    caption: "Teams",
    name,
    load: () => api("GET", "/team/list"),
    columns: [
      { label: "Name", value: (t) => t.team_alias || "" },
      { label: "Team id", value: (t) => h("code", null, t.team_id) },
      { label: "Organisation", value: (t) => t.organization_id || "" },
      { label: "Members", value: members },
      { label: "Spend / budget", value: budgetCell },
      { label: "Limits", value: limitsCell },
      { label: "State", value: stateCell },
    ],
    fields: EDIT,
    create: (body) => api("POST", "/team/new", { body }),
    update: (t, body) => api("POST", "/team/update", { body: { ...body, team_id: t.team_id } }),
    block: (t, blocked) => api("POST", blocked ? "/team/block" : "/team/unblock",
      { body: { team_id: t.team_id } }),
    remove: (t) => api("POST", "/team/delete", { body: { team_ids: [t.team_id] } }),
    extra: (t, refresh) => [
      h("button", { type: "button", cls: "small", "aria-label": `Add member to team ${name(t)}`,
        onclick: async () => {
          const done = await formDialog(`Add a member to ${name(t)}`, MEMBER, (form) => {
            const m = readForm(form, MEMBER);
            return api("POST", "/team/member_add", { body: { team_id: t.team_id, member: m } });
          }, "Add");
          if (done) { say("Member added."); await refresh(); }
        } }, "Add member"),
      h("button", { type: "button", cls: "small", "aria-label": `Remove member from team ${name(t)}`,
        onclick: async () => {
          const fields = [MEMBER[0]];
          const done = await formDialog(`Remove a member from ${name(t)}`, fields, (form) =>
            api("POST", "/team/member_delete",
              { body: { team_id: t.team_id, ...readForm(form, fields) } }), "Remove");
          if (done) { say("Member removed."); await refresh(); }
        } }, "Remove member"),
    ],
  });
}
