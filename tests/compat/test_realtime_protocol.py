"""/realtime/v1 on the wire: what a client that sends the unexpected gets (a Phoenix error, never a
crash or a hang), both serializers, the limits, and the slow consumer."""
import asyncio
import json
import urllib.error
import urllib.request
import uuid

import pytest
import websockets


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 90))


def _url(server, vsn="1.0.0", apikey=None):
    key = server["anon_key"] if apikey is None else apikey
    return f"ws://127.0.0.1:{server['port']}/realtime/v1/websocket?apikey={key}&vsn={vsn}"


async def _next(ws, predicate, seconds=5.0):
    """The next message (decoded) that satisfies predicate."""
    async def wait():
        while True:
            message = json.loads(await ws.recv())
            if predicate(message):
                return message
    return await asyncio.wait_for(wait(), seconds)


def _reply_to(ref):
    return lambda m: isinstance(m, dict) and m.get("event") == "phx_reply" and m.get("ref") == ref


async def _join(ws, topic, ref, config=None, **extra):
    await ws.send(json.dumps({"topic": topic, "event": "phx_join", "ref": ref, "join_ref": ref,
                              "payload": {"config": config or {}, **extra}}))
    return await _next(ws, _reply_to(ref))


def test_handshake_refusals(server):
    async def scenario():
        for url in (_url(server, vsn="3.0.0"), _url(server, apikey=""), _url(server, apikey="not-a-jwt")):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                async with websockets.connect(url):
                    pass
            assert refused.value.response.status_code == 400, url
    run(scenario())
    # Without an upgrade the path says what it is.
    with pytest.raises(urllib.error.HTTPError) as plain:
        urllib.request.urlopen(f"http://127.0.0.1:{server['port']}/realtime/v1/websocket")
    assert plain.value.code == 426
    assert "WebSocket" in json.loads(plain.value.read())["message"]


def test_malformed_frames_get_an_error_and_the_connection_carries_on(server):
    async def scenario():
        async with websockets.connect(_url(server)) as ws:
            for bad in ("not json", "[1,2,3]", json.dumps({"topic": "", "event": "x"}),
                        json.dumps({"topic": "realtime:a", "event": "phx_join", "payload": [], "ref": "1"}),
                        json.dumps({"topic": "realtime:a", "event": "phx_join", "payload": {}, "ref": {"no": 1}})):
                await ws.send(bad)
                error = await _next(ws, lambda m: m.get("event") == "phx_error")
                assert error["topic"] == "phoenix" and "malformed frame" in error["payload"]["reason"]
            await ws.send(b"\x00\x01binary")
            error = await _next(ws, lambda m: m.get("event") == "phx_error")
            assert "binary" in error["payload"]["reason"]
            # A topic no channel serves, an event on a topic not joined, a bad config: Phoenix errors.
            reply = await _join(ws, "elsewhere:x", "2")
            assert reply["payload"] == {"status": "error", "response": {"reason": "unmatched topic"}}
            await ws.send(json.dumps({"topic": "realtime:never-joined", "event": "broadcast", "ref": "3",
                                      "payload": {"type": "broadcast", "event": "e", "payload": {}}}))
            reply = await _next(ws, _reply_to("3"))
            assert reply["payload"]["status"] == "error" and reply["payload"]["response"]["reason"] == "unmatched topic"
            reply = await _join(ws, "realtime:bad-config", "4", {"broadcast": {"self": "yes"}})
            assert reply["payload"]["status"] == "error" and "config.broadcast.self" in reply["payload"]["response"]["reason"]
            await _next(ws, lambda m: m.get("event") == "phx_close" and m["topic"] == "realtime:bad-config")
            # And the socket still answers.
            await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": "5"}))
            reply = await _next(ws, _reply_to("5"))
            assert reply["payload"] == {"status": "ok", "response": {}}
    run(scenario())


def test_vsn_2_arrays(server):
    async def scenario():
        async with websockets.connect(_url(server, vsn="2.0.0")) as a, websockets.connect(_url(server, vsn="2.0.0")) as b:
            topic = f"realtime:v2-{uuid.uuid4().hex[:8]}"
            for ws in (a, b):
                await ws.send(json.dumps(["1", "1", topic, "phx_join", {"config": {}}]))
                reply = json.loads(await asyncio.wait_for(ws.recv(), 5))
                assert reply[:4] == ["1", "1", topic, "phx_reply"] and reply[4]["status"] == "ok"
            await a.send(json.dumps(["1", "2", topic, "broadcast", {"type": "broadcast", "event": "e", "payload": {"x": 1}}]))
            heard = json.loads(await asyncio.wait_for(b.recv(), 5))
            assert heard == [None, None, topic, "broadcast", {"type": "broadcast", "event": "e", "payload": {"x": 1}}]
            await a.send(json.dumps({"topic": "phoenix"}))  # an object where arrays are spoken
            error = json.loads(await asyncio.wait_for(a.recv(), 5))
            assert error[3] == "phx_error" and "2.0.0" in error[4]["reason"]
    run(scenario())


def test_channel_and_join_limits(server):
    async def scenario():
        async with websockets.connect(_url(server)) as ws:
            for n in range(100):
                reply = await _join(ws, f"realtime:many-{n}", str(n + 1))
                assert reply["payload"]["status"] == "ok", reply
            reply = await _join(ws, "realtime:one-too-many", "101")
            assert reply["payload"]["response"]["reason"].startswith("ChannelRateLimitReached")
        # Rejoining one topic in a loop: the joins per second run out.
        async with websockets.connect(_url(server)) as ws:
            reasons = []
            for n in range(150):
                reply = await _join(ws, "realtime:again", str(n + 1))
                reasons.append(reply["payload"]["response"].get("reason", "ok"))
            assert "ok" in reasons and any(r.startswith("ClientJoinRateLimitReached") for r in reasons)
    run(scenario())


def test_a_frame_over_the_size_limit_closes_with_1009(server):
    async def scenario():
        async with websockets.connect(_url(server), max_size=None) as ws:
            await ws.send(json.dumps({"topic": "phoenix", "event": "heartbeat", "ref": "1", "payload": {"pad": "x" * 300_000}}))
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd.code == 1009
    run(scenario())


def test_a_slow_consumer_is_told_and_closed_not_silently_dropped(server):
    async def scenario():
        topic = f"realtime:firehose-{uuid.uuid4().hex[:8]}"
        # The slow client joins, then stops reading (a queue of one message on its side).
        slow = await websockets.connect(_url(server), max_queue=1, max_size=None)
        assert (await _join(slow, topic, "1"))["payload"]["status"] == "ok"
        senders = [await websockets.connect(_url(server)) for _ in range(4)]
        for ws in senders:
            assert (await _join(ws, topic, "1"))["payload"]["status"] == "ok"
        padding = "y" * 60_000
        for ws in senders:
            for n in range(100):
                await ws.send(json.dumps({"topic": topic, "event": "broadcast", "ref": None,
                                          "payload": {"type": "broadcast", "event": "e", "payload": {"n": n, "pad": padding}}}))
        await asyncio.sleep(1)
        # Now it reads: what was queued, then the reason, then the close.
        reasons = []
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                message = json.loads(await asyncio.wait_for(slow.recv(), 10))
                if message.get("event") == "phx_error":
                    reasons.append(message["payload"]["reason"])
        assert closed.value.rcvd.code == 1008
        assert reasons and reasons[0].startswith("SlowConsumer")
        for ws in senders:
            await ws.close()
    run(scenario())


def test_a_refused_token_refresh_ends_the_channel(server):
    async def scenario():
        async with websockets.connect(_url(server)) as ws:
            topic = f"realtime:refresh-{uuid.uuid4().hex[:8]}"
            assert (await _join(ws, topic, "1", access_token=server["anon_key"]))["payload"]["status"] == "ok"
            await ws.send(json.dumps({"topic": topic, "event": "access_token", "ref": "2", "payload": {"access_token": "forged.token.here"}}))
            system = await _next(ws, lambda m: m.get("event") == "system")
            assert system["payload"]["status"] == "error" and system["payload"]["message"].startswith("InvalidJWTToken")
            await _next(ws, lambda m: m.get("event") == "phx_close" and m["topic"] == topic)
            # The channel is gone: its events are now for a topic not joined.
            await ws.send(json.dumps({"topic": topic, "event": "broadcast", "ref": "3", "payload": {"type": "broadcast", "event": "e"}}))
            reply = await _next(ws, _reply_to("3"))
            assert reply["payload"]["response"]["reason"] == "unmatched topic"
    run(scenario())


def test_signing_out_everywhere_ends_the_users_channels_at_once(server, anon, email):
    from supabase import ClientOptions, create_client

    session = anon.auth.sign_up({"email": email, "password": "Correct-Horse-42!"}).session
    user_id = session.user.id

    async def scenario():
        async with websockets.connect(_url(server)) as ws:
            mine = f"realtime:user:{user_id}"
            public = f"realtime:room-{uuid.uuid4().hex[:8]}"
            assert (await _join(ws, mine, "1", {"private": True}, access_token=session.access_token))["payload"]["status"] == "ok"
            assert (await _join(ws, public, "2", access_token=session.access_token))["payload"]["status"] == "ok"
            # Signed out on another device, everywhere: both channels end now, not when the token expires.
            other = create_client(server["url"], server["anon_key"], options=ClientOptions(auto_refresh_token=False))
            other.auth.sign_in_with_password({"email": email, "password": "Correct-Horse-42!"})
            await asyncio.to_thread(other.auth.sign_out, {"scope": "global"})
            ended = set()
            while len(ended) < 2:
                message = await _next(ws, lambda m: m.get("event") == "system", seconds=3)
                assert "session has ended" in message["payload"]["message"]
                ended.add(message["topic"])
            assert ended == {mine, public}
    run(scenario())


def _metrics(server):
    request = urllib.request.Request(f"http://127.0.0.1:{server['port']}/metrics",
                                     headers={"Authorization": f"Bearer {server['metrics_token']}"})
    with urllib.request.urlopen(request) as response:
        values = {}
        for line in response.read().decode().splitlines():
            if line.startswith("feedfusion_realtime"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values


def test_metrics_count_connections_channels_and_messages(server):
    async def scenario():
        async with websockets.connect(_url(server)) as a, websockets.connect(_url(server)) as b:
            topic = f"realtime:counted-{uuid.uuid4().hex[:8]}"
            for ws in (a, b):
                assert (await _join(ws, topic, "1"))["payload"]["status"] == "ok"
            before = _metrics(server)
            assert before["feedfusion_realtime_connections"] >= 2
            assert before["feedfusion_realtime_channels"] >= 2
            for n in range(10):
                await a.send(json.dumps({"topic": topic, "event": "broadcast", "ref": None,
                                         "payload": {"type": "broadcast", "event": "e", "payload": {"n": n}}}))
            for _ in range(10):
                await asyncio.wait_for(b.recv(), 5)
            after = _metrics(server)
            sent = 'feedfusion_realtime_messages_sent_total{kind="all"}'
            assert after[sent] - before.get(sent, 0) >= 10
    run(scenario())


def test_changes_the_server_cannot_keep_up_with_are_announced_not_silently_dropped():
    """A burst of writes past the queue of announced changes (REALTIME_CHANGE_QUEUE=1 here): the
    subscriber gets a `system` error saying changes were dropped (supabase/realtime#269 is the
    silent version of this)."""
    import subprocess
    from conftest import server_keys, start_server, stop_server

    own = server_keys(*start_server(REALTIME_CHANGE_QUEUE="1"))
    process, port = own["process"], own["port"]
    try:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/auth/v1/signup", method="POST",
            data=json.dumps({"email": f"burst-{uuid.uuid4().hex[:8]}@example.com", "password": "Correct-Horse-42!"}).encode(),
            headers={"apikey": own["anon_key"], "Content-Type": "application/json"})
        author = json.loads(urllib.request.urlopen(request).read())["user"]["id"]

        async def scenario():
            async with websockets.connect(_url(own), max_size=None) as ws:
                reply = await _join(ws, "realtime:burst", "1", config={
                    "postgres_changes": [{"event": "INSERT", "schema": "public", "table": "posts"}]})
                assert reply["payload"]["status"] == "ok", reply
                await _next(ws, lambda m: m.get("event") == "system" and m["payload"].get("status") == "ok", 10)
                # 500 posts in one commit: their announcements arrive at once.
                await asyncio.to_thread(subprocess.run, ["/usr/lib/postgresql/15/bin/psql", "-XAtq", "-v", "ON_ERROR_STOP=1", own["database_url"], "-c",
                    "UPDATE internal.settings SET value = '1000000' WHERE name = 'posts_per_hour';"
                    f"INSERT INTO public.posts (author_id, body) SELECT '{author}', 'burst ' || g FROM generate_series(1, 500) g"],
                    check=True)
                notice = await _next(ws, lambda m: m.get("event") == "system" and m["payload"].get("status") == "error", 15)
                assert notice["payload"]["message"].startswith("ChangesDropped"), notice
                assert notice["payload"]["extension"] == "postgres_changes"

        run(scenario())
    finally:
        assert stop_server(process) == 0


def test_a_table_published_at_runtime_can_be_subscribed_to_without_a_restart(server):
    """`realtime.publish` by an operator while the server runs: the next join naming the table is
    served (the catalog is read again for a table it has not seen), and its columns follow the
    role's column privileges (`secret` is not granted to anon)."""
    import subprocess
    schema = f"rt_{uuid.uuid4().hex[:8]}"

    def psql(sql):
        subprocess.run(["/usr/lib/postgresql/15/bin/psql", "-XAtq", "-v", "ON_ERROR_STOP=1", server["database_url"], "-c", sql], check=True)

    async def scenario():
        async with websockets.connect(_url(server), max_size=None) as ws:
            binding = {"event": "INSERT", "schema": schema, "table": "notes"}
            # Not published yet: refused, naming the table.
            psql(f"CREATE SCHEMA {schema}; CREATE TABLE {schema}.notes (id integer PRIMARY KEY, title text, secret text);"
                 f"ALTER TABLE {schema}.notes ENABLE ROW LEVEL SECURITY;"
                 f"CREATE POLICY notes_read ON {schema}.notes FOR SELECT USING (true);"
                 f"GRANT USAGE ON SCHEMA {schema} TO anon; GRANT SELECT (id, title) ON {schema}.notes TO anon")
            reply = await _join(ws, "realtime:runtime-1", "1", config={"postgres_changes": [dict(binding, filter="title=eq.x")]})
            assert reply["payload"]["status"] == "error", reply
            psql(f"SELECT realtime.publish('{schema}.notes')")
            await asyncio.sleep(1.1)  # the catalog is read again at most once a second
            reply = await _join(ws, "realtime:runtime-2", "2", config={"postgres_changes": [binding]})
            assert reply["payload"]["status"] == "ok", reply
            await _next(ws, lambda m: m.get("event") == "system" and m["payload"].get("status") == "ok", 10)
            psql(f"INSERT INTO {schema}.notes VALUES (1, 'hello', 'hush')")
            change = await _next(ws, lambda m: m.get("event") == "postgres_changes", 10)
            assert change["payload"]["data"]["record"] == {"id": 1, "title": "hello"}
        psql(f"DROP SCHEMA {schema} CASCADE")

    run(scenario())
