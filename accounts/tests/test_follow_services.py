import pytest
from django.db import IntegrityError

from accounts import services
from accounts.errors import AccountError
from accounts.models import Follow


@pytest.mark.django_db
def test_follow_twice_keeps_one_row(alice, carol):
    _, created = services.follow_create(follower=carol, followee=alice)
    _, created_again = services.follow_create(follower=carol, followee=alice)
    assert (created, created_again) == (True, False)
    assert Follow.objects.filter(follower=carol, followee=alice).count() == 1


@pytest.mark.django_db
def test_unfollow_twice_is_not_an_error(alice, carol):
    services.follow_create(follower=carol, followee=alice)
    assert services.follow_delete(follower=carol, followee=alice) is True
    assert services.follow_delete(follower=carol, followee=alice) is False
    assert not Follow.objects.filter(follower=carol, followee=alice).exists()


@pytest.mark.django_db
def test_self_follow_refused_with_reason(alice):
    with pytest.raises(AccountError) as exc:
        services.follow_create(follower=alice, followee=alice)
    assert exc.value.code == "self_follow"
    assert exc.value.message == "You can't follow yourself."
    assert not Follow.objects.exists()


@pytest.mark.django_db
def test_database_refuses_self_follow_even_past_the_service(alice):
    with pytest.raises(IntegrityError):
        Follow.objects.create(follower=alice, followee=alice)


@pytest.mark.django_db
def test_database_refuses_duplicate_follow(alice, carol):
    Follow.objects.create(follower=carol, followee=alice)
    with pytest.raises(IntegrityError):
        Follow.objects.create(follower=carol, followee=alice)


@pytest.mark.django_db
def test_following_a_suspended_account_is_refused(alice, carol, bob):
    services.user_ban(user=alice, by=bob)
    with pytest.raises(AccountError) as exc:
        services.follow_create(follower=carol, followee=alice)
    assert exc.value.code == "user_suspended"


@pytest.mark.django_db
def test_ban_and_unban(alice, bob):
    services.user_ban(user=alice, by=bob, reason="spam")
    alice.refresh_from_db()
    assert not alice.is_active and alice.ban_reason == "spam" and alice.banned_at is not None
    services.user_unban(user=alice)
    alice.refresh_from_db()
    assert alice.is_active and alice.ban_reason == "" and alice.banned_at is None


@pytest.mark.django_db
def test_moderator_cannot_ban_a_superuser(bob, django_user_model):
    root = django_user_model.objects.create_superuser("root1", "root1@example.com", "x-strong-pass-1")
    with pytest.raises(AccountError) as exc:
        services.user_ban(user=root, by=bob)
    assert exc.value.status_code == 403
