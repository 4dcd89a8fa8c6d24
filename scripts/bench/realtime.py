"""The realtime benchmark's load generator (run by scripts/bench-realtime): loopback only, bounded in
time. Reads its setup from the environment the script exports; prints one line per figure."""
import asyncio
import concurrent.futures
import multiprocessing
import base64
import hashlib
import hmac
import json
import os
import resource
import sys
import statistics
import time
import urllib.request
from datetime import datetime

import websockets

BASE = os.environ["BASE"]
WS = BASE.replace("http://", "ws://") + "/realtime/v1/websocket"
ANON = os.environ["ANON_KEY"]
SECRET = open(os.environ["JWT_SECRET_FILE"]).read().strip().encode()
AUTHOR = os.environ["AUTHOR_ID"]
FOLLOWERS = os.environ["FOLLOWER_IDS"].split()
CONNECTIONS = int(os.environ.get("CONNECTIONS", "10000"))
SECONDS = float(os.environ.get("SECONDS_EACH", "10"))
METRICS_TOKEN = os.environ["METRICS_TOKEN"]


def token(user):
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": user, "role": "authenticated", "aud": "authenticated", "exp": int(time.time()) + 7200}
    body = head + "." + b64(json.dumps(claims).encode())
    return body + "." + b64(hmac.new(SECRET, body.encode(), hashlib.sha256).digest())


def url(key=ANON):
    return f"{WS}?apikey={key}&vsn=1.0.0"


def metric(name):
    request = urllib.request.Request(BASE + "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for line in urllib.request.urlopen(request).read().decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def create_post(author_token, body):
    request = urllib.request.Request(
        BASE + "/rest/v1/rpc/create_post", data=json.dumps({"p_body": body}).encode(), method="POST",
        headers={"apikey": ANON, "Authorization": f"Bearer {author_token}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(request).read())


def write_posts(author, posts_per_second, writers):
    """Posts at `posts_per_second` from `writers` threads for SECONDS; returns how many were made."""
    start = time.monotonic()

    def write(offset):
        n = 0
        while time.monotonic() - start < SECONDS:
            create_post(author, f"sustained {offset} {n}")
            n += 1
            time.sleep(max(0, start + (n * writers + offset) / posts_per_second - time.monotonic()))
        return n

    with concurrent.futures.ThreadPoolExecutor(writers) as threads:
        return sum(threads.map(write, range(writers)))


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def join(ws, topic, ref="1", **payload):
    await ws.send(json.dumps({"topic": topic, "event": "phx_join", "ref": ref, "join_ref": ref, "payload": payload}))
    while True:
        message = json.loads(await ws.recv())
        if message["event"] == "phx_reply" and message["ref"] == ref:
            return message["payload"]["status"]


async def connections():
    """N connections held at once; each answers a heartbeat; the server's RSS with them open."""
    start = time.monotonic()
    sockets = []
    for batch in range(0, CONNECTIONS, 500):
        sockets += await asyncio.gather(*(websockets.connect(url(), max_queue=4, open_timeout=60, ping_interval=None)
                                          for _ in range(min(500, CONNECTIONS - batch))))
    opened = time.monotonic() - start

    async def beat(ws):
        await ws.send('{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb"}')
        return json.loads(await ws.recv())["payload"]["status"] == "ok"

    start = time.monotonic()
    answered = sum(await asyncio.gather(*(beat(ws) for ws in sockets)))
    beats = time.monotonic() - start
    print(f"connections held         {len(sockets)} opened in {opened:.1f} s; heartbeats answered {answered}/{len(sockets)} in {beats:.2f} s")
    print(f"server RSS               {metric('process_resident_memory_bytes') / 2**20:.0f} MiB with {metric('feedfusion_realtime_connections'):.0f} connections open")
    await asyncio.gather(*(ws.close() for ws in sockets))


async def fan_out(kind, posts=10):
    """One post at a time to every follower's socket: commit (the post's created_at) to delivery."""
    followers = FOLLOWERS
    sockets = await asyncio.gather(*(websockets.connect(url(), open_timeout=60, ping_interval=None) for _ in followers))
    for ws, user in zip(sockets, followers):
        if kind == "home":
            status = await join(ws, "realtime:home", access_token=token(user))
        elif kind == "broadcast":
            status = await join(ws, "realtime:floor", access_token=token(user))
        else:
            status = await join(ws, f"realtime:posts-{user[:8]}", access_token=token(user), config={
                "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "posts", "filter": f"author_id=eq.{AUTHOR}"}]})
        assert status == "ok", status
    latencies = []

    async def receive(ws):
        while True:
            message = json.loads(await ws.recv())
            row = None
            if message["event"] == "broadcast":
                row = message["payload"]["payload"]
            elif message["event"] == "postgres_changes":
                row = message["payload"]["data"]["record"]
            if row is not None:
                created = datetime.fromisoformat(row["created_at"].replace("Z", "+00:00")).timestamp()
                latencies.append((time.time() - created) * 1000)

    readers = [asyncio.create_task(receive(ws)) for ws in sockets]
    await asyncio.sleep(1)
    author = token(AUTHOR)
    sender = None
    if kind == "broadcast":
        sender = await websockets.connect(url(), open_timeout=60, ping_interval=None)
        assert await join(sender, "realtime:floor", access_token=author) == "ok"
    for n in range(posts):
        if sender:
            # The floor: no database, the same 1,000 sockets read by the same generator.
            await sender.send(json.dumps({"topic": "realtime:floor", "event": "broadcast", "ref": None, "payload": {
                "type": "broadcast", "event": "floor", "payload": {"created_at": datetime.now().astimezone().isoformat()}}}))
        else:
            await asyncio.to_thread(create_post, author, f"bench {kind} {n}")
        await asyncio.sleep(0.3)
    await asyncio.sleep(2)
    for reader in readers:
        reader.cancel()
    expected = posts * len(sockets)
    print(f"fan-out ({kind:<16}) {len(latencies)}/{expected} delivered to {len(sockets)} subscribers; "
          f"{'send' if sender else 'commit'} to delivery "
          f"p50 {pct(latencies, 0.5):.0f} ms, p95 {pct(latencies, 0.95):.0f} ms, max {max(latencies or [0]):.0f} ms")
    await asyncio.gather(*(ws.close() for ws in sockets + ([sender] if sender else [])))
    return pct(latencies, 0.95)


async def sustained(posts_per_second=20, writers=1):
    """postgres_changes under RLS at a steady write rate: deliveries per second the subscribers get
    (counted by the generator) and the server queued (its counter): with several writers the offered
    rate goes past what one generator process can read on these shared cores."""
    followers = FOLLOWERS
    sockets = await asyncio.gather(*(websockets.connect(url(), open_timeout=60, ping_interval=None) for _ in followers))
    for ws, user in zip(sockets, followers):
        assert await join(ws, f"realtime:s-{user[:8]}", access_token=token(user), config={
            "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "posts", "filter": f"author_id=eq.{AUTHOR}"}]}) == "ok"
    received = [0]

    async def receive(ws):
        while True:
            if '"event":"postgres_changes"' in await ws.recv():
                received[0] += 1

    readers = [asyncio.create_task(receive(ws)) for ws in sockets]
    await asyncio.sleep(1)
    author = token(AUTHOR)
    queued_before = metric("feedfusion_realtime_changes_delivered_total") or 0
    start = time.monotonic()
    # The writers run in another process, so that reading the deliveries does not slow the writes.
    with multiprocessing.get_context("fork").Pool(1) as pool:
        sent = await asyncio.to_thread(pool.apply, write_posts, (author, posts_per_second, writers))
    writing = time.monotonic() - start
    in_window = received[0]
    queued = (metric("feedfusion_realtime_changes_delivered_total") or 0) - queued_before
    await asyncio.sleep(3)
    for reader in readers:
        reader.cancel()
    print(f"postgres_changes (RLS)   {sent / writing:.1f} posts/s to {len(sockets)} subscribers: server queued {queued / writing:.0f}/s, "
          f"generator read {in_window / writing:.0f}/s while writing ({received[0]}/{sent * len(sockets)} delivered 3 s after)")
    await asyncio.gather(*(ws.close() for ws in sockets))


async def broadcast(receivers=200, senders=10, rate=90):
    """Client broadcasts fanned out by the server: deliveries per second."""
    topic = "realtime:bench-broadcast"
    listening = await asyncio.gather(*(websockets.connect(url(), open_timeout=60, ping_interval=None) for _ in range(receivers)))
    sending = await asyncio.gather(*(websockets.connect(url(), open_timeout=60, ping_interval=None) for _ in range(senders)))
    for ws in listening + sending:
        assert await join(ws, topic, config={"broadcast": {"self": False}}) == "ok"
    received = [0]

    async def receive(ws):
        while True:
            await ws.recv()
            received[0] += 1

    readers = [asyncio.create_task(receive(ws)) for ws in listening]
    frame = json.dumps({"topic": topic, "event": "broadcast", "ref": None, "payload": {"type": "broadcast", "event": "tick", "payload": {"n": 1}}})

    async def send(ws):
        start = time.monotonic()
        n = 0
        while time.monotonic() - start < SECONDS:
            await ws.send(frame)
            n += 1
            await asyncio.sleep(max(0, start + n / rate - time.monotonic()))
        return n

    start = time.monotonic()
    sent = sum(await asyncio.gather(*(send(ws) for ws in sending)))
    elapsed = time.monotonic() - start
    await asyncio.sleep(1)
    for reader in readers:
        reader.cancel()
    offered = sent * (receivers + senders - 1)
    print(f"broadcast                {sent / elapsed:.0f} messages/s sent to {receivers + senders - 1} members each: "
          f"{received[0] / elapsed:.0f} deliveries/s counted by {receivers} receivers ({received[0]}/{sent * receivers} arrived)")
    await asyncio.gather(*(ws.close() for ws in listening + sending))


async def main(parts):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if "connections" in parts:
        await connections()
    if "fan-out" in parts:
        # The reference, measured in the same run: a broadcast to the same 1,000 sockets (no
        # database), so the generator's own time to read 1,000 sockets on the shared cores is in view.
        floor = await fan_out("broadcast")
        home = await fan_out("home")
        lag = metric('feedfusion_home_fanout_lag_seconds{quantile="0.95"}')
        changes = await fan_out("postgres_changes")
        print(f"p95 over the broadcast floor: home {home / floor:.2f}x, postgres_changes {changes / floor:.2f}x; "
              f"server side, created_at to the fan-out done (all 1,000 queued): p95 {lag * 1000:.0f} ms")
    if "sustained" in parts:
        await sustained()
        await sustained(posts_per_second=100, writers=4)
    if "broadcast" in parts:
        await broadcast()


if __name__ == "__main__":
    # Parts to run (all by default): connections fan-out sustained broadcast.
    asyncio.run(main(sys.argv[1:] or ["connections", "fan-out", "sustained", "broadcast"]))
