import pytest

from accounts import services
from accounts.selectors import user_go_live_eligibility


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("followers", "eligible", "reason"),
    [
        (49, False, "You need 50 followers to go live; you have 49."),
        (50, True, "You have 50 followers; you can go live."),
        (51, True, "You have 51 followers; you can go live."),
    ],
)
def test_threshold_at_49_50_51(alice, followers_of, followers, eligible, reason):
    followers_of(alice, followers)
    result = user_go_live_eligibility(user=alice)
    assert result.as_dict() == {
        "eligible": eligible,
        "follower_count": followers,
        "required": 50,
        "reason": reason,
        "code": "eligible" if eligible else "not_enough_followers",
        "exempt": False,
    }


@pytest.mark.django_db
def test_reason_uses_the_configured_threshold(settings, alice, followers_of):
    settings.GO_LIVE_MIN_FOLLOWERS = 3
    followers_of(alice, 1)
    assert user_go_live_eligibility(user=alice).reason == "You need 3 followers to go live; you have 1."
    settings.GO_LIVE_MIN_FOLLOWERS = 1
    assert user_go_live_eligibility(user=alice).reason == "You have 1 follower; you can go live."


@pytest.mark.django_db
def test_exempt_user_may_go_live_without_followers(alice):
    services.user_set_go_live_exempt(user=alice, exempt=True)
    result = user_go_live_eligibility(user=alice)
    assert result.eligible and result.exempt and result.follower_count == 0
    assert result.reason == "Your account is exempt from the follower requirement; you can go live."


@pytest.mark.django_db
def test_suspended_followers_do_not_count(alice, bob, followers_of):
    fans = followers_of(alice, 50)
    assert user_go_live_eligibility(user=alice).eligible
    services.user_ban(user=fans[0], by=bob)
    result = user_go_live_eligibility(user=alice)
    assert not result.eligible
    assert result.reason == "You need 50 followers to go live; you have 49."


@pytest.mark.django_db
def test_suspended_streamer_is_not_eligible_even_if_exempt(alice, bob, followers_of):
    followers_of(alice, 60)
    services.user_set_go_live_exempt(user=alice, exempt=True)
    services.user_ban(user=alice, by=bob)
    alice.refresh_from_db()
    result = user_go_live_eligibility(user=alice)
    assert not result.eligible and result.code == "suspended"
