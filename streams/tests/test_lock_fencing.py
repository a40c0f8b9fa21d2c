"""R-06: a transcoder that cannot renew its lock for half the lock's time stops, before the
lock can lapse and a second transcoder start on the same broadcast. A brief Redis blip
does not stop it. Real redis-server, killed; the clock is advanced by hand."""

import pytest
import redis

from socialflow.tests.processes import redis_server
from streams import transcoder


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_lock_stops_the_transcoder_before_it_can_lapse(tmp_path, settings, monkeypatch):
    settings.TRANSCODE_LOCK_SECONDS = 60
    clock = Clock()
    monkeypatch.setattr(transcoder.time, "monotonic", clock)
    with redis_server(tmp_path) as server:
        client = redis.Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
        lock = client.lock("transcode:test", timeout=60)
        assert lock.acquire(blocking=False)
        held = transcoder._Lock(lock)
        clock.now += 25
        held.keep()  # renewed
        server.kill()
        clock.now += 25
        held.keep()  # Redis away 25 s after the last renewal: try again soon
        clock.now += 4
        held.keep()  # 29 s: still within half the lock's time
        clock.now += 2
        with pytest.raises(transcoder.LockLost):
            held.keep()  # 31 s: the lock could lapse within 29 s; stop
