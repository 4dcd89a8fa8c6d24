// What every dashboard page shares: the session (an access token in memory, refreshed from the
// HttpOnly cookie by /admin/session/refresh), calls to the admin RPCs on /rest/v1 and to /admin/api,
// the loading / empty / error states, confirmations, and small SVG charts.

import { HTTPError, send as sendJSON, toast as showToast } from "/app/assets/http.js";

const CSRF = { "X-FeedFusion-Dashboard": "1" };
const session = { token: null, expiresAt: 0, margin: 30_000, user: null, pending: null };

/** An error the server answered, with its status and message (PostgREST's or ours). */
export class ApiError extends HTTPError {
  /** What to tell the admin. */
  get explanation() {
    if (this.code === "42501") return `Refused by the database: ${this.message}`;
    if (this.status === 0) return "The server cannot be reached. Check the connection and retry.";
    if (this.status === 503 || this.status === 504) return "The database is not answering right now. Retry in a moment.";
    if (this.status === 429) return `Too many requests: ${this.message}`;
    return this.message;
  }
}

// The request helper and the toast are the app's own (one file serves both front ends).
const send = (url, options = {}) => sendJSON(url, options, ApiError);

function signInPage() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/admin/sign-in?next=${next}`);
}

/** A valid access token, refreshed from the cookie when it is about to run out. */
export async function accessToken() {
  if (session.token && Date.now() < session.expiresAt - session.margin) return session.token;
  if (!session.pending) {
    session.pending = send("/admin/session/refresh", { method: "POST", headers: CSRF })
      .then((signedIn) => remember(signedIn))
      .finally(() => { session.pending = null; });
  }
  try {
    await session.pending;
  } catch (error) {
    if (error.status === 401 || error.status === 403) signInPage();
    throw error;
  }
  return session.token;
}

export function remember(signedIn) {
  session.token = signedIn.access_token;
  session.expiresAt = Date.now() + signedIn.expires_in * 1000;
  // Refreshed a little before it runs out: 30 s, or half its life when it is shorter.
  session.margin = Math.min(30_000, signedIn.expires_in * 500);
  session.user = signedIn.user;
  return signedIn;
}

/** An admin RPC on /rest/v1, as the signed-in admin: the database checks is_admin() itself. */
export async function rpc(name, args = {}) {
  const token = await accessToken();
  return send(`/rest/v1/rpc/${name}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", Prefer: "return=representation" },
    body: JSON.stringify(args),
  });
}

/** A read of a table on /rest/v1 as the admin (RLS lets admins read the telemetry tables); as
 *  parsed JSON, or as text for another `accept` (text/csv). */
export async function restGet(pathAndQuery, accept = "application/json") {
  const token = await accessToken();
  let response;
  try {
    response = await fetch(`/rest/v1/${pathAndQuery}`, { headers: { Authorization: `Bearer ${token}`, Accept: accept } });
  } catch {
    throw new ApiError(0, { message: "network error" });
  }
  const text = await response.text();
  if (!response.ok) {
    let body = null;
    try { body = JSON.parse(text); } catch { body = { message: text.slice(0, 200) }; }
    throw new ApiError(response.status, body);
  }
  return accept === "application/json" ? JSON.parse(text) : text;
}

/** A call to /admin/api (what only the server knows). */
export async function adminApi(path, options = {}) {
  const token = await accessToken();
  const headers = { Authorization: `Bearer ${token}`, ...CSRF, ...(options.headers || {}) };
  return send(`/admin/api/${path}`, { ...options, headers });
}

/** The server's metrics as Prometheus text, for the live figures. */
export async function metricsText() {
  const token = await accessToken();
  let response;
  try {
    response = await fetch("/admin/api/metrics", { headers: { Authorization: `Bearer ${token}` } });
  } catch {
    throw new ApiError(0, { message: "network error" });
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return response.text();
}

/** Shows one state in a state box: loading, empty, error (with a retry), or none. */
export function showState(box, kind, message, retry) {
  box.replaceChildren();
  box.className = `state ${kind === "error" ? "error" : ""}`;
  if (kind === "none") { box.hidden = true; return; }
  box.hidden = false;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.textContent = message;
  box.append(text);
  if (retry) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "secondary retry";
    button.textContent = "Retry";
    button.addEventListener("click", retry);
    box.append(button);
  }
}

/** Asks before an action; resolves true when confirmed. Keyboard: Tab between the buttons, Escape cancels. */
export function confirmAction(title, detail, confirmLabel, danger = true) {
  const dialog = document.getElementById("confirm");
  dialog.querySelector("#confirm-title").textContent = title;
  dialog.querySelector("#confirm-detail").textContent = detail;
  const ok = dialog.querySelector("#confirm-ok");
  ok.textContent = confirmLabel;
  ok.className = danger ? "danger" : "";
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.removeEventListener("close", onClose);
      ok.removeEventListener("click", onOk);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onClose = () => done(false);
    ok.addEventListener("click", onOk);
    dialog.addEventListener("close", onClose);
    dialog.showModal();
    dialog.querySelector("#confirm-cancel").focus();
  });
}

/**
 * An admin action as every page runs it: confirmed first, then done, then told in a toast; a refusal
 * (or `false`/`null`: nothing was there to change) is shown in `state` instead. Answers whether it
 * was done, so that the page reloads what it changed.
 */
export async function confirmAndRun({ title, detail, label, run, done, state, nothing = "the database found nothing to change (was it already gone?)" }) {
  if (!(await confirmAction(title, detail, label))) return false;
  showState(state, "loading", "Working…");
  try {
    const answer = await run();
    if (answer === false || answer === null) throw new ApiError(404, { message: nothing });
    toast(done(answer));
    showState(state, "none");
    return true;
  } catch (error) {
    showState(state, "error", `Not done: ${explain(error)}`);
    return false;
  }
}

/** A short message read out by screen readers. */
export const toast = (message) => showToast(message, 6000);

export const formatNumber = (n) => (n == null ? "–" : Number(n).toLocaleString("en-US"));
export const formatPercent = (x) => (x == null || !isFinite(x) ? "–" : `${(x * 100).toFixed(1)} %`);
export const formatMs = (x) => (x == null || !isFinite(x) ? "–" : `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`);
export function formatDate(text) {
  if (!text) return "–";
  const date = new Date(text);
  return isNaN(date) ? text : date.toISOString().replace("T", " ").slice(0, 16) + " UTC";
}

/**
 * A line chart in an <svg>: `series` [{values, className, label}], an optional target drawn as a
 * dashed line, x labels at both ends. The SVG has a title; the page gives the numbers as text too.
 */
export function lineChart(svg, series, { target, labels = [], title = "" } = {}) {
  const width = 600, height = 180, pad = { left: 44, right: 8, top: 10, bottom: 22 };
  const all = series.flatMap((s) => s.values).filter((v) => v != null && isFinite(v));
  const top = Math.max(1, target || 0, ...all) * 1.1;
  const count = Math.max(2, ...series.map((s) => s.values.length));
  const x = (i) => pad.left + (i * (width - pad.left - pad.right)) / (count - 1);
  const y = (v) => pad.top + (1 - v / top) * (height - pad.top - pad.bottom);
  const ns = "http://www.w3.org/2000/svg";
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  svg.replaceChildren();
  const titleNode = document.createElementNS(ns, "title");
  titleNode.textContent = title;
  svg.append(titleNode);
  const axis = document.createElementNS(ns, "line");
  Object.entries({ x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }).forEach(([k, v]) => axis.setAttribute(k, v));
  svg.append(axis);
  for (const value of [0, top / 2, top]) {
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 2);
    label.setAttribute("y", y(value) + 4);
    label.textContent = value >= 100 ? Math.round(value) : value.toFixed(value >= 10 ? 0 : 1);
    svg.append(label);
  }
  if (target) {
    const line = document.createElementNS(ns, "line");
    Object.entries({ x1: pad.left, x2: width - pad.right, y1: y(target), y2: y(target), class: "target-line" }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
  }
  for (const s of series) {
    const points = s.values.map((v, i) => (v == null || !isFinite(v) ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`)).filter(Boolean);
    if (points.length === 0) continue;
    const path = document.createElementNS(ns, "polyline");
    path.setAttribute("points", points.join(" "));
    path.setAttribute("class", `line ${s.className || ""}`);
    svg.append(path);
  }
  if (labels.length) {
    for (const [i, anchor] of [[0, "start"], [labels.length - 1, "end"]]) {
      const label = document.createElementNS(ns, "text");
      label.setAttribute("x", x(i));
      label.setAttribute("y", height - 4);
      label.setAttribute("text-anchor", anchor);
      label.textContent = labels[i];
      svg.append(label);
    }
  }
}

/** Prometheus text → [{name, labels, value}]. */
export function parseMetrics(text) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[3] || "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: match[1], labels, value: Number(match[4]) });
  }
  return samples;
}

/** Every page: make sure of the session, show who is signed in, wire sign-out, then render. */
export async function startPage(render) {
  const who = document.getElementById("who");
  const main = document.getElementById("page-state");
  try {
    await accessToken();
  } catch (error) {
    if (main) showState(main, "error", error instanceof ApiError ? error.explanation : String(error), () => location.reload());
    return;
  }
  if (who) who.textContent = `Signed in as ${session.user ? session.user.email : "admin"}`;
  const signOut = document.getElementById("sign-out");
  if (signOut) {
    signOut.addEventListener("click", async () => {
      try {
        await send("/admin/session/sign-out", { method: "POST", headers: { ...CSRF, Authorization: `Bearer ${session.token}` } });
      } finally {
        session.token = null;
        location.assign("/admin/sign-in");
      }
    });
  }
  if (main) showState(main, "none");
  await render();
}

export const signedInUser = () => session.user;

/** What to tell the admin about a failure. */
export const explain = (error) => (error instanceof ApiError ? error.explanation : String(error));

/** A table cell with text. */
export function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

/** A button; `name` is its accessible name when the visible label needs context (a row's action). */
export function actionButton(label, handler, kind = "secondary", name) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = kind;
  button.textContent = label;
  if (name) button.setAttribute("aria-label", name);
  button.addEventListener("click", handler);
  return button;
}
export { CSRF, send };
