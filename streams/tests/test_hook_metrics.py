"""Hook latency on /metrics: a histogram by media server and action, shared by the web
processes through Redis (socialflow.lib.latency)."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from socialflow.lib import latency

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh():
    latency.forget("hook")  # each test starts from nothing


def test_each_hook_is_counted_in_its_bucket(client, settings, channel, nginx_hook):
    settings.METRICS_TOKEN = "scrape-me"
    assert nginx_hook("publish", channel.stream_key).status_code == 200
    assert nginx_hook("publish_done", channel.stream_key).status_code == 200
    assert nginx_hook("publish", "live_1?key=wrong", clientid="8").status_code == 403
    response = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    [family] = [
        f
        for f in text_string_to_metric_families(response.content.decode())
        if f.name == "socialflow_hook_seconds"
    ]
    assert family.type == "histogram"
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
    publish = (("action", "publish"), ("server", "nginx-rtmp"))
    assert samples[("socialflow_hook_seconds_count", publish)] == 2
    assert samples[("socialflow_hook_seconds_bucket", (*publish[:1], ("le", "+Inf"), *publish[1:]))] == 2
    assert 0 < samples[("socialflow_hook_seconds_sum", publish)] < 5
    done = (("action", "publish_done"), ("server", "nginx-rtmp"))
    assert samples[("socialflow_hook_seconds_count", done)] == 1
    # Cumulative buckets, as Prometheus reads them: each at least the one below.
    edges = [
        v
        for (name, labels), v in sorted(samples.items())
        if name.endswith("_bucket") and ("action", "publish") in labels
    ]
    assert max(edges) == 2


def test_redis_away_drops_the_observation_not_the_hook(channel, nginx_hook, monkeypatch):
    import redis

    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)  # nothing listens
    monkeypatch.setattr(latency, "_client", away)
    assert nginx_hook("publish", channel.stream_key).status_code == 200
