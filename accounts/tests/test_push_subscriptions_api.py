"""POST/DELETE /api/v1/push/subscriptions/ and GET /api/v1/push/key/: a browser's Web Push
subscription, checked before it is kept (no endpoint this site must not send to)."""

import pytest

from accounts.models import PushSubscription
from accounts.tests.factories import UserFactory
from accounts.tests.push_service import Browser, b64url

URL = "/api/v1/push/subscriptions/"
# A public address no test ever sends to (registering a subscription contacts nobody).
PUBLIC_ENDPOINT = "https://142.250.1.1/fcm/send/abc123"

pytestmark = pytest.mark.django_db


def test_a_follower_registers_this_browser(api_as, carol, push_settings, push_service):
    browser = push_service.browser()
    response = api_as(carol).post(URL, browser.subscription_json(), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["endpoint"] == browser.endpoint
    subscription = PushSubscription.objects.get()
    assert (subscription.user, subscription.p256dh, subscription.auth) == (
        carol,
        browser.p256dh,
        browser.auth,
    )


def test_registering_again_updates_the_keys_and_answers_200(api_as, carol, push_settings, push_service):
    browser = push_service.browser()
    api_as(carol).post(URL, browser.subscription_json(), format="json")
    PushSubscription.objects.update(failures=3)
    again = Browser(endpoint=browser.endpoint)  # new keys for the same endpoint
    response = api_as(carol).post(URL, again.subscription_json(), format="json")
    assert response.status_code == 200
    subscription = PushSubscription.objects.get()
    assert (subscription.p256dh, subscription.failures) == (again.p256dh, 0)


def test_an_endpoint_registered_by_another_user_moves_to_the_one_logged_in(
    api, carol, push_settings, push_service
):
    dora = UserFactory(username="dora")
    browser = push_service.browser()
    api.force_authenticate(carol)
    api.post(URL, browser.subscription_json(), format="json")
    api.force_authenticate(dora)  # the same browser, another account
    assert api.post(URL, browser.subscription_json(), format="json").status_code == 200
    assert PushSubscription.objects.get().user == dora


def test_a_users_oldest_subscription_goes_beyond_the_limit(api_as, carol, push_settings, push_service):
    push_settings.WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER = 2
    browsers = [push_service.browser(f"b{n}") for n in range(3)]
    for browser in browsers:
        assert api_as(carol).post(URL, browser.subscription_json(), format="json").status_code == 201
    kept = set(PushSubscription.objects.values_list("endpoint", flat=True))
    assert kept == {browsers[1].endpoint, browsers[2].endpoint}


def test_anonymous_clients_are_refused(api, push_settings, push_service):
    body = push_service.browser().subscription_json()
    assert api.post(URL, body, format="json").status_code in (401, 403)
    assert api.delete(URL, {"endpoint": body["endpoint"]}, format="json").status_code in (401, 403)
    assert not PushSubscription.objects.exists()


def _with(body: dict, **changes) -> dict:
    keys = {**body["keys"], **changes.pop("keys", {})}
    return {**body, **changes, "keys": keys}


GOOD = Browser(endpoint=PUBLIC_ENDPOINT).subscription_json()
# The x coordinate of a point that is on no P-256 curve (y = 0 is never on it here).
OFF_CURVE = b64url(b"\x04" + b"\x01" * 32 + b"\x00" * 32)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "required"),
        ({"endpoint": PUBLIC_ENDPOINT}, "required"),
        (_with(GOOD, keys={"auth": None}), "null"),
        (_with(GOOD, keys={"p256dh": "not base64!"}), "invalid_subscription"),
        (_with(GOOD, keys={"p256dh": b64url(b"\x04" + b"\x01" * 40)}), "invalid_subscription"),
        (_with(GOOD, keys={"p256dh": OFF_CURVE}), "invalid_subscription"),
        (_with(GOOD, keys={"auth": b64url(b"\x01" * 8)}), "invalid_subscription"),
        (_with(GOOD, endpoint="http://142.250.1.1/push/1"), "invalid_endpoint"),
        (_with(GOOD, endpoint="ftp://142.250.1.1/push/1"), "invalid_endpoint"),
        (_with(GOOD, endpoint="not a url"), "invalid_endpoint"),
        (_with(GOOD, endpoint="https://user:pw@142.250.1.1/push/1"), "invalid_endpoint"),
        (_with(GOOD, endpoint="https://142.250.1.1:99999/push/1"), "invalid_endpoint"),
        (_with(GOOD, endpoint="https://142.250.1.1/" + "a" * 2100), "max_length"),
        # Addresses of this machine and its network (SSRF):
        (_with(GOOD, endpoint="https://127.0.0.1/push/1"), "endpoint_not_public"),
        (_with(GOOD, endpoint="https://localhost:8000/push/1"), "endpoint_not_public"),
        (_with(GOOD, endpoint="https://10.0.0.8/push/1"), "endpoint_not_public"),
        (_with(GOOD, endpoint="https://169.254.169.254/latest/meta-data"), "endpoint_not_public"),
        (_with(GOOD, endpoint="https://[::1]/push/1"), "endpoint_not_public"),
        (_with(GOOD, endpoint="https://[::ffff:127.0.0.1]/push/1"), "endpoint_not_public"),
        (_with(GOOD, endpoint="https://[2002:7f00:1::1]/push/1"), "endpoint_not_public"),  # 6to4 of 127.0.0.1
    ],
)
def test_bad_subscriptions_are_400_with_a_code(api_as, carol, push_settings, body, code):
    push_settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = False  # as in production
    response = api_as(carol).post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert not PushSubscription.objects.exists()


def test_a_public_https_endpoint_is_taken_with_the_local_rules_off(api_as, carol, push_settings):
    push_settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS = False
    assert api_as(carol).post(URL, GOOD, format="json").status_code == 201


def test_a_body_that_is_not_json_is_400(api_as, carol, push_settings):
    response = api_as(carol).post(URL, "{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"


def test_delete_removes_only_your_own(api, carol, push_settings, push_service):
    dora = UserFactory(username="dora")
    mine, theirs = push_service.browser("mine"), push_service.browser("theirs")
    api.force_authenticate(dora)
    api.post(URL, theirs.subscription_json(), format="json")
    api.force_authenticate(carol)
    api.post(URL, mine.subscription_json(), format="json")

    assert api.delete(URL, {"endpoint": theirs.endpoint}, format="json").status_code == 204
    assert api.delete(URL, {"endpoint": mine.endpoint}, format="json").status_code == 204
    assert list(PushSubscription.objects.values_list("user__username", flat=True)) == ["dora"]
    assert api.delete(URL, {}, format="json").json()["code"] == "required"


def test_the_public_key_is_served(api, push_settings):
    response = api.get("/api/v1/push/key/")
    assert response.status_code == 200
    assert response.json() == {"public_key": push_settings.WEB_PUSH_VAPID_PUBLIC_KEY}


def test_without_vapid_keys_push_is_off_404(api, carol, settings):
    assert not settings.WEB_PUSH_ENABLED  # the test settings read no .env
    body = Browser(endpoint=PUBLIC_ENDPOINT).subscription_json()
    assert api.get("/api/v1/push/key/").json() == {
        "detail": "Browser push notifications are not set up on this site.",
        "code": "push_disabled",
    }
    api.force_authenticate(carol)
    for response in (
        api.post(URL, body, format="json"),
        api.post(URL, {}, format="json"),
        api.delete(URL, {"endpoint": PUBLIC_ENDPOINT}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "push_disabled"
    assert not PushSubscription.objects.exists()
