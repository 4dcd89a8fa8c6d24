// The app: a router over the shell's <main> (/, /sign-in, /sign-up, /u/<name>) and its pages.
import {
  ApiError, currentUser, loadConfig, passwordRules, refresh, rpc, select, signIn, signOut, signUp,
} from "/app/assets/api.js";
import { composer, feedList } from "/app/assets/feed.js";
import { explain, h, stateBox, toast } from "/app/assets/ui.js";

const main = document.getElementById("main");

const routes = [
  [/^\/$/, home],
  [/^\/sign-in$/, signInPage],
  [/^\/sign-up$/, signUpPage],
  [/^\/u\/([A-Za-z0-9_]{1,30})$/, profilePage],
];

function go(path) {
  history.pushState(null, "", path);
  return render(true);
}

function page(title, ...children) {
  document.title = `${title} · FeedFusion`;
  main.replaceChildren(h("h1", {}, title), ...children);
}

function drawNav() {
  const user = currentUser();
  const nav = document.getElementById("nav");
  const here = location.pathname;
  const link = (href, text) => h("li", {}, h("a", { href, "aria-current": here === href ? "page" : null }, text));
  if (!user) {
    nav.replaceChildren(link("/sign-in", "Sign in"), link("/sign-up", "Create account"));
    return;
  }
  const username = user.user_metadata && user.user_metadata.username;
  nav.replaceChildren(
    link("/", "Home"),
    username ? link(`/u/${username}`, "Profile") : null,
    h("li", {}, h("button", { type: "button", class: "secondary", onclick: async () => {
      try { await signOut(); } catch { /* signed out here either way */ }
      toast("Signed out.");
      go("/sign-in");
    } }, "Sign out")));
}

async function render(moved = false) {
  const path = location.pathname;
  const route = routes.find(([pattern]) => pattern.test(path));
  drawNav();
  if (!route) {
    page("Not found", h("p", {}, "There is no such page here. "), h("a", { href: "/" }, "Go home"));
  } else {
    try {
      await route[1](...path.match(route[0]).slice(1));
    } catch (error) {
      page("Something went wrong", stateBox("error", explain(error), () => render()));
    }
  }
  if (moved) main.focus();
}

// Links inside the app are followed without reloading the page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href]");
  if (!link || link.origin !== location.origin || event.ctrlKey || event.metaKey || event.shiftKey || link.target) return;
  if (!routes.some(([pattern]) => pattern.test(link.pathname))) return;
  event.preventDefault();
  if (link.pathname !== location.pathname) go(link.pathname);
});
window.addEventListener("popstate", () => render(true));

// MARK: pages

async function home() {
  if (!currentUser()) {
    page("FeedFusion",
      h("p", {}, "Posts from the people and places you follow, as they happen."),
      h("p", { class: "row" }, h("a", { class: "button", href: "/sign-up" }, "Create account"),
        h("a", { class: "button secondary", href: "/sign-in" }, "Sign in")));
    return;
  }
  const feed = feedList((limit, cursor) => rpc("feed_fusion_home", { p_limit: limit, p_cursor: cursor }), {
    label: "Home feed", empty: "Nothing here yet: follow people or places, or write the first post.",
  });
  page("Home", composer((post) => feed.prepend(post)), feed.element);
}

function field(id, label, attributes, hint) {
  return [h("label", { for: id }, label), h("input", { id, name: id, ...attributes, "aria-describedby": hint ? `${id}-hint` : null }),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null];
}

function authForm(submitLabel, fields, onSubmit) {
  const error = h("p", { class: "field-error", role: "alert", id: "form-error" });
  const button = h("button", { type: "submit" }, submitLabel);
  const form = h("form", { class: "card", novalidate: true }, ...fields, h("p", {}, button), error);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      await onSubmit(new FormData(form));
    } catch (failure) {
      error.textContent = explain(failure);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

async function signInPage() {
  if (currentUser()) return go("/");
  page("Sign in",
    authForm("Sign in", [
      ...field("email", "Email", { type: "email", autocomplete: "email", required: true }),
      ...field("password", "Password", { type: "password", autocomplete: "current-password", required: true }),
    ], async (data) => {
      await signIn(String(data.get("email")).trim(), String(data.get("password")));
      go("/");
    }),
    h("p", {}, "New here? ", h("a", { href: "/sign-up" }, "Create an account")));
}

/** The password rules as the server states them (GET /app/config, from its policy). */
function rulesText() {
  const rules = passwordRules();
  const parts = [`at least ${rules.min_length} characters`];
  if (rules.required_characters.length) parts.push(`one of each: ${rules.required_characters.join(", ")}`);
  parts.push("not a common password");
  return `Use ${parts.join("; ")}.`;
}

async function signUpPage() {
  if (currentUser()) return go("/");
  page("Create account",
    authForm("Create account", [
      ...field("email", "Email", { type: "email", autocomplete: "email", required: true }),
      ...field("username", "Username", { autocomplete: "username", required: true, pattern: "[A-Za-z0-9_]{3,30}" },
        "3 to 30 letters, digits or _; others find you by it."),
      ...field("password", "Password", { type: "password", autocomplete: "new-password", required: true }, rulesText()),
    ], async (data) => {
      const username = String(data.get("username")).trim();
      if (!/^[A-Za-z0-9_]{3,30}$/.test(username)) throw new ApiError(400, { message: "The username must be 3 to 30 letters, digits or _." });
      const result = await signUp(String(data.get("email")).trim(), String(data.get("password")), username);
      if (result.confirm) {
        page("Check your email", h("p", {}, "We sent you a link to confirm your address. Open it, then sign in."));
        return;
      }
      toast("Welcome!");
      go("/");
    }),
    h("p", {}, "Have an account? ", h("a", { href: "/sign-in" }, "Sign in")));
}

async function profilePage(username) {
  page(`@${username}`, stateBox("loading", "Loading the profile…"));
  const rows = await select("profiles", `select=id,username,display_name,bio,is_private&username=eq.${encodeURIComponent(username)}`);
  const profile = rows && rows[0];
  if (!profile) {
    page("No such user", h("p", {}, `Nobody is called @${username} here (or they cannot be seen).`));
    return;
  }
  const me = currentUser();
  const actions = h("div", { class: "row" });
  const head = h("section", { class: "card profile-head", "aria-label": "Profile" },
    profile.display_name ? h("p", { class: "name" }, profile.display_name) : null,
    profile.bio ? h("p", {}, profile.bio) : null,
    profile.is_private ? h("p", { class: "hint" }, "Private profile: only accepted followers see their posts.") : null,
    actions);
  const feed = feedList((limit, cursor) => rpc("feed_fusion_profile", { p_profile_id: profile.id, p_limit: limit, p_cursor: cursor }), {
    label: `Posts by @${profile.username}`,
    empty: profile.is_private && me && me.id !== profile.id ? "No posts you can see: follow them and wait for their yes." : "No posts yet.",
  });
  page(`@${profile.username}`, head, h("h2", {}, "Posts"), feed.element);
  if (!me || me.id === profile.id) return;
  await drawRelationship(profile, actions);
}

/** Follow / unfollow / cancel a request, block / unblock: each by its RPC, redrawn from the tables. */
async function drawRelationship(profile, actions) {
  const me = currentUser();
  let follow, block;
  try {
    [follow, block] = await Promise.all([
      select("follows", `select=status&follower_id=eq.${me.id}&followed_profile_id=eq.${profile.id}`),
      select("blocks", `select=blocked_id&blocker_id=eq.${me.id}&blocked_id=eq.${profile.id}`),
    ]);
  } catch (error) {
    actions.replaceChildren(stateBox("error", explain(error), () => drawRelationship(profile, actions), error));
    return;
  }
  const state = follow && follow[0] ? follow[0].status : null;
  const blocked = block && block.length > 0;
  const act = (label, name, kind, done) => h("button", { type: "button", class: kind, onclick: async (event) => {
    event.target.disabled = true;
    try {
      await rpc(name, { p_profile_id: profile.id });
      toast(done);
      await drawRelationship(profile, actions);
      actions.querySelector("button")?.focus();
    } catch (error) {
      event.target.disabled = false;
      toast(`Not done: ${explain(error)}`);
    }
  } }, label);
  const buttons = [];
  if (!blocked) {
    if (state === "accepted") buttons.push(act("Unfollow", "unfollow_profile", "secondary", `You no longer follow @${profile.username}.`));
    else if (state === "pending") buttons.push(act("Cancel follow request", "unfollow_profile", "secondary", "Request withdrawn."));
    else buttons.push(act(profile.is_private ? "Ask to follow" : "Follow", "follow_profile", "",
      profile.is_private ? "Request sent." : `You follow @${profile.username}.`));
  }
  buttons.push(blocked
    ? act("Unblock", "unblock_profile", "secondary", `@${profile.username} is unblocked.`)
    : act("Block", "block_profile", "danger", `@${profile.username} is blocked: neither of you sees the other's posts.`));
  actions.replaceChildren(...buttons);
}

// MARK: start

async function start() {
  try {
    await loadConfig();
    await refresh();
  } catch (error) {
    page("FeedFusion", stateBox("error", `The app could not start: ${explain(error)}`, () => start(), error));
    return;
  }
  await render();
}
window.addEventListener("offline", () => toast("You are offline: what you see may be out of date."));
window.addEventListener("online", () => toast("Back online."));
start();
