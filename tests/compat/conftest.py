"""Starts a real FeedFusion server (managed PostgreSQL, fresh data folder) for the compatibility suite."""
import json
import os
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
from supabase import ClientOptions, create_client


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


METRICS_TOKEN = "compat-metrics-token-" + uuid.uuid4().hex


def start_server(data=None, port=None, **settings):
    """Starts `feedfusion serve` on its own data folder (managed PostgreSQL) and waits until it is
    ready. `settings` add to or override the suite's environment. Returns (process, port, env, log path)."""
    binary = os.environ.get("FEEDFUSION_BIN", ".build/debug/feedfusion")
    if data is None:
        data = tempfile.mkdtemp(prefix="compat-", dir=os.environ.get("FEEDFUSION_TEST_TMP"))
        os.chmod(data, 0o755)
    port = port or _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATA_DIR": data,
        "PORT": str(port),
        # Shorter than the client's 10 s expiry margin: every get_session() must refresh.
        "JWT_EXPIRY": "10",
        "BCRYPT_COST": "4",
        "RATE_LIMIT_AUTH_PER_MIN": "100000",
        "RATE_LIMIT_REST_PER_MIN": "100000",
        "LOG_LEVEL": "warning",
        "METRICS_TOKEN": METRICS_TOKEN,
        "TELEMETRY_FLUSH_MS": "100",
        # A small queue per realtime connection, so that the slow-consumer test fills it quickly.
        "REALTIME_OUTBOUND_QUEUE": "64",
        **settings,
    }
    log = open(os.path.join(data, "serve.log"), "a")
    process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            raise RuntimeError("feedfusion serve did not become ready: " + open(log.name).read()[-2000:])
        time.sleep(0.25)
    return process, port, env, log.name


def stop_server(process, timeout=30):
    """SIGTERM, as an orchestrator stops it; returns the exit code (killed after `timeout` s)."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode


def server_keys(process, port, env, log):
    """What the tests need to talk to a started server: its URL, keys, and the managed cluster's
    owner connection (for tests that compare what is stored, or change the schema)."""
    binary = os.environ.get("FEEDFUSION_BIN", ".build/debug/feedfusion")
    keys = json.loads(subprocess.check_output([binary, "keys", "--json"], env=env))
    keys.update(process=process, metrics_token=METRICS_TOKEN, port=port, log=log, env=env)
    cluster = os.path.join(env["DATA_DIR"], "postgres")
    if "DATABASE_URL" in env:
        keys["database_url"] = env["DATABASE_URL"]
    else:
        with open(os.path.join(cluster, "port")) as port_file, open(os.path.join(cluster, "superuser-password")) as secret:
            keys["database_url"] = f"postgresql://postgres:{secret.read().strip()}@127.0.0.1:{port_file.read().strip()}/feedfusion"
    return keys


@pytest.fixture(scope="session")
def server():
    keys = server_keys(*start_server())
    yield keys
    assert stop_server(keys["process"]) == 0, "serve did not exit cleanly on SIGTERM"


@pytest.fixture(autouse=True)
def server_stays_up(server):
    """Every test leaves the server running; if it died, show why."""
    yield
    process = server["process"]
    if process.poll() is not None:
        pytest.fail(f"feedfusion serve exited ({process.returncode}):\n" + open(server["log"]).read()[-4000:])


def _client(url: str, key: str):
    return create_client(url, key, options=ClientOptions(auto_refresh_token=False, persist_session=True))


@pytest.fixture
def anon(server):
    """A fresh client with the anon key, as an app would create it."""
    return _client(server["url"], server["anon_key"])


@pytest.fixture
def service(server):
    """A client with the service-role key, for the admin API."""
    return _client(server["url"], server["service_role_key"])


@pytest.fixture
def email():
    return f"user-{uuid.uuid4().hex[:12]}@example.com"


def pytest_collection_modifyitems(items):
    """The fuzzer last: as the service role it may delete what other tests' fixtures rely on."""
    items.sort(key=lambda item: item.module.__name__.endswith("test_fuzz"))
