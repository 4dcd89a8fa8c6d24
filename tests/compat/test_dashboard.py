"""The admin dashboard (/admin) in a real browser: Debian's Chromium driven by Playwright, axe-core
for accessibility. Sign-in as admin and as a non-admin, each module's main flow and error state,
keyboard-only ban, no horizontal scroll at 360 px, zero serious or critical axe violations; every
page is photographed at phone and desktop widths into .feedfusion/screenshots (or
$FEEDFUSION_SCREENSHOTS)."""
import os
import re
import signal
import time
import uuid

from playwright.sync_api import expect

from browsing import PASSWORD, browser, call, check, make_user, page, token_of  # noqa: F401 (fixtures)
from conftest import server_keys, start_server, stop_server


def sign_in(page, server, email, then="/admin/"):
    page.goto(server["url"] + then)
    expect(page).to_have_url(re.compile(r"/admin/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_non_admin_is_refused_by_the_page_and_by_the_database(server, page):
    email, _ = make_user(server)
    page.goto(server["url"] + "/admin/sign-in")
    check(page, "sign-in")
    sign_in(page, server, email)
    expect(page.get_by_role("alert")).to_contain_text("not an admin")
    # Not a matter of hiding: the admin RPCs refuse the user's own token.
    status, body = call(server, "POST", "/rest/v1/rpc/admin_users", {"p_query": "", "p_limit": 5, "p_offset": 0}, token=token_of(server, email))
    assert status == 403 and body["code"] == "42501"
    # Without a session the pages send to the sign-in form; the session endpoints refuse cross-site requests.
    page.goto(server["url"] + "/admin/users")
    expect(page).to_have_url(re.compile(r"/admin/sign-in\?next=%2Fadmin%2Fusers"))
    status, body = call(server, "POST", "/admin/session", {"email": email, "password": PASSWORD})
    assert status == 403 and body["code"] == "csrf"


def test_the_overview_shows_the_servers_figures_and_the_last_30_days(server, page):
    email, _ = make_user(server, admin=True)
    sign_in(page, server, email)
    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    status, stats = call(server, "POST", "/rest/v1/rpc/admin_stats", {}, token=token_of(server, email))
    assert status == 200
    expect(page.locator("#totals .figure").first).to_have_text(f"{stats['users']:,}")
    expect(page.locator("#activity-chart polyline")).to_have_count(3)
    # The live figures: rates appear from the second reading, 5 s after the first.
    expect(page.locator("#fig-rps")).not_to_have_text("–", timeout=15_000)
    expect(page.locator("#live-chart .target-line")).to_have_count(1)
    expect(page.get_by_text(re.compile(r"Signed in as admin-"))).to_be_visible()
    check(page, "overview")
    # The session is a cookie scripts cannot read, and nothing is kept in localStorage.
    assert page.evaluate("document.cookie") == ""
    assert page.evaluate("localStorage.length") == 0
    cookie = next(c for c in page.context.cookies() if c["name"] == "feedfusion_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin/session"


def tab_to(page, name, limit=60):
    """Presses Tab until the focused element's accessible text is `name` (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "(() => { const e = document.activeElement; return e ? (e.getAttribute('aria-label') || e.labels?.[0]?.textContent || e.textContent || '').trim() : ''; })()")
        if focused == name:
            return
    raise AssertionError(f"Tab never reached {name!r}")


def test_keyboard_only_ban_ends_the_users_access_at_once(server, page):
    admin, _ = make_user(server, admin=True)
    victim, victim_id = make_user(server)
    victim_token = token_of(server, victim)
    assert call(server, "POST", "/rest/v1/rpc/feed_fusion_home", {"p_limit": 5}, token=victim_token)[0] == 200
    sign_in(page, server, admin, then="/admin/users")
    expect(page).to_have_url(re.compile(r"/admin/users"))
    expect(page.locator("#user-rows tr").first).to_be_visible()
    check(page, "users")

    tab_to(page, "Search by email or username")
    page.keyboard.type(victim)
    page.keyboard.press("Enter")
    expect(page.locator("#user-rows tr")).to_have_count(1)
    tab_to(page, f"Manage {victim}")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=f"User {victim}")).to_be_focused()
    tab_to(page, "Ban for")
    page.keyboard.press("ArrowDown")  # 1 day
    tab_to(page, "Ban")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Ban {victim}?")
    expect(page.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Ban")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#toast")).to_contain_text(f"{victim} is banned for 1 day")
    expect(page.locator("#user-detail")).to_contain_text("banned until")
    check(page, "user-detail")

    # The banned user's very next request is refused, and they cannot sign in again.
    status, body = call(server, "POST", "/rest/v1/rpc/feed_fusion_home", {"p_limit": 5}, token=victim_token)
    assert status == 401, body
    assert call(server, "POST", "/auth/v1/token?grant_type=password", {"email": victim, "password": PASSWORD})[0] == 400
    # The audit log names it.
    status, log = call(server, "POST", "/rest/v1/rpc/admin_audit_log", {"p_limit": 20, "p_before": None}, token=token_of(server, admin))
    assert any(entry["action"] == "ban" and entry["target"] == victim_id and entry["admin_email"] == admin for entry in log)


def test_removing_a_post_takes_it_out_of_the_followers_feed(server, page):
    admin, _ = make_user(server, admin=True)
    author, author_id = make_user(server)
    follower, _ = make_user(server)
    author_token, follower_token = token_of(server, author), token_of(server, follower)
    assert call(server, "POST", "/rest/v1/rpc/follow_profile", {"p_profile_id": author_id}, token=follower_token)[0] in (200, 204)
    status, post = call(server, "POST", "/rest/v1/rpc/create_post", {"p_body": "a post to moderate"}, token=author_token)
    assert status == 200

    def home_ids():
        return [row["id"] for row in call(server, "POST", "/rest/v1/rpc/feed_fusion_home", {"p_limit": 20}, token=follower_token)[1]]

    assert post["id"] in home_ids()
    sign_in(page, server, admin, then=f"/admin/users?user={author_id}")
    expect(page.get_by_role("heading", name=f"User {author}")).to_be_visible()
    page.get_by_role("row", name=re.compile("a post to moderate")).get_by_role("button", name="Remove").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove post").click()
    expect(page.locator("#toast")).to_contain_text("The post was removed.")
    expect(page.locator("#user-detail")).to_contain_text("No posts.")
    deadline = time.time() + 5
    while post["id"] in home_ids() and time.time() < deadline:
        time.sleep(0.1)
    assert post["id"] not in home_ids()


def test_with_the_database_stopped_every_module_says_so_and_offers_a_retry(browser):
    """Its own server, on a database another process hosts, so that the database can stop under it."""
    host = server_keys(*start_server())
    cluster = os.path.join(host["env"]["DATA_DIR"], "postgres")
    own = None
    try:
        with open(os.path.join(host["env"]["DATA_DIR"], "jwt-secret")) as secret:
            own = server_keys(*start_server(
                DATABASE_URL=host["database_url"], JWT_SECRET=secret.read().strip(), DB_POOL_ACQUISITION_TIMEOUT_MS="1000"))
        email, _ = make_user(own, admin=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        sign_in(page, own, email, then="/admin/users")
        expect(page.locator("#user-rows tr").first).to_be_visible()

        # The database stops (fast shutdown of the host's cluster).
        with open(os.path.join(cluster, "data", "postmaster.pid")) as pidfile:
            os.kill(int(pidfile.readline()), signal.SIGINT)
        time.sleep(2)
        page.get_by_label("Search by email or username").fill("anyone")
        page.keyboard.press("Enter")
        alert = page.locator("#list-state[role=alert]")
        expect(alert).to_contain_text("database", timeout=15_000)
        expect(alert.get_by_role("button", name="Retry")).to_be_visible()
        check(page, "users-database-stopped")
        # Every page opened now: its session cannot be refreshed either; each says why, with a
        # retry, instead of going blank.
        for path in ["", "users", "moderation", "telemetry", "errors", "readiness", "limits"]:
            page.goto(own["url"] + "/admin/" + path)
            alert = page.locator("#page-state[role=alert]")
            expect(alert).to_contain_text("database", timeout=15_000)
            expect(alert.get_by_role("button", name="Retry")).to_be_visible()
        page.goto(own["url"] + "/admin/")
        expect(page.locator("#page-state[role=alert]")).to_contain_text("database", timeout=15_000)
        check(page, "overview-database-stopped")
        context.close()
    finally:
        if own:
            stop_server(own["process"])
        stop_server(host["process"])


def test_reports_reach_the_moderation_queue_and_feeds_explain_themselves(server, page):
    import subprocess
    admin, _ = make_user(server, admin=True)
    author, author_id = make_user(server)
    follower, _ = make_user(server)
    reporter, _ = make_user(server)
    other_reporter, _ = make_user(server)
    tokens = {who: token_of(server, who) for who in (author, follower, reporter, other_reporter)}
    call(server, "POST", "/rest/v1/rpc/follow_profile", {"p_profile_id": author_id}, token=tokens[follower])
    body = f"reported post {uuid.uuid4().hex[:6]}"
    post = call(server, "POST", "/rest/v1/rpc/create_post", {"p_body": body}, token=tokens[author])[1]
    private = call(server, "POST", "/rest/v1/rpc/create_post", {"p_body": "only mine", "p_visibility": "private"}, token=tokens[author])[1]

    # Reporting: by RPC and by a table insert, under the same rules.
    status, report = call(server, "POST", "/rest/v1/rpc/report_post", {"p_post_id": post["id"], "p_reason": "spam", "p_note": "buy now"},
                          token=tokens[reporter])
    assert status == 200 and report["reason"] == "spam"
    status, _ = call(server, "POST", "/rest/v1/post_reports", {"post_id": post["id"], "reason": "abuse"}, token=tokens[other_reporter])
    assert status == 201
    # A post the reporter cannot see cannot be reported, on either path; nor in another's name.
    assert call(server, "POST", "/rest/v1/rpc/report_post", {"p_post_id": private["id"], "p_reason": "spam", "p_note": None},
                token=tokens[reporter])[0] == 400
    assert call(server, "POST", "/rest/v1/post_reports", {"post_id": private["id"], "reason": "spam"}, token=tokens[reporter])[0] == 403
    assert call(server, "POST", "/rest/v1/post_reports", {"post_id": post["id"], "reason": "spam", "reporter_id": author_id},
                token=tokens[follower])[0] in (401, 403)
    # The hourly cap holds on both paths.
    def psql(sql):
        subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-XAtq", "-v", "ON_ERROR_STOP=1", server["database_url"], "-c", sql], check=True)
    psql("UPDATE internal.settings SET value = '1' WHERE name = 'reports_per_hour'")
    try:
        assert call(server, "POST", "/rest/v1/rpc/report_post", {"p_post_id": post["id"], "p_reason": "other", "p_note": None},
                    token=tokens[follower])[0] == 200
        assert call(server, "POST", "/rest/v1/rpc/report_post", {"p_post_id": post["id"], "p_reason": "other", "p_note": None},
                    token=tokens[follower])[0] == 429
        assert call(server, "POST", "/rest/v1/post_reports", {"post_id": post["id"], "reason": "other"}, token=tokens[follower])[0] == 429
    finally:
        psql("UPDATE internal.settings SET value = '20' WHERE name = 'reports_per_hour'")

    sign_in(page, server, admin, then="/admin/moderation")
    expect(page).to_have_url(re.compile(r"/admin/moderation"))
    row = page.locator("#queue-rows").get_by_role("row", name=re.compile(body))
    # Three open reports: the two above and the follower's, the one the cap let through.
    expect(row).to_contain_text("3: abuse ×1, other ×1, spam ×1")
    expect(row).to_contain_text("buy now")

    # Why it is in the follower's home, and why not in the reporter's.
    page.get_by_label("Post id").fill(post["id"])
    page.get_by_label("User (email or id)").fill(follower)
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#reasons-state")).to_contain_text("because they follow the author")
    page.get_by_label("User (email or id)").fill(reporter)
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#reasons-state")).to_contain_text("is not in")
    check(page, "moderation")

    # Dismissed: the post stays, the queue no longer lists it, the audit log says so.
    page.locator("#queue-rows").get_by_role("row", name=re.compile(body)).get_by_role("button", name=re.compile("^Dismiss")).click()
    page.get_by_role("dialog").get_by_role("button", name="Dismiss reports").click()
    expect(page.locator("#toast")).to_contain_text("3 report(s) dismissed.")
    expect(page.locator("#queue-rows").get_by_role("row", name=re.compile(body))).to_have_count(0)
    assert call(server, "GET", f"/rest/v1/posts?id=eq.{post['id']}&select=id", token=tokens[follower])[1] == [{"id": post["id"]}]
    status, log = call(server, "POST", "/rest/v1/rpc/admin_audit_log", {"p_limit": 20, "p_before": None}, token=token_of(server, admin))
    assert any(e["action"] == "resolve_reports" and e["detail"]["resolution"] == "dismissed" for e in log)


def test_errors_are_grouped_by_fingerprint_with_their_occurrences(server, page):
    admin, _ = make_user(server, admin=True)
    fingerprint = uuid.uuid4().hex[:16]
    message = f"division by zero in report {fingerprint[:6]}"
    for n in range(3):
        status, _ = call(server, "POST", "/rest/v1/error_events", {
            "fingerprint": fingerprint, "error_type": "PSQLError", "message": message, "route": "/rest/v1/rpc/{function}",
            "method": "POST", "status": 500, "request_id": f"req-{fingerprint[:6]}-{n}", "context": {"function": "broken", "attempt": n}},
            key=server["service_role_key"])
        assert status == 201
    sign_in(page, server, admin, then="/admin/errors")
    row = page.get_by_role("row", name=re.compile(re.escape(message)))
    expect(row).to_contain_text("3 (0 users)")
    row.get_by_role("button", name=re.compile("^Occurrences")).click()
    expect(page.get_by_role("heading", name="Occurrences of PSQLError")).to_be_focused()
    expect(page.locator("#events details")).to_have_count(3)
    page.locator("#events summary").first.click()
    expect(page.locator("#events pre").first).to_contain_text('"attempt": 2')
    check(page, "errors")


def test_readiness_and_limits_after_a_load_test_that_hits_the_limit(browser):
    """Its own server, seeded small, with a low /rest/v1 limit, load-tested for a few seconds: a run
    is saved for Readiness, and the load test's address is among the clients Limits shows refused.
    (The dashboard's own pages use /admin and the session endpoints, which this limit does not touch.)"""
    import subprocess
    binary = os.environ.get("FEEDFUSION_BIN", ".build/debug/feedfusion")
    own = server_keys(*start_server(RATE_LIMIT_REST_PER_MIN="30"))
    try:
        with open(os.path.join(own["env"]["DATA_DIR"], "jwt-secret")) as secret:
            env = {**own["env"], "DATABASE_URL": own["database_url"], "JWT_SECRET": secret.read().strip()}
        subprocess.run([binary, "seed", "--users", "40", "--posts", "200", "--entities", "4"], env=env, check=True, capture_output=True)
        run = subprocess.run([binary, "loadtest", "--vus", "2", "--duration", "3s", "--think", "0s", "--url", own["url"]],
                             env=env, capture_output=True, text=True)
        assert run.returncode in (0, 99), run.stderr[-2000:]
        email, _ = make_user(own, admin=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        sign_in(page, own, email, then="/admin/readiness")
        expect(page.locator("#checks-verdict")).to_contain_text(re.compile(r"Ready|Not ready"))
        rows = page.locator("#check-rows tr")
        expect(rows.filter(has_text="rls_enabled_and_forced")).to_contain_text("PASS")
        expect(rows.filter(has_text="definer_guard")).to_contain_text("PASS")
        assert rows.count() >= 10
        facts = page.locator("#loadtest dl")
        expect(facts).to_contain_text("Requests")
        expect(page.locator("#loadtest li").first).to_contain_text(re.compile(r"passed|FAILED"))
        check(page, "readiness")

        page.get_by_role("link", name="Limits and cache").click()
        expect(page.locator("#limits")).to_contain_text("30 a minute")
        expect(page.locator("#limited-rows tr").first).to_contain_text("default")
        check(page, "limits")
        page.get_by_role("button", name="Flush the cache").click()
        page.get_by_role("dialog").get_by_role("button", name="Flush").click()
        expect(page.locator("#toast")).to_contain_text("The cache was flushed")
        audited = subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-XAtq", own["database_url"], "-c",
                                  "SELECT count(*) FROM internal.admin_audit WHERE action = 'flush_cache'"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        assert audited == "1"
        context.close()
    finally:
        stop_server(own["process"])


def test_the_telemetry_explorer_filters_counts_and_exports(server, page):
    admin, _ = make_user(server, admin=True)
    user, user_id = make_user(server)
    token = token_of(server, user)
    name = f"explore.{uuid.uuid4().hex[:6]}"
    events = [{"event": name, "props": {"n": n}} for n in range(3)] + [{"event": "other.thing"}]
    assert call(server, "POST", "/rest/v1/rpc/log_usage_events", {"p_events": events}, token=token)[1] == 4
    metric = f"render_{uuid.uuid4().hex[:6]}"
    assert call(server, "POST", "/rest/v1/rpc/track_metrics", {"p_metrics": [
        {"name": metric, "value": v, "unit": "ms"} for v in (10, 20, 30, 40, 1000)]}, token=token)[1] == 5

    sign_in(page, server, admin, then="/admin/telemetry")
    expect(page.locator("#event-rows")).to_contain_text(name)
    # p50, p95, p99 of 10, 20, 30, 40, 1000 ms (interpolated, as percentile_cont does): 30, 808, 962.
    expect(page.locator("#metric-rows").get_by_role("row", name=re.compile(metric))).to_have_text(
        re.compile(rf"{metric}\s*5\s*30 ms\s*808 ms\s*962 ms"))
    page.get_by_label("Event", exact=True).select_option(name)
    page.get_by_label("User (email or id, optional)").fill(user)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#latest-rows tr")).to_have_count(3)
    expect(page.locator("#day-rows")).to_contain_text("3")
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile("Export CSV")).click()
    lines = open(download.value.path()).read().strip().splitlines()
    assert lines[0].startswith("created_at,event,user_id") and len(lines) == 4
    assert all(name in line and user_id in line for line in lines[1:])
    check(page, "telemetry")
