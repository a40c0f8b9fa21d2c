import urllib.parse

import pytest

from streams.tests.helpers import HOOK_SECRET


@pytest.fixture(autouse=True)
def _streaming_settings(streaming_settings):
    """Every streams test runs against the streaming settings (the root conftest's)."""


@pytest.fixture
def nginx_hook(client):
    """POST an nginx-rtmp callback the way nginx does (form-encoded). `name` is what OBS
    sent: the arguments of `live_1?key=s` come as fields beside name=live_1 (NGINX_RTMP_NOTES)."""

    def call(call, name, clientid="7", addr="127.0.0.1", secret=HOOK_SECRET, **extra):
        name, _, arguments = name.partition("?")
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
            **dict(urllib.parse.parse_qsl(arguments, keep_blank_values=True)),
            **extra,
        }
        if call == "publish":
            data.setdefault("type", "live")
        return client.post(f"/hooks/nginx-rtmp/?secret={secret}", data)

    return call
