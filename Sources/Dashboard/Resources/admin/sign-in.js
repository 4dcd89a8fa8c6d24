// The sign-in form: email and password to /admin/session, which sets the HttpOnly session cookie
// and answers the access token (kept in memory by the next page, never stored).
import { ApiError, CSRF, send, showState } from "/admin/assets/admin.js";

const form = document.getElementById("sign-in-form");
const state = document.getElementById("sign-in-state");
const button = document.getElementById("sign-in-button");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    showState(state, "error", "Enter your email and your password.");
    (email ? form.password : form.email).focus();
    return;
  }
  button.disabled = true;
  showState(state, "loading", "Signing in…");
  try {
    await send("/admin/session", {
      method: "POST",
      headers: { ...CSRF, "Content-Type": "application/json" },
      body: JSON.stringify({ email, password }),
    });
    const next = new URLSearchParams(location.search).get("next");
    // Only a path of this dashboard: never an address elsewhere.
    location.assign(next && next.startsWith("/admin") && !next.startsWith("//") ? next : "/admin/");
  } catch (error) {
    const message = error instanceof ApiError
      ? (error.code === "not_admin" ? "This account is not an admin: the dashboard is for admins only."
        : error.status === 400 ? "The email or the password is wrong." : error.explanation)
      : String(error);
    showState(state, "error", message);
    button.disabled = false;
    form.password.focus();
  }
});
