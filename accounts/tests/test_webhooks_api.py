"""The webhooks API and the dashboard's webhooks page: yours only, bad input refused with a reason."""

from __future__ import annotations

import pytest

from accounts import webhooks
from accounts.models import Webhook, WebhookDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_targets(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    return settings


def test_register_list_test_and_delete(local_targets, api_as, alice, celery_queue):
    api = api_as(alice)
    created = api.post(
        "/api/v1/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["stream.started"]}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert set(body) == {"id", "url", "events", "created_at", "secret"} and len(body["secret"]) == 64
    assert created["Cache-Control"] == "no-store"
    listed = api.get("/api/v1/webhooks/").json()
    assert [hook["id"] for hook in listed["results"]] == [body["id"]]
    assert "secret" not in listed["results"][0]

    tested = api.post(f"/api/v1/webhooks/{body['id']}/test/")
    assert tested.status_code == 202 and tested.json()["event"] == "ping"
    deliveries = api.get(f"/api/v1/webhooks/{body['id']}/deliveries/").json()
    assert [d["event"] for d in deliveries] == ["ping"] and deliveries[0]["status"] == "pending"

    assert api.delete(f"/api/v1/webhooks/{body['id']}/").status_code == 204
    assert not Webhook.objects.exists() and not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"url": "ftp://example.com/", "events": ["stream.started"]}, "webhook_target_refused"),
        ({"url": "http://example.com/", "events": []}, "min_length"),
        ({"url": "http://example.com/", "events": ["stream.exploded"]}, "invalid_choice"),
        ({"url": "http://example.com/" + "a" * 2000, "events": ["stream.started"]}, "max_length"),
        ({"url": "http://u:p@example.com/", "events": ["stream.started"]}, "webhook_target_refused"),
        ({"url": 5, "events": ["stream.started"]}, "invalid"),
        ({"events": ["stream.started"]}, "required"),
        ({"url": "http://example.com/", "events": "stream.started"}, "not_a_list"),
    ],
)
def test_bad_registrations_are_400_with_a_reason(api_as, alice, payload, code):
    answer = api_as(alice).post("/api/v1/webhooks/", payload, format="json")
    assert answer.status_code == 400
    assert answer.json()["code"] == code and answer.json()["detail"]


def test_a_private_target_is_refused_by_the_api(settings, api_as, alice):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    answer = api_as(alice).post(
        "/api/v1/webhooks/", {"url": "http://169.254.169.254/", "events": ["stream.started"]}, format="json"
    )
    assert answer.status_code == 403 and answer.json()["code"] == "webhook_target_refused"
    assert "169.254.169.254" in answer.json()["detail"]


def test_someone_elses_webhook_is_not_found(local_targets, api_as, alice, carol):
    hook = webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/", events=["stream.started"])
    api = api_as(carol)
    assert api.get("/api/v1/webhooks/").json()["results"] == []
    assert api.delete(f"/api/v1/webhooks/{hook.pk}/").status_code == 404
    assert api.post(f"/api/v1/webhooks/{hook.pk}/test/").status_code == 404
    assert api.get(f"/api/v1/webhooks/{hook.pk}/deliveries/").status_code == 404
    assert Webhook.objects.filter(pk=hook.pk).exists() and not WebhookDelivery.objects.exists()


def test_anonymous_is_401(api):
    assert api.get("/api/v1/webhooks/").status_code == 401
    assert api.post("/api/v1/webhooks/", {}, format="json").status_code == 401


# --- The dashboard page -------------------------------------------------------------------


def test_the_page_adds_shows_tests_and_deletes(local_targets, client, alice, celery_queue):
    client.force_login(alice)
    page = client.post(
        "/dashboard/webhooks/",
        {"url": "http://127.0.0.1:9/hook", "events": ["stream.started", "clip.created"]},
        follow=True,
    )
    hook = Webhook.objects.get(owner=alice)
    html = page.content.decode()
    assert "Webhook added" in html and hook.secret in html and "http://127.0.0.1:9/hook" in html
    assert hook.events == ["stream.started", "clip.created"]

    page = client.post(f"/dashboard/webhooks/{hook.pk}/test/", follow=True)
    assert "A test delivery is on its way" in page.content.decode()
    html = page.content.decode()
    assert "<code>ping</code>" in html and "Pending" in html and 'hx-trigger="every 2s"' in html

    WebhookDelivery.objects.update(status="delivered", response_code=204, attempts=1)
    table = client.get(f"/dashboard/webhooks/{hook.pk}/deliveries/").content.decode()
    assert "HTTP 204" in table and "every 2s" not in table  # polling stops once nothing is pending

    page = client.post(f"/dashboard/webhooks/{hook.pk}/delete/", follow=True)
    assert "deleted" in page.content.decode() and not Webhook.objects.exists()


def test_the_page_says_why_a_url_is_refused(settings, client, alice):
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = False
    client.force_login(alice)
    page = client.post("/dashboard/webhooks/", {"url": "http://10.0.0.5/", "events": ["stream.started"]})
    assert page.status_code == 200
    assert "only public addresses can be called" in page.content.decode()
    page = client.post("/dashboard/webhooks/", {"url": "http://example.com/"})
    assert "Choose at least one event." in page.content.decode()
    assert not Webhook.objects.exists()


def test_the_page_hides_others_webhooks(local_targets, client, alice, carol):
    hook = webhooks.webhook_create(owner=alice, url="http://127.0.0.1:9/", events=["stream.started"])
    client.force_login(carol)
    assert hook.secret not in client.get("/dashboard/webhooks/").content.decode()
    assert client.post(f"/dashboard/webhooks/{hook.pk}/delete/").status_code == 404
    assert client.post(f"/dashboard/webhooks/{hook.pk}/test/").status_code == 404
    assert client.get(f"/dashboard/webhooks/{hook.pk}/deliveries/").status_code == 404
    assert Webhook.objects.exists()


def test_the_page_needs_a_login(client):
    assert client.get("/dashboard/webhooks/").status_code == 302
