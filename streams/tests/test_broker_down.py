"""R-02: with the Celery broker away, what was committed stands and the caller gets its
answer (the transcoder watchdog, the reaper and the presence sweep catch up later), never a
500 after the commit."""

import pytest
from celery.app.task import Task
from kombu.exceptions import OperationalError

from streams.models import Stream

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker_down(monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    monkeypatch.setattr(Task, "apply_async", refuse)


def test_a_publish_goes_live_and_an_end_ends_with_the_broker_away(go_live, api_as, streamer, broker_down):
    stream = go_live()  # the publish hook's service: its on-commit tasks fail, it does not
    assert Stream.objects.get(pk=stream.pk).status == Stream.Status.LIVE
    ended = api_as(streamer).post(f"/api/v1/streams/{stream.pk}/end/")
    assert ended.status_code == 200, ended.content
    assert Stream.objects.get(pk=stream.pk).status == Stream.Status.ENDED


def test_a_rest_join_counts_the_viewer_with_the_broker_away(live_stream, api, broker_down):
    joined = api.post(f"/api/v1/streams/{live_stream.pk}/join/", {}, format="json")
    assert joined.status_code == 200, joined.content
    assert joined.json()["viewers"] == 1
