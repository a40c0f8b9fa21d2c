"""Contract tests: SRS's documented http_hooks payloads, replayed through /hooks/srs/."""

import json

import pytest

from streams.models import Stream, StreamEvent
from streams.tests.helpers import HOOK_SECRET, SRS7, SRS7_PAYLOADS, SRS_PAYLOADS, srs


def test_fixtures_carry_every_field_srs_sends():
    common = {
        "server_id",
        "service_id",
        "action",
        "client_id",
        "ip",
        "vhost",
        "app",
        "tcUrl",
        "stream",
        "param",
        "stream_url",
        "stream_id",
    }
    for action, body in SRS_PAYLOADS.items():
        assert common <= set(body), action
        assert body["action"] == action and isinstance(body["client_id"], str)
    assert "pageUrl" in SRS_PAYLOADS["on_play"]
    assert {"cwd", "file"} <= set(SRS_PAYLOADS["on_dvr"])
    assert {"duration", "cwd", "file", "url", "m3u8", "m3u8_url", "seq_no"} <= set(SRS_PAYLOADS["on_hls"])


@pytest.mark.django_db
def test_on_publish_with_a_valid_key_answers_0_and_goes_live(client, channel):
    response = srs(client, "on_publish", channel.stream_key)
    assert response.status_code == 200 and response.content == b"0"
    stream = Stream.objects.get(channel=channel)
    assert stream.status == "live"
    assert stream.media_server == "srs"
    assert stream.publisher_client_id == SRS_PAYLOADS["on_publish"]["client_id"]
    assert stream.publisher_ip == SRS_PAYLOADS["on_publish"]["ip"]


@pytest.mark.django_db
def test_the_secret_comes_in_param_and_the_stream_name_is_public(client, channel):
    # S-06: SRS splits OBS's live_<channel>?key=<secret> into stream and param.
    assert srs(client, "on_publish", channel.stream_name, param="?token=x").json()["code"] != 0
    assert srs(client, "on_publish", channel.stream_name, param=f"?key={channel.key_secret}").content == b"0"
    assert Stream.objects.get(channel=channel).status == "live"
    unpublish = srs(client, "on_unpublish", channel.stream_name, param=f"?key={channel.key_secret}")
    assert unpublish.content == b"0" and Stream.objects.get(channel=channel).status == "ended"


@pytest.mark.django_db
def test_on_publish_with_a_wrong_key_is_refused_with_a_nonzero_code(client, channel):
    response = srs(client, "on_publish", channel.stream_key[:-2] + "xx")
    assert response.status_code == 200
    body = response.json()
    assert body["code"] != 0 and body["reason"] == "Unknown or rotated stream key."
    assert not Stream.objects.exists()
    assert StreamEvent.objects.filter(type="publish_refused").count() == 1


@pytest.mark.django_db
def test_on_publish_to_another_app_is_refused(client, channel):
    body = srs(client, "on_publish", channel.stream_key, app="other").json()
    assert body["code"] != 0


@pytest.mark.django_db
def test_on_unpublish_ends_the_broadcast_and_answers_0(client, channel):
    srs(client, "on_publish", channel.stream_key)
    response = srs(client, "on_unpublish", channel.stream_key)
    assert response.content == b"0"
    stream = Stream.objects.get(channel=channel)
    assert stream.status == "ended" and stream.end_reason == "publisher_left"


@pytest.mark.django_db
def test_on_play_allowed_for_platform_workers_only(client, channel):
    srs(client, "on_publish", channel.stream_key)
    assert srs(client, "on_play", channel.stream_key, ip="127.0.0.1").content == b"0"
    refused = srs(client, "on_play", channel.stream_key, ip="203.0.113.9")
    assert refused.json()["code"] != 0
    assert StreamEvent.objects.filter(type="play_refused", details__ip="203.0.113.9").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["on_stop", "on_dvr", "on_hls"])
def test_informational_hooks_answer_0(client, channel, action):
    assert srs(client, action, channel.stream_key).content == b"0"


@pytest.mark.django_db
def test_without_the_secret_every_hook_is_403(client, channel):
    for action in SRS_PAYLOADS:
        response = srs(client, action, channel.stream_key, secret="wrong")
        assert response.status_code == 403 and response.json()["code"] == "bad_hook_secret"
    response = client.post("/hooks/srs/", data="{}", content_type="application/json")
    assert response.status_code == 403
    assert not Stream.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["not json", "[1, 2]", '{"action": "on_publish"}', '"0"'])
def test_malformed_bodies_are_400_not_500(client, body):
    response = client.post(f"/hooks/srs/?secret={HOOK_SECRET}", data=body, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "bad_hook"


@pytest.mark.django_db
def test_hooks_only_accept_post(client):
    assert client.get(f"/hooks/srs/?secret={HOOK_SECRET}").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides",
    [{"client_id": "a\x00b"}, {"stream": "live_1_\x00"}, {"client_id": "x" * 65}, {"client_id": None}],
)
def test_hostile_fields_are_400_not_500(client, channel, overrides):
    overrides.setdefault("stream", channel.stream_key)
    assert srs(client, "on_publish", **overrides).status_code == 400


@pytest.mark.django_db
def test_malformed_ip_is_dropped_not_fatal(client, channel):
    assert srs(client, "on_publish", channel.stream_key, ip="not-an-ip").content == b"0"
    assert Stream.objects.get().publisher_ip is None


@pytest.mark.django_db
def test_a_media_server_at_an_allowed_address_needs_no_secret_in_the_url(client, channel, settings):
    # Compose's SRS: its error log prints hook URLs, so they carry no secret; its fixed
    # address is the proof (MEDIA_HOOK_ALLOWED_IPS). Elsewhere the secret stays required.
    from ipaddress import ip_network

    body = json.dumps(
        {**SRS_PAYLOADS["on_publish"], "stream": channel.stream_name, "param": f"?key={channel.key_secret}"}
    )
    post = lambda url, addr: client.post(url, data=body, content_type="application/json", REMOTE_ADDR=addr)  # noqa: E731
    assert post("/hooks/srs/", "172.28.0.10").status_code == 403  # no allow-list: the secret
    settings.MEDIA_HOOK_ALLOWED_NETWORKS = [ip_network("172.28.0.10/32")]
    assert post("/hooks/srs/", "172.28.0.11").status_code == 403  # a neighbour is not SRS
    assert post("/hooks/srs/?secret=wrong", "172.28.0.10").status_code == 403  # a wrong one is wrong
    assert post("/hooks/srs/", "172.28.0.10").content == b"0"
    assert Stream.objects.get(channel=channel).status == "live"


# --- SRS 7 (compose's pin) ----------------------------------------------------------
# Bodies from SRS 7's srs_app_http_hooks.cpp (streams/tests/srs7_payloads.json names the
# commit); no SRS 7 binary runs here, so these are SRS's side of the contract as read.


def srs7_accepts(response) -> bool:
    """Whether SRS 7 takes a hook answer as success: SrsHttpHooks::do_post (ossrs/srs
    trunk/src/app/srs_app_http_hooks.cpp, commit 5466d99c) transcribed. HTTP 200 or 201; a
    non-empty JSON body; a non-object must be exactly `0`; an object needs an integer `code`
    of 0. Anything else fails, which refuses on_publish and on_play."""
    if response.status_code not in (200, 201) or not response.content:
        return False
    text = response.content.decode()
    try:
        info = json.loads(text)
    except ValueError:
        return False
    if not isinstance(info, dict):
        return text == "0"
    code = info.get("code")
    return isinstance(code, int) and not isinstance(code, bool) and code == 0


def test_srs7_fixtures_carry_what_srs7_sends():
    for action, body in SRS7_PAYLOADS.items():
        assert body["action"] == action
        assert all(isinstance(body[f], str) for f in ("server_id", "service_id", "client_id", "ip", "param"))
        assert {"tcUrl", "stream_url", "stream_id", "vhost", "app", "stream"} <= set(body)
    # 7.0.107 (#4147): on_play/on_stop count the stream's clients, as an integer.
    assert isinstance(SRS7_PAYLOADS["on_play"]["clients"], int)
    assert isinstance(SRS7_PAYLOADS["on_stop"]["clients"], int)
    assert any("5466d99c9cc11621fe1771a73b02293c546220c4" in line for line in SRS7["source"])


@pytest.mark.django_db
def test_srs7_publish_goes_live_and_srs7_takes_the_answer(client, channel):
    response = srs(client, "on_publish", channel.stream_key, payloads=SRS7_PAYLOADS)
    assert response.content == b"0" and srs7_accepts(response)
    stream = Stream.objects.get(channel=channel)
    assert stream.status == "live" and stream.publisher_client_id == SRS7_PAYLOADS["on_publish"]["client_id"]
    unpublish = srs(client, "on_unpublish", channel.stream_key, payloads=SRS7_PAYLOADS)
    assert srs7_accepts(unpublish)
    assert Stream.objects.get(channel=channel).status == "ended"


@pytest.mark.django_db
def test_srs7_refusals_are_refusals_to_srs7(client, channel):
    wrong = srs(client, "on_publish", f"{channel.stream_name}?key=not-it", payloads=SRS7_PAYLOADS)
    assert wrong.status_code == 200 and not srs7_accepts(wrong)
    other_app = srs(client, "on_publish", channel.stream_key, payloads=SRS7_PAYLOADS, app="other")
    assert not srs7_accepts(other_app)
    bad_secret = srs(client, "on_publish", channel.stream_key, secret="wrong", payloads=SRS7_PAYLOADS)
    assert bad_secret.status_code == 403 and not srs7_accepts(bad_secret)
    assert not Stream.objects.exists()


@pytest.mark.django_db
def test_srs7_play_with_a_client_count_is_judged_as_before(client, channel):
    srs(client, "on_publish", channel.stream_key, payloads=SRS7_PAYLOADS)
    worker = srs(client, "on_play", channel.stream_name, payloads=SRS7_PAYLOADS, ip="127.0.0.1")
    assert worker.content == b"0" and srs7_accepts(worker)
    outsider = srs(client, "on_play", channel.stream_name, payloads=SRS7_PAYLOADS, ip="203.0.113.9")
    assert not srs7_accepts(outsider)
    stop = srs(client, "on_stop", channel.stream_name, payloads=SRS7_PAYLOADS)
    assert srs7_accepts(stop)


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["on_dvr", "on_hls"])
def test_srs7_informational_hooks_are_accepted(client, channel, action):
    assert srs7_accepts(srs(client, action, channel.stream_key, payloads=SRS7_PAYLOADS))


@pytest.mark.django_db
def test_a_param_srs_sent_twice_is_one_key(client, channel):
    # SRS 6 and SRS 7 before 7.0.156 repeat OBS's query (SRS issue #4622, srs7_payloads.json
    # "param_duplicated_before_7_0_156"): `?key=s?key=s`. It is still OBS's one secret.
    twice = f"?key={channel.key_secret}?key={channel.key_secret}"
    tc_url = f"rtmp://localhost:1935/live/{channel.stream_name}?key={channel.key_secret}"
    body = {"tcUrl": tc_url, "param": twice}
    response = srs(client, "on_publish", channel.stream_name, payloads=SRS7_PAYLOADS, **body)
    assert response.content == b"0"
    assert Stream.objects.get(channel=channel).status == "live"
    unpublish = srs(client, "on_unpublish", channel.stream_name, payloads=SRS7_PAYLOADS, **body)
    assert unpublish.content == b"0" and Stream.objects.get(channel=channel).status == "ended"


@pytest.mark.django_db
@pytest.mark.parametrize("param", ["?key={s}?key=other", "?key={s}&key=other", "?key=", "?token={s}"])
def test_a_param_without_one_clear_key_is_refused(client, channel, param):
    param = param.format(s=channel.key_secret)
    response = srs(client, "on_publish", channel.stream_name, payloads=SRS7_PAYLOADS, param=param)
    assert not srs7_accepts(response)
    assert not Stream.objects.exists()
