"""Going live pushes "went live" to followers' browsers. The real path: a follower's browser
subscribes through the API, the publish hook puts the broadcast live (go_live), the worker
runs streams.services.stream_notify_followers, which queues accounts.push's Celery tasks
after the commit, and they push to a push service on 127.0.0.1, where each push is opened
with the subscription's private key and auth secret, as the browser would."""

import pytest

from accounts.models import PushSubscription, User
from accounts.tasks import push_send_task
from streams.tasks import stream_notify_followers_task

URL = "/api/v1/push/subscriptions/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker(celery_queue, django_capture_on_commit_callbacks):
    """Runs what the going-live queued, as the `default` worker would: the notification task,
    then the push tasks it queues (their arguments as they came through the real broker)."""

    def run() -> list[list]:
        queued = celery_queue()
        for name, args in queued:
            if name == "streams.tasks.stream_notify_followers_task":
                with django_capture_on_commit_callbacks(execute=True):
                    stream_notify_followers_task(*args)
        pushes = [args for name, args in celery_queue() if name == "accounts.tasks.push_send_task"]
        for args in pushes:
            push_send_task(*args)
        return pushes

    return run


def test_a_followers_browser_gets_went_live_and_it_decrypts_with_its_keys(
    api,
    streamer,
    channel,
    carol,
    go_live,
    push_settings,
    push_service,
    worker,
    celery_queue,
    django_capture_on_commit_callbacks,
):
    fan = User.objects.filter(following_set__followee=streamer).order_by("pk").first()
    fans_browser, strangers_browser, own_browser = (
        push_service.browser(n) for n in ("fan", "carol", "alice")
    )
    for user, browser in ((fan, fans_browser), (carol, strangers_browser), (streamer, own_browser)):
        api.force_authenticate(user)
        assert api.post(URL, browser.subscription_json(), format="json").status_code == 201

    with django_capture_on_commit_callbacks(execute=True):
        stream = go_live(title="Speedrun any%")
    assert celery_queue() == [("streams.tasks.stream_notify_followers_task", [stream.pk])]
    worker()

    [received] = push_service.pushes  # the follower's browser, and no one else's
    assert received.open(fans_browser) == {
        "title": "Alice Streams is live",
        "body": "Speedrun any%",
        "url": "http://127.0.0.1:8000/alice/",
        "icon": "http://127.0.0.1:8000/static/img/push-icon.png",
        "tag": "live-alice",
    }
    assert received.vapid_claims(push_settings.WEB_PUSH_VAPID_PUBLIC_KEY)["aud"] == push_service.base
    assert received.headers["urgency"] == "high"
    assert PushSubscription.objects.get(endpoint=fans_browser.endpoint).last_success_at is not None


def test_every_subscribed_follower_gets_one_in_batches(
    streamer, followers_of, go_live, push_settings, push_service, worker, django_capture_on_commit_callbacks
):
    push_settings.WEB_PUSH_BATCH_SIZE = 2
    fans = list(User.objects.filter(following_set__followee=streamer)) + followers_of(streamer, 3)
    browsers = {}
    for fan in fans:
        browsers[fan.pk] = push_service.browser(f"fan{fan.pk}")
        PushSubscription.objects.create(
            user=fan,
            endpoint=browsers[fan.pk].endpoint,
            p256dh=browsers[fan.pk].p256dh,
            auth=browsers[fan.pk].auth,
        )
    with django_capture_on_commit_callbacks(execute=True):
        go_live()
    assert len(worker()) == 3  # five subscriptions, batches of two
    assert len(push_service.pushes) == 5
    for fan in fans:
        [received] = push_service.pushes_to(browsers[fan.pk])
        assert received.open(browsers[fan.pk])["tag"] == "live-alice"


def test_an_unlisted_broadcast_pushes_to_nobody(
    api, streamer, go_live, push_settings, push_service, worker, django_capture_on_commit_callbacks
):
    fan = User.objects.filter(following_set__followee=streamer).first()
    api.force_authenticate(fan)
    api.post(URL, push_service.browser().subscription_json(), format="json")
    with django_capture_on_commit_callbacks(execute=True):
        go_live(visibility="unlisted")
    assert worker() == []
    assert push_service.pushes == []


def test_a_follower_who_unsubscribed_gets_nothing(
    api, streamer, go_live, push_settings, push_service, worker, django_capture_on_commit_callbacks
):
    fan = User.objects.filter(following_set__followee=streamer).first()
    browser = push_service.browser()
    api.force_authenticate(fan)
    api.post(URL, browser.subscription_json(), format="json")
    assert api.delete(URL, {"endpoint": browser.endpoint}, format="json").status_code == 204
    with django_capture_on_commit_callbacks(execute=True):
        go_live()
    assert worker() == []
    assert push_service.pushes == []
