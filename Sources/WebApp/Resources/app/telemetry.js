// What the app tells the server about its use, as the seed's web client did (usage.ts, trackMetric,
// error reports): usage events batched through `log_usage_events`, measurements through
// `track_metrics` (page load, first paint, feed render), uncaught errors as `app.error` events.
// Sent every 10 s, at 20 queued, and when the page is hidden (a `keepalive` request outlives the
// page). Only while signed in: the server refuses anonymous telemetry unless an operator allows it.
import { accessToken, anonKey, currentUser } from "/app/assets/api.js";

const FLUSH_MS = 10_000;
const BATCH = 20;
const sessionId = crypto.randomUUID();
const queues = { events: [], metrics: [] };

export function track(event, props = {}) {
  queues.events.push({ event, props, session_id: sessionId, client_ts: new Date().toISOString() });
  if (queues.events.length >= BATCH) flush();
}

export function metric(name, value, unit = "ms", tags = {}) {
  if (!Number.isFinite(value)) return;
  queues.metrics.push({ name, value: Math.round(value * 10) / 10, unit, tags });
  if (queues.metrics.length >= BATCH) flush();
}

async function post(fn, body, keepalive) {
  const token = await accessToken().catch(() => null);
  if (!token) return;
  await fetch(`/rest/v1/rpc/${fn}`, {
    method: "POST", keepalive,
    headers: { apikey: anonKey(), Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }).catch(() => {});
}

/** Sends what is queued (at most 100 of each per call, as the RPCs take). Lost if the server is away: telemetry never blocks the app. */
export async function flush(keepalive = false) {
  if (!currentUser()) { queues.events.length = 0; queues.metrics.length = 0; return; }
  const events = queues.events.splice(0, 100);
  const metrics = queues.metrics.splice(0, 100);
  await Promise.all([
    events.length ? post("log_usage_events", { p_events: events }, keepalive) : null,
    metrics.length ? post("track_metrics", { p_metrics: metrics }, keepalive) : null,
  ]);
}

setInterval(() => flush(), FLUSH_MS);
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") flush(true); });

window.addEventListener("error", (event) => {
  track("app.error", { message: String(event.message).slice(0, 300), source: String(event.filename || "").slice(0, 200), line: String(event.lineno || "") });
});
window.addEventListener("unhandledrejection", (event) => {
  track("app.error", { message: String(event.reason && event.reason.message ? event.reason.message : event.reason).slice(0, 300), source: "promise" });
});

/** The page's load figures once it has painted: time to first byte, first contentful paint, load. */
export function measureLoad() {
  const navigation = performance.getEntriesByType("navigation")[0];
  if (navigation) {
    metric("app_ttfb", navigation.responseStart - navigation.requestStart);
    metric("app_dom_ready", navigation.domContentLoadedEventEnd);
  }
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  if (paint) metric("app_fcp", paint.startTime);
}
