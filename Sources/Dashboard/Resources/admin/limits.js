// Limits and cache: the configured rate limits, the clients refused lately (top 20 by 429s), the
// feed cache's size and hit counts, and a flush (admin only, checked and logged by the database).
// Everything here is read from the server's memory: no database query on the refresh.
import { adminApi, cell, confirmAction, explain, formatDate, formatNumber, formatPercent, showState, startPage, toast } from "/admin/assets/admin.js";

const REFRESH_MS = 10_000;

function card(figure, label) {
  const box = document.createElement("div");
  box.className = "card";
  const value = document.createElement("div");
  value.className = "figure";
  value.textContent = figure;
  const caption = document.createElement("div");
  caption.className = "figure-label";
  caption.textContent = label;
  box.append(value, caption);
  return box;
}

const policy = (p) => `${formatNumber(p.per_minute)} a minute${p.burst ? `, bursts of ${formatNumber(p.burst)}` : ""}`;

async function load() {
  const states = ["limits-state", "limited-state", "cache-state"].map((id) => document.getElementById(id));
  try {
    const report = await adminApi("limits");
    const facts = document.createElement("dl");
    facts.className = "facts";
    for (const [term, value] of [
      ["Limits", report.enabled ? "on" : "off (RATE_LIMIT_ENABLED=false)"],
      ["/rest/v1 and /realtime/v1 HTTP, per client address and per user", policy(report.rest)],
      ["/auth/v1 and dashboard sign-in, per client address", policy(report.auth)],
      ["Counted", report.shared ? "across every instance (Redis)" : "by this instance"],
      ["Trusted proxies", report.trusted_proxies.length ? report.trusted_proxies.join(", ") : "none: the socket's address is the client"],
    ]) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = value;
      facts.append(dt, dd);
    }
    document.getElementById("limits").replaceChildren(facts);
    showState(states[0], "none");

    document.getElementById("limited-rows").replaceChildren(...report.limited.map((client) => {
      const row = document.createElement("tr");
      row.append(cell(client.client), cell(client.policy), cell(formatNumber(client.refused)), cell(formatDate(client.last)));
      return row;
    }));
    if (report.limited.length === 0) showState(states[1], "loading", "Nobody was refused in the last 10 minutes.");
    else showState(states[1], "none");

    const c = report.cache;
    const asked = c.hits + c.misses + c.stale + c.coalesced;
    document.getElementById("cache").replaceChildren(
      card(`${formatNumber(c.entries)} / ${formatNumber(c.max_entries)}`, "answers held (of the most)"),
      card(`${(c.bytes / 1048576).toFixed(1)} / ${(c.max_bytes / 1048576).toFixed(0)} MiB`, "memory held (of the most)"),
      card(formatPercent(asked ? (c.hits + c.stale + c.coalesced) / asked : null), "answered from the cache, since start"),
      card(formatNumber(c.evictions), "evicted to stay within bounds"),
      card(formatNumber(c.invalidations), "dropped by writes"),
    );
    document.getElementById("flush-cache").disabled = !c.enabled;
    showState(states[2], c.enabled ? "none" : "loading", c.enabled ? "" : "The cache is off (CACHE_ENABLED=false).");
  } catch (error) {
    for (const state of states) showState(state, "error", `Not read: ${explain(error)}`, load);
  }
}

async function flush() {
  if (!(await confirmAction("Flush the feed cache?", "Every cached feed answer is dropped on every instance; the next reads recompute them. The audit log records it.", "Flush"))) return;
  try {
    const answer = await adminApi("cache/flush", { method: "POST" });
    toast(`The cache was flushed: ${formatNumber(answer.flushed)} answer(s) dropped.`);
  } catch (error) {
    showState(document.getElementById("cache-state"), "error", `Not flushed: ${explain(error)}`);
    return;
  }
  await load();
}

startPage(async () => {
  document.getElementById("flush-cache").addEventListener("click", flush);
  await load();
  setInterval(() => { if (!document.hidden) load(); }, REFRESH_MS);
});
