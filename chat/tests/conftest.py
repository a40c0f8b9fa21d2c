import pytest

from streams import services

# The streaming cast and settings (an eligible streamer, their channel, the hook secret).
from streams.tests.conftest import _streaming_settings, channel, nginx_hook, streamer  # noqa: F401


@pytest.fixture
def live_stream(channel):  # noqa: F811 (the fixture imported above)
    """A live broadcast of the streamer's channel (gone live through the hook service)."""
    return services.broadcast_publish(
        dialect="nginx-rtmp", key=channel.stream_key, client_id="1", ip=None
    ).stream
