import pytest

from streams import services

HOOK_SECRET = "test-hook-secret"


@pytest.fixture(autouse=True)
def _streaming_settings(settings):
    settings.MEDIA_HOOK_SECRET = HOOK_SECRET
    settings.GO_LIVE_MIN_FOLLOWERS = 2


@pytest.fixture
def streamer(alice, followers_of):
    """alice, eligible to go live (2 followers against a threshold of 2)."""
    followers_of(alice, 2)
    return alice


@pytest.fixture
def channel(streamer):
    return services.channel_get_or_create(user=streamer)


@pytest.fixture
def nginx_hook(client):
    """POST an nginx-rtmp callback the way nginx does (form-encoded)."""

    def call(call, name, clientid="7", addr="127.0.0.1", secret=HOOK_SECRET, **extra):
        data = {
            "app": "live",
            "flashver": "FMLE/3.0",
            "swfurl": "",
            "tcurl": "rtmp://127.0.0.1:1935/live",
            "pageurl": "",
            "addr": addr,
            "clientid": clientid,
            "call": call,
            "name": name,
            **extra,
        }
        if call == "publish":
            data.setdefault("type", "live")
        return client.post(f"/hooks/nginx-rtmp/?secret={secret}", data)

    return call
