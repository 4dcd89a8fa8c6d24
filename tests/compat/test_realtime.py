"""/realtime/v1 with the official clients, unchanged: supabase-py's async client and its realtime
part join channels, broadcast, track presence and join private channels the database authorizes."""
import asyncio
import os
import uuid

import pytest
from supabase import AsyncClientOptions, acreate_client


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


async def _client(server, key=None):
    return await acreate_client(
        server["url"], key or server["anon_key"], options=AsyncClientOptions(auto_refresh_token=False, persist_session=False))


async def _signed_in(server):
    client = await _client(server)
    email = f"rt-{uuid.uuid4().hex[:12]}@example.com"
    response = await client.auth.sign_up({"email": email, "password": "Correct-Horse-42!"})
    # The client hands the session's token to its realtime part on the auth event; make sure it has.
    await client.realtime.set_auth(response.session.access_token)
    return client, response.user.id


async def _subscribe(channel):
    """Subscribes and returns the state the client reached, with the error it was given."""
    states = []
    await channel.subscribe(lambda state, error: states.append((state, error)))
    for _ in range(100):
        if states:
            return states[0]
        await asyncio.sleep(0.05)
    return (None, None)


async def _eventually(condition, seconds=5.0):
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def test_broadcast_reaches_the_others_and_the_sender_when_it_asks(server):
    async def scenario():
        sender, listener = await _client(server), await _client(server)
        room = f"room-{uuid.uuid4().hex[:8]}"
        heard_by_sender, heard_by_listener = [], []
        a = sender.channel(room, {"config": {"broadcast": {"self": True, "ack": True}}})
        a.on_broadcast("chat", lambda message: heard_by_sender.append(message))
        b = listener.channel(room)
        b.on_broadcast("chat", lambda message: heard_by_listener.append(message))
        assert (await _subscribe(a))[0] == "SUBSCRIBED"
        assert (await _subscribe(b))[0] == "SUBSCRIBED"
        await a.send_broadcast("chat", {"text": "hello"})
        assert await _eventually(lambda: heard_by_listener and heard_by_sender)
        assert heard_by_listener[0]["event"] == "chat" and heard_by_listener[0]["payload"] == {"text": "hello"}
        assert heard_by_sender[0]["payload"] == {"text": "hello"}
        # A listener without `self` does not hear its own broadcast.
        await b.send_broadcast("chat", {"text": "from b"})
        assert await _eventually(lambda: len(heard_by_sender) == 2)
        await asyncio.sleep(0.3)
        assert [m["payload"]["text"] for m in heard_by_listener] == ["hello"]
        # Another room hears nothing.
        other = (await _client(server)).channel(f"room-{uuid.uuid4().hex[:8]}")
        heard_elsewhere = []
        other.on_broadcast("chat", lambda message: heard_elsewhere.append(message))
        assert (await _subscribe(other))[0] == "SUBSCRIBED"
        await a.send_broadcast("chat", {"text": "again"})
        assert await _eventually(lambda: len(heard_by_listener) == 2)
        assert heard_elsewhere == []
        for client in (sender, listener):
            await client.realtime.close()
        await other.socket.close()

    run(scenario())


def test_presence_join_and_leave(server):
    async def scenario():
        alice, bob = await _client(server), await _client(server)
        room = f"lobby-{uuid.uuid4().hex[:8]}"
        joins, leaves = [], []
        watcher = bob.channel(room, {"config": {"presence": {"key": "bob"}}})
        watcher.on_presence_join(lambda key, current, new: joins.append(key))
        watcher.on_presence_leave(lambda key, current, left: leaves.append(key))
        assert (await _subscribe(watcher))[0] == "SUBSCRIBED"
        tracked = alice.channel(room, {"config": {"presence": {"key": "alice"}}})
        assert (await _subscribe(tracked))[0] == "SUBSCRIBED"
        await tracked.track({"status": "online"})
        assert await _eventually(lambda: "alice" in joins)
        assert await _eventually(lambda: "alice" in watcher.presence_state())
        assert watcher.presence_state()["alice"][0]["status"] == "online"
        # Leaving the channel (as closing the tab does) is a presence leave.
        await alice.remove_channel(tracked)
        assert await _eventually(lambda: "alice" in leaves)
        assert "alice" not in watcher.presence_state()
        await bob.realtime.close()

    run(scenario())


def test_private_channels_are_authorized_by_the_database(server):
    async def scenario():
        owner, owner_id = await _signed_in(server)
        other, _ = await _signed_in(server)
        topic = f"user:{owner_id}"
        mine = owner.channel(topic, {"config": {"private": True, "broadcast": {"self": True}}})
        heard = []
        mine.on_broadcast("note", lambda message: heard.append(message))
        assert (await _subscribe(mine))[0] == "SUBSCRIBED"
        await mine.send_broadcast("note", {"n": 1})
        assert await _eventually(lambda: heard)

        # Another user may not join someone else's private channel: the policy says no.
        state, error = await _subscribe(other.channel(topic, {"config": {"private": True}}))
        assert state == "CHANNEL_ERROR" and "Unauthorized" in str(error)
        # Nor may the anonymous key.
        anonymous = await _client(server)
        state, error = await _subscribe(anonymous.channel(topic, {"config": {"private": True}}))
        assert state == "CHANNEL_ERROR" and "Unauthorized" in str(error)
        # The same topic joined without `private` is another channel: it hears nothing of the
        # private one, and what it sends never reaches the private members.
        eavesdropper = await _client(server)
        public = eavesdropper.channel(topic, {"config": {"broadcast": {"self": True}}})
        overheard = []
        public.on_broadcast("note", lambda message: overheard.append(message))
        assert (await _subscribe(public))[0] == "SUBSCRIBED"
        await mine.send_broadcast("note", {"n": 2})
        assert await _eventually(lambda: len(heard) == 2)
        await public.send_broadcast("note", {"n": "forged"})
        assert await _eventually(lambda: len(overheard) == 1)  # its own, with self
        await asyncio.sleep(0.3)
        assert [m["payload"]["n"] for m in heard] == [1, 2] and [m["payload"]["n"] for m in overheard] == ["forged"]
        for client in (owner, other, anonymous, eavesdropper):
            await client.realtime.close()

    run(scenario())


def test_a_token_that_expires_ends_its_channels(server):
    """The compat server issues 10-second tokens: a channel joined with one ends when it expires."""
    async def scenario():
        client, _ = await _signed_in(server)
        channel = client.channel(f"room-{uuid.uuid4().hex[:8]}")
        states = []
        await channel.subscribe(lambda state, error: states.append((state, str(error) if error else None)))
        assert await _eventually(lambda: states)
        assert states[0][0] == "SUBSCRIBED"
        assert await _eventually(lambda: len(states) > 1, seconds=15)
        assert states[1][0] == "CHANNEL_ERROR" and "expired" in states[1][1]
        await client.realtime.close()

    run(scenario())


def test_postgres_changes_deliver_only_what_the_subscriber_may_see(server):
    async def scenario():
        author, author_id = await _signed_in(server)
        reader, reader_id = await _signed_in(server)
        await reader.rpc("follow_profile", {"p_profile_id": author_id}).execute()
        received = []
        channel = reader.channel(f"posts-of-{author_id[:8]}")
        channel.on_postgres_changes(
            "INSERT", lambda change: received.append(change["data"]), table="posts", schema="public", filter=f"author_id=eq.{author_id}")
        subscribed = []
        channel.on_system(lambda payload: subscribed.append(payload))
        assert (await _subscribe(channel))[0] == "SUBSCRIBED"
        assert await _eventually(lambda: subscribed)
        assert subscribed[0].message == "Subscribed to PostgreSQL"

        # A followed author's public post arrives, with the row as the reader may read it.
        post = (await author.rpc("create_post", {"p_body": "visible to all"}).execute()).data
        assert await _eventually(lambda: received, seconds=2)
        change = received[0]
        assert change["type"] == "INSERT" and change["table"] == "posts" and change["schema"] == "public"
        assert change["record"]["id"] == post["id"] and change["record"]["body"] == "visible to all"
        assert {"name": "body", "type": "text"} in change["columns"]

        # A private post never does; a post by someone else is not this binding's.
        await author.rpc("create_post", {"p_body": "only me", "p_visibility": "private"}).execute()
        other, _ = await _signed_in(server)
        await other.rpc("create_post", {"p_body": "someone else"}).execute()
        # The followers-only post arrives: the reader follows the author.
        await author.rpc("create_post", {"p_body": "followers only", "p_visibility": "followers"}).execute()
        assert await _eventually(lambda: len(received) == 2, seconds=2)
        assert received[1]["record"]["body"] == "followers only"

        # Once blocked, the author's posts stop arriving at once.
        await author.rpc("block_profile", {"p_profile_id": reader_id}).execute()
        await author.rpc("create_post", {"p_body": "after the block"}).execute()
        await asyncio.sleep(1.0)
        assert [c["record"]["body"] for c in received] == ["visible to all", "followers only"]
        for client in (author, reader, other):
            await client.realtime.close()

    run(scenario())


def test_postgres_changes_bindings_that_cannot_be_served_are_refused(server):
    async def scenario():
        client = await _client(server)
        for table, filter_, reason in (
            ("not_a_table", None, "not published"),
            ("posts", "no_such_column=eq.1", "not a column"),
            ("posts", "body=like.x", "operator"),
        ):
            channel = client.channel(f"bad-{uuid.uuid4().hex[:8]}")
            channel.on_postgres_changes("INSERT", lambda change: None, table=table, filter=filter_)
            state, error = await _subscribe(channel)
            assert state == "CHANNEL_ERROR" and reason in str(error), (table, filter_, error)
        await client.realtime.close()

    run(scenario())


def _live_home(server):
    async def scenario():
        author, author_id = await _signed_in(server)
        reader, reader_id = await _signed_in(server)
        stranger, _ = await _signed_in(server)
        await reader.rpc("follow_profile", {"p_profile_id": author_id}).execute()
        arrived = []
        home = reader.channel("home")
        home.on_broadcast("new_post", lambda message: arrived.append(message["payload"]))
        assert (await _subscribe(home))[0] == "SUBSCRIBED"

        post = (await author.rpc("create_post", {"p_body": "for my followers' homes"}).execute()).data
        assert await _eventually(lambda: arrived, seconds=3)
        row = arrived[0]
        # The row as the home feed shows it: the post, its author, and why it is there.
        assert row["id"] == post["id"] and row["body"] == "for my followers' homes"
        assert row["reasons"] == ["following"] and row["author"]["id"] == author_id

        # Not in the reader's home: a private post, a stranger's post.
        await author.rpc("create_post", {"p_body": "private", "p_visibility": "private"}).execute()
        await stranger.rpc("create_post", {"p_body": "not followed"}).execute()
        # Another user's home channel (same topic name) hears only its own user's posts.
        other_home = []
        stranger_home = stranger.channel("home")
        stranger_home.on_broadcast("new_post", lambda message: other_home.append(message["payload"]))
        assert (await _subscribe(stranger_home))[0] == "SUBSCRIBED"
        await author.rpc("create_post", {"p_body": "second"}).execute()
        assert await _eventually(lambda: len(arrived) == 2, seconds=3)
        assert [r["body"] for r in arrived] == ["for my followers' homes", "second"]
        assert other_home == []
        # Nobody sends on the home channel.
        await home.send_broadcast("new_post", {"id": "forged"})
        await asyncio.sleep(0.3)
        assert len(arrived) == 2 and other_home == []

        # The anonymous key has no home.
        anonymous = await _client(server)
        state, error = await _subscribe(anonymous.channel("home"))
        assert state == "CHANNEL_ERROR" and "Unauthorized" in str(error)
        for client in (author, reader, stranger, anonymous):
            await client.realtime.close()

    run(scenario())


def test_the_live_home_feed_gets_new_posts_from_the_fan_out(server):
    _live_home(server)


def test_the_live_home_feed_with_the_cache_shared_through_redis():
    """With REDIS_URL the cached homes are dropped, not pushed (other instances read Redis's
    copies), and the live homes open on this instance are still fed by the fan-out."""
    import socket
    import subprocess
    import tempfile
    from conftest import server_keys, start_server, stop_server

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        redis_port = probe.getsockname()[1]
    redis = subprocess.Popen(["/usr/bin/redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", tempfile.mkdtemp(dir=os.environ.get("FEEDFUSION_TEST_TMP"))],
                             stdout=subprocess.DEVNULL)
    try:
        own = server_keys(*start_server(REDIS_URL=f"redis://127.0.0.1:{redis_port}"))
        try:
            _live_home(own)
        finally:
            assert stop_server(own["process"]) == 0
    finally:
        redis.terminate()
        redis.wait(timeout=10)


def test_a_server_restart_closes_channels_cleanly_and_the_client_rejoins(server):
    """SIGTERM closes every WebSocket with a close frame (no hang, exit 0); the unchanged client
    reconnects with its backoff when the server is back and rejoins its channels by itself."""
    import threading
    from conftest import server_keys, start_server, stop_server

    own = server_keys(*start_server())
    process, env, port = own["process"], own["env"], own["port"]
    try:
        async def scenario():
            client = await _client(own)
            heard, states = [], []
            channel = client.channel("room-restart", {"config": {"broadcast": {"self": True}}})
            channel.on_broadcast("chat", lambda message: heard.append(message["payload"]["text"]))
            await channel.subscribe(lambda state, error: states.append(state))
            assert await _eventually(lambda: "SUBSCRIBED" in states)
            await channel.send_broadcast("chat", {"text": "before"})
            assert await _eventually(lambda: heard == ["before"])
            # The stop must not wait on the open WebSocket: it is closed as part of the shutdown.
            code = await asyncio.to_thread(stop_server, process, 20)
            assert code == 0
            assert await _eventually(lambda: "CHANNEL_ERROR" in states, 5)
            restarted = {}
            threading.Thread(target=lambda: restarted.update(zip(("process", "port", "env", "log"), start_server(env["DATA_DIR"], port)))).start()
            # Back within the client's retries (1 + 2 + 4 + 8 s): SUBSCRIBED again, with nobody's help.
            assert await _eventually(lambda: states.count("SUBSCRIBED") >= 2, 40), states
            await channel.send_broadcast("chat", {"text": "after"})
            assert await _eventually(lambda: heard == ["before", "after"])
            await client.realtime.close()
            return restarted

        restarted = asyncio.run(asyncio.wait_for(scenario(), 90))
        process = restarted["process"]
    finally:
        assert stop_server(process) == 0


def test_broadcasts_sent_over_http_reach_the_channel(server):
    """`channel.http_send()` (POST /realtime/v1/api/broadcast/<topic>/events/<event>) and the
    messages form reach the members; a private channel over HTTP obeys its policies too."""
    import json
    import urllib.error
    import urllib.request
    from realtime.exceptions import RealtimeHTTPError

    async def scenario():
        listener, listener_id = await _signed_in(server)
        room = f"http-{uuid.uuid4().hex[:8]}"
        heard, heard_private = [], []
        public = listener.channel(room)
        public.on_broadcast("note", lambda message: heard.append(message["payload"]))
        assert (await _subscribe(public))[0] == "SUBSCRIBED"
        private = listener.channel(f"user:{listener_id}", {"config": {"private": True}})
        private.on_broadcast("note", lambda message: heard_private.append(message["payload"]))
        assert (await _subscribe(private))[0] == "SUBSCRIBED"

        # The unchanged client's http_send, as the anonymous key: the public channel hears it.
        sender = await _client(server)
        await sender.channel(room).http_send("note", {"text": "over http"})
        assert await _eventually(lambda: heard == [{"text": "over http"}])

        # The messages form.
        request = urllib.request.Request(
            f"{server['url']}/realtime/v1/api/broadcast", method="POST",
            data=json.dumps({"messages": [{"topic": room, "event": "note", "payload": {"n": 1}},
                                          {"topic": room, "event": "note", "payload": {"n": 2}}]}).encode(),
            headers={"apikey": server["anon_key"], "Content-Type": "application/json"})
        assert urllib.request.urlopen(request).status == 202
        assert await _eventually(lambda: heard[1:] == [{"n": 1}, {"n": 2}])

        # Private: the anonymous key may not send; another user may not (the policy); the owner may.
        with pytest.raises(RealtimeHTTPError) as refused:
            await sender.channel(f"user:{listener_id}", {"config": {"private": True}}).http_send("note", {"forged": True})
        assert refused.value.status == 403
        other, _ = await _signed_in(server)
        with pytest.raises(RealtimeHTTPError) as refused:
            await other.channel(f"user:{listener_id}", {"config": {"private": True}}).http_send("note", {"forged": True})
        assert refused.value.status == 403 and "permissions to write" in str(refused.value)
        await listener.channel(f"user:{listener_id}", {"config": {"private": True}}).http_send("note", {"mine": True})
        assert await _eventually(lambda: heard_private == [{"mine": True}])
        assert all("forged" not in m for m in heard + heard_private)

        # Bad requests: a clear 400 or 415, never a 5xx.
        for body, content_type, status in [(b"{not json", "application/json", 400), (b"\x00\x01", "application/octet-stream", 415),
                                           (b'{"messages": []}', "application/json", 400)]:
            path = "/realtime/v1/api/broadcast" if b"messages" in body else f"/realtime/v1/api/broadcast/{room}/events/note"
            bad = urllib.request.Request(f"{server['url']}{path}", method="POST", data=body,
                                         headers={"apikey": server["anon_key"], "Content-Type": content_type})
            with pytest.raises(urllib.error.HTTPError) as answered:
                urllib.request.urlopen(bad)
            assert answered.value.code == status and "message" in json.loads(answered.value.read())
        for client in (listener, sender, other):
            await client.realtime.close()

    run(scenario())
