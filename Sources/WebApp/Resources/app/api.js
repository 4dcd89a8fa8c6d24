// The app's client of the server, shaped as a Supabase client talks to it: `apikey` and
// `Authorization: Bearer` on /auth/v1 and /rest/v1, PostgREST's and GoTrue's bodies and errors.
// The access token lives in memory only; the refresh token never stays in the page: a session the
// page gets from /auth/v1 is handed over to /app/session, which uses that token up and keeps its
// successor in an HttpOnly cookie (a reload asks /app/session/refresh for a new access token).

import { HTTPError, send as sendJSON } from "/app/assets/http.js";

const CSRF = { "X-FeedFusion-App": "1" };
const session = { token: null, expiresAt: 0, margin: 10_000, user: null, pending: null, timer: null };
let config = null;

/** An error the server answered (or the network's), with what to tell the user. */
export class ApiError extends HTTPError {
  get explanation() {
    if (this.status === 0) {
      return navigator.onLine === false
        ? "You are offline. Check your connection, then retry."
        : "The server cannot be reached right now. Retry in a moment.";
    }
    if (this.status === 429) return `${this.message}${this.retryAfter ? ` (you can retry in ${this.retryAfter} s)` : ""}`;
    if (this.status === 503 || this.status === 504 || this.status === 502) return "The server is busy or its database is away. Retry in a moment.";
    return this.message;
  }
}

const send = (url, options = {}) => sendJSON(url, options, ApiError);

/** The server's public settings: the anon key, the password rules, whether sign-ups are open. */
export async function loadConfig() {
  config = config || (await send("/app/config"));
  return config;
}

export const passwordRules = () => config.password;
export const currentUser = () => session.user;
export const anonKey = () => config.anon_key;
export const realtimeEnabled = () => config.realtime;

const tokenListeners = new Set();
/** Calls `listener(token)` with every new access token (null when signed out); answers a way to stop. */
export function onTokenChange(listener) {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

/** The current access token, refreshed first when it is about to run out; null when signed out. */
export async function accessToken() {
  await fresh();
  return session.token;
}

function remember(signedIn) {
  session.token = signedIn.access_token;
  session.expiresAt = Date.now() + signedIn.expires_in * 1000;
  session.user = signedIn.user;
  // A request this close to the end refreshes first: 10 s, or a quarter of a short life.
  session.margin = Math.min(10_000, signedIn.expires_in * 250);
  // Refreshed in the background a minute before it runs out (or at half its life when shorter).
  clearTimeout(session.timer);
  const lead = Math.min(60_000, signedIn.expires_in * 500);
  session.timer = setTimeout(() => refresh().catch(() => {}), Math.max(5_000, signedIn.expires_in * 1000 - lead));
  for (const listener of tokenListeners) listener(session.token);
  return session.user;
}

function forget() {
  clearTimeout(session.timer);
  Object.assign(session, { token: null, expiresAt: 0, user: null, timer: null });
  for (const listener of tokenListeners) listener(null);
}

/** A fresh access token from the cookie; null when there is no session (401). */
export async function refresh() {
  if (!session.pending) {
    session.pending = send("/app/session/refresh", { method: "POST", headers: CSRF })
      .then(remember)
      .catch((error) => {
        if (error.status === 401) { forget(); return null; }
        throw error;
      })
      .finally(() => { session.pending = null; });
  }
  return session.pending;
}

async function handOver(refreshToken) {
  return remember(await send("/app/session", {
    method: "POST", headers: { ...CSRF, "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: refreshToken }),
  }));
}

function headers(extra = {}) {
  return { apikey: config.anon_key, Authorization: `Bearer ${session.token || config.anon_key}`, ...extra };
}

async function fresh() {
  if (session.token && Date.now() > session.expiresAt - session.margin) await refresh();
}

/** Sign-up as supabase-js does it; signed in at once unless the server wants the email confirmed first. */
export async function signUp(email, password, username) {
  const body = await send(`/auth/v1/signup?redirect_to=${encodeURIComponent(`${location.origin}/confirm`)}`, {
    method: "POST", headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ email, password, data: { username } }),
  });
  if (body && body.access_token) return { user: await handOver(body.refresh_token) };
  return { user: null, confirm: true };
}

export async function signIn(email, password) {
  const body = await send("/auth/v1/token?grant_type=password", {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ email, password }),
  });
  return handOver(body.refresh_token);
}

/** Ends this session on the server (its tokens stop working at once) and forgets it here. */
export async function signOut() {
  try {
    await send("/app/session/sign-out", { method: "POST", headers: { ...CSRF, Authorization: `Bearer ${session.token}` } });
  } finally {
    forget();
  }
}

/** A PostgREST RPC (POST /rest/v1/rpc/<name>). */
export async function rpc(name, args = {}) {
  await fresh();
  return send(`/rest/v1/rpc/${name}`, {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(args),
  });
}

/** A PostgREST read: GET /rest/v1/<table>?<query>. */
export async function select(table, query) {
  await fresh();
  return send(`/rest/v1/${table}?${query}`, { headers: headers({ Accept: "application/json" }) });
}

/** How many rows a PostgREST read would answer (`Prefer: count=exact`, from Content-Range). */
export async function countRows(table, query) {
  await fresh();
  let response;
  try {
    response = await fetch(`/rest/v1/${table}?${query}&limit=1`, { headers: headers({ Prefer: "count=exact" }) });
  } catch {
    throw new ApiError(0, { message: "network error" });
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  const range = response.headers.get("Content-Range") || "";
  return Number(range.split("/")[1]) || 0;
}

/** A PostgREST write on a table (POST/PATCH/DELETE /rest/v1/<table>?<query>). */
export async function write(method, table, query, body) {
  await fresh();
  return send(`/rest/v1/${table}${query ? `?${query}` : ""}`, {
    method, headers: headers({ "Content-Type": "application/json", Prefer: "return=minimal" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Mails a recovery code and link (GoTrue's /recover); the link leads back to `redirectTo`. */
export async function recover(email, redirectTo) {
  await send(`/auth/v1/recover?redirect_to=${encodeURIComponent(redirectTo)}`, {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ email }),
  });
}

/** Mails a new sign-up confirmation (GoTrue's /resend). */
export async function resendConfirmation(email, redirectTo) {
  await send(`/auth/v1/resend?redirect_to=${encodeURIComponent(redirectTo)}`, {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ type: "signup", email }),
  });
}

/** A mailed code (GoTrue's /verify): signed in with the session it answers. */
export async function verifyCode(type, email, token) {
  const body = await send("/auth/v1/verify", {
    method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ type, email, token }),
  });
  return handOver(body.refresh_token);
}

/**
 * The session a mailed link put in the URL's fragment (#access_token=…&refresh_token=…&type=…), or
 * its error: handed over at once and wiped from the address bar and history.
 */
export async function takeSessionFromLink() {
  if (!location.hash.includes("refresh_token=") && !location.hash.includes("error=")) return null;
  const params = new URLSearchParams(location.hash.slice(1));
  history.replaceState(null, "", location.pathname + location.search);
  if (params.get("error")) throw new ApiError(403, { message: params.get("error_description") || "The link is invalid or has expired." });
  await handOver(params.get("refresh_token"));
  return params.get("type");
}

/** A new password for the signed-in user (GoTrue's PUT /user); the server ends every other session. */
export async function changePassword(password) {
  await fresh();
  return send("/auth/v1/user", {
    method: "PUT", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ password }),
  });
}
