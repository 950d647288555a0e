// The proxy's JSON API, called with the signed-in key as a Bearer token. The key lives in
// sessionStorage (this tab only) and never in a URL.

const STORE = "llmrelay.ui.key";

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function savedKey() {
  return sessionStorage.getItem(STORE);
}

export function saveKey(key) {
  if (key) sessionStorage.setItem(STORE, key);
  else sessionStorage.removeItem(STORE);
}

function query(params) {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") q.set(name, String(value));
  }
  const text = q.toString();
  return text ? "?" + text : "";
}

// api("GET", "/key/list", {query: {...}}) or api("POST", "/key/update", {body: {...}})
export async function api(method, path, { query: params, body, key } = {}) {
  const headers = { Authorization: "Bearer " + (key || savedKey() || "") };
  const init = { method, headers, cache: "no-store", credentials: "omit" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path + query(params), init);
  } catch (err) {
    throw new ApiError(0, "The proxy did not answer: " + err.message, "network");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!response.ok) {
    const e = data && data.error;
    const message = (e && (e.message || e)) || (typeof data === "string" && data) ||
      response.statusText;
    throw new ApiError(response.status, String(message), e && e.code);
  }
  return data;
}
