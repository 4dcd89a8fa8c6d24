// Feeds: a post as the app draws it (author, body, why it is here, likes), a list that pages on the
// keyset cursor as the reader scrolls, and the composer.
import { currentUser, rpc, select } from "/app/assets/api.js";
import { track } from "/app/assets/telemetry.js";
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

export const distanceText = (meters) => (meters < 1000 ? `${Math.round(meters)} m away` : `${(meters / 1000).toFixed(1)} km away`);

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
  const targets = (post.targets || []).filter((t) => t.name);
  return h("article", { class: "card post", "aria-labelledby": titleId, "data-post-id": post.id },
    h("header", {},
      h("a", { class: "author", id: titleId, href: `/u/${post.author ? post.author.username : ""}` }, name),
      h("span", { class: "meta" }, `@${post.author ? post.author.username : "?"}`),
      h("time", { class: "meta", datetime: post.created_at }, ago(post.created_at)),
      post.visibility !== "public" ? h("span", { class: "meta" }, post.visibility === "followers" ? "followers only" : "private") : null),
    h("p", { class: "body" }, post.body),
    targets.length ? h("p", { class: "targets" }, ...targets.map((t) => h("a", {
      href: t.kind === "entity" ? `/e/${t.id}` : `/u/${t.name}`,
    }, t.kind === "entity" ? t.name : `@${t.name}`))) : null,
    post.distance_m != null ? h("p", { class: "meta" }, distanceText(post.distance_m)) : null,
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
    track(liked ? "post.unlike" : "post.like");
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
  // New posts heard live wait behind a bar (as the big apps do: the list does not jump under the reader).
  const pending = [];
  const bar = h("button", { type: "button", class: "new-posts", hidden: true });
  const announce = h("div", { role: "status", class: "visually-hidden" });
  const root = h("section", { "aria-label": label }, announce, bar, list, status, more);
  const has = (id) => pending.some((p) => p.id === id) || [...list.children].some((card) => card.dataset.postId === id);
  bar.addEventListener("click", () => {
    const shown = pending.splice(0).map(postCard);
    list.prepend(...shown);
    bar.hidden = true;
    if (status.dataset.empty) { status.replaceChildren(); status.dataset.empty = ""; }
    if (shown[0]) { shown[0].setAttribute("tabindex", "-1"); shown[0].focus(); }
  });
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
    const first = cursor === null;
    try {
      const rows = (await fetch(PAGE, cursor)) || [];
      list.append(...rows.map(postCard));
      cursor = rows.length ? rows[rows.length - 1].cursor : cursor;
      done = rows.length < PAGE;
      status.replaceChildren(!list.children.length ? stateBox("empty", empty) : done ? stateBox("empty", "You have reached the end.") : "");
      status.dataset.empty = list.children.length ? "" : "yes";
      more.hidden = done;
      root.dispatchEvent(new CustomEvent("feed-page", { detail: { ms: performance.now() - started, rows: rows.length, first } }));
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
      if (has(post.id)) return;
      list.prepend(postCard(post));
      if (status.dataset.empty) { status.replaceChildren(); status.dataset.empty = ""; }
    },
    /** A post heard live: counted on the bar until the reader asks to see it. */
    arrived(post) {
      if (!post || !post.id || has(post.id)) return;
      pending.unshift(post);
      const text = pending.length === 1 ? "1 new post" : `${pending.length} new posts`;
      bar.textContent = `Show ${text}`;
      bar.hidden = false;
      announce.textContent = text;
    },
  };
}

/**
 * Tags for a post: places and groups (entities) and people (mentions), found as one types; chosen
 * ones are shown as removable buttons.
 */
function tagPicker() {
  const chosen = new Map();  // key → {kind, id, name}
  const input = h("input", { id: "compose-tag", type: "search", autocomplete: "off", "aria-describedby": "compose-tag-hint" });
  const found = h("ul", { class: "people", "aria-label": "Matches" });
  const tags = h("div", { class: "row", "aria-label": "Tagged", role: "group" });
  let timer;
  const drawTags = () => tags.replaceChildren(...[...chosen.values()].map((tag) => h("button", {
    type: "button", class: "secondary", "aria-label": `Remove ${tag.label}`,
    onclick: () => { chosen.delete(tag.key); drawTags(); input.focus(); },
  }, `${tag.label} ×`)));
  async function search() {
    const text = input.value.trim();
    if (text.length < 2) { found.replaceChildren(); return; }
    try {
      const pattern = encodeURIComponent(`*${text.replace(/[*%,()]/g, "")}*`);
      const [places, people] = await Promise.all([
        select("entities", `select=id,name,kind&name=ilike.${pattern}&order=name&limit=5`),
        rpc("search_profiles", { p_query: text, p_limit: 5 }),
      ]);
      const options = [
        ...places.map((e) => ({ key: `e:${e.id}`, kind: "entity", id: e.id, label: e.name, detail: e.kind })),
        ...(people || []).map((p) => ({ key: `p:${p.id}`, kind: "profile", id: p.id, label: `@${p.username}`, detail: "person" })),
      ];
      found.replaceChildren(...options.map((option) => h("li", {}, h("button", {
        type: "button", class: "secondary", onclick: () => {
          chosen.set(option.key, option);
          drawTags();
          input.value = "";
          found.replaceChildren();
          input.focus();
        },
      }, `Tag ${option.label}`), h("span", { class: "hint" }, ` ${option.detail}`))));
      if (!options.length) found.replaceChildren(h("li", { class: "hint" }, "Nothing matches."));
    } catch (error) {
      found.replaceChildren(h("li", { class: "field-error" }, explain(error)));
    }
  }
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 250); });
  return {
    elements: [h("label", { for: "compose-tag" }, "Tag places or people"), input,
      h("p", { class: "hint", id: "compose-tag-hint" }, "Type two letters or more, then choose."), found, tags],
    ids(kind) { return [...chosen.values()].filter((t) => t.kind === kind).map((t) => t.id); },
    clear() { chosen.clear(); drawTags(); },
  };
}

function currentPosition() {
  return new Promise((resolve, reject) => {
    if (!navigator.geolocation) { reject(new Error("This browser cannot tell where you are.")); return; }
    navigator.geolocation.getCurrentPosition(
      (position) => resolve({ lat: position.coords.latitude, lng: position.coords.longitude }),
      () => reject(new Error("Your location is not available (not allowed, or not known).")),
      { timeout: 10_000 });
  });
}

/** The composer: body with a live count, visibility, tags, location; the server's refusals shown in place. */
export function composer(onPosted) {
  const body = h("textarea", { id: "compose-body", name: "body", maxlength: String(MAX_BODY), "aria-describedby": "compose-count compose-error", required: true });
  const count = h("span", { id: "compose-count", class: "counter" }, `0 / ${MAX_BODY}`);
  const visibility = h("select", { id: "compose-visibility", name: "visibility" },
    h("option", { value: "public" }, "Everyone"),
    h("option", { value: "followers" }, "Followers"),
    h("option", { value: "private" }, "Only me"));
  const picker = tagPicker();
  const where = h("input", { type: "checkbox", id: "compose-location" });
  const error = h("p", { id: "compose-error", class: "field-error", role: "alert" });
  const submit = h("button", { type: "submit" }, "Post");
  const more = h("details", {}, h("summary", {}, "Tags and location"), ...picker.elements,
    h("p", { class: "row" }, where, h("label", { for: "compose-location", class: "inline" }, "Add my location")));
  const form = h("form", { class: "card composer", "aria-label": "New post", novalidate: true },
    h("label", { for: "compose-body" }, "What's new?"), body, more,
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
      const place = where.checked ? await currentPosition() : null;
      const post = await rpc("create_post", {
        p_body: body.value, p_visibility: visibility.value,
        p_target_entity_ids: picker.ids("entity"), p_target_profile_ids: picker.ids("profile"),
        p_lat: place ? place.lat : null, p_lng: place ? place.lng : null,
      });
      body.value = "";
      body.dispatchEvent(new Event("input"));
      picker.clear();
      where.checked = false;
      onPosted(post);
      track("post.create", { visibility: visibility.value, tags: String(post.targets ? post.targets.length : 0), located: String(Boolean(place)) });
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
