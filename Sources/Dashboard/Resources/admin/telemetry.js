// Telemetry explorer: usage_events by event name and day, filtered by event and user, the latest
// events, a CSV export (PostgREST's text/csv of the same query), and client metrics' percentiles.
import { cell, explain, formatDate, formatNumber, restGet, rpc, showState, startPage } from "/admin/assets/admin.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const filters = { days: 7, event: "", user: "" };

/** The user filter as an id: an email is looked up (one match, or the filter is refused). */
async function userID() {
  if (!filters.user) return null;
  if (UUID.test(filters.user)) return filters.user;
  const found = await rpc("admin_users", { p_query: filters.user, p_limit: 2, p_offset: 0 });
  const exact = found.users.find((u) => u.email.toLowerCase() === filters.user.toLowerCase()) || (found.total === 1 ? found.users[0] : null);
  if (!exact) throw new Error(`no single user matches “${filters.user}”`);
  return exact.id;
}

function query(user, limit) {
  const since = new Date(Date.now() - filters.days * 86400_000).toISOString();
  const parts = [
    "select=created_at,event,user_id,session_id,props", `created_at=gte.${encodeURIComponent(since)}`,
    "order=created_at.desc", `limit=${limit}`,
  ];
  if (filters.event) parts.push(`event=eq.${encodeURIComponent(filters.event)}`);
  if (user) parts.push(`user_id=eq.${user}`);
  return `usage_events?${parts.join("&")}`;
}

async function loadSummary() {
  const state = document.getElementById("summary-state");
  showState(state, "loading", "Counting events…");
  try {
    const summary = await rpc("admin_usage_summary", { p_days: filters.days, p_event: filters.event || null });
    const select = document.getElementById("event");
    const chosen = filters.event;
    const names = new Set(summary.events.map((e) => e.event).concat(chosen ? [chosen] : []));
    select.replaceChildren(new Option("every event", ""), ...[...names].sort().map((name) => new Option(name, name)));
    select.value = chosen;
    document.getElementById("event-rows").replaceChildren(...summary.events.map((e) => {
      const row = document.createElement("tr");
      row.append(cell(e.event), cell(formatNumber(e.count)), cell(formatNumber(e.users)));
      return row;
    }));
    document.getElementById("day-rows").replaceChildren(...summary.days.map((d) => {
      const row = document.createElement("tr");
      row.append(cell(d.day), cell(formatNumber(d.count)), cell(formatNumber(d.users)));
      return row;
    }));
    if (summary.events.length === 0) showState(state, "loading", "No usage events in this period.");
    else showState(state, "none");
  } catch (error) {
    showState(state, "error", `Events could not be counted: ${explain(error)}`, loadSummary);
  }
}

async function loadLatest() {
  const state = document.getElementById("latest-state");
  showState(state, "loading", "Loading events…");
  try {
    const events = await restGet(query(await userID(), 100));
    document.getElementById("latest-rows").replaceChildren(...events.map((e) => {
      const row = document.createElement("tr");
      row.append(cell(formatDate(e.created_at)), cell(e.event), cell(e.user_id || "anonymous"), cell(JSON.stringify(e.props)));
      return row;
    }));
    if (events.length === 0) showState(state, "loading", "No event matches these filters.");
    else showState(state, "none");
  } catch (error) {
    document.getElementById("latest-rows").replaceChildren();
    showState(state, "error", `Events could not be read: ${explain(error)}`, loadLatest);
  }
}

async function exportCSV() {
  const state = document.getElementById("latest-state");
  try {
    const csv = await restGet(query(await userID(), 10000), "text/csv");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    link.download = `usage-events-${filters.event || "all"}-${filters.days}d.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  } catch (error) {
    showState(state, "error", `The export failed: ${explain(error)}`);
  }
}

async function loadMetrics() {
  const state = document.getElementById("metrics-state");
  showState(state, "loading", "Loading client metrics…");
  try {
    const metrics = await rpc("admin_client_metrics", { p_hours: 24 });
    const value = (v, unit) => (v == null ? "–" : `${Number(v).toFixed(v < 10 ? 2 : 0)}${unit ? ` ${unit}` : ""}`);
    document.getElementById("metric-rows").replaceChildren(...metrics.map((m) => {
      const row = document.createElement("tr");
      row.append(cell(m.name), cell(formatNumber(m.count)), cell(value(m.p50, m.unit)), cell(value(m.p95, m.unit)), cell(value(m.p99, m.unit)));
      return row;
    }));
    if (metrics.length === 0) showState(state, "loading", "No client metrics in the last 24 hours (clients send them with track_metrics).");
    else showState(state, "none");
  } catch (error) {
    showState(state, "error", `Client metrics could not be read: ${explain(error)}`, loadMetrics);
  }
}

startPage(async () => {
  const form = document.getElementById("filters");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    filters.days = Number(form.days.value);
    filters.event = form.event.value;
    filters.user = form.user.value.trim();
    loadSummary();
    loadLatest();
  });
  document.getElementById("export").addEventListener("click", exportCSV);
  await Promise.all([loadSummary(), loadLatest(), loadMetrics()]);
});
