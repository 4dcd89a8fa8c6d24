"""The cluster of issue 22, as `scripts/cluster` starts it: etcd, Patroni with a primary and a
synchronous replica, haproxy, PgBouncer, Redis and two FeedFusion instances (the build under test).
The official client works through the front door; the drill kills the primary's PostgreSQL, an
instance and Redis under load and must lose no acknowledged write, have writes back within 10 s and
answer 99 % of the reads during the failover; `down` leaves nothing running."""
import json
import os
import random
import socket
import subprocess
import tempfile
import uuid

import pytest
from supabase import create_client

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "cluster")


def _port_block():
    """A base port whose 50 successors are all free (the cluster's ports are counted from it)."""
    for _ in range(50):
        base = random.randrange(20000, 30000, 100)
        free = True
        for port in range(base, base + 50):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    free = False
                    break
        if free:
            return base
    raise RuntimeError("no free block of 50 ports")


@pytest.fixture(scope="module")
def cluster():
    directory = tempfile.mkdtemp(prefix="cluster-", dir=os.environ.get("FEEDFUSION_TEST_TMP"))
    os.chmod(directory, 0o755)
    env = dict(os.environ, CLUSTER_DIR=directory, CLUSTER_PORT=str(_port_block()), CLUSTER_USERS="300", CLUSTER_POSTS="3000",
               CLUSTER_VUS="20")
    env.setdefault("FEEDFUSION_BIN", os.path.join(ROOT, ".build", "debug", "feedfusion"))

    def run(*args, timeout=600):
        return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=timeout)

    started = run("up", "2")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"run": run, "dir": directory, "front": int(env["CLUSTER_PORT"])}
    finally:
        stopped = run("down", timeout=120)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        # Nothing it started is left: no process names its folder, nothing listens on its ports.
        leftovers = subprocess.run(["pgrep", "-f", directory], capture_output=True, text=True).stdout.split()
        assert leftovers == [], f"still running: {leftovers}"
        listening = []
        for port in range(int(env["CLUSTER_PORT"]), int(env["CLUSTER_PORT"]) + 50):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    listening.append(port)
        assert listening == [], f"still listening: {listening}"


def test_status_names_every_part_and_the_leader(cluster):
    status = cluster["run"]("status")
    assert status.returncode == 0, status.stdout + status.stderr
    lines = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    for part in ("etcd", "pg1", "pg2", "pgbouncer", "redis", "instance-1", "instance-2", "haproxy"):
        assert part in lines and lines[part].split()[1] == "up", status.stdout
    assert lines["leader"].split()[1] in ("pg1", "pg2"), status.stdout
    roles = lines["pg1"] + lines["pg2"]
    assert "leader" in roles and "sync_standby" in roles, status.stdout


def test_official_client_through_the_front_door(cluster):
    front = f"http://127.0.0.1:{cluster['front']}"
    config = json.loads(subprocess.run(["curl", "-sf", f"{front}/app/config"], capture_output=True, text=True).stdout)
    client = create_client(front, config["anon_key"])
    email = f"clustered-{uuid.uuid4().hex[:8]}@example.com"
    client.auth.sign_up({"email": email, "password": "Clustered-Password-42!"})
    post = client.rpc("create_post", {"p_body": "through haproxy, PgBouncer and Patroni's primary"}).execute().data
    # Every read goes through haproxy's round robin: both instances see the post at once.
    for _ in range(4):
        home = client.rpc("feed_fusion_home", {"p_limit": 20}).execute().data
        assert post["id"] in [row["id"] for row in home]


def test_drill_loses_no_acknowledged_write(cluster):
    drill = cluster["run"]("drill", "24", timeout=900)
    report = drill.stdout
    assert drill.returncode == 0, report + drill.stderr[-3000:]
    lost = [line for line in report.splitlines() if line.strip().startswith("writes lost")]
    assert len(lost) == 3 and all(line.split()[-1] == "0" for line in lost), report
    acknowledged = [int(line.split()[-1]) for line in report.splitlines() if line.strip().startswith("writes acknowledged")]
    assert len(acknowledged) == 3 and min(acknowledged) > 0, report
    # The old primary came back as a replica of the new one.
    status = cluster["run"]("status")
    assert status.returncode == 0 and ("sync_standby" in status.stdout or "replica" in status.stdout), status.stdout
