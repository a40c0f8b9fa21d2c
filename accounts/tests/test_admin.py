import io

import pytest
from django import forms
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.admin import UserAdminForm
from accounts.tests.factories import UserFactory


@pytest.mark.django_db
def test_moderator_bans_from_the_admin(client, bob, carol):
    client.force_login(bob)
    response = client.post(
        "/admin/accounts/user/",
        {"action": "ban_users", "_selected_action": [carol.pk]},
        follow=True,
    )
    assert response.status_code == 200
    carol.refresh_from_db()
    assert not carol.is_active and "bob" in carol.ban_reason

    client.post("/admin/accounts/user/", {"action": "unban_users", "_selected_action": [carol.pk]})
    carol.refresh_from_db()
    assert carol.is_active


@pytest.mark.django_db
def test_a_moderator_cannot_bring_back_or_exempt_a_staff_account(client, bob):
    """S-18: unbanning (and the exemption) of staff is for superusers, as banning is."""
    boss = UserFactory(username="boss", is_staff=True, is_superuser=True, is_active=False)
    client.force_login(bob)
    response = client.post(
        "/admin/accounts/user/", {"action": "unban_users", "_selected_action": [boss.pk]}, follow=True
    )
    assert "Only a superuser can unban staff." in response.content.decode()
    client.post("/admin/accounts/user/", {"action": "exempt_from_threshold", "_selected_action": [boss.pk]})
    boss.refresh_from_db()
    assert not boss.is_active and not boss.go_live_exempt


@pytest.mark.django_db
def test_moderator_grants_exemption(client, bob, alice):
    client.force_login(bob)
    client.post("/admin/accounts/user/", {"action": "exempt_from_threshold", "_selected_action": [alice.pk]})
    alice.refresh_from_db()
    assert alice.go_live_exempt


@pytest.mark.django_db
def test_moderator_cannot_grant_powers(client, bob, carol):
    client.force_login(bob)
    page = client.get(f"/admin/accounts/user/{carol.pk}/change/").content.decode()
    assert 'name="go_live_exempt"' in page
    assert 'name="is_superuser"' not in page and 'name="is_staff"' not in page


@pytest.mark.django_db
def test_user_search_and_list(client, bob, followers_of):
    target = UserFactory(username="findme")
    followers_of(target, 3)
    client.force_login(bob)
    page = client.get("/admin/accounts/user/?q=findme").content.decode()
    assert "findme" in page
    assert client.get("/admin/accounts/follow/").status_code == 200


@pytest.mark.django_db
def test_stranger_cannot_open_admin(client, carol):
    client.force_login(carol)
    assert client.get("/admin/accounts/user/").status_code == 302


@pytest.mark.django_db
def test_moderator_cannot_set_anyones_password(client, bob, carol):
    client.force_login(bob)
    response = client.post(
        f"/admin/accounts/user/{carol.pk}/password/",
        {"password1": "pwned-by-mod-123", "password2": "pwned-by-mod-123"},
    )
    assert response.status_code == 403
    carol.refresh_from_db()
    assert not carol.check_password("pwned-by-mod-123")


@pytest.mark.django_db
def test_moderator_cannot_edit_staff_or_superusers(client, bob, django_user_model):
    root = django_user_model.objects.create_superuser("root1", "root1@example.com", "x-strong-pass-1")
    client.force_login(bob)
    page = client.get(f"/admin/accounts/user/{root.pk}/change/")
    assert page.status_code == 200 and 'name="display_name"' not in page.content.decode()  # view only
    response = client.post(
        f"/admin/accounts/user/{root.pk}/change/",
        {"username": "root1", "email": "mod@evil.example", "display_name": "x"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.email == "root1@example.com" and root.is_active


@pytest.mark.django_db
def test_moderator_edits_a_profile_but_not_credentials(client, bob, carol):
    client.force_login(bob)
    page = client.get(f"/admin/accounts/user/{carol.pk}/change/").content.decode()
    for field in ("username", "email", "is_active", "is_staff", "is_superuser"):
        assert f'name="{field}"' not in page, field
    assert 'name="display_name"' in page and 'name="go_live_exempt"' in page


@pytest.mark.django_db
def test_moderator_cannot_ban_staff_from_the_admin(client, bob):
    other_mod = UserFactory(username="mod2", is_staff=True)
    client.force_login(bob)
    client.post("/admin/accounts/user/", {"action": "ban_users", "_selected_action": [other_mod.pk]})
    other_mod.refresh_from_db()
    assert other_mod.is_active


@pytest.mark.django_db
def test_an_avatar_uploaded_in_the_admin_is_reencoded(carol):
    """S-18: the admin's avatar field goes through avatar_normalize like the profile page."""
    buffer = io.BytesIO()
    Image.new("RGB", (2000, 1000), "teal").save(buffer, format="PNG")
    form = UserAdminForm(instance=carol)
    form.cleaned_data = {"avatar": SimpleUploadedFile("x.gif", buffer.getvalue())}
    clean = form.clean_avatar()
    assert clean.name == "avatar.jpg"  # named by its real format, re-encoded
    assert Image.open(clean).size == (512, 256)
    form.cleaned_data = {"avatar": SimpleUploadedFile("x.png", b"<?php system($_GET['c']); ?>")}
    with pytest.raises(forms.ValidationError):
        form.clean_avatar()
