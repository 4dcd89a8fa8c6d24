// Users: search by email or username, a page at a time; one user's account, sessions, posts and
// audit trail; ban/unban for a time, make/unmake admin, sign out everywhere, delete, remove a post.
// Every action asks first, is done by an admin RPC (the database checks is_admin() and writes the
// audit entry), and the page shows what the database answered.
import {
  actionButton, cell, confirmAndRun, explain, formatDate, formatNumber, rpc, showState, signedInUser, startPage,
} from "/admin/assets/admin.js";

const PAGE = 25;
const params = new URLSearchParams(location.search);
const view = { query: params.get("q") || "", offset: Math.max(0, Number(params.get("offset")) || 0), total: 0, user: params.get("user") };

const BAN_CHOICES = [
  ["1 hour", 3600], ["1 day", 86400], ["7 days", 7 * 86400], ["30 days", 30 * 86400], ["until lifted (100 years)", 100 * 365 * 86400],
];

function badges(user) {
  const td = document.createElement("td");
  const parts = [];
  if (user.banned_until) parts.push(["banned", `banned until ${formatDate(user.banned_until)}`]);
  if (user.is_admin) parts.push(["admin", "admin"]);
  if (parts.length === 0) td.textContent = "active";
  for (const [kind, text] of parts) {
    const badge = document.createElement("span");
    badge.className = `badge ${kind}`;
    badge.textContent = text;
    td.append(badge, " ");
  }
  return td;
}

function remember() {
  const next = new URLSearchParams();
  if (view.query) next.set("q", view.query);
  if (view.offset) next.set("offset", String(view.offset));
  if (view.user) next.set("user", view.user);
  history.replaceState(null, "", `/admin/users${next.toString() ? `?${next}` : ""}`);
}

async function loadList() {
  const state = document.getElementById("list-state");
  const rows = document.getElementById("user-rows");
  showState(state, "loading", "Loading users…");
  try {
    const page = await rpc("admin_users", { p_query: view.query, p_limit: PAGE, p_offset: view.offset });
    view.total = page.total;
    rows.replaceChildren(...page.users.map((user) => {
      const row = document.createElement("tr");
      const manage = document.createElement("td");
      manage.append(actionButton("Manage", () => openUser(user.id), "secondary", `Manage ${user.email}`));
      row.append(cell(user.email), cell(user.username || "–"), cell(formatDate(user.created_at)), badges(user), manage);
      return row;
    }));
    const first = page.total === 0 ? 0 : view.offset + 1;
    document.getElementById("page-info").textContent =
      `${formatNumber(first)}–${formatNumber(view.offset + page.users.length)} of ${formatNumber(page.total)}`;
    document.getElementById("previous-page").disabled = view.offset === 0;
    document.getElementById("next-page").disabled = view.offset + PAGE >= page.total;
    if (page.total === 0) {
      showState(state, "loading", view.query ? `No user's email or username contains “${view.query}”.` : "There are no users yet.");
    } else {
      showState(state, "none");
    }
  } catch (error) {
    rows.replaceChildren();
    showState(state, "error", `Users could not be listed: ${explain(error)}`, loadList);
  }
}

function facts(pairs) {
  const list = document.createElement("dl");
  list.className = "facts";
  for (const [term, value] of pairs) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.textContent = value;
    list.append(dt, dd);
  }
  return list;
}

function table(caption, headings, rows) {
  const wrap = document.createElement("div");
  wrap.className = "table-wrap";
  // Scrolled sideways on a phone: reachable and named for the keyboard and screen readers.
  wrap.tabIndex = 0;
  wrap.setAttribute("role", "region");
  wrap.setAttribute("aria-label", caption);
  const t = document.createElement("table");
  const cap = document.createElement("caption");
  cap.textContent = caption;
  const head = document.createElement("tr");
  for (const heading of headings) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = heading;
    head.append(th);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const body = document.createElement("tbody");
  body.append(...rows);
  t.append(cap, thead, body);
  wrap.append(t);
  return wrap;
}

/** Runs an admin action after its confirmation; tells what happened; reloads the user and the list. */
async function act(title, detail, label, run, done) {
  const state = document.getElementById("user-state");
  if (!(await confirmAndRun({ title, detail, label, run, done, state }))) return;
  await Promise.all([loadList(), view.user ? loadUser(view.user, false) : null]);
}

async function openUser(id) {
  view.user = id;
  remember();
  await loadUser(id, true);
}

async function loadUser(id, focus) {
  const panel = document.getElementById("user-panel");
  const state = document.getElementById("user-state");
  const detail = document.getElementById("user-detail");
  panel.hidden = false;
  detail.replaceChildren();
  showState(state, "loading", "Loading the user…");
  let user;
  try {
    user = await rpc("admin_user", { p_user_id: id });
  } catch (error) {
    showState(state, "error", `The user could not be read: ${explain(error)}`, () => loadUser(id, focus));
    return;
  }
  if (!user) {
    showState(state, "loading", "This user no longer exists.");
    view.user = null;
    remember();
    return;
  }
  showState(state, "none");
  const heading = document.getElementById("user-heading");
  heading.textContent = `User ${user.email}`;
  const me = signedInUser();
  const self = me && me.id === user.id;

  const actions = document.createElement("div");
  actions.className = "actions";
  const banRow = document.createElement("div");
  banRow.className = "row";
  const field = document.createElement("div");
  field.className = "field";
  const label = document.createElement("label");
  label.htmlFor = "ban-duration";
  label.textContent = "Ban for";
  const select = document.createElement("select");
  select.id = "ban-duration";
  for (const [text, seconds] of BAN_CHOICES) {
    const option = document.createElement("option");
    option.value = String(seconds);
    option.textContent = text;
    select.append(option);
  }
  field.append(label, select);
  banRow.append(field, actionButton("Ban", () => {
    const seconds = Number(select.value);
    const until = new Date(Date.now() + seconds * 1000).toISOString();
    const choice = select.options[select.selectedIndex].textContent;
    return act(`Ban ${user.email}?`, `They are signed out everywhere at once and cannot sign in for ${choice}.`, "Ban",
      () => rpc("admin_ban_user", { p_user_id: user.id, p_until: until }), () => `${user.email} is banned for ${choice}.`);
  }, "danger"));
  if (!self) actions.append(banRow);
  if (user.banned_until) {
    actions.append(actionButton("Lift the ban", () => act(`Lift ${user.email}'s ban?`, "They may sign in again at once.", "Lift the ban",
      () => rpc("admin_ban_user", { p_user_id: user.id, p_until: null }), () => `${user.email}'s ban is lifted.`), ""));
  }
  if (!self) {
    actions.append(user.is_admin
      ? actionButton("Remove admin role", () => act(`Remove ${user.email}'s admin role?`, "The database stops treating them as an admin at once.",
        "Remove admin role", () => rpc("admin_set_admin", { p_user_id: user.id, p_admin: false }), () => `${user.email} is no longer an admin.`))
      : actionButton("Make admin", () => act(`Make ${user.email} an admin?`, "They can then use this dashboard and every admin action.",
        "Make admin", () => rpc("admin_set_admin", { p_user_id: user.id, p_admin: true }), () => `${user.email} is now an admin.`), ""));
  }
  actions.append(actionButton("Sign out everywhere", () => act(`Sign ${user.email} out everywhere?`,
    "Every session ends at once; their tokens stop working on every request and realtime channel.", "Sign out everywhere",
    () => rpc("admin_sign_out_user", { p_user_id: user.id }), (n) => `${user.email}: ${n} session(s) ended.`)));
  if (!self) {
    actions.append(actionButton("Delete user", () => act(`Delete ${user.email}?`,
      "Their account, profile, posts, follows and likes are deleted. This cannot be undone.", "Delete user",
      () => rpc("admin_delete_user", { p_user_id: user.id }), () => { view.user = null; remember(); return `${user.email} was deleted.`; }), "danger"));
  }

  const postRows = user.posts.map((post) => {
    const row = document.createElement("tr");
    const remove = document.createElement("td");
    remove.append(actionButton("Remove", () => act("Remove this post?", `“${post.body.slice(0, 120)}” leaves every feed at once.`, "Remove post",
      () => rpc("admin_delete_post", { p_post_id: post.id }), () => "The post was removed."), "danger"));
    row.append(cell(formatDate(post.created_at)), cell(post.body), cell(post.visibility), cell(formatNumber(post.like_count)), remove);
    return row;
  });
  const sessionRows = user.sessions.map((s) => {
    const row = document.createElement("tr");
    row.append(cell(s.id), cell(formatDate(s.created_at)), cell(formatDate(s.updated_at)));
    return row;
  });
  const auditRows = user.audit.map((entry) => {
    const row = document.createElement("tr");
    row.append(cell(formatDate(entry.at)), cell(entry.action), cell(JSON.stringify(entry.detail)));
    return row;
  });
  const empty = (text) => { const p = document.createElement("p"); p.textContent = text; return p; };
  detail.replaceChildren(
    facts([
      ["Email", user.email], ["Username", user.username || "–"], ["Name", user.display_name || "–"], ["Id", user.id],
      ["Joined", formatDate(user.created_at)], ["Last sign-in", formatDate(user.last_sign_in_at)],
      ["Status", user.banned_until ? `banned until ${formatDate(user.banned_until)}` : "active"], ["Admin", user.is_admin ? "yes" : "no"],
      ["Posts", formatNumber(user.post_count)], ["Followers", formatNumber(user.followers)], ["Following", formatNumber(user.following)],
    ]),
    actions,
    sessionRows.length ? table("Sessions", ["Session", "Started", "Last refreshed"], sessionRows) : empty("No live sessions."),
    postRows.length ? table("Latest posts", ["Posted", "Text", "Visibility", "Likes", "Action"], postRows) : empty("No posts."),
    auditRows.length ? table("What admins did", ["When", "Action", "Detail"], auditRows) : empty("No admin action on this user yet."),
  );
  if (focus) heading.focus();
}

startPage(async () => {
  const form = document.getElementById("search-form");
  form.q.value = view.query;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    view.query = form.q.value.trim();
    view.offset = 0;
    remember();
    loadList();
  });
  document.getElementById("previous-page").addEventListener("click", () => { view.offset = Math.max(0, view.offset - PAGE); remember(); loadList(); });
  document.getElementById("next-page").addEventListener("click", () => { view.offset += PAGE; remember(); loadList(); });
  await Promise.all([loadList(), view.user ? loadUser(view.user, false) : null]);
});
