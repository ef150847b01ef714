/**
 * The dashboard's one page: plain HTML, CSS and a script that redraws from each server-sent
 * view (see `DashboardView`). Text from the fleet only ever goes in through `textContent`, so a
 * worker id or reason can never become markup.
 */
export const DASHBOARD_PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shoal dashboard</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #687083; --line: #dde1e8;
          --owned: #1f9d55; --pending: #2b6cb0; --draining: #d97706; --lost: #c53030; --ended: #8a93a3; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; gap: 24px; align-items: baseline; padding: 14px 24px; background: #14213d; color: #fff; }
  header h1 { font-size: 18px; margin: 0; }
  header .meta { color: #c8d0e0; }
  #connection.down { color: #ffb4b4; }
  main { padding: 16px 24px; display: grid; gap: 16px; grid-template-columns: 1fr 1fr; }
  section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 14px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 10px; }
  .workers { display: grid; gap: 12px; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); }
  .worker { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
  .worker .title { display: flex; gap: 8px; align-items: center; font-weight: 600; overflow-wrap: anywhere; }
  .worker .sub { color: var(--muted); font-size: 12px; margin: 2px 0 6px; }
  .badge { font-size: 11px; font-weight: 600; padding: 1px 6px; border-radius: 9px; background: #fde68a; color: #7c4a03; }
  .leases { display: flex; flex-wrap: wrap; gap: 4px; }
  .lease { font-size: 12px; padding: 2px 6px; border-radius: 4px; color: #fff; background: var(--ended); white-space: nowrap; }
  .lease[data-top="owned"] { background: var(--owned); }
  .lease[data-top="pending"] { background: var(--pending); }
  .lease[data-top="draining"], .lease[data-top="releasing"], .lease[data-top="aborting"] { background: var(--draining); }
  .lease[data-top="losing"], .lease[data-top="stolen"] { background: var(--lost); }
  .empty { color: var(--muted); font-style: italic; }
  table { width: 100%; border-collapse: collapse; font-size: 12px; }
  th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
  th { color: var(--muted); font-weight: 600; }
  #chart { width: 100%; height: 240px; display: block; }
  #chart text { font-size: 11px; fill: var(--muted); }
  .legend { display: flex; flex-wrap: wrap; gap: 10px; font-size: 12px; margin-top: 6px; }
  .legend span::before { content: ""; display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; background: var(--swatch); }
</style>
</head>
<body>
<header>
  <h1>Shoal · <span id="application">…</span></h1>
  <span class="meta">leader: <strong id="leader">none</strong></span>
  <span class="meta"><span id="worker-count">0</span> workers · <span id="lease-count">0</span> leases held</span>
  <span class="meta" id="connection">connecting…</span>
</header>
<main>
  <section class="wide"><h2>Workers and their leases</h2><div class="workers" id="workers"></div></section>
  <section><h2>Lag per shard (up to the last 10 minutes)</h2><svg id="chart" role="img" aria-label="lag per shard"></svg><div class="legend" id="legend"></div></section>
  <section><h2>Recent transitions</h2>
    <table><thead><tr><th>time</th><th>shard</th><th>worker</th><th>state</th><th>reason</th></tr></thead><tbody id="transitions"></tbody></table>
  </section>
  <section class="wide"><h2>Let go, not yet held again</h2><div class="leases" id="unheld"></div></section>
</main>
<script>
"use strict";
const COLORS = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d"];
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) if (value !== undefined) node.setAttribute(name, String(value));
  for (const child of children) node.append(typeof child === "string" ? document.createTextNode(child) : child);
  return node;
}

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function shardLabel(shardId) {
  return shardId.replace(/^shardId-0*(?=\d)/, "shard ");
}

function formatLag(ms) {
  if (ms === undefined || ms === null) return "";
  return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(ms < 10000 ? 1 : 0) + " s";
}

function leaseChip(lease) {
  const top = lease.state.split(".")[0];
  const lag = lease.lagMs === undefined ? "" : " · " + formatLag(lease.lagMs);
  return el("span", {
    class: "lease", "data-lease": lease.streamName + "/" + lease.shardId, "data-state": lease.state, "data-top": top,
    title: lease.streamName + " " + lease.shardId + "\nstate: " + lease.state + (lease.reason ? " (" + lease.reason + ")" : "") +
      "\nepoch: " + (lease.leaseCounter ?? "?") + "\ncheckpoint: " + (lease.checkpoint ?? "?"),
  }, shardLabel(lease.shardId) + " " + lease.state + lag);
}

function renderWorkers(view) {
  const box = document.getElementById("workers");
  box.replaceChildren();
  if (view.workers.length === 0) box.append(el("div", { class: "empty" }, "no worker has reported"));
  for (const worker of view.workers) {
    const title = el("div", { class: "title" }, worker.workerId);
    if (worker.leading) title.append(el("span", { class: "badge", "data-leader": "" }, "leader"));
    const held = worker.leases.filter((lease) => lease.state.startsWith("owned")).length;
    const sub = el("div", { class: "sub" }, worker.state + (worker.liveness ? " · liveness " + worker.liveness : "") + " · " + held + " owned");
    const leases = el("div", { class: "leases" }, ...worker.leases.map(leaseChip));
    if (worker.leases.length === 0) leases.append(el("span", { class: "empty" }, "no leases"));
    box.append(el("div", { class: "worker", "data-worker": worker.workerId }, title, sub, leases));
  }
  const unheld = document.getElementById("unheld");
  unheld.replaceChildren(...view.unheld.map(leaseChip));
  if (view.unheld.length === 0) unheld.append(el("span", { class: "empty" }, "none"));
}

function renderTransitions(view) {
  const body = document.getElementById("transitions");
  body.replaceChildren(...view.transitions.slice(0, 30).map((t) =>
    el("tr", { "data-transition": t.streamName + "/" + t.shardId },
      el("td", {}, new Date(t.at).toLocaleTimeString()), el("td", {}, t.shardId), el("td", {}, t.workerId),
      el("td", {}, t.state), el("td", {}, t.reason || ""))));
}

function renderChart(view) {
  const chart = document.getElementById("chart");
  const width = chart.clientWidth || 600, height = chart.clientHeight || 240;
  const left = 48, right = 8, top = 8, bottom = 20;
  // Ten minutes once there is that much; until then, the time since the first point (at least a minute).
  const end = view.at;
  const first = Math.min(end - 60000, ...view.lag.map((s) => (s.points.length ? s.points[0][0] : end)));
  const start = Math.max(end - 10 * 60000, first);
  const maxLag = Math.max(1000, ...view.lag.flatMap((s) => s.points.map((p) => p[1])));
  const x = (at) => left + ((at - start) / (end - start)) * (width - left - right);
  const y = (lag) => top + (1 - lag / maxLag) * (height - top - bottom);
  chart.replaceChildren();
  chart.setAttribute("viewBox", "0 0 " + width + " " + height);
  for (const fraction of [0, 0.5, 1]) {
    chart.append(svg("line", { x1: left, x2: width - right, y1: y(maxLag * fraction), y2: y(maxLag * fraction), stroke: "#dde1e8" }));
    chart.append(svg("text", { x: 4, y: y(maxLag * fraction) + 4 }, formatLag(Math.round(maxLag * fraction))));
  }
  const span = end - start;
  for (const fraction of [1, 0.5, 0]) {
    const ago = span * fraction;
    const label = fraction === 0 ? "now" : "-" + (ago >= 120000 ? Math.round(ago / 60000) + " min" : Math.round(ago / 1000) + " s");
    chart.append(svg("text", { x: x(end - ago) - (fraction === 0 ? 20 : 0), y: height - 4 }, label));
  }
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  view.lag.forEach((series, index) => {
    const color = COLORS[index % COLORS.length];
    const points = series.points.map((p) => x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1)).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 1.5, "data-series": series.streamName + "/" + series.shardId }));
    const last = series.points[series.points.length - 1];
    const item = el("span", { style: "--swatch:" + color }, shardLabel(series.shardId) + " " + formatLag(last ? last[1] : undefined));
    legend.append(item);
  });
  if (view.lag.length === 0) legend.append(el("span", { class: "empty" }, "no lag reported yet"));
}

function render(view) {
  document.getElementById("application").textContent = view.application;
  document.getElementById("leader").textContent = view.leaders.length ? view.leaders.join(", ") : "none";
  document.getElementById("worker-count").textContent = String(view.workers.length);
  document.getElementById("lease-count").textContent = String(view.workers.reduce((n, w) => n + w.leases.filter((l) => l.state.startsWith("owned")).length, 0));
  renderWorkers(view);
  renderTransitions(view);
  renderChart(view);
  document.body.dataset.updatedAt = String(view.at);
}

const connection = document.getElementById("connection");
const events = new EventSource("events");
events.onopen = () => { connection.textContent = "live"; connection.className = ""; };
events.onerror = () => { connection.textContent = "reconnecting…"; connection.className = "down"; };
events.onmessage = (message) => render(JSON.parse(message.data));
</script>
</body>
</html>
`;
