"""/realtime/v1 with the official clients, unchanged: supabase-py's async client and its realtime
part join channels, broadcast, track presence and join private channels the database authorizes."""
import asyncio
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
        for client in (owner, other, anonymous):
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
