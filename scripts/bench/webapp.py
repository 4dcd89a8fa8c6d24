"""The app benchmark's driver (run by scripts/bench-webapp): in Chromium, as a seeded user with a
typical following (the seed's median user). One line per figure, p50 and max of ROUNDS."""
import gzip
import json
import os
import statistics
import time
import urllib.request

from playwright.sync_api import sync_playwright

BASE = os.environ["BASE"]
KEYS = json.loads(os.environ["KEYS"])
ROUNDS = int(os.environ.get("ROUNDS", "5"))
SEED = json.load(open(os.path.join(os.environ["DATA_DIR"], "seed-users.json")))
PASSWORD = SEED["password"]


def call(method, path, body=None, token=None):
    request = urllib.request.Request(BASE + path, method=method, data=None if body is None else json.dumps(body).encode(), headers={
        "apikey": KEYS["anon_key"], "Authorization": f"Bearer {token or KEYS['anon_key']}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


def token(email):
    return call("POST", "/auth/v1/token?grant_type=password", {"email": email, "password": PASSWORD})["access_token"]


def sign_in(page, email):
    page.goto(BASE + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("article")


def line(name, values, target, unit="ms"):
    p50, worst = statistics.median(values), max(values)
    print(f"{name:<48} p50 {p50:>7.1f} {unit}  max {worst:>7.1f} {unit}   target < {target} {unit}: "
          f"{'met' if worst < target else 'NOT met'}")


def weight():
    """Every file the home page loads, gzipped as the server sends it."""
    names = ["index.html"] + [n for n in ["app.css", "http.js", "api.js", "ui.js", "feed.js", "realtime.js", "telemetry.js", "app.js"]]
    total = 0
    for name in names:
        path = "/" if name == "index.html" else f"/app/assets/{name}"
        request = urllib.request.Request(BASE + path, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as response:
            total += len(response.read())
    return total


with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
    reader = SEED["median_user"]
    reader_token = token(reader["email"])
    followed = call("GET", f"/rest/v1/follows?select=followed:profiles!follows_followed_profile_id_fkey(username)"
                    f"&follower_id=eq.{reader['id']}&followed_profile_id=not.is.null&status=eq.accepted&limit=1", token=reader_token)
    author_email = followed[0]["followed"]["username"] + "@seed.feedfusion.test"
    print(f"reader {reader['username']} (follows {reader['follows']}); author {followed[0]['followed']['username']}")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in(page, reader["email"])
    author_context = browser.new_context(viewport={"width": 1280, "height": 900})
    author = author_context.new_page()
    sign_in(author, author_email)
    paints, shown, next_waits, next_fetch, live = [], [], [], [], []
    for _ in range(ROUNDS):
        page.goto(BASE + "/")
        page.wait_for_selector("article")
        timing = page.evaluate("""() => ({
            fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime,
            now: performance.now() })""")
        paints.append(timing["fcp"])
        shown.append(timing["now"])
        # The next page: the reader jumps to the end of the first; how long until more posts are there.
        page.wait_for_function("document.querySelectorAll('article').length >= 20")
        waited = page.evaluate("""() => new Promise(resolve => {
            const before = document.querySelectorAll('article').length;
            const feed = document.querySelector('section[aria-label="Home feed"]');
            let fetchMs = null;
            feed.addEventListener('feed-page', e => { fetchMs = e.detail.ms; }, { once: true });
            const start = performance.now();
            window.scrollTo(0, document.body.scrollHeight);
            const check = () => document.querySelectorAll('article').length > before
                ? resolve({ wait: performance.now() - start, fetch: fetchMs }) : requestAnimationFrame(check);
            check();
        })""")
        next_waits.append(waited["wait"])
        if waited["fetch"] is not None:
            next_fetch.append(waited["fetch"])
        # Live: the author clicks Post in their own browser; how long until the reader's open page shows it.
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_function("document.querySelector('section[aria-label=\"Home feed\"]').dataset.live === 'live'")
        author.get_by_label("What's new?").fill(f"bench live {time.time()}")
        button = author.get_by_role("button", name="Post", exact=True)
        started = time.time()
        button.click()
        page.wait_for_selector("button.new-posts:not([hidden])", timeout=10_000)
        live.append((time.time() - started) * 1000)
        page.get_by_role("button", name="Show 1 new post").click()
    line("home: first contentful paint", paints, 300)
    line("home: first posts on screen", shown, 500)
    line("next page: wait after reaching the end", next_waits, 100)
    if next_fetch:
        line("next page: its request and drawing", next_fetch, 100)
    line("author's click to the post on a follower's page", live, 500)
    kilobytes = weight() / 1000
    print(f"{'page weight (HTML, CSS, JS; gzipped)':<48} {kilobytes:.1f} kB   target < 100 kB: {'met' if kilobytes < 100 else 'NOT met'}")
    author_context.close()
    context.close()
    browser.close()
