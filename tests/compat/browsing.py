"""What the browser tests share (the dashboard's, the app's): Debian's Chromium driven by Playwright,
calls to the server as a Supabase client makes them, users made by the admin API, and the checks
every page passes — zero serious or critical axe violations, no horizontal scroll at 360 px — with
a screenshot at phone and desktop widths into .feedfusion/screenshots (or $FEEDFUSION_SCREENSHOTS)."""
import json
import os
import urllib.error
import urllib.request
import uuid

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import sync_playwright

SHOTS = os.environ.get("FEEDFUSION_SCREENSHOTS", ".feedfusion/screenshots")
PASSWORD = "Correct-Horse-42!"


@pytest.fixture(scope="module")
def browser():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as playwright:
        # Playwright's own browser download cannot work here: Debian's Chromium instead.
        launched = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    server_errors = []
    opened.on("response", lambda response: server_errors.append(response.url) if response.status == 500 else None)
    uncaught = []
    opened.on("pageerror", lambda error: uncaught.append(str(error)))
    yield opened
    context.close()
    assert server_errors == [], f"500s while the dashboard was used: {server_errors}"
    assert uncaught == [], f"uncaught script errors: {uncaught}"


def call(server, method, path, body=None, token=None, key=None):
    key = key or server["anon_key"]
    request = urllib.request.Request(
        server["url"] + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"apikey": key, "Authorization": f"Bearer {token or key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read().decode()
            return response.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, json.loads(text) if text else None


def make_user(server, admin=False):
    email = f"{'admin' if admin else 'user'}-{uuid.uuid4().hex[:10]}@example.com"
    status, user = call(server, "POST", "/auth/v1/admin/users", {
        "email": email, "password": PASSWORD, "email_confirm": True, "app_metadata": {"role": "admin"} if admin else {}},
        key=server["service_role_key"])
    assert status == 200, user
    return email, user["id"]


def token_of(server, email):
    status, session = call(server, "POST", "/auth/v1/token?grant_type=password", {"email": email, "password": PASSWORD})
    assert status == 200, session
    return session["access_token"]


def check(page, name):
    """No serious or critical axe violation; no horizontal scroll at 360 px; photographed at both widths."""
    results = Axe().run(page)
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{name}: {serious}"
    for width, label in [(360, "phone"), (1280, "desktop")]:
        page.set_viewport_size({"width": width, "height": 800})
        page.wait_for_timeout(100)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"{name} scrolls sideways at {width} px"
        page.screenshot(path=os.path.join(SHOTS, f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


