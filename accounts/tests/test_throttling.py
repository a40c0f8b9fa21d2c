import pytest
from rest_framework.throttling import SimpleRateThrottle

from accounts.tests.factories import PASSWORD
from socialflow.tests.helpers import assert_error


@pytest.fixture
def rates(monkeypatch):
    # DRF binds the rates at import; lower them for this test only.
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "register": "2/hour", "login": "3/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    return rates


@pytest.mark.django_db
def test_register_is_throttled_with_the_error_shape(api, rates):
    for i in range(2):
        api.post(
            "/api/v1/auth/register/",
            {"username": f"spam{i}", "email": f"s{i}@example.com", "password": PASSWORD},
            format="json",
        )
    response = api.post(
        "/api/v1/auth/register/",
        {"username": "spam9", "email": "s9@example.com", "password": PASSWORD},
        format="json",
    )
    body = assert_error(response, 429, "throttled")
    assert "Expected available in" in body["detail"]
    assert int(response["Retry-After"]) > 0


@pytest.mark.django_db
def test_token_endpoint_is_throttled(api, alice, rates):
    for _ in range(3):
        api.post("/api/v1/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert_error(
        api.post("/api/v1/auth/token/", {"username": "alice", "password": PASSWORD}, format="json"),
        429,
        "throttled",
    )


@pytest.mark.django_db
def test_a_forged_x_forwarded_for_does_not_dodge_the_throttle(api, alice, rates):
    """S-02: each request claims another client address; the connection's address counts."""
    codes = [
        api.post(
            "/api/v1/auth/token/",
            {"username": "alice", "password": f"guess{i}"},
            format="json",
            HTTP_X_FORWARDED_FOR=f"10.{i}.0.1",
        ).status_code
        for i in range(6)
    ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429, 429]


@pytest.mark.django_db
def test_anonymous_callers_are_counted_once_at_the_anonymous_rate(api, alice, monkeypatch):
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "anon": "3/min", "user": "1/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    codes = [api.get("/api/v1/users/alice/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    api.force_authenticate(alice)
    codes = [api.get("/api/v1/users/alice/").status_code for _ in range(2)]
    assert codes == [200, 429]
