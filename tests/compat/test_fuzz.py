"""schemathesis against the served OpenAPI document, as anon, as a signed-in user and as the
service role: no 5xx, every error in PostgREST's shape, and nothing stored changed by the anonymous
run (every write anon tries must be refused). A fixed budget per role keeps it to about two minutes."""
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


def _fuzz(server, bearer):
    command = [
        SCHEMATHESIS, "run", server["url"] + "/rest/v1/", "--url", server["url"] + "/rest/v1",
        "-H", f"apikey: {server['anon_key']}", "-H", f"Authorization: Bearer {bearer}",
        "--checks", "not_a_server_error,error_in_postgrest_shape", "--max-examples", EXAMPLES, "--seed", "17",
        "--phases", "examples,coverage,fuzzing", "-w", "2", "--request-timeout", "20",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "hooks", "PYTHONPATH": HOOKS}
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    print(run.stdout[-1200:])
    return run.stdout


@pytest.fixture(scope="module")
def user_token(server):
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
    _, _, body = _request(server, "POST", "/auth/v1/signup", server["anon_key"], body={"email": email, "password": "a long fuzz phrase"})
    return json.loads(body)["access_token"]


def test_anon_finds_nothing_and_changes_nothing(server):
    before = _stored(server)
    _fuzz(server, server["anon_key"])
    assert _stored(server) == before


def test_signed_in_user_finds_nothing(server, user_token):
    _fuzz(server, user_token)


def test_service_role_finds_nothing(server):
    _fuzz(server, server["service_role_key"])
