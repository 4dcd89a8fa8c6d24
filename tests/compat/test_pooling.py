"""The server through PgBouncer in transaction mode (issue 22): requests (DATABASE_AUTHENTICATOR_URL)
through Debian's pgbouncer 1.18, migrations and LISTEN on DATABASE_URL's own sessions. The
official client signs up, posts, reads its home and likes; the like shows in the very next read
(the write fence and the cache's invalidation arrive by LISTEN); `verify` names the pooling it
found and passes."""
import hashlib
import hmac
import json
import os
import socket
import subprocess
import tempfile
import time
import uuid
from urllib.parse import urlparse

from supabase import ClientOptions, create_client

from conftest import server_keys, start_server, stop_server

PASSWORD = "Pooled-Password-42!"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_pgbouncer(directory, database, users):
    """pgbouncer on a free loopback port, transaction mode, 3 server sessions for everyone."""
    os.chmod(directory, 0o777)  # it drops to 'postgres' when started as root
    port = free_port()
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
