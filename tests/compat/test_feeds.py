"""The feed RPCs through the official Supabase Python client, unchanged."""
import uuid

import pytest
from postgrest.exceptions import APIError

from conftest import _client

PASSWORD = "correct horse battery staple"


def _user(server, prefix):
    client = _client(server["url"], server["anon_key"])
    email = f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"
    session = client.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"username": f"{prefix}_{uuid.uuid4().hex[:8]}"}}})
    return client, session.user.id


def test_home_feed_pages_and_reasons(server):
    writer, writer_id = _user(server, "writer")
    reader, reader_id = _user(server, "reader")
    reader.rpc("follow_profile", {"p_profile_id": writer_id}).execute()

    created = []
    for index in range(5):
        row = writer.rpc("create_post", {"p_body": f"post {index}", "p_target_profile_ids": [reader_id] if index == 2 else []}).execute()
        assert row.data["body"] == f"post {index}"
        assert row.data["reasons"] == ["self"]
        created.append(row.data["id"])
    mine = reader.rpc("create_post", {"p_body": "my own", "p_visibility": "followers"}).execute().data

    walked, cursor = [], None
    while True:
        args = {"p_limit": 2} | ({"p_cursor": cursor} if cursor else {})
        page = reader.rpc("feed_fusion_home", args).execute().data
        walked += page
        if len(page) < 2:
            break
        cursor = page[-1]["cursor"]
    assert [row["id"] for row in walked] == [mine["id"]] + list(reversed(created))
    reasons = {row["body"]: row["reasons"] for row in walked}
    assert reasons["my own"] == ["self"]
    assert reasons["post 2"] == ["following", "mention"]
    assert reasons["post 0"] == ["following"]
    assert walked[1]["author"]["id"] == writer_id


def test_feed_errors_reach_the_client_as_api_errors(server, anon):
    with pytest.raises(APIError) as anonymous:
        anon.rpc("feed_fusion_home", {}).execute()
    assert anonymous.value.code == "42501"
    reader, _ = _user(server, "picky")
    with pytest.raises(APIError) as too_many:
        reader.rpc("feed_fusion_home", {"p_limit": 500}).execute()
    assert too_many.value.code == "22023"
    with pytest.raises(APIError) as bad_cursor:
        reader.rpc("feed_fusion_home", {"p_cursor": "not-a-cursor"}).execute()
    assert bad_cursor.value.code == "22023"


def test_profile_feed_for_anon_shows_public_posts_only(server, anon):
    author, author_id = _user(server, "author")
    author.rpc("create_post", {"p_body": "for everyone"}).execute()
    author.rpc("create_post", {"p_body": "for followers", "p_visibility": "followers"}).execute()
    rows = anon.rpc("feed_fusion_profile", {"p_profile_id": author_id}).execute().data
    assert [row["body"] for row in rows] == ["for everyone"]
