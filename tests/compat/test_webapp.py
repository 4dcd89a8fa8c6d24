"""The social app at / in a real browser (Debian's Chromium, Playwright, axe-core): sign-up with the
server's password rules, posting, following, the home feed with its reasons, likes with the viewer's
own state, privacy, blocks, the hourly cap's message, the session kept in an HttpOnly cookie, and
the offline and server-down states. Every page passes the checks of browsing.check."""
import re
import uuid

from playwright.sync_api import expect

from browsing import PASSWORD, browser, call, check, make_user, page, token_of  # noqa: F401 (fixtures)
from conftest import start_server, stop_server


def new_name(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def sign_up(page, server, username):
    email = f"{username}@example.com"
    page.goto(server["url"] + "/sign-up")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    return email


def sign_in(page, server, email):
    page.goto(server["url"] + "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()


def post(page, text, visibility="Everyone"):
    page.get_by_label("What's new?").fill(text)
    page.get_by_label("Who can see it").select_option(label=visibility)
    page.get_by_role("button", name="Post", exact=True).click()


def feed_post(page, text):
    return page.get_by_role("article").filter(has_text=text)


def second_page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    return context, context.new_page()


def test_sign_up_post_follow_like_across_two_browsers(server, page, browser):
    page.goto(server["url"] + "/")
    expect(page.get_by_role("link", name="Create account").first).to_be_visible()
    check(page, "app-welcome")
    page.goto(server["url"] + "/sign-up")
    # The rules come from the server's policy, and its refusal is shown in place.
    expect(page.get_by_text(re.compile(r"at least \d+ characters"))).to_be_visible()
    check(page, "app-sign-up")
    author = new_name("author")
    page.get_by_label("Email").fill(f"{author}@example.com")
    page.get_by_label("Username").fill(author)
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("alert")).to_contain_text("Password is too weak")
    sign_up(page, server, author)
    expect(page.get_by_text("Nothing here yet")).to_be_visible()

    # The composer counts as one types; an empty post is refused before it leaves the page.
    page.get_by_role("button", name="Post", exact=True).click()
    expect(page.locator("#compose-error")).to_contain_text("cannot be empty")
    text = f"hello from {author}"
    page.get_by_label("What's new?").fill(text)
    expect(page.locator("#compose-count")).to_have_text(f"{len(text)} / 2000")
    post(page, text)
    mine = feed_post(page, text)
    expect(mine).to_be_visible()
    expect(mine).to_contain_text("Your post")
    check(page, "app-home")

    # A second browser: another user follows the author from the profile page and sees the post.
    context, reader = second_page(browser)
    try:
        sign_up(reader, server, new_name("reader"))
        reader.goto(server["url"] + f"/u/{author}")
        expect(reader.get_by_role("article").filter(has_text=text)).to_be_visible()
        check(reader, "app-profile")
        reader.get_by_role("button", name="Follow", exact=True).click()
        expect(reader.get_by_role("button", name="Unfollow")).to_be_visible()
        reader.get_by_role("link", name="Home").click()
        seen = feed_post(reader, text)
        expect(seen).to_contain_text(f"You follow {author}")
        like = seen.get_by_role("button", name=re.compile("Like post"))
        expect(like).to_have_attribute("aria-pressed", "false")
        like.click()
        expect(like).to_have_attribute("aria-pressed", "true")
        expect(like).to_contain_text("1")
        # The like is stored: after a reload the heart is still filled (liked_by_viewer) …
        reader.reload()
        expect(feed_post(reader, text).get_by_role("button", name=re.compile("Like post"))).to_have_attribute("aria-pressed", "true")
    finally:
        context.close()
    # … and the author's count moved.
    page.reload()
    expect(feed_post(page, text).locator(".like-count")).to_have_text("1")


def test_followers_only_posts_stay_with_followers_and_a_block_hides_both_ways(server, page, browser):
    author = new_name("writer")
    sign_up(page, server, author)
    secret = f"followers only {uuid.uuid4().hex[:6]}"
    post(page, secret, visibility="Followers")
    expect(feed_post(page, secret)).to_contain_text("followers only")
    open_post = f"for everyone {uuid.uuid4().hex[:6]}"
    post(page, open_post)
    expect(feed_post(page, open_post)).to_be_visible()

    context, stranger = second_page(browser)
    try:
        stranger_name = new_name("stranger")
        sign_up(stranger, server, stranger_name)
        stranger.goto(server["url"] + f"/u/{author}")
        expect(feed_post(stranger, open_post)).to_be_visible()
        expect(feed_post(stranger, secret)).to_have_count(0)
        # Following shows it; blocking then removes the author's posts from the stranger's home …
        stranger.get_by_role("button", name="Follow", exact=True).click()
        expect(stranger.get_by_role("button", name="Unfollow")).to_be_visible()
        stranger.get_by_role("link", name="Home").click()
        expect(feed_post(stranger, secret)).to_be_visible()
        stranger.goto(server["url"] + f"/u/{author}")
        stranger.get_by_role("button", name="Block").click()
        expect(stranger.get_by_role("button", name="Unblock")).to_be_visible()
        stranger.get_by_role("link", name="Home").click()
        expect(stranger.get_by_text("Nothing here yet")).to_be_visible()
        expect(feed_post(stranger, open_post)).to_have_count(0)
        # … and the stranger's posts from the author's view.
        stranger_post = f"by the blocker {uuid.uuid4().hex[:6]}"
        post(stranger, stranger_post)
        expect(feed_post(stranger, stranger_post)).to_be_visible()
    finally:
        context.close()
    # (the blocker's profile itself is hidden from the one they blocked, by the profiles' policy).
    page.goto(server["url"] + f"/u/{stranger_name}")
    expect(page.get_by_role("heading", name="No such user")).to_be_visible()
    page.get_by_role("link", name="Home").click()
    expect(feed_post(page, open_post)).to_be_visible()
    expect(feed_post(page, stranger_post)).to_have_count(0)


def test_the_31st_post_in_an_hour_shows_the_servers_message(server, page):
    email, _ = make_user(server)
    token = token_of(server, email)
    for n in range(30):
        status, body = call(server, "POST", "/rest/v1/rpc/create_post", {"p_body": f"post {n}"}, token=token)
        assert status == 200, body
    sign_in(page, server, email)
    post(page, "one too many")
    expect(page.locator("#compose-error")).to_contain_text("at most 30 per hour")
    expect(feed_post(page, "one too many")).to_have_count(0)


def test_the_feed_pages_as_the_reader_scrolls(server, page):
    email, _ = make_user(server)
    token = token_of(server, email)
    for n in range(25):
        status, body = call(server, "POST", "/rest/v1/rpc/create_post", {"p_body": f"paged post {n:02d}"}, token=token)
        assert status == 200, body
    sign_in(page, server, email)
    # 20 a page: the end of the first is near the screen's bottom, so the rest follows by itself.
    expect(page.get_by_role("article")).to_have_count(25)
    expect(page.get_by_text("You have reached the end")).to_be_visible()
    texts = page.locator("article .body").all_inner_texts()
    assert texts == [f"paged post {n:02d}" for n in range(24, -1, -1)], texts


def test_the_session_lives_in_an_httponly_cookie_and_sign_out_ends_it(server, page):
    email, _ = make_user(server)
    sign_in(page, server, email)
    page.reload()
    expect(page.get_by_role("heading", name="Home")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == "feedfusion_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/app/session"
    stored = page.evaluate("() => JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage})")
    assert "eyJ" not in stored and cookie["value"] not in stored
    # The refresh token the page got from /auth/v1 was used up by the hand-over.
    # A cross-site request cannot use the session endpoints.
    status, body = call(server, "POST", "/app/session/refresh")
    assert status == 403 and body["code"] == "csrf"
    token = page.evaluate("""async () => (await (await fetch('/app/session/refresh',
        {method: 'POST', headers: {'X-FeedFusion-App': '1'}})).json()).access_token""")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    status, _ = call(server, "POST", "/rest/v1/rpc/feed_fusion_home", {}, token=token)
    assert status == 401
    page.goto(server["url"] + "/")
    expect(page.get_by_role("link", name="Sign in").first).to_be_visible()


def test_offline_and_server_down_are_said_with_a_retry(browser):
    process, port, env, _ = start_server()
    url = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        username = new_name("offline")
        sign_up(page, {"url": url}, username)
        context.set_offline(True)
        post(page, "written offline")
        expect(page.locator("#compose-error")).to_contain_text("offline")
        context.set_offline(False)
        post(page, "written online")
        expect(feed_post(page, "written online")).to_be_visible()
        stop_server(process)
        # Started again on the same data and port, the page resumes the session from its cookie.
        process, port, env, _ = start_server(env["DATA_DIR"], port)
        page.goto(url + "/")
        expect(feed_post(page, "written online")).to_be_visible()
        # The server away while the page is open: the next action says so and offers a retry.
        stop_server(process)
        page.get_by_role("link", name="Profile").click()
        expect(page.get_by_role("alert")).to_contain_text("cannot be reached")
        expect(page.get_by_role("button", name="Retry")).to_be_visible()
    finally:
        context.close()
        stop_server(process)
