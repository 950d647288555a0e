// The dashboard: sign-in, the page list and hash routing (#/keys, #/logs, ...). Each page
// is a module under pages/ exporting render(root, session), loaded when first opened.

import { api, ApiError, saveKey, savedKey } from "./api.js";
import { h } from "./dom.js";

const PAGES = [
  { path: "keys", title: "Keys", module: "./pages/keys.js" },
  { path: "teams", title: "Teams", module: "./pages/teams.js", admin: "team" },
  { path: "users", title: "Users", module: "./pages/users.js", admin: "read" },
  { path: "orgs", title: "Organisations", module: "./pages/orgs.js", admin: "read" },
  { path: "models", title: "Models", module: "./pages/models.js" },
  { path: "logs", title: "Request log", module: "./pages/logs.js" },
  { path: "spend", title: "Spend", module: "./pages/spend.js" },
  { path: "audit", title: "Audit log", module: "./pages/audit.js", admin: "read" },
];

const READ_ALL = ["proxy_admin", "proxy_admin_viewer"];

// Who the key is: a user's key answers /user/info with its user and role; the master key
// (or a key without a user) is asked for the audit log, which only admins may read.
async function whoAmI(key) {
  try {
    const info = await api("GET", "/user/info", { key });
    const teams = (info.teams || []).filter((t) => t.user_role === "admin");
    return { role: info.user_info.user_role, user: info.user_id,
             adminTeams: teams.map((t) => t.team_id) };
  } catch (err) {
    if (err.status === 401) throw err;
  }
  try {
    await api("GET", "/audit", { key, query: { page_size: 1 } });
    return { role: "proxy_admin", user: null, adminTeams: [] };
  } catch (err) {
    if (err.status === 401) throw err;
    return { role: "key", user: null, adminTeams: [] };
  }
}

function allowed(page, who) {
  if (!page.admin || READ_ALL.includes(who.role)) return true;
  return page.admin === "team" && who.adminTeams.length > 0;
}

const session = { who: null };

function show(id, visible) {
  document.getElementById(id).hidden = !visible;
}

function showSignIn(message) {
  session.who = null;
  show("nav", false);
  show("who", false);
  document.getElementById("page").replaceChildren();
  show("signin", true);
  document.getElementById("signin-error").textContent = message || "";
  document.getElementById("signin-key").focus();
}

function renderNav() {
  const nav = document.getElementById("nav");
  const current = location.hash.replace(/^#\/?/, "").split("?")[0] || "keys";
  nav.replaceChildren(h("ul", null, PAGES.filter((p) => allowed(p, session.who)).map((p) =>
    h("li", null, h("a", { href: "#/" + p.path,
      "aria-current": p.path === current ? "page" : undefined }, p.title)))));
  show("nav", true);
  const who = session.who;
  document.getElementById("who-label").textContent = who.user
    ? `${who.user} (${who.role})` : who.role === "proxy_admin" ? "master key" : "virtual key";
  show("who", true);
}

let loading = 0;

async function route() {
  if (!session.who) return;
  renderNav();
  const name = location.hash.replace(/^#\/?/, "").split("?")[0] || "keys";
  const page = PAGES.find((p) => p.path === name) || PAGES[0];
  const root = document.getElementById("page");
  const mine = ++loading;
  document.title = page.title + " · llmrelay";
  root.replaceChildren(h("h1", null, page.title), h("p", { cls: "loading" }, "Loading…"));
  try {
    const mod = await import(page.module);
    if (mine !== loading) return;
    const body = h("div", { cls: "page-body" });
    root.replaceChildren(h("h1", null, page.title), body);
    await mod.render(body, session);
  } catch (err) {
    if (mine !== loading) return;
    if (err instanceof ApiError && err.status === 401) {
      saveKey(null);
      showSignIn("The key was refused: " + err.message);
      return;
    }
    root.replaceChildren(h("h1", null, page.title),
      h("p", { cls: "error", role: "alert" }, err.message));
  }
}

async function signIn(key) {
  session.who = await whoAmI(key);
  saveKey(key);
  show("signin", false);
  if (!location.hash) history.replaceState(null, "", "#/keys");
  // focus moves to the page at once (not when it has loaded: that would take it back
  // from wherever the user has tabbed meanwhile)
  document.getElementById("main").focus();
  await route();
}

function start() {
  const form = document.getElementById("signin-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const input = document.getElementById("signin-key");
    const key = input.value.trim();
    const error = document.getElementById("signin-error");
    if (!key) {
      error.textContent = "Enter a key.";
      input.focus();
      return;
    }
    error.textContent = "";
    try {
      await signIn(key);
      input.value = "";
    } catch (err) {
      error.textContent = err.status === 401 ? "That key was refused: " + err.message
        : err.message;
      input.focus();
    }
  });
  document.getElementById("signout").addEventListener("click", () => {
    saveKey(null);
    history.replaceState(null, "", location.pathname);
    showSignIn("Signed out.");
  });
  window.addEventListener("hashchange", route);
  const key = savedKey();
  if (key) signIn(key).catch(() => { saveKey(null); showSignIn(); });
  else showSignIn();
}

start();
