// Errors: error_events grouped by fingerprint (count, users, first and last seen, the latest
// message and where it happened), a group's recent occurrences with their context, and a link to
// the group on Sentry when the server reports there.
import { actionButton, adminApi, cell, explain, formatDate, formatNumber, rpc, showState, startPage } from "/admin/assets/admin.js";

let sentry = null;

async function loadGroups() {
  const state = document.getElementById("groups-state");
  const rows = document.getElementById("group-rows");
  const days = Number(document.getElementById("days").value);
  showState(state, "loading", "Loading errors…");
  try {
    const groups = await rpc("admin_error_groups", { p_days: days, p_limit: 100 });
    rows.replaceChildren(...groups.map((group) => {
      const row = document.createElement("tr");
      const open = document.createElement("td");
      open.append(actionButton("Occurrences", () => loadEvents(group), "secondary",
        `Occurrences of ${group.error_type}: ${group.message.slice(0, 80)}`));
      if (sentry) {
        const link = document.createElement("a");
        link.href = `${sentry}&query=${encodeURIComponent(`fingerprint:${group.fingerprint}`)}`;
        link.textContent = "On Sentry";
        link.rel = "noreferrer";
        open.append(" ", link);
      }
      row.append(cell(`${group.error_type}: ${group.message}`), cell(`${group.method || ""} ${group.route || "–"} → ${group.status ?? "–"}`),
        cell(`${formatNumber(group.count)} (${formatNumber(group.users)} users)`), cell(formatDate(group.first_seen)), cell(formatDate(group.last_seen)), open);
      return row;
    }));
    if (groups.length === 0) showState(state, "loading", "No errors in this period.");
    else showState(state, "none");
  } catch (error) {
    rows.replaceChildren();
    showState(state, "error", `Errors could not be read: ${explain(error)}`, loadGroups);
  }
}

async function loadEvents(group) {
  const panel = document.getElementById("events-panel");
  const state = document.getElementById("events-state");
  const list = document.getElementById("events");
  panel.hidden = false;
  const heading = document.getElementById("events-heading");
  heading.textContent = `Occurrences of ${group.error_type}`;
  heading.focus();
  list.replaceChildren();
  showState(state, "loading", "Loading occurrences…");
  try {
    const events = await rpc("admin_error_events", { p_fingerprint: group.fingerprint, p_limit: 20 });
    list.replaceChildren(...events.map((event) => {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = `${formatDate(event.created_at)} — ${event.method || ""} ${event.route || ""} → ${event.status ?? "–"} (request ${event.request_id || "–"})`;
      const pre = document.createElement("pre");
      pre.className = "context";
      pre.textContent = JSON.stringify({ message: event.message, role: event.role, user_id: event.user_id, context: event.context }, null, 2);
      details.append(summary, pre);
      return details;
    }));
    showState(state, events.length ? "none" : "loading", events.length ? "" : "No occurrence is kept any more (retention).");
  } catch (error) {
    showState(state, "error", `Occurrences could not be read: ${explain(error)}`, () => loadEvents(group));
  }
}

startPage(async () => {
  document.getElementById("range-form").addEventListener("submit", (event) => { event.preventDefault(); loadGroups(); });
  try { sentry = (await adminApi("config")).sentry_issues; } catch { sentry = null; }
  await loadGroups();
});
