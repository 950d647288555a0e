// Spend over time: totals, a plot by day (or hour) and one by model, and the top keys,
// teams, users and models. Everything comes from /spend/report (SQL in the proxy's
// database); a key that is not an admin sees what its role allows.

import { api } from "../api.js";
import { timeChart } from "../chart.js";
import { fmt, h, say } from "../dom.js";

const RANGES = [["1", "Last 24 hours (by hour)"], ["7", "Last 7 days"], ["30", "Last 30 days"],
  ["90", "Last 90 days"]];
const METRICS = [["spend", "Spend (USD)"], ["requests", "Requests"], ["total_tokens", "Tokens"]];
const TOP = [
  ["api_key", "Top keys", (r) => r.key_alias || fmt.short(r.api_key, 12)],
  ["team_id", "Top teams", (r) => r.team_alias || r.team_id || "(no team)"],
  ["user_id", "Top users", (r) => r.user_id || "(no user)"],
  ["model", "Top models", (r) => r.model || "(unknown)"],
];

function select(id, label, options, value) {
  return h("div", { cls: "field" }, h("label", { for: id }, label),
    h("select", { id }, options.map(([v, l]) => h("option", { value: v, selected: v === value }, l))));
}

function range(days) {
  const end = new Date();
  const start = new Date(end.getTime() - Number(days) * 86400000);
  if (days === "1") {
    start.setUTCMinutes(0, 0, 0);
    return { start_date: start.toISOString(), end_date: end.toISOString(), interval: "hour" };
  }
  return { start_date: start.toISOString().slice(0, 10), end_date: end.toISOString().slice(0, 10),
           interval: "day" };
}

// Every hour/day of the range, so gaps show as zeros rather than joined lines.
function buckets(q) {
  const step = q.interval === "hour" ? 3600 : 86400;
  const start = Date.parse(q.interval === "hour" ? q.start_date : q.start_date + "T00:00:00Z") / 1000;
  const end = Date.parse(q.interval === "hour" ? q.end_date : q.end_date + "T00:00:00Z") / 1000;
  const out = [];
  for (let t = Math.floor(start / step) * step; t <= end; t += step) out.push(t);
  return out;
}

const stamp = (r) => Date.parse(r.date.length === 10 ? r.date + "T00:00:00Z" : r.date) / 1000;

function formatter(metric) {
  return metric === "spend" ? fmt.money : fmt.num;
}

function topTable(title, rows, name, metric) {
  const format = formatter(metric);
  const sorted = [...rows].sort((a, b) => (b[metric] || 0) - (a[metric] || 0)).slice(0, 10);
  const max = Math.max(...sorted.map((r) => r[metric] || 0), 0);
  const body = sorted.map((r) => h("tr", null, h("th", { scope: "row" }, name(r)),
    h("td", null, format(r[metric] || 0)),
    h("td", { cls: "bar-cell" }, h("meter", { min: 0, max: max || 1, value: r[metric] || 0,
      "aria-label": `${name(r)}: ${format(r[metric] || 0)}` }))));
  return h("section", { cls: "top" }, h("h2", null, title), sorted.length
    ? h("div", { cls: "scroll" }, h("table", null, h("caption", { cls: "sr-only" }, title),
      h("thead", null, h("tr", null, h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, h("span", { cls: "sr-only" }, "Share")))),
      h("tbody", null, body)))
    : h("p", { cls: "empty" }, "No requests in this range."));
}

export async function render(root) {
  const controls = h("form", { cls: "filters", "aria-label": "Spend range and measure" },
    select("spend-range", "Range", RANGES, "30"), select("spend-metric", "Measure", METRICS, "spend"));
  const out = h("div", { cls: "spend-out", "aria-live": "polite" });
  root.append(controls, out);

  async function load() {
    const days = controls.querySelector("#spend-range").value;
    const metric = controls.querySelector("#spend-metric").value;
    const label = METRICS.find(([m]) => m === metric)[1];
    const q = range(days);
    const base = { start_date: q.start_date, end_date: q.end_date };
    const [byTime, byModel, ...tops] = await Promise.all([
      api("GET", "/spend/report", { query: { ...base, group_by: q.interval } }),
      api("GET", "/spend/report", { query: { ...base, group_by: `${q.interval},model` } }),
      ...TOP.map(([dim]) => api("GET", "/spend/report", { query: { ...base, group_by: dim } })
        .catch(() => null)),
    ]);
    const t = byTime.totals;
    const cards = h("dl", { cls: "totals" },
      [["Spend", fmt.money(t.spend)], ["Requests", fmt.num(t.requests)],
       ["Tokens", fmt.num(t.total_tokens)], ["Failures", fmt.num(t.failures)]]
        .map(([k, v]) => h("div", null, h("dt", null, k), h("dd", null, v))));
    const times = buckets(q);
    const index = new Map(times.map((x, i) => [x, i]));
    const total = times.map(() => 0);
    for (const r of byTime.rows) {
      const i = index.get(stamp(r));
      if (i !== undefined) total[i] += r[metric] || 0;
    }
    const models = new Map();
    for (const r of byModel.rows) {
      if (!models.has(r.model)) models.set(r.model, times.map(() => 0));
      const i = index.get(stamp(r));
      if (i !== undefined) models.get(r.model)[i] += r[metric] || 0;
    }
    const any = byTime.rows.length > 0;
    const format = formatter(metric);
    const per = q.interval === "hour" ? "hour" : "day";
    const charts = await Promise.all([
      timeChart(`${label} by ${per}`, any ? times : [], [{ label, values: total }], format, true),
      timeChart(`${label} by ${per} and model`, any ? times : [],
        [...models].map(([m, values]) => ({ label: m, values })), format),
    ]);
    const topBoxes = TOP.map(([, title, name], i) => tops[i] && topTable(title, tops[i].rows, name, metric))
      .filter(Boolean);
    out.replaceChildren(cards, h("div", { cls: "charts" }, charts),
      h("div", { cls: "tops" }, topBoxes));
  }
  controls.addEventListener("change", () => load().catch((e) => say(e.message, true)));
  await load();
}
