import pytest
from allauth.account.models import EmailAddress

from accounts.models import User
from accounts.tests.factories import PASSWORD
from socialflow.tests.helpers import assert_error

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"


@pytest.mark.django_db
def test_register_creates_account_and_primary_email(api):
    response = api.post(
        REGISTER, {"username": "Dave_01", "email": "dave@example.com", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["username"] == "dave_01"  # usernames are stored lower-case
    assert "password" not in body
    user = User.objects.get(username="dave_01")
    assert user.check_password(PASSWORD)
    assert EmailAddress.objects.get(user=user).primary


@pytest.mark.django_db
def test_register_refuses_taken_username_case_insensitively(api, alice):
    response = api.post(
        REGISTER, {"username": "ALICE", "email": "x@example.com", "password": PASSWORD}, format="json"
    )
    body = assert_error(response, 409, "username_taken")
    assert body["detail"].startswith("username:")


@pytest.mark.django_db
def test_register_refuses_reserved_and_malformed_usernames(api):
    assert_error(
        api.post(
            REGISTER, {"username": "admin", "email": "a@example.com", "password": PASSWORD}, format="json"
        ),
        409,  # not available: a page's name
        "username_taken",
    )
    assert_error(
        api.post(
            REGISTER, {"username": "a b/c", "email": "b@example.com", "password": PASSWORD}, format="json"
        ),
        400,
        "invalid_username",
    )


@pytest.mark.django_db
def test_register_refuses_weak_password_and_taken_email(api, alice):
    assert_error(
        api.post(
            REGISTER, {"username": "dave", "email": "d@example.com", "password": "12345678"}, format="json"
        ),
        400,
        "invalid_password",
    )
    assert_error(
        api.post(
            REGISTER, {"username": "dave", "email": "ALICE@example.com", "password": PASSWORD}, format="json"
        ),
        409,
        "email_taken",
    )


@pytest.mark.django_db
def test_register_missing_fields_names_them(api):
    body = assert_error(api.post(REGISTER, {"username": "dave"}, format="json"), 400, "required")
    assert set(body["errors"]) == {"email", "password"}
    assert body["detail"] == "email: This field is required."


@pytest.mark.django_db
def test_malformed_json_is_a_400_not_a_500(api):
    response = api.generic("POST", REGISTER, data='{"username": ', content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.django_db
def test_token_pair_and_bearer_auth(api, alice):
    tokens = api.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json").json()
    assert {"access", "refresh"} <= set(tokens)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = api.get("/api/v1/me/")
    assert me.status_code == 200 and me.json()["username"] == "alice"

    refreshed = api.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200 and "access" in refreshed.json()


@pytest.mark.django_db
def test_wrong_password_and_bad_token_are_401(api, alice):
    assert_error(
        api.post(TOKEN, {"username": "alice", "password": "nope"}, format="json"), 401, "no_active_account"
    )
    api.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert_error(api.get("/api/v1/me/"), 401, "token_not_valid")


@pytest.mark.django_db
def test_banned_user_token_stops_working(api, alice, bob):
    from accounts.services import user_ban

    access = api.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json").json()["access"]
    user_ban(user=alice, by=bob)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/v1/me/").status_code == 401


@pytest.mark.django_db
def test_me_requires_auth(api):
    assert_error(api.get("/api/v1/me/"), 401, "not_authenticated")


@pytest.mark.django_db
def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found.", "code": "not_found"}


# --- S-20: refresh tokens are used once and end at sign-out -------------------------------

REFRESH = "/api/v1/auth/token/refresh/"


@pytest.mark.django_db
def test_a_refresh_token_is_used_once(api, alice):
    tokens = api.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json").json()
    refreshed = api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json").json()
    assert refreshed["refresh"] != tokens["refresh"]  # a new one comes with the new access token
    # the old one is spent: a copy that leaked is worth nothing once the app has refreshed
    assert_error(api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401, "token_not_valid")
    assert api.post(REFRESH, {"refresh": refreshed["refresh"]}, format="json").status_code == 200


@pytest.mark.django_db
def test_signing_out_ends_the_refresh_token(api, alice):
    tokens = api.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json").json()
    assert api.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code == 204
    assert_error(api.post(REFRESH, {"refresh": tokens["refresh"]}, format="json"), 401, "token_not_valid")
    again = api.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json")
    assert_error(again, 401, "token_not_valid")
    assert_error(api.post("/api/v1/auth/logout/", {"refresh": "junk"}, format="json"), 401, "token_not_valid")
    assert_error(api.post("/api/v1/auth/logout/", {}, format="json"), 400, "required")


@pytest.mark.django_db
def test_expired_refresh_tokens_are_cleared(api, alice):
    from datetime import timedelta

    import time_machine
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from accounts.services import sessions_clear_expired

    api.post(TOKEN, {"username": "alice", "password": PASSWORD}, format="json")
    assert OutstandingToken.objects.count() == 1
    with time_machine.travel(timedelta(days=8)):
        assert sessions_clear_expired() >= 1
    assert OutstandingToken.objects.count() == 0
