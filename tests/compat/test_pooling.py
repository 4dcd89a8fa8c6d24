"""Beyond one database connection (issue 22). Through PgBouncer in transaction mode: requests
(DATABASE_AUTHENTICATOR_URL) through Debian's pgbouncer 1.18, migrations and LISTEN on
DATABASE_URL's own sessions; the official client signs up, posts, reads and likes, the like in the
very next read; `verify` names the pooling it found. With a streaming replica: reads go to it while
it has every write, to the primary while its replay is paused."""
import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from urllib.parse import urlparse

from supabase import ClientOptions, create_client

from conftest import _free_port, server_keys, start_server, stop_server

PASSWORD = "Pooled-Password-42!"



def start_pgbouncer(directory, database, users):
    """pgbouncer on a free loopback port, transaction mode, 3 server sessions for everyone."""
    os.chmod(directory, 0o777)  # it drops to 'postgres' when started as root
    port = _free_port()
    with open(os.path.join(directory, "users.txt"), "w") as auth:
        auth.writelines(f'"{user}" "{password}"\n' for user, password in users.items())
    target = urlparse(database)
    with open(os.path.join(directory, "pgbouncer.ini"), "w") as ini:
        ini.write(f"""[databases]
feedfusion = host={target.hostname} port={target.port} dbname=feedfusion
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
default_pool_size = 3
max_client_conn = 200
logfile = {directory}/pgbouncer.log
pidfile = {directory}/pgbouncer.pid
""")
    for name in ("users.txt", "pgbouncer.ini"):
        os.chmod(os.path.join(directory, name), 0o644)
    command = (["-u", "postgres"] if os.getuid() == 0 else []) + [os.path.join(directory, "pgbouncer.ini")]
    process = subprocess.Popen(["/usr/sbin/pgbouncer", *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start: " + open(os.path.join(directory, "pgbouncer.log")).read())


def test_requests_through_pgbouncer_in_transaction_mode(server):
    secret = open(os.path.join(server["env"]["DATA_DIR"], "jwt-secret")).read().strip()
    # The authenticator's password, as the server derives it from the JWT secret (RequestRole.password).
    authenticator = hmac.new(secret.encode(), b"feedfusion authenticator password", hashlib.sha256).hexdigest()
    owner = urlparse(server["database_url"])
    # Not pytest's tmp_path: its parents are closed to the 'postgres' user pgbouncer runs as.
    directory = tempfile.mkdtemp(prefix="pgbouncer-", dir=os.environ.get("FEEDFUSION_TEST_TMP"))
    bouncer, bouncer_port = start_pgbouncer(directory, server["database_url"],
                                            {"authenticator": authenticator, owner.username: owner.password})
    process = None
    try:
        settings = {
            "DATABASE_URL": server["database_url"],
            "DATABASE_AUTHENTICATOR_URL": f"postgresql://authenticator:{authenticator}@127.0.0.1:{bouncer_port}/feedfusion",
            "JWT_SECRET": secret,
        }
        process, port, env, log = start_server(**settings)
        keys = server_keys(process, port, env, log)

        options = ClientOptions(auto_refresh_token=False, persist_session=True)
        author = create_client(keys["url"], keys["anon_key"], options=options)
        email = f"pooled-{uuid.uuid4().hex[:8]}@example.com"
        author.auth.sign_up({"email": email, "password": PASSWORD})
        text = f"through the pooler {uuid.uuid4().hex[:6]}"
        post = author.rpc("create_post", {"p_body": text}).execute().data
        assert post["body"] == text
        # 40 reads and likes on 3 server sessions: every one answered, each as its own caller.
        for _ in range(20):
            home = author.rpc("feed_fusion_home", {"p_limit": 5}).execute().data
            assert home[0]["id"] == post["id"] and home[0]["reasons"] == ["self"]
        reader = create_client(keys["url"], keys["anon_key"], options=options)
        reader.auth.sign_up({"email": f"reader-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD})
        assert reader.rpc("feed_fusion_profile", {"p_profile_id": post["author"]["id"]}).execute().data[0]["like_count"] == 0
        reader.rpc("like_post", {"p_post_id": post["id"]}).execute()
        # Read-your-writes through the pooler: the like is in the next read, cached or not.
        again = reader.rpc("feed_fusion_profile", {"p_profile_id": post["author"]["id"]}).execute().data[0]
        assert again["like_count"] == 1 and again["liked_by_viewer"] is True

        binary = os.environ.get("FEEDFUSION_BIN", ".build/debug/feedfusion")
        report = subprocess.run([binary, "verify", "--json"], env=env, capture_output=True, text=True)
        checks = {c["name"]: c for c in json.loads(report.stdout)["checks"]}
        assert checks["pooling"]["status"] == "PASS", checks["pooling"]
        assert "transaction pooler" in checks["pooling"]["summary"]
        # Named statements forced on through the pooler: verify fails, naming why.
        forced = subprocess.run([binary, "verify", "--json"], env={**env, "DB_PREPARED_STATEMENTS": "true"},
                                capture_output=True, text=True)
        pooling = {c["name"]: c for c in json.loads(forced.stdout)["checks"]}["pooling"]
        assert forced.returncode == 1 and pooling["status"] == "FAIL" and "DB_PREPARED_STATEMENTS" in pooling["summary"]
    finally:
        if process:
            stop_server(process)
        bouncer.kill()
        bouncer.wait()


def psql(url, sql):
    return subprocess.run(["psql", url, "-Atc", sql], capture_output=True, text=True, check=True).stdout.strip()


def metric(keys, name, labels):
    request = urllib.request.Request(keys["url"] + "/metrics", headers={"Authorization": f"Bearer {keys['metrics_token']}"})
    text = urllib.request.urlopen(request).read().decode()
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_reads_go_to_a_replica_that_has_every_write(server):
    """A streaming standby of the suite's cluster (pg_basebackup -R): a second server reads from it
    while it is caught up, and from the primary while its replay is paused — a client's own post is
    in its very next read either way."""
    primary = urlparse(server["database_url"])
    directory = tempfile.mkdtemp(prefix="replica-", dir=os.environ.get("FEEDFUSION_TEST_TMP"))
    as_server = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"] if os.getuid() == 0 else []
    if os.getuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    os.chmod(directory, 0o700)
    bin_dir = "/usr/lib/postgresql/15/bin"
    subprocess.run([*as_server, f"{bin_dir}/pg_basebackup", "-d",
                    f"host=127.0.0.1 port={primary.port} user={primary.username} password={primary.password}",
                    "-D", directory, "-R", "-X", "stream", "--no-sync", "--checkpoint=fast"], check=True, capture_output=True)
    replica_port = _free_port()
    replica = subprocess.Popen([*as_server, f"{bin_dir}/postgres", "-D", directory, "-p", str(replica_port),
                                "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "hot_standby=on",
                                "-c", "max_connections=200"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    replica_url = f"postgresql://{primary.username}:{primary.password}@127.0.0.1:{replica_port}/feedfusion"
    process = None
    try:
        for _ in range(100):
            if subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(replica_port)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        secret = open(os.path.join(server["env"]["DATA_DIR"], "jwt-secret")).read().strip()
        process, port, env, log = start_server(
            DATABASE_URL=server["database_url"], JWT_SECRET=secret, REPLICA_MAX_LAG_MS="2000",
            DATABASE_REPLICA_URLS=f"postgresql://authenticator@127.0.0.1:{replica_port}/feedfusion")
        keys = server_keys(process, port, env, log)
        options = ClientOptions(auto_refresh_token=False, persist_session=True)
        client = create_client(keys["url"], keys["anon_key"], options=options)
        client.auth.sign_up({"email": f"replicated-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD})

        def reads(target):
            return metric(keys, "feedfusion_read_routing_total", {"target": target}) or 0

        deadline = time.time() + 20
        while reads("replica") == 0 and time.time() < deadline:
            client.table("profiles").select("id").limit(1).execute()
            time.sleep(0.2)
        assert reads("replica") > 0, "no read reached the caught-up replica"
        assert metric(keys, "feedfusion_replica_up", {"replica": "replica-1"}) == 1

        # Replay paused: the client's post is still in its next read (the primary answers it).
        psql(replica_url, "SELECT pg_wal_replay_pause()")
        before = reads("primary")
        text = f"while the replica waits {uuid.uuid4().hex[:6]}"
        post = client.rpc("create_post", {"p_body": text}).execute().data
        mine = client.table("posts").select("id,body").eq("id", post["id"]).execute().data
        assert mine == [{"id": post["id"], "body": text}]
        assert reads("primary") > before
        assert psql(replica_url, f"SELECT count(*) FROM public.posts WHERE id = '{post['id']}'") == "0"  # truly not there
        psql(replica_url, "SELECT pg_wal_replay_resume()")
        replica_before = reads("replica")
        deadline = time.time() + 20
        while reads("replica") == replica_before and time.time() < deadline:
            client.table("posts").select("id").eq("id", post["id"]).execute()
            time.sleep(0.2)
        assert reads("replica") > replica_before, "reads did not return to the replica once it caught up"
    finally:
        if process:
            stop_server(process)
        replica.terminate()
        replica.wait(timeout=30)
