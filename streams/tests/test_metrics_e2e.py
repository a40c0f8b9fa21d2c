"""/metrics during a real broadcast: OBS (an FFmpeg test pattern) publishes to nginx-rtmp,
a native player joins over REST, and a scrape of the live web tier shows both, in a text
prometheus-client's own parser reads."""

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams.models import Stream
from streams.tests.test_live_e2e import publish, stop

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOKEN = "scrape-me-e2e"


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path, METRICS_TOKEN=TOKEN) as running_stack:
        yield running_stack


def scrape(base: str, token: str | None = TOKEN) -> dict:
    request = urllib.request.Request(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_scrape_shows_the_live_broadcast_and_its_viewer(stack, channel):
    base = stack["web"]
    ffmpeg = publish(f"{stack['rtmp_url']}/{channel.stream_key}")
    try:
        stream = wait_for(lambda: Stream.objects.live().filter(channel=channel).first(), what="live")
        join = urllib.request.Request(f"{base}/api/v1/streams/{stream.pk}/join/", data=b"{}", method="POST")
        join.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(join, timeout=10) as response:
            assert json.loads(response.read())["viewers"] == 1
        viewers = ("socialflow_viewers", (("stream", stream.pk),))
        samples = wait_for(lambda: (s := scrape(base)).get(viewers) == 1 and s, what="the viewer on /metrics")
        assert samples[("socialflow_live_broadcasts", ())] == 1
        assert samples[("socialflow_viewers_all", ())] == 1
        publish_hooks = (("action", "publish"), ("server", "nginx-rtmp"))
        assert samples[("socialflow_hook_seconds_count", publish_hooks)] >= 1
    finally:
        stop(ffmpeg)
    with pytest.raises(urllib.error.HTTPError) as refused:
        scrape(base, token="wrong")
    assert refused.value.code == 401
