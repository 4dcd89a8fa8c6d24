"""schemathesis hooks and checks of our own, loaded with SCHEMATHESIS_HOOKS=hooks.

Environment (set by tests/compat/test_fuzz.py):
- FUZZ_DATABASE_URL: the owner's connection, to fingerprint what is stored around every refused write;
- FUZZ_SIGN_IN: "<server url>|<anon key>|<email>|<password>" to act as a signed-in user whose
  session is refreshed while the run lasts (the compat server's tokens live ten seconds, and the
  fuzzer may sign the user out or change the password: then a new user is made).
"""
import json
import os
import threading
import urllib.error
import urllib.request
import uuid

import psycopg
import schemathesis

POSTGREST_ERROR_KEYS = {"code", "details", "hint", "message"}
GOTRUE_ERROR_KEYS = {"code", "error_code", "message", "msg"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# What a refused request must leave as it was: every table a client may write, and the accounts
# (without the columns a successful sign-in or the server's own bookkeeping touches).
FINGERPRINT_SQL = "SELECT md5(concat_ws('|', " + ", ".join(
    f"(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {source} t)"
    for source in [
        "public.profiles", "public.entities", "public.follows", "public.blocks", "public.posts",
        "public.post_targets", "public.post_likes", "public.usage_events", "public.client_metrics",
        "(SELECT id, email, email_change, encrypted_password, email_confirmed_at, banned_until,"
        " raw_app_meta_data, raw_user_meta_data FROM auth.users)",
    ]) + "))"

# The runs that use these hooks have one worker (-w 1): a write by another worker between the two
# fingerprints would look like the refused request's doing. (A lock across before_call/after_call
# deadlocks: a call that raises, e.g. on a NUL byte in a header, never reaches after_call.)
_state = threading.local()


def _fingerprint():
    connection = getattr(_state, "connection", None)
    if connection is None or connection.closed:
        connection = psycopg.connect(os.environ["FUZZ_DATABASE_URL"], autocommit=True)
        _state.connection = connection
    return connection.execute(FINGERPRINT_SQL).fetchone()[0]


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    _state.before = None
    if case.method.upper() in WRITES and os.environ.get("FUZZ_DATABASE_URL"):
        _state.before = (id(case), _fingerprint())


@schemathesis.hook
def after_call(ctx, case, response):
    before = getattr(_state, "before", None)
    _state.before = None
    _state.verdict = None
    if before and before[0] == id(case) and response.status_code >= 400:
        _state.verdict = (id(case), before[1], _fingerprint())


@schemathesis.check
def refused_request_changed_nothing(ctx, response, case):
    """A write the server refused left every stored row as it was (no partial bulk insert, no
    trigger side effect, no account change)."""
    verdict = getattr(_state, "verdict", None)
    if verdict and verdict[0] == id(case) and verdict[1] != verdict[2]:
        raise AssertionError(f"{case.method} {case.path} answered {response.status_code} but changed what is stored")
    return None


@schemathesis.check
def error_in_api_shape(ctx, response, case):
    """Every refusal is in its API's shape: PostgREST's {code, details, hint, message} on /rest/v1,
    GoTrue's {code, error_code, msg, message} on /auth/v1."""
    if response.status_code < 400 or case.method.upper() == "HEAD":
        return None
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"{response.status_code} without a JSON error body: {response.text[:200]!r}")
    if "/auth/v1" in response.request.url:
        expected = GOTRUE_ERROR_KEYS
        keys = set(body) - {"weak_password"} if isinstance(body, dict) else set()
    else:
        expected = POSTGREST_ERROR_KEYS
        keys = set(body) if isinstance(body, dict) else set()
    if keys != expected or not isinstance(body.get("code"), str):
        raise AssertionError(f"{response.status_code} error not in the API's shape: {str(body)[:200]}")
    return None


def _auth_call(url, anon_key, path, body):
    request = urllib.request.Request(
        url + path, method="POST", data=json.dumps(body).encode(),
        headers={"apikey": anon_key, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


if os.environ.get("FUZZ_SIGN_IN"):
    @schemathesis.auth(refresh_interval=4)
    class SignedInUser:
        """A user's access token, refreshed before it expires; re-made when the fuzzer ended it."""

        def __init__(self):
            self.url, self.anon_key, self.email, self.password = os.environ["FUZZ_SIGN_IN"].split("|", 3)
            self.refresh_token = None

        def get(self, case, context):
            if self.refresh_token:
                try:
                    session = _auth_call(self.url, self.anon_key, "/auth/v1/token?grant_type=refresh_token",
                                         {"refresh_token": self.refresh_token})
                    self.refresh_token = session["refresh_token"]
                    return session["access_token"]
                except urllib.error.HTTPError:
                    pass  # signed out (or the password changed elsewhere): a new user below
            if self.refresh_token:
                self.email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
            session = _auth_call(self.url, self.anon_key, "/auth/v1/signup",
                                 {"email": self.email, "password": self.password})
            self.refresh_token = session["refresh_token"]
            return session["access_token"]

        def set(self, case, data, context):
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
