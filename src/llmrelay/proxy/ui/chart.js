// Time-series plots with the vendored uPlot (vendor/uPlot.iife.min.js, MIT, loaded the
// first time a plot is drawn), each with its numbers as a table for screen readers.

import { h } from "./dom.js";

const COLORS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#e67700",
  "#5c940d", "#364fc7", "#a61e4d"];

let loading = null;

function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      document.head.append(h("link", { rel: "stylesheet", href: "/ui/vendor/uPlot.min.css" }));
      const script = h("script", { src: "/ui/vendor/uPlot.iife.min.js" });
      script.addEventListener("load", () => resolve(window.uPlot));
      script.addEventListener("error", () => reject(new Error("the plotting library did not load")));
      document.head.append(script);
    });
  }
  return loading;
}

// A figure: plot + caption + a data table in a <details>. `times`: unix seconds;
// `series`: [{label, values}]; `format(v)`: a value as text.
export async function timeChart(title, times, series, format, bars = false) {
  const plotBox = h("div", { cls: "plot", role: "img",
    "aria-label": `${title}: ${series.map((s) => s.label).join(", ")}` });
  const head = h("tr", null, h("th", { scope: "col" }, "Time"),
    series.map((s) => h("th", { scope: "col" }, s.label)));
  const rows = times.map((t, i) => h("tr", null,
    h("th", { scope: "row" }, new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ")),
    series.map((s) => h("td", null, format(s.values[i] ?? 0)))));
  const data = h("details", { cls: "data" }, h("summary", null, "Numbers"),
    h("div", { cls: "scroll" }, h("table", null, h("caption", { cls: "sr-only" }, title),
      h("thead", null, head), h("tbody", null, rows))));
  const figure = h("figure", { cls: "chart" }, h("figcaption", null, title), plotBox, data);
  if (!times.length) {
    plotBox.replaceWith(h("p", { cls: "empty" }, "No requests in this range."));
    return figure;
  }
  const uPlot = await loadUPlot();
  const step = times.length > 1 ? times[1] - times[0] : 86400;
  const opts = {
    width: 600,
    height: 240,
    // bars: half a step of room either side, so the first and last bars show whole
    scales: { x: { time: true, range: bars ? (u, lo, hi) => [lo - step / 2, hi + step / 2]
      : undefined } },
    axes: [{}, { values: (u, ticks) => ticks.map(format), size: 70 }],
    series: [{}, ...series.map((s, i) => ({
      label: s.label,
      stroke: COLORS[i % COLORS.length],
      fill: bars ? COLORS[i % COLORS.length] + "33" : undefined,
      width: 2,
      paths: bars && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
      value: (u, v) => (v == null ? "" : format(v)),
      points: { show: !bars && times.length <= 31 },
    }))],
  };
  const plot = new uPlot(opts, [times, ...series.map((s) => s.values)], plotBox);
  const fit = () => {
    const width = Math.max(260, plotBox.clientWidth);
    if (Math.abs(width - plot.width) > 2) plot.setSize({ width, height: 240 });
  };
  new ResizeObserver(fit).observe(plotBox);
  requestAnimationFrame(fit);
  return figure;
}
