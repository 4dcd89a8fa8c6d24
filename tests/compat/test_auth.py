"""The official Supabase Python client, unchanged, against FeedFusion's /auth/v1."""
import pytest
from supabase_auth.errors import AuthApiError, AuthWeakPasswordError

PASSWORD = "correct horse battery staple"


def test_sign_up_sign_in_and_get_user(anon, email):
    signed_up = anon.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"display_name": "Tester"}}})
    assert signed_up.session is not None
    assert signed_up.user.email == email
    assert signed_up.user.user_metadata["display_name"] == "Tester"

    signed_in = anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert signed_in.session.access_token
    assert signed_in.session.token_type == "bearer"
    assert signed_in.user.id == signed_up.user.id
    assert signed_in.user.last_sign_in_at is not None

    current = anon.auth.get_user()
    assert current.user.email == email
    assert current.user.aud == "authenticated"


def test_update_user(anon, email):
    anon.auth.sign_up({"email": email, "password": PASSWORD})
    updated = anon.auth.update_user({"data": {"theme": "dark"}})
    assert updated.user.user_metadata["theme"] == "dark"
    anon.auth.update_user({"password": "a different long passphrase"})
    anon.auth.sign_out()
    with pytest.raises(AuthApiError) as wrong:
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert wrong.value.code == "invalid_credentials"
    assert anon.auth.sign_in_with_password({"email": email, "password": "a different long passphrase"}).session


def test_refresh_with_a_short_token_lifetime(anon, email):
    session = anon.auth.sign_up({"email": email, "password": PASSWORD}).session
    assert session.expires_in == 10
    # The token expires within the client's margin, so get_session() refreshes it.
    refreshed = anon.auth.get_session()
    assert refreshed.refresh_token != session.refresh_token
    again = anon.auth.refresh_session()
    assert again.session.refresh_token != refreshed.refresh_token
    assert anon.auth.get_user().user.email == email


def test_sign_out_ends_the_session(anon, email):
    session = anon.auth.sign_up({"email": email, "password": PASSWORD}).session
    anon.auth.sign_out()
    assert anon.auth.get_session() is None
    with pytest.raises(AuthApiError) as ended:
        anon.auth.get_user(session.access_token)
    assert ended.value.code == "session_not_found"
    with pytest.raises(AuthApiError) as revoked:
        anon.auth.refresh_session(session.refresh_token)
    assert revoked.value.code == "refresh_token_not_found"


def test_typed_errors(anon, email):
    with pytest.raises(AuthApiError) as unknown:
        anon.auth.sign_in_with_password({"email": email, "password": PASSWORD})
    assert unknown.value.code == "invalid_credentials"
    assert unknown.value.status == 400

    anon.auth.sign_up({"email": email, "password": PASSWORD})
    with pytest.raises(AuthApiError) as duplicate:
        anon.auth.sign_up({"email": email.upper(), "password": PASSWORD})
    assert duplicate.value.code == "user_already_exists"
    assert duplicate.value.status == 422

    with pytest.raises(AuthWeakPasswordError) as common:
        anon.auth.sign_up({"email": "other-" + email, "password": "password123"})
    assert "pwned" in common.value.reasons
    with pytest.raises(AuthWeakPasswordError) as short:
        anon.auth.sign_up({"email": "short-" + email, "password": "x9$Lq"})
    assert short.value.reasons == ["length"]

    with pytest.raises(AuthApiError) as anonymous:
        anon.auth.sign_in_anonymously()
    assert anonymous.value.code == "anonymous_provider_disabled"


def test_admin_api_with_the_service_key(service, anon, email):
    created = service.auth.admin.create_user(
        {"email": email, "password": PASSWORD, "email_confirm": True, "user_metadata": {"name": "Admin Made"}}
    )
    user_id = created.user.id
    assert created.user.email_confirmed_at is not None

    listed = service.auth.admin.list_users(page=1, per_page=1000)
    assert user_id in [user.id for user in listed]

    fetched = service.auth.admin.get_user_by_id(user_id)
    assert fetched.user.user_metadata["name"] == "Admin Made"

    promoted = service.auth.admin.update_user_by_id(user_id, {"app_metadata": {"role": "admin"}})
    assert promoted.user.app_metadata["role"] == "admin"
    assert promoted.user.app_metadata["provider"] == "email"

    assert anon.auth.sign_in_with_password({"email": email, "password": PASSWORD}).session

    service.auth.admin.delete_user(user_id)
    with pytest.raises(AuthApiError) as gone:
        service.auth.admin.get_user_by_id(user_id)
    assert gone.value.code == "user_not_found"


def test_admin_api_refuses_the_anon_key(anon):
    with pytest.raises(AuthApiError) as refused:
        anon.auth.admin.list_users()
    assert refused.value.code == "not_admin"
