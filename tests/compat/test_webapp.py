"""The social app at / in a real browser (Debian's Chromium, Playwright, axe-core): sign-up with the
server's password rules, posting, following, the home feed with its reasons, likes with the viewer's
own state, privacy, blocks, the hourly cap's message, the session kept in an HttpOnly cookie, and
the offline and server-down states. Every page passes the checks of browsing.check."""
import re
import time
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
    page.goto(server["url"] + "/sign-in")
    check(page, "app-sign-in")
    page.goto(server["url"] + "/confirm")
    check(page, "app-confirm")
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


def wait_for(what, probe, seconds=20):
    deadline = time.time() + seconds
    while True:
        found = probe()
        if found or time.time() > deadline:
            assert found, f"{what} within {seconds} s"
            return found
        time.sleep(0.5)


def test_an_open_home_hears_new_posts_live_and_the_app_reports_its_use(server, page, browser):
    author = new_name("live")
    sign_up(page, server, author)
    context, reader = second_page(browser)
    try:
        reader_email = sign_up(reader, server, new_name("listener"))
        reader.goto(server["url"] + f"/u/{author}")
        reader.get_by_role("button", name="Follow", exact=True).click()
        expect(reader.get_by_role("button", name="Unfollow")).to_be_visible()
        reader.get_by_role("link", name="Home").click()
        home = reader.get_by_role("region", name="Home feed")
        expect(home).to_have_attribute("data-live", "live")
        first = f"live one {uuid.uuid4().hex[:6]}"
        post(page, first)
        bar = reader.get_by_role("button", name="Show 1 new post")
        expect(bar).to_be_visible()
        expect(feed_post(reader, first)).to_have_count(0)  # the list does not move under the reader
        bar.click()
        expect(feed_post(reader, first)).to_contain_text(f"You follow {author}")
        expect(bar).to_be_hidden()
        # Still live after the access token ran out (10 s here): the page sent the channel each new one.
        reader.wait_for_timeout(12_000)
        second = f"live two {uuid.uuid4().hex[:6]}"
        post(page, second)
        reader.get_by_role("button", name="Show 1 new post").click()
        expect(feed_post(reader, second)).to_be_visible()
        # What the reader did reached the server's telemetry (batched, sent within 10 s).
        reader_id = call(server, "GET", f"/rest/v1/profiles?select=id&username=eq.{reader_email.split('@')[0]}",
                         key=server["service_role_key"])[1][0]["id"]

        def events():
            status, rows = call(server, "GET", f"/rest/v1/usage_events?select=event&user_id=eq.{reader_id}",
                                key=server["service_role_key"])
            return status == 200 and {"app.page_view", "profile.follow"} <= {r["event"] for r in rows}
        wait_for("the reader's usage events", events)

        def metrics():
            status, rows = call(server, "GET", f"/rest/v1/client_metrics?select=name,value&user_id=eq.{reader_id}",
                                key=server["service_role_key"])
            return status == 200 and "app_home_first_page" in {m["name"] for m in rows}
        wait_for("the reader's client metrics", metrics)
    finally:
        context.close()


def test_a_private_profile_accepts_a_follow_request_and_lists_its_followers(server, page, browser):
    owner = new_name("private")
    email = sign_up(page, server, owner)
    token = token_of(server, email)
    status, body = call(server, "PATCH", f"/rest/v1/profiles?username=eq.{owner}", {"is_private": True}, token=token)
    assert status in (200, 204), body
    secret = f"for followers {uuid.uuid4().hex[:6]}"
    post(page, secret, visibility="Followers")
    context, asker = second_page(browser)
    try:
        asker_name = new_name("asker")
        sign_up(asker, server, asker_name)
        asker.goto(server["url"] + f"/u/{owner}")
        expect(asker.get_by_text("Private profile")).to_be_visible()
        expect(feed_post(asker, secret)).to_have_count(0)
        asker.get_by_role("button", name="Ask to follow").click()
        expect(asker.get_by_role("button", name="Cancel follow request")).to_be_visible()
        # The owner sees the request on their own profile and accepts it.
        page.get_by_role("link", name="Profile").click()
        requests = page.get_by_role("region", name="Follow requests")
        requests.get_by_role("button", name=f"Accept @{asker_name}").click()
        expect(requests.get_by_text("No requests waiting")).to_be_visible()
        expect(page.get_by_role("link", name="1 follower", exact=True)).to_be_visible()
        check(page, "app-own-profile")
        page.get_by_role("link", name="1 follower", exact=True).click()
        expect(page.get_by_role("link", name=asker_name)).to_be_visible()
        check(page, "app-followers")
        # Accepted: the asker now sees the followers-only post, and follows one profile.
        asker.reload()
        expect(asker.get_by_role("button", name="Unfollow")).to_be_visible()
        expect(feed_post(asker, secret)).to_be_visible()
        asker.goto(server["url"] + f"/u/{asker_name}/following")
        expect(asker.get_by_role("link", name=owner)).to_be_visible()
        check(asker, "app-following")
    finally:
        context.close()


def test_tags_location_a_place_page_and_nearby(server, browser):
    place = f"Park {uuid.uuid4().hex[:6]}"
    status, rows = call(server, "POST", "/rest/v1/entities?select=id", {"kind": "place", "name": place, "description": "A green place"},
                        key=server["service_role_key"])
    assert status == 201, rows
    context = browser.new_context(viewport={"width": 1280, "height": 900}, permissions=["geolocation"],
                                  geolocation={"latitude": 52.52, "longitude": 13.405})
    other_context, other = second_page(browser)
    try:
        page = context.new_page()
        mentioned = new_name("mentioned")
        sign_up(other, server, mentioned)
        author = new_name("tagger")
        sign_up(page, server, author)
        text = f"picnic {uuid.uuid4().hex[:6]}"
        page.get_by_label("What's new?").fill(text)
        page.get_by_text("Tags and location").click()
        page.get_by_label("Tag places or people").fill(place[:8])
        page.get_by_role("button", name=f"Tag {place}").click()
        page.get_by_label("Tag places or people").fill(mentioned)
        page.get_by_role("button", name=f"Tag @{mentioned}").click()
        expect(page.get_by_role("button", name=f"Remove @{mentioned}")).to_be_visible()
        page.get_by_label("Add my location").check()
        page.get_by_role("button", name="Post", exact=True).click()
        card = feed_post(page, text)
        expect(card.get_by_role("link", name=place)).to_be_visible()
        expect(card.get_by_role("link", name=f"@{mentioned}")).to_be_visible()
        # The place's page: its posts, and following it.
        card.get_by_role("link", name=place).click()
        expect(page.get_by_role("heading", name=place)).to_be_visible()
        expect(feed_post(page, text)).to_be_visible()
        page.get_by_role("button", name="Follow", exact=True).click()
        expect(page.get_by_role("button", name="Unfollow")).to_be_visible()
        check(page, "app-place")
        # Nearby, from the browser's location: the post, with its distance.
        page.get_by_role("link", name="Nearby").click()
        page.get_by_role("button", name="Use my location").click()
        expect(feed_post(page, text)).to_contain_text("m away")
        check(page, "app-nearby")
        # Out of range: not there.
        page.get_by_label("Latitude").fill("-33.86")
        page.get_by_label("Longitude").fill("151.21")
        page.get_by_role("button", name="Show posts").click()
        expect(page.get_by_text("No posts within that distance yet")).to_be_visible()
        # The mentioned user's home has it, with the reason.
        other.reload()
        expect(feed_post(other, text)).to_contain_text("Mentions you")
    finally:
        other_context.close()
        context.close()


def test_keyboard_only_in_the_dark_theme(server, browser):
    """Sign in, post, like and sign out with the keyboard alone, the system set to dark: the dark
    theme passes the same axe checks (its contrast included)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    try:
        page = context.new_page()
        email, _ = make_user(server)
        page.goto(server["url"] + "/sign-in")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") != "rgb(255, 255, 255)"
        page.keyboard.press("Tab")  # the skip link first
        expect(page.get_by_role("link", name="Skip to the content")).to_be_focused()
        page.get_by_label("Email").focus()
        page.keyboard.type(email)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Home")).to_be_visible()
        page.get_by_label("What's new?").focus()
        text = f"typed without a mouse {uuid.uuid4().hex[:6]}"
        page.keyboard.type(text)
        # Tab through the form to the Post button, as a keyboard user would.
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.textContent") == "Post":
                break
        expect(page.get_by_role("button", name="Post", exact=True)).to_be_focused()
        page.keyboard.press("Enter")
        card = feed_post(page, text)
        expect(card).to_be_visible()
        like = card.get_by_role("button", name=re.compile("Like post"))
        like.focus()
        page.keyboard.press("Space")
        expect(like).to_have_attribute("aria-pressed", "true")
        check(page, "app-home-dark")
        page.get_by_role("button", name="Sign out").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        context.close()


def test_a_429_is_said_and_its_retry_after_honoured(browser):
    """A client over the data API's limit: the page says so, and its Retry button waits out Retry-After."""
    process, port, env, _ = start_server(RATE_LIMIT_REST_PER_MIN="6")
    url = f"http://127.0.0.1:{port}"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        sign_up(page, {"url": url}, new_name("limited"))
        # Reloading spends the budget (each visit reads the home feed); then the feed is refused.
        for _ in range(8):
            page.reload()
            if page.get_by_role("alert").filter(has_text="Too many requests").count():
                break
        alert = page.get_by_role("alert").filter(has_text="Too many requests")
        expect(alert).to_contain_text("retry in")
        retry = alert.get_by_role("button", name=re.compile(r"Retry in \d+ s"))
        expect(retry).to_be_disabled()
    finally:
        context.close()
        stop_server(process)
