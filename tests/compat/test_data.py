"""The official Supabase Python client, unchanged, against FeedFusion's /rest/v1."""
import uuid

import pytest
from postgrest.exceptions import APIError

PASSWORD = "correct horse battery staple"


def _signed_in(client, email, username):
    session = client.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"username": username}}})
    return session.user.id


@pytest.fixture
def alice(anon, email):
    user_id = _signed_in(anon, email, "alice_" + uuid.uuid4().hex[:8])
    return anon, user_id


def test_insert_select_filter_order_range_count(alice):
    client, user_id = alice
    inserted = client.table("posts").insert({"author_id": user_id, "body": "first"}).execute()
    assert inserted.data[0]["body"] == "first"
    bulk = client.table("posts").insert(
        [{"author_id": user_id, "body": "second", "visibility": "followers"}, {"author_id": user_id, "body": "third", "visibility": "private"}]
    ).execute()
    assert [row["body"] for row in bulk.data] == ["second", "third"]

    page = (
        client.table("posts")
        .select("body", count="exact")
        .eq("author_id", user_id)
        .in_("visibility", ["public", "private"])
        .order("body", desc=True)
        .range(0, 0)
        .execute()
    )
    assert page.count == 2
    assert [row["body"] for row in page.data] == ["third"]

    both = client.table("posts").select("body").eq("author_id", user_id).or_("body.eq.first,body.eq.second").order("body").execute()
    assert [row["body"] for row in both.data] == ["first", "second"]
    liked = client.table("posts").select("body").eq("author_id", user_id).ilike("body", "%IRS%").execute()
    assert [row["body"] for row in liked.data] == ["first"]


def test_embedding_single_and_maybe_single(alice):
    client, user_id = alice
    client.table("posts").insert({"author_id": user_id, "body": "embedded"}).execute()
    row = client.table("posts").select("body, author:profiles(username)").eq("author_id", user_id).single().execute()
    assert row.data["body"] == "embedded"
    assert row.data["author"]["username"].startswith("alice_")
    profile = client.table("profiles").select("username, posts(body)").eq("id", user_id).single().execute()
    assert [post["body"] for post in profile.data["posts"]] == ["embedded"]
    missing = client.table("posts").select("body").eq("id", str(uuid.uuid4())).maybe_single().execute()
    assert missing is None or missing.data is None
    with pytest.raises(APIError) as many:
        client.table("profiles").select("username").limit(2).single().execute()
    assert many.value.code == "PGRST116"


def test_upsert_update_delete_with_returning(alice):
    client, user_id = alice
    profile = client.table("profiles").upsert({"id": user_id, "username": "alice_up_" + user_id[:6], "display_name": "Alice"}).execute()
    assert profile.data[0]["display_name"] == "Alice"
    post = client.table("posts").insert({"author_id": user_id, "body": "to edit"}).execute().data[0]
    edited = client.table("posts").update({"body": "edited"}).eq("id", post["id"]).execute()
    assert edited.data[0]["body"] == "edited"
    deleted = client.table("posts").delete().eq("id", post["id"]).execute()
    assert deleted.data[0]["id"] == post["id"]
    assert client.table("posts").select("id").eq("id", post["id"]).execute().data == []


def test_rpc_set_returning_scalar_and_void(alice, service):
    client, user_id = alice
    found = client.rpc("search_profiles", {"p_query": "alice_"}).eq("id", user_id).execute()
    assert [row["id"] for row in found.data] == [user_id]
    assert client.rpc("is_admin", {}).execute().data is False
    other = service.auth.admin.create_user({"email": f"other-{uuid.uuid4().hex[:8]}@example.com", "password": PASSWORD})
    followed = client.rpc("follow_profile", {"p_profile_id": other.user.id}).execute()
    assert followed.data in (None, "", [])
    follows = client.table("follows").select("followed_profile_id, status").eq("follower_id", user_id).execute()
    assert follows.data == [{"followed_profile_id": other.user.id, "status": "accepted"}]
    with pytest.raises(APIError) as unknown:
        client.rpc("no_such_function", {}).execute()
    assert unknown.value.code == "PGRST202"


def test_rls_seen_from_the_client(anon, server, email):
    from supabase import create_client

    a_id = _signed_in(anon, email, "owner_" + uuid.uuid4().hex[:8])
    private = anon.table("posts").insert({"author_id": a_id, "body": "secret", "visibility": "private"}).execute().data[0]

    bob = create_client(server["url"], server["anon_key"])
    _signed_in(bob, "bob-" + email, "bob_" + uuid.uuid4().hex[:8])
    assert bob.table("posts").select("id").eq("id", private["id"]).execute().data == []
    changed = bob.table("profiles").update({"display_name": "hacked"}).eq("id", a_id).execute()
    assert changed.data == []
    assert anon.table("profiles").select("display_name").eq("id", a_id).single().execute().data["display_name"] is None
    with pytest.raises(APIError) as forged:
        bob.table("posts").insert({"author_id": a_id, "body": "as alice"}).execute()
    assert forged.value.code == "42501"

    stranger = create_client(server["url"], server["anon_key"])
    with pytest.raises(APIError) as refused:
        stranger.table("posts").insert({"author_id": a_id, "body": "anon"}).execute()
    assert refused.value.code == "42501"
