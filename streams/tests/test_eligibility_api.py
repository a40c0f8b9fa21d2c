import pytest

from accounts import services


@pytest.mark.django_db
def test_exempt_streamer_sees_exemption(api_as, alice):
    services.user_set_go_live_exempt(user=alice, exempt=True)
    body = api_as(alice).get("/api/v1/streams/eligibility/").json()
    assert body["eligible"] is True and body["exempt"] is True and body["code"] == "exempt"


@pytest.mark.django_db
def test_eligible_at_threshold(api_as, alice, followers_of):
    followers_of(alice, 50)
    body = api_as(alice).get("/api/v1/streams/eligibility/").json()
    assert body["eligible"] is True
    assert body["reason"] == "You have 50 followers; you can go live."
