// Overview: the server's live figures (its own metrics, every 5 s, with the seed's targets), the
// totals (admin_stats) and the last 30 days (admin_activity, once).
import {
  explain, formatMs, formatNumber, formatPercent, lineChart, metricsText, parseMetrics, rpc, showState, startPage,
} from "/admin/assets/admin.js";

const REFRESH_MS = 5000;
const P95_TARGET_MS = 250;
const history = { rps: [], p95: [] };
let previous = null;

function sum(samples, name, match = () => true) {
  return samples.filter((s) => s.name === name && match(s.labels)).reduce((total, s) => total + s.value, 0);
}

/** The p95 of the requests between two scrapes, from the latency histogram's buckets (/rest/v1 only). */
function p95Between(before, after) {
  const buckets = (samples) => {
    const byBound = new Map();
    for (const s of samples) {
      if (s.name !== "feedfusion_http_request_duration_seconds_bucket" || !(s.labels.route || "").startsWith("/rest/v1")) continue;
      byBound.set(s.labels.le, (byBound.get(s.labels.le) || 0) + s.value);
    }
    return byBound;
  };
  const a = buckets(before), b = buckets(after);
  const bounds = [...b.keys()].sort((x, y) => (x === "+Inf" ? 1 : y === "+Inf" ? -1 : Number(x) - Number(y)));
  const total = (b.get("+Inf") || 0) - (a.get("+Inf") || 0);
  if (total <= 0) return null;
  for (const bound of bounds) {
    if ((b.get(bound) || 0) - (a.get(bound) || 0) >= 0.95 * total) return bound === "+Inf" ? null : Number(bound) * 1000;
  }
  return null;
}

function setTarget(id, met) {
  const node = document.getElementById(id);
  node.classList.toggle("met", met === true);
  node.classList.toggle("missed", met === false);
  const base = node.textContent.replace(/ — (met|missed)$/, "");
  node.textContent = met == null ? base : `${base} — ${met ? "met" : "missed"}`;
}

async function refreshNow() {
  const state = document.getElementById("now-state");
  try {
    const samples = parseMetrics(await metricsText());
    const now = { at: performance.now(), samples };
    const requests = sum(samples, "feedfusion_http_requests_total");
    const errors = sum(samples, "feedfusion_http_requests_total", (l) => (l.status || "").startsWith("5"));
    const cache = (result) => sum(samples, "feedfusion_cache_requests_total", (l) => l.result === result);
    const served = cache("hit") + cache("stale") + cache("coalesced");
    const asked = served + cache("miss") + cache("bypass");
    document.getElementById("fig-db").textContent =
      `${formatNumber(sum(samples, "feedfusion_db_pool_connections", (l) => l.state === "in_use"))} / ${formatNumber(sum(samples, "feedfusion_db_pool_size"))}`;
    document.getElementById("fig-realtime").textContent = formatNumber(sum(samples, "feedfusion_realtime_connections"));
    if (previous) {
      const seconds = (now.at - previous.at) / 1000;
      const delta = requests - previous.requests;
      const rps = delta / seconds;
      const errorShare = delta > 0 ? (errors - previous.errors) / delta : 0;
      const askedDelta = asked - previous.asked;
      const noDB = askedDelta > 0 ? (served - previous.served) / askedDelta : null;
      const p95 = p95Between(previous.samples, samples);
      document.getElementById("fig-rps").textContent = rps.toFixed(1);
      document.getElementById("fig-errors").textContent = formatPercent(errorShare);
      document.getElementById("fig-nodb").textContent = formatPercent(noDB);
      document.getElementById("fig-p95").textContent = formatMs(p95);
      setTarget("target-p95", p95 == null ? null : p95 < P95_TARGET_MS);
      setTarget("target-errors", errorShare < 0.02);
      setTarget("target-nodb", noDB == null ? null : noDB >= 0.7);
      history.rps.push(rps);
      history.p95.push(p95);
      for (const series of Object.values(history)) if (series.length > 60) series.shift();
      lineChart(document.getElementById("live-chart"), [
        { values: history.p95, label: "p95 ms" },
        { values: history.rps, className: "second", label: "requests/s" },
      ], { target: P95_TARGET_MS, title: "Requests per second and p95 latency while this page is open" });
      showState(state, "none");
    } else {
      showState(state, "loading", "Measuring: the rates appear after the second reading (5 s).");
    }
    previous = { at: now.at, samples, requests, errors, served, asked };
  } catch (error) {
    showState(state, "error", `The live figures could not be read: ${explain(error)}`);
  }
}

async function loadTotals() {
  const state = document.getElementById("totals-state");
  const grid = document.getElementById("totals");
  showState(state, "loading", "Loading the totals…");
  try {
    const stats = await rpc("admin_stats");
    const figures = [
      ["users", "users"], ["posts", "posts"], ["posts_today", "posts today (UTC)"], ["active_users_today", "active users today"],
    ];
    grid.replaceChildren(...figures.map(([key, label]) => {
      const card = document.createElement("div");
      card.className = "card";
      const figure = document.createElement("div");
      figure.className = "figure";
      figure.textContent = formatNumber(stats[key]);
      const caption = document.createElement("div");
      caption.className = "figure-label";
      caption.textContent = label;
      card.append(figure, caption);
      return card;
    }));
    showState(state, "none");
  } catch (error) {
    showState(state, "error", `The totals could not be read: ${explain(error)}`, loadTotals);
  }
}

async function loadActivity() {
  const state = document.getElementById("activity-state");
  showState(state, "loading", "Loading the last 30 days…");
  try {
    const days = (await rpc("admin_activity", { p_days: 30 })) || [];
    if (days.every((d) => d.signups === 0 && d.posts === 0)) {
      showState(state, "loading", "Nothing happened in the last 30 days: no sign-ups, no posts.");
    } else {
      showState(state, "none");
    }
    lineChart(document.getElementById("activity-chart"), [
      { values: days.map((d) => d.posts), label: "posts" },
      { values: days.map((d) => d.signups), className: "second", label: "sign-ups" },
      { values: days.map((d) => d.active_users), className: "third", label: "active users" },
    ], { labels: days.map((d) => d.day), title: "Posts, sign-ups and active users per day, last 30 days" });
    document.getElementById("activity-rows").replaceChildren(...days.map((d) => {
      const row = document.createElement("tr");
      for (const value of [d.day, formatNumber(d.signups), formatNumber(d.posts), formatNumber(d.active_users)]) {
        const cell = document.createElement("td");
        cell.textContent = value;
        row.append(cell);
      }
      return row;
    }));
  } catch (error) {
    showState(state, "error", `The last 30 days could not be read: ${explain(error)}`, loadActivity);
  }
}

startPage(async () => {
  await Promise.all([refreshNow(), loadTotals(), loadActivity()]);
  setInterval(() => { if (!document.hidden) refreshNow(); }, REFRESH_MS);
});
