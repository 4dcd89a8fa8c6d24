// The app: a router over the shell's <main> (/, /sign-in, /sign-up, /u/<name>) and its pages.
import {
  ApiError, changePassword, countRows, currentUser, loadConfig, passwordRules, realtimeEnabled, recover, refresh, resendConfirmation, rpc, select,
  signIn, signOut, signUp, takeSessionFromLink, verifyCode, write,
} from "/app/assets/api.js";
import { composer, feedList } from "/app/assets/feed.js";
import { LiveChannel } from "/app/assets/realtime.js";
import { measureLoad, metric, track } from "/app/assets/telemetry.js";
import { explain, h, stateBox, toast } from "/app/assets/ui.js";

const main = document.getElementById("main");
// What a page keeps open (the live home channel): closed when another page is drawn.
let leave = () => {};

const routes = [
  [/^\/$/, home],
  [/^\/sign-in$/, signInPage],
  [/^\/sign-up$/, signUpPage],
  [/^\/u\/([A-Za-z0-9_]{1,30})$/, profilePage],
  [/^\/u\/([A-Za-z0-9_]{1,30})\/(followers|following)$/, connectionsPage],
  [/^\/e\/([0-9a-f-]{36})$/, entityPage],
  [/^\/nearby$/, nearbyPage],
  [/^\/forgot-password$/, forgotPasswordPage],
  [/^\/reset-password$/, resetPasswordPage],
  [/^\/confirm$/, confirmPage],
];

function go(path) {
  history.pushState(null, "", path);
  return render(true);
}

function page(title, ...children) {
  document.title = `${title} · FeedFusion`;
  main.replaceChildren(h("h1", {}, title), ...children.filter((child) => child != null));
}

// The signed-in user's username: from sign-up's metadata, else (an account made by an admin) read
// once from their profile.
const usernames = new Map();
function myUsername(user) {
  const given = user.user_metadata && user.user_metadata.username;
  if (given) return given;
  if (!usernames.has(user.id)) {
    usernames.set(user.id, null);
    select("profiles", `select=username&id=eq.${user.id}`)
      .then((rows) => { if (rows[0]) { usernames.set(user.id, rows[0].username); drawNav(); } })
      .catch(() => usernames.delete(user.id));
  }
  return usernames.get(user.id);
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
  const username = myUsername(user);
  nav.replaceChildren(...[
    link("/", "Home"),
    link("/nearby", "Nearby"),
    username ? link(`/u/${username}`, "Profile") : null,
    h("li", {}, h("button", { type: "button", class: "secondary", onclick: async () => {
      try { await signOut(); } catch { /* signed out here either way */ }
      toast("Signed out.");
      go("/sign-in");
    } }, "Sign out")),
  ].filter(Boolean));
}

async function render(moved = false) {
  leave();
  leave = () => {};
  const path = location.pathname;
  const route = routes.find(([pattern]) => pattern.test(path));
  drawNav();
  if (route) track("app.page_view", { page: route[1].name });
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
  feed.element.addEventListener("feed-page", (event) => {
    metric(event.detail.first ? "app_home_first_page" : "app_home_next_page", event.detail.ms, "ms", { rows: String(event.detail.rows) });
  });
  page("Home", composer((post) => feed.prepend(post)), feed.element);
  if (realtimeEnabled()) {
    // New posts for this home, decided by the server's fan-out under the feed's rules. One's own
    // posts are put on top by the composer already.
    const me = currentUser().id;
    const channel = new LiveChannel("home", (event, post) => {
      if (event === "new_post" && post && post.author && post.author.id !== me) feed.arrived(post);
    }, (state) => { feed.element.dataset.live = state; });
    leave = () => channel.close();
  }
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
    h("p", {}, h("a", { href: "/forgot-password" }, "Forgot your password?")),
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
        sessionStorage.setItem("confirm-email", String(data.get("email")).trim());
        return go("/confirm");
      }
      toast("Welcome!");
      go("/");
    }),
    h("p", {}, "Have an account? ", h("a", { href: "/sign-in" }, "Sign in")));
}

/**
 * A profile by username (`profile_summary`: a private profile one may not read yet is still found,
 * with its name only, so that one can ask to follow it); null, said on the page, when there is none.
 */
async function findProfile(username) {
  const profile = await rpc("profile_summary", { p_username: username });
  if (!profile) page("No such user", h("p", {}, `Nobody is called @${username} here (or they cannot be seen).`));
  return profile;
}

const FOLLOWER = "follower:profiles!follows_follower_id_fkey(username,display_name)";
const FOLLOWED = "followed:profiles!follows_followed_profile_id_fkey(username,display_name)";

/** "N followers · M following", each a link to its list. */
async function connectionCounts(profile) {
  const [followers, following] = await Promise.all([
    countRows("follows", `select=id&followed_profile_id=eq.${profile.id}&status=eq.accepted`),
    countRows("follows", `select=id&follower_id=eq.${profile.id}&followed_profile_id=not.is.null&status=eq.accepted`),
  ]);
  return h("p", { class: "row" },
    h("a", { href: `/u/${profile.username}/followers` }, `${followers} follower${followers === 1 ? "" : "s"}`),
    h("a", { href: `/u/${profile.username}/following` }, `${following} following`));
}

/** One's own pending follow requests, each with accept and decline (the follows table, under its policies). */
async function followRequests(me, onChange) {
  const box = h("section", { class: "card", "aria-labelledby": "requests-title" }, h("h2", { id: "requests-title" }, "Follow requests"));
  const draw = async () => {
    const rows = await select("follows", `select=follower_id,created_at,${FOLLOWER}&followed_profile_id=eq.${me.id}&status=eq.pending&order=created_at.desc&limit=50`);
    const list = h("ul", { class: "people" }, ...rows.map((row) => {
      const name = row.follower ? row.follower.username : "someone";
      const decide = (label, kind, run, done) => h("button", { type: "button", class: kind, onclick: async (event) => {
        event.target.disabled = true;
        try { await run(); toast(done); await Promise.all([draw(), onChange()]); } catch (error) { event.target.disabled = false; toast(`Not done: ${explain(error)}`); }
      } }, label);
      const match = `follower_id=eq.${row.follower_id}&followed_profile_id=eq.${me.id}`;
      return h("li", { class: "row" }, h("a", { class: "grow", href: `/u/${name}` }, `@${name}`),
        decide(`Accept @${name}`, "", () => write("PATCH", "follows", match, { status: "accepted" }), `@${name} now follows you.`),
        decide(`Decline @${name}`, "secondary", () => write("DELETE", "follows", match), "Request declined."));
    }));
    box.replaceChildren(box.firstChild, rows.length ? list : h("p", { class: "state" }, "No requests waiting."));
  };
  await draw();
  return box;
}

async function connectionsPage(username, which) {
  page(which === "followers" ? `Followers of @${username}` : `@${username} follows`, stateBox("loading", "Loading…"));
  const profile = await findProfile(username);
  if (!profile) return;
  const rows = which === "followers"
    ? await select("follows", `select=created_at,${FOLLOWER}&followed_profile_id=eq.${profile.id}&status=eq.accepted&order=created_at.desc&limit=100`)
    : await select("follows", `select=created_at,${FOLLOWED}&follower_id=eq.${profile.id}&followed_profile_id=not.is.null&status=eq.accepted&order=created_at.desc&limit=100`);
  const people = rows.map((row) => row.follower || row.followed).filter(Boolean);
  page(which === "followers" ? `Followers of @${profile.username}` : `@${profile.username} follows`,
    h("p", {}, h("a", { href: `/u/${profile.username}` }, `Back to @${profile.username}`)),
    people.length
      ? h("ul", { class: "people" }, ...people.map((p) => h("li", {}, h("a", { href: `/u/${p.username}` }, p.display_name || p.username),
        h("span", { class: "hint" }, ` @${p.username}`))))
      : stateBox("empty", which === "followers" ? "No followers you can see yet." : "Not following anyone you can see yet."));
}

async function profilePage(username) {
  page(`@${username}`, stateBox("loading", "Loading the profile…"));
  const profile = await findProfile(username);
  if (!profile) return;
  const me = currentUser();
  const actions = h("div", { class: "row" });
  const counts = h("div", {}, profile.visible ? await connectionCounts(profile) : null);
  const head = h("section", { class: "card profile-head", "aria-label": "Profile" },
    profile.display_name ? h("p", { class: "name" }, profile.display_name) : null,
    profile.bio ? h("p", {}, profile.bio) : null,
    profile.is_private ? h("p", { class: "hint" }, "Private profile: only accepted followers see their posts.") : null,
    counts,
    actions);
  const feed = feedList((limit, cursor) => rpc("feed_fusion_profile", { p_profile_id: profile.id, p_limit: limit, p_cursor: cursor }), {
    label: `Posts by @${profile.username}`,
    empty: profile.is_private && me && me.id !== profile.id ? "No posts you can see: follow them and wait for their yes." : "No posts yet.",
  });
  const requests = me && me.id === profile.id
    ? await followRequests(me, async () => counts.replaceChildren(await connectionCounts(profile)))
    : null;
  page(`@${profile.username}`, head, requests, h("h2", {}, "Posts"), feed.element);
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
      track(`profile.${name.replace("_profile", "")}`);
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

// MARK: places and nearby

async function entityPage(id) {
  page("Place", stateBox("loading", "Loading…"));
  const rows = await select("entities", `select=id,kind,name,description&id=eq.${id}`);
  const entity = rows && rows[0];
  if (!entity) { page("Not found", h("p", {}, "There is no such place or group (or it cannot be seen).")); return; }
  const me = currentUser();
  const actions = h("div", { class: "row" });
  const drawFollow = async () => {
    if (!me) return;
    const follow = await select("follows", `select=id&follower_id=eq.${me.id}&followed_entity_id=eq.${entity.id}`);
    const following = follow.length > 0;
    actions.replaceChildren(h("button", { type: "button", class: following ? "secondary" : "", onclick: async (event) => {
      event.target.disabled = true;
      try {
        await rpc(following ? "unfollow_entity" : "follow_entity", { p_entity_id: entity.id });
        track(following ? "entity.unfollow" : "entity.follow");
        toast(following ? `You no longer follow ${entity.name}.` : `You follow ${entity.name}: its posts come to your home.`);
        await drawFollow();
        actions.querySelector("button")?.focus();
      } catch (error) { event.target.disabled = false; toast(`Not done: ${explain(error)}`); }
    } }, following ? "Unfollow" : "Follow"));
  };
  const feed = feedList((limit, cursor) => rpc("feed_fusion_entity", { p_entity_id: entity.id, p_limit: limit, p_cursor: cursor }), {
    label: `Posts in ${entity.name}`, empty: "No posts here yet.",
  });
  page(entity.name,
    h("section", { class: "card", "aria-label": "About" }, h("p", { class: "hint" }, entity.kind),
      entity.description ? h("p", {}, entity.description) : null, actions),
    h("h2", {}, "Posts"), feed.element);
  await drawFollow();
}

/** Great-circle distance in metres (the posts' own coordinates against the reader's). */
function metresBetween(a, b) {
  const rad = (d) => (d * Math.PI) / 180;
  const dLat = rad(b.lat - a.lat), dLng = rad(b.lng - a.lng);
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(rad(a.lat)) * Math.cos(rad(b.lat)) * Math.sin(dLng / 2) ** 2;
  return 6_371_000 * 2 * Math.asin(Math.sqrt(x));
}

async function nearbyPage() {
  if (!currentUser()) return go("/sign-in");
  const results = h("div", {});
  const lat = field("lat", "Latitude", { inputmode: "decimal", required: true });
  const lng = field("lng", "Longitude", { inputmode: "decimal", required: true });
  const radius = h("select", { id: "radius", name: "radius" },
    ...[[1000, "1 km"], [5000, "5 km"], [25000, "25 km"], [100000, "100 km"]].map(([m, label]) => h("option", { value: String(m), selected: m === 5000 }, label)));
  const form = h("form", { class: "card", novalidate: true, "aria-label": "Where" },
    h("div", { class: "row" }, h("div", { class: "grow" }, ...lat), h("div", { class: "grow" }, ...lng)),
    h("label", { for: "radius" }, "Within"), radius,
    h("p", { class: "row" }, h("button", { type: "submit" }, "Show posts"),
      h("button", { type: "button", class: "secondary", onclick: locate }, "Use my location")),
    h("p", { class: "field-error", role: "alert", id: "where-error" }));
  function show(here) {
    const feed = feedList(async (limit, cursor) => {
      const rows = await rpc("feed_fusion_nearby", { p_lat: here.lat, p_lng: here.lng, p_radius_m: Number(radius.value), p_limit: limit, p_cursor: cursor });
      return (rows || []).map((post) => ({ ...post, distance_m: post.location ? metresBetween(here, post.location) : null }));
    }, { label: "Posts nearby", empty: "No posts within that distance yet." });
    results.replaceChildren(feed.element);
  }
  function locate() {
    const error = form.querySelector("#where-error");
    if (!navigator.geolocation) { error.textContent = "This browser cannot tell where you are: enter the coordinates."; return; }
    navigator.geolocation.getCurrentPosition((position) => {
      form.querySelector("#lat").value = position.coords.latitude.toFixed(5);
      form.querySelector("#lng").value = position.coords.longitude.toFixed(5);
      form.requestSubmit();
    }, () => { error.textContent = "Your location is not available (not allowed, or not known): enter the coordinates."; });
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const error = form.querySelector("#where-error");
    const here = { lat: Number(form.querySelector("#lat").value), lng: Number(form.querySelector("#lng").value) };
    if (!(Math.abs(here.lat) <= 90) || !(Math.abs(here.lng) <= 180) || form.querySelector("#lat").value === "" || form.querySelector("#lng").value === "") {
      error.textContent = "Give a latitude between -90 and 90 and a longitude between -180 and 180.";
      return;
    }
    error.textContent = "";
    track("nearby.search", { radius_m: radius.value });
    show(here);
  });
  page("Nearby", h("p", {}, "Posts made near a place, newest first, with how far each is."), form, results);
}

// MARK: mailed codes and links

const codeField = () => field("code", "Code from the mail", { inputmode: "numeric", autocomplete: "one-time-code", required: true, maxlength: "6" },
  "Six digits. It works once, for a short while.");

async function forgotPasswordPage() {
  page("Forgot your password?",
    h("p", {}, "We mail you a code and a link to choose a new password."),
    authForm("Send the mail", [...field("email", "Email", { type: "email", autocomplete: "email", required: true })], async (data) => {
      const email = String(data.get("email")).trim();
      await recover(email, `${location.origin}/reset-password`);
      sessionStorage.setItem("recover-email", email);
      toast("If that address has an account, the mail is on its way.");
      go("/reset-password");
    }),
    h("p", {}, h("a", { href: "/sign-in" }, "Back to sign-in")));
}

function newPasswordForm() {
  return authForm("Save the new password", [
    ...field("password", "New password", { type: "password", autocomplete: "new-password", required: true }, rulesText()),
  ], async (data) => {
    await changePassword(String(data.get("password")));
    toast("Password changed. Every other session was signed out.");
    go("/");
  });
}

async function resetPasswordPage() {
  // Arrived from the mailed link: the session is in the fragment.
  if (await takeSessionFromLink()) {
    drawNav();
    page("Choose a new password", newPasswordForm());
    return;
  }
  page("Reset your password",
    h("p", {}, "Enter the code from the mail (or open its link)."),
    authForm("Continue", [
      ...field("email", "Email", { type: "email", autocomplete: "email", required: true, value: sessionStorage.getItem("recover-email") || "" }),
      ...codeField(),
    ], async (data) => {
      await verifyCode("recovery", String(data.get("email")).trim(), String(data.get("code")).trim());
      drawNav();
      page("Choose a new password", newPasswordForm());
    }),
    h("p", {}, h("a", { href: "/forgot-password" }, "Send another mail")));
}

async function confirmPage() {
  if (await takeSessionFromLink()) { toast("Email confirmed. Welcome!"); return go("/"); }
  const email = sessionStorage.getItem("confirm-email") || "";
  const resend = h("button", { type: "button", class: "secondary", onclick: async () => {
    const address = main.querySelector("#email").value.trim();
    try { await resendConfirmation(address, `${location.origin}/confirm`); toast("Another mail is on its way."); }
    catch (error) { toast(explain(error)); }
  } }, "Mail me another code");
  page("Confirm your email",
    h("p", {}, "We mailed you a code and a link. Enter the code, or open the link."),
    authForm("Confirm", [...field("email", "Email", { type: "email", autocomplete: "email", required: true, value: email }), ...codeField()],
      async (data) => {
        await verifyCode("signup", String(data.get("email")).trim(), String(data.get("code")).trim());
        toast("Email confirmed. Welcome!");
        go("/");
      }),
    h("p", {}, resend));
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
  measureLoad();
}
window.addEventListener("offline", () => toast("You are offline: what you see may be out of date."));
window.addEventListener("online", () => toast("Back online."));
start();
