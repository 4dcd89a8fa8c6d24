"""schemathesis against the served OpenAPI documents of /rest/v1 and /auth/v1, as anon, as a
signed-in user and as the service role: no 5xx, every error in its API's shape, and nothing stored
changed by any request that was refused (tests/fuzz/hooks.py fingerprints the tables around each
refused write). A fixed budget per run keeps the whole to about two minutes."""
import json
import os
import subprocess
import urllib.request
import uuid

import pytest

# schemathesis lives in its own virtualenv (tests/fuzz/requirements.txt): its pins need not agree
# with the Supabase client's. Its hooks (our own checks) are tests/fuzz/hooks.py.
ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
SCHEMATHESIS = os.environ.get("SCHEMATHESIS", os.path.join(ROOT, ".venv-fuzz", "bin", "schemathesis"))
HOOKS = os.path.join(ROOT, "tests", "fuzz")
EXAMPLES = os.environ.get("FUZZ_MAX_EXAMPLES", "25")
# The auth API has twelve operations to the data API's seventy-six: more examples each, same time.
AUTH_EXAMPLES = os.environ.get("FUZZ_AUTH_MAX_EXAMPLES", "100")


def _request(server, method, path, key, bearer=None, body=None, headers=None):
    request = urllib.request.Request(
        server["url"] + path, method=method, data=json.dumps(body).encode() if body is not None else None,
        headers={"apikey": key, "Authorization": f"Bearer {bearer or key}", "Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, dict(response.headers), response.read()


def _stored(server):
    """How many posts, profiles and users there are, read with the service role."""
    key = server["service_role_key"]
    counts = {}
    for table in ("posts", "profiles", "entities", "follows", "post_likes"):
        _, headers, _ = _request(server, "HEAD", f"/rest/v1/{table}?select=*", key, headers={"Prefer": "count=exact"})
        counts[table] = headers.get("Content-Range", "").split("/")[-1]
    _, headers, _ = _request(server, "GET", "/auth/v1/admin/users?per_page=1", key)
    counts["users"] = headers.get("X-Total-Count")
    return counts


def _fuzz(server, api, bearer=None, sign_in=None):
    """One schemathesis run against `api` ("rest" or "auth") with its OpenAPI document, as the
    holder of `bearer` (a key) or as a signed-in user (`sign_in` = (email, password)). Besides no
    5xx and errors in the API's shape, every refused write is checked to have changed nothing."""
    document = {"rest": "/rest/v1/", "auth": "/auth/v1/openapi.json"}[api]
    command = [
        SCHEMATHESIS, "run", server["url"] + document, "--url", server["url"] + f"/{api}/v1",
        "-H", f"apikey: {server['anon_key']}",
        "--checks", "not_a_server_error,error_in_api_shape,refused_request_changed_nothing",
        "--max-examples", EXAMPLES if api == "rest" else AUTH_EXAMPLES, "--seed", "17",
        "--phases", "examples,coverage,fuzzing", "-w", "1", "--request-timeout", "20",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "hooks", "PYTHONPATH": HOOKS, "FUZZ_DATABASE_URL": server["database_url"]}
    if bearer:
        command += ["-H", f"Authorization: Bearer {bearer}"]
    if sign_in:
        env["FUZZ_SIGN_IN"] = "|".join([server["url"], server["anon_key"], *sign_in])
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    print(run.stdout[-1200:])
    return run.stdout


def _new_user():
    return (f"fuzz-{uuid.uuid4().hex[:10]}@example.com", "a long fuzz phrase")


@pytest.mark.parametrize("api", ["rest", "auth"])
def test_anon_finds_nothing(server, api):
    before = _stored(server)
    _fuzz(server, api, bearer=server["anon_key"])
    if api == "rest":
        # The anon role may write nothing through the data API: every write of the run was refused.
        assert _stored(server) == before


@pytest.mark.parametrize("api", ["rest", "auth"])
def test_signed_in_user_finds_nothing(server, api):
    _fuzz(server, api, sign_in=_new_user())


@pytest.mark.parametrize("api", ["rest", "auth"])
def test_service_role_finds_nothing(server, api):
    _fuzz(server, api, bearer=server["service_role_key"])
