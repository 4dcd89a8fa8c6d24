// The app's client of the server, shaped as a Supabase client talks to it: `apikey` and
// `Authorization: Bearer` on /auth/v1 and /rest/v1, PostgREST's and GoTrue's bodies and errors.
// The access token lives in memory only; the refresh token never stays in the page: a session the
// page gets from /auth/v1 is handed over to /app/session, which uses that token up and keeps its
// successor in an HttpOnly cookie (a reload asks /app/session/refresh for a new access token).

const CSRF = { "X-FeedFusion-App": "1" };
const session = { token: null, expiresAt: 0, margin: 10_000, user: null, pending: null, timer: null };
let config = null;

/** An error the server answered (or the network's), with what to tell the user. */
export class ApiError extends Error {
  constructor(status, body, retryAfter = null) {
    super((body && (body.message || body.msg || body.error_description || body.error)) || `the server answered ${status}`);
    this.status = status;
    this.code = body && (body.code || body.error_code);
    this.retryAfter = retryAfter;
  }

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

async function send(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    throw new ApiError(0, { message: "network error" });
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { message: text.slice(0, 200) }; }
  if (!response.ok) {
    const retry = Number(response.headers.get("Retry-After"));
    throw new ApiError(response.status, body, Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : null);
  }
  return body;
}

/** The server's public settings: the anon key, the password rules, whether sign-ups are open. */
export async function loadConfig() {
  config = config || (await send("/app/config"));
  return config;
}

export const passwordRules = () => config.password;
export const currentUser = () => session.user;

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
  return session.user;
}

function forget() {
  clearTimeout(session.timer);
  Object.assign(session, { token: null, expiresAt: 0, user: null, timer: null });
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
  const body = await send("/auth/v1/signup", {
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

/** A PostgREST write on a table (POST/PATCH/DELETE /rest/v1/<table>?<query>). */
export async function write(method, table, query, body) {
  await fresh();
  return send(`/rest/v1/${table}${query ? `?${query}` : ""}`, {
    method, headers: headers({ "Content-Type": "application/json", Prefer: "return=minimal" }),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}
