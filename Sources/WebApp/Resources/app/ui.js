// Small DOM helpers every view uses: elements, the loading / empty / error states, the toast.
import { ApiError } from "/app/assets/api.js";
import { toast as showToast } from "/app/assets/http.js";

/** An element: h("p", { class: "hint" }, "text", child…). Text is always text (never HTML). */
export function h(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child != null) node.append(child);
  return node;
}

export const explain = (error) => (error instanceof ApiError ? error.explanation : String(error));

/**
 * A state line: "loading" and "empty" say so politely; "error" says what went wrong with a Retry
 * button (held back while a 429's Retry-After runs).
 */
export function stateBox(kind, message, retry, error) {
  const box = h("p", { class: kind === "error" ? "state error" : "state", role: kind === "error" ? "alert" : "status" }, message);
  if (kind === "error" && retry) {
    const button = h("button", { type: "button", class: "secondary", onclick: retry }, "Retry");
    const wait = error && error.retryAfter;
    if (wait) {
      button.disabled = true;
      let left = wait;
      button.textContent = `Retry in ${left} s`;
      const timer = setInterval(() => {
        left -= 1;
        if (left > 0) { button.textContent = `Retry in ${left} s`; return; }
        clearInterval(timer);
        button.disabled = false;
        button.textContent = "Retry";
      }, 1000);
    }
    box.append(button);
  }
  return box;
}

export const toast = (message) => showToast(message, 5000);

/** "3 min ago", "yesterday", or the date. */
export function ago(iso) {
  const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric" });
}
