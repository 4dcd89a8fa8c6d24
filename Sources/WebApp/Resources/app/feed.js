// Feeds: a post as the app draws it (author, body, why it is here, likes), a list that pages on the
// keyset cursor as the reader scrolls, and the composer.
import { currentUser, rpc } from "/app/assets/api.js";
import { ago, explain, h, stateBox, toast } from "/app/assets/ui.js";

const PAGE = 20;
export const MAX_BODY = 2000;

/** Why a post is in the home feed, in words. */
export function reasonText(post) {
  const author = post.author && (post.author.display_name || post.author.username);
  const places = (post.targets || []).filter((t) => t.kind === "entity").map((t) => t.name).filter(Boolean);
  return (post.reasons || []).map((reason) => {
    switch (reason) {
      case "self": return "Your post";
      case "following": return `You follow ${author}`;
      case "entity": return places.length ? `Posted in ${places.join(", ")}` : "Posted in a place you follow";
      case "mention": return "Mentions you";
      default: return null;
    }
  }).filter(Boolean).join(" · ");
}

/** One post. The like button shows the viewer's own like (aria-pressed) and the count. */
export function postCard(post) {
  const name = post.author ? (post.author.display_name || post.author.username) : "someone";
  const titleId = `post-${post.id}`;
  const count = h("span", { class: "like-count" }, String(post.like_count ?? 0));
  const like = h("button", {
    type: "button", class: "secondary like", "aria-pressed": post.liked_by_viewer ? "true" : "false",
    "aria-label": `Like post by ${name}`,
  }, "♥ ", count);
  like.addEventListener("click", () => toggleLike(post, like, count));
  if (!currentUser()) like.disabled = true;
  const reasons = reasonText(post);
  return h("article", { class: "card post", "aria-labelledby": titleId, "data-post-id": post.id },
    h("header", {},
      h("a", { class: "author", id: titleId, href: `/u/${post.author ? post.author.username : ""}` }, name),
      h("span", { class: "meta" }, `@${post.author ? post.author.username : "?"}`),
      h("time", { class: "meta", datetime: post.created_at }, ago(post.created_at)),
      post.visibility !== "public" ? h("span", { class: "meta" }, post.visibility === "followers" ? "followers only" : "private") : null),
    h("p", { class: "body" }, post.body),
    reasons ? h("p", { class: "reasons" }, reasons) : null,
    h("div", { class: "actions" }, like));
}

async function toggleLike(post, button, count) {
  const liked = button.getAttribute("aria-pressed") === "true";
  const before = Number(count.textContent);
  // Drawn at once; put back if the server refuses.
  button.setAttribute("aria-pressed", String(!liked));
  count.textContent = String(Math.max(0, before + (liked ? -1 : 1)));
  button.disabled = true;
  try {
    await rpc(liked ? "unlike_post" : "like_post", { p_post_id: post.id });
    post.liked_by_viewer = !liked;
  } catch (error) {
    button.setAttribute("aria-pressed", String(liked));
    count.textContent = String(before);
    toast(`Not ${liked ? "unliked" : "liked"}: ${explain(error)}`);
  } finally {
    button.disabled = false;
  }
}

/**
 * A feed that pages as the reader reaches its end (and by a button, for keyboards and screen
 * readers): `fetch(limit, cursor)` answers a page of feed rows. Returns the list's element and a
 * way to put a new post on top.
 */
export function feedList(fetch, { label, empty }) {
  const list = h("div", { class: "feed", role: "feed", "aria-label": label, "aria-busy": "true" });
  const status = h("div", {});
  const more = h("button", { type: "button", class: "secondary more", hidden: true }, "Load more");
  const root = h("section", { "aria-label": label }, list, status, more);
  let cursor = null;
  let done = false;
  let loading = false;

  async function next() {
    if (loading || done) return;
    loading = true;
    list.setAttribute("aria-busy", "true");
    more.hidden = true;
    status.replaceChildren(stateBox("loading", cursor ? "Loading more…" : "Loading the feed…"));
    const started = performance.now();
    try {
      const rows = (await fetch(PAGE, cursor)) || [];
      list.append(...rows.map(postCard));
      cursor = rows.length ? rows[rows.length - 1].cursor : cursor;
      done = rows.length < PAGE;
      status.replaceChildren(!list.children.length ? stateBox("empty", empty) : done ? stateBox("empty", "You have reached the end.") : "");
      more.hidden = done;
      root.dispatchEvent(new CustomEvent("feed-page", { detail: { ms: performance.now() - started, rows: rows.length, first: !cursor } }));
    } catch (error) {
      status.replaceChildren(stateBox("error", `The feed could not be loaded: ${explain(error)}`, () => next(), error));
    } finally {
      loading = false;
      list.setAttribute("aria-busy", "false");
    }
  }

  more.addEventListener("click", next);
  // The next page is asked for a screen ahead of the end, so that it is there when the reader is
  // (and again after a page that left the end in view).
  let nearEnd = false;
  new IntersectionObserver((entries) => {
    nearEnd = entries.some((e) => e.isIntersecting);
    if (nearEnd) next();
  }, { rootMargin: "800px 0px" }).observe(status);
  root.addEventListener("feed-page", () => { if (nearEnd && !done) setTimeout(next, 0); });
  next();
  return {
    element: root,
    prepend(post) {
      list.prepend(postCard(post));
      if (status.textContent.startsWith("Nothing")) status.replaceChildren();
    },
  };
}

/** The composer: body with a live count, visibility; the server's refusals shown in place. */
export function composer(onPosted) {
  const body = h("textarea", { id: "compose-body", name: "body", maxlength: String(MAX_BODY), "aria-describedby": "compose-count compose-error", required: true });
  const count = h("span", { id: "compose-count", class: "counter" }, `0 / ${MAX_BODY}`);
  const visibility = h("select", { id: "compose-visibility", name: "visibility" },
    h("option", { value: "public" }, "Everyone"),
    h("option", { value: "followers" }, "Followers"),
    h("option", { value: "private" }, "Only me"));
  const error = h("p", { id: "compose-error", class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Post");
  const form = h("form", { class: "card composer", "aria-label": "New post", novalidate: true },
    h("label", { for: "compose-body" }, "What's new?"), body,
    h("div", { class: "row" },
      h("label", { for: "compose-visibility", class: "visually-hidden" }, "Who can see it"),
      h("span", { class: "hint", "aria-hidden": "true" }, "Visible to"), visibility, count, submit),
    error);
  body.addEventListener("input", () => {
    const n = [...body.value].length;
    count.textContent = `${n} / ${MAX_BODY}`;
    count.classList.toggle("over", n > MAX_BODY);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!body.value.trim()) { error.textContent = "Write something first: a post cannot be empty."; body.focus(); return; }
    submit.disabled = true;
    try {
      const post = await rpc("create_post", { p_body: body.value, p_visibility: visibility.value });
      body.value = "";
      body.dispatchEvent(new Event("input"));
      onPosted(post);
      toast("Posted.");
    } catch (failure) {
      error.textContent = explain(failure);
      body.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
