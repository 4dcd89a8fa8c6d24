// Moderation: the queue of reported posts (remove the post, or dismiss its reports), the newest posts,
// and why a post is in a user's home feed (its reasons, as the home fan-out decides them). Every
// action asks first and is an admin RPC that the database checks and logs.
import {
  actionButton as button, cell, confirmAndRun, explain, formatDate, formatNumber, rpc, showState, startPage,
} from "/admin/assets/admin.js";

const PAGE = 20;
const queue = { offset: 0 };
const recent = { before: null, rows: [] };
const REASONS = {
  following: "they follow the author",
  entity: "they follow a place or group the post targets",
  mention: "the post mentions them",
  self: "they wrote it",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const excerpt = (body) => (body.length > 140 ? `${body.slice(0, 140)}…` : body);

async function act(title, detail, label, run, done, box) {
  const state = document.getElementById(box);
  if (!(await confirmAndRun({ title, detail, label, run, done, state, nothing: "the post was already gone" }))) return;
  await Promise.all([loadQueue(), loadRecent(true)]);
}

async function loadQueue() {
  const state = document.getElementById("queue-state");
  const rows = document.getElementById("queue-rows");
  showState(state, "loading", "Loading the reported posts…");
  try {
    const page = await rpc("admin_report_queue", { p_limit: PAGE, p_offset: queue.offset });
    rows.replaceChildren(...page.posts.map((post) => {
      const row = document.createElement("tr");
      const reasons = Object.entries(post.reasons || {})
        .sort(([a, m], [b, n]) => n - m || a.localeCompare(b))
        .map(([reason, n]) => `${reason} ×${n}`).join(", ");
      const notes = (post.notes || []).map((note) => `“${note}”`).join(" ");
      const actions = document.createElement("td");
      actions.append(
        button("Remove post", () => act("Remove this post?", `“${excerpt(post.body)}” leaves every feed at once; its reports are closed.`, "Remove post",
          () => rpc("admin_resolve_reports", { p_post_id: post.id, p_resolution: "removed" }), (n) => `The post was removed; ${n} report(s) closed.`, "queue-state"),
        "danger", `Remove post: ${excerpt(post.body)}`),
        " ",
        button("Dismiss", () => act("Dismiss these reports?", "The post stays; its open reports are closed as dismissed.", "Dismiss reports",
          () => rpc("admin_resolve_reports", { p_post_id: post.id, p_resolution: "dismissed" }), (n) => `${n} report(s) dismissed.`, "queue-state"),
        "secondary", `Dismiss reports of: ${excerpt(post.body)}`));
      row.append(cell(excerpt(post.body)), cell(post.author_username || post.author_email || post.author_id),
        cell(`${formatNumber(post.open_reports)}: ${reasons}${notes ? ` — ${notes}` : ""}`), cell(formatDate(post.latest_report_at)), actions);
      return row;
    }));
    document.getElementById("queue-info").textContent = page.total
      ? `${formatNumber(queue.offset + 1)}–${formatNumber(queue.offset + page.posts.length)} of ${formatNumber(page.total)}` : "";
    document.getElementById("queue-previous").disabled = queue.offset === 0;
    document.getElementById("queue-next").disabled = queue.offset + PAGE >= page.total;
    if (page.total === 0) showState(state, "loading", "No open reports: nothing waits for a decision.");
    else showState(state, "none");
  } catch (error) {
    rows.replaceChildren();
    showState(state, "error", `The reported posts could not be read: ${explain(error)}`, loadQueue);
  }
}

async function loadRecent(fromStart = false) {
  const state = document.getElementById("recent-state");
  if (fromStart) { recent.before = null; recent.rows = []; }
  showState(state, "loading", "Loading posts…");
  try {
    const posts = await rpc("admin_recent_posts", { p_limit: PAGE, p_before: recent.before });
    recent.rows = recent.rows.concat(posts);
    if (posts.length) recent.before = posts[posts.length - 1].created_at;
    document.getElementById("recent-rows").replaceChildren(...recent.rows.map((post) => {
      const row = document.createElement("tr");
      const actions = document.createElement("td");
      actions.append(button("Remove", () => act("Remove this post?", `“${excerpt(post.body)}” leaves every feed at once.`, "Remove post",
        () => rpc("admin_delete_post", { p_post_id: post.id }), () => "The post was removed.", "recent-state"), "danger", `Remove: ${excerpt(post.body)}`));
      row.append(cell(formatDate(post.created_at)), cell(excerpt(post.body)), cell(post.author_username || post.author_email || post.author_id),
        cell(formatNumber(post.open_reports)), actions);
      return row;
    }));
    document.getElementById("recent-more").disabled = posts.length < PAGE;
    if (recent.rows.length === 0) showState(state, "loading", "There are no posts yet.");
    else showState(state, "none");
  } catch (error) {
    showState(state, "error", `Posts could not be read: ${explain(error)}`, () => loadRecent(fromStart));
  }
}

async function explainReasons(event) {
  event.preventDefault();
  const form = event.target;
  const state = document.getElementById("reasons-state");
  const post = form.post.value.trim();
  let user = form.user.value.trim();
  if (!UUID.test(post)) { showState(state, "error", "The post id is a UUID (as the newest posts and feeds show it)."); form.post.focus(); return; }
  showState(state, "loading", "Asking the feed…");
  try {
    let label = user;
    if (!UUID.test(user)) {
      const found = await rpc("admin_users", { p_query: user, p_limit: 2, p_offset: 0 });
      const exact = found.users.find((u) => u.email.toLowerCase() === user.toLowerCase()) || (found.total === 1 ? found.users[0] : null);
      if (!exact) { showState(state, "error", `No single user matches “${user}”: give their email or id.`); form.user.focus(); return; }
      user = exact.id;
      label = exact.email;
    }
    const answer = await rpc("admin_post_reasons", { p_post_id: post, p_viewer: user });
    if (!answer.post_exists) showState(state, "loading", "There is no such post (it may have been removed).");
    else if (!answer.viewer_exists) showState(state, "loading", "There is no such user.");
    else if (!answer.in_home) showState(state, "loading", `The post is not in ${label}'s home feed: they follow neither its author nor what it targets, it does not mention them, or they may not see it.`);
    else showState(state, "loading", `In ${label}'s home feed because ${answer.reasons.map((r) => REASONS[r] || r).join(", and ")}.`);
  } catch (error) {
    showState(state, "error", `The feed could not be asked: ${explain(error)}`);
  }
}

startPage(async () => {
  document.getElementById("queue-previous").addEventListener("click", () => { queue.offset = Math.max(0, queue.offset - PAGE); loadQueue(); });
  document.getElementById("queue-next").addEventListener("click", () => { queue.offset += PAGE; loadQueue(); });
  document.getElementById("recent-more").addEventListener("click", () => loadRecent(false));
  document.getElementById("reasons-form").addEventListener("submit", explainReasons);
  await Promise.all([loadQueue(), loadRecent(true)]);
});
