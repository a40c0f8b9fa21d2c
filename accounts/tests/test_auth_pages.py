import re

import pytest
from django.core import mail

from accounts.models import User
from accounts.tests.factories import PASSWORD


@pytest.mark.django_db
def test_sign_up_logs_in_and_lands_home(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "erin@example.com", "username": "Erin", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    user = User.objects.get(username="erin")
    assert client.get("/dashboard/").status_code == 200
    assert user.email == "erin@example.com"


@pytest.mark.django_db
def test_sign_up_refuses_reserved_username_with_message(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "x@example.com", "username": "dashboard", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200
    assert "Username can not be used" in response.content.decode()
    assert not User.objects.filter(username="dashboard").exists()


@pytest.mark.django_db
def test_log_in_with_username_or_email_and_log_out(client, alice):
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/dashboard/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/dashboard/").status_code == 302

    response = client.post("/accounts/login/", {"login": "alice@example.com", "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.django_db
def test_wrong_password_shows_an_error(client, alice):
    response = client.post("/accounts/login/", {"login": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "not correct" in response.content.decode()


@pytest.mark.django_db
def test_banned_user_cannot_log_in(client, alice, bob):
    from accounts.services import user_ban

    user_ban(user=alice, by=bob)
    response = client.post("/accounts/login/", {"login": "alice", "password": PASSWORD})
    assert response["Location"] == "/accounts/inactive/"
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.django_db
def test_password_reset_mail_and_new_password(client, alice):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=alice, email=alice.email, primary=True, verified=True)
    client.post("/accounts/password/reset/", {"email": "alice@example.com"})
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", mail.outbox[0].body).group(1)
    form_url = client.get(link)["Location"]
    response = client.post(form_url, {"password1": "brand-new-pass-42", "password2": "brand-new-pass-42"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password("brand-new-pass-42")


@pytest.mark.django_db
def test_ban_ends_an_open_session(client, alice, bob):
    from accounts.services import user_ban

    client.force_login(alice)
    assert client.get("/dashboard/").status_code == 200
    user_ban(user=alice, by=bob)
    assert client.get("/dashboard/").status_code == 302
