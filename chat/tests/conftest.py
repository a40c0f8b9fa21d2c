# The streaming cast and settings (an eligible streamer, their channel, the hook secret).
from streams.tests.conftest import _streaming_settings, channel, nginx_hook, streamer  # noqa: F401
