// What both browser front ends (the app, and the admin dashboard, which imports this file too) do
// the same way: a JSON request whose failure is an error with the status, the server's code and
// message (PostgREST's, GoTrue's or ours) and a 429's Retry-After; and the toast.

export class HTTPError extends Error {
  constructor(status, body, retryAfter = null) {
    super((body && (body.message || body.msg || body.error_description || body.error)) || `the server answered ${status}`);
    this.status = status;
    this.code = body && (body.code || body.error_code);
    this.retryAfter = retryAfter;
  }
}

/** fetch → the parsed JSON body (null when empty); a network failure is status 0. */
export async function send(url, options = {}, ErrorType = HTTPError) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    throw new ErrorType(0, { message: "network error" });
  }
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { message: text.slice(0, 200) }; }
  if (!response.ok) {
    const retry = Number(response.headers.get("Retry-After"));
    throw new ErrorType(response.status, body, Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : null);
  }
  return body;
}

let toastTimer;
/** A short message in the page's #toast box (a polite live region: screen readers read it). */
export function toast(message, ms = 6000) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, ms);
}
