// Models: every deployment with the router's health (cooldown, failures in the last
// minute, latency) and the last 24 hours of usage (requests, error rate, latency, spend).

import { api } from "../api.js";
import { fmt, h, say, table } from "../dom.js";

function health(m) {
  const hl = m.health || {};
  if (hl.cooling_down) {
    const why = hl.cooldown_reason ? `: ${hl.cooldown_reason}` : "";
    return h("span", { cls: "badge bad" }, `Cooling down ${Math.ceil(hl.cooldown_left_s)} s${why}`);
  }
  return h("span", { cls: "badge ok" }, "Healthy");
}

const pct = (v) => (v === null || v === undefined ? "" : (100 * v).toFixed(1) + " %");

export async function render(root) {
  const box = h("div");
  const load = async () => {
    const data = await api("GET", "/model/info");
    const rows = data.data || [];
    box.replaceChildren(table("Deployments and their health", [
      { label: "Model", value: (m) => m.model_name },
      { label: "Deployment", value: (m) => h("code", null, m.litellm_params?.model || "") },
      { label: "Provider", value: (m) => m.model_info?.provider || "" },
      { label: "Health", value: health },
      { label: "In flight", value: (m) => fmt.num(m.health?.in_flight) },
      { label: "Fails (1 min)", value: (m) => fmt.num(m.health?.fails_last_minute) },
      { label: "Latency", value: (m) => (m.health?.latency_s == null ? ""
        : fmt.ms(1000 * m.health.latency_s)) },
      { label: "Requests (24 h)", value: (m) => fmt.num(m.usage_24h?.requests ?? 0) },
      { label: "Error rate (24 h)", value: (m) => pct(m.usage_24h?.error_rate) },
      { label: "Avg latency (24 h)", value: (m) => fmt.ms(m.usage_24h?.avg_latency_ms) },
      { label: "Spend (24 h)", value: (m) => fmt.money(m.usage_24h?.spend ?? 0) },
    ], rows, "No models configured."));
  };
  root.append(h("div", { cls: "toolbar" }, h("button", { type: "button", cls: "secondary",
    onclick: () => load().then(() => say("Refreshed."), (e) => say(e.message, true)) },
  "Refresh")), box);
  await load();
}
