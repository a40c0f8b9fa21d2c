"""Publish a 720p test pattern; the real transcoder turns it into a playable HLS ladder.

nginx-rtmp, Daphne, a default and a transcode Celery worker, FFmpeg: nothing mocked.
"""

import os
import pwd
import subprocess
import time
import urllib.request
from pathlib import Path

import m3u8
import pytest
from django.conf import settings

from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import live_stack
from streams.models import Stream, StreamEvent, StreamHealthSample
from streams.tests.helpers import FFMPEG_PUBLISH, encode_clip, publish_clip
from streams.transcoder import transcoder_running

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path):
    with live_stack(tmp_path, transcode=True) as running_stack:
        yield running_stack


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def children_of(pid: int) -> list[str]:
    out = subprocess.run(
        ["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [line.split()[-1] for line in out.splitlines() if line.strip()]


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def cmdline_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return ""


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def test_a_720p_publish_becomes_a_playable_ladder(stack, api, channel, tmp_path):
    # Pre-encoded and sent as is: OBS encodes on another machine, not on the transcoder's.
    clip = encode_clip(tmp_path / "720p.flv", size="1280x720")
    started = time.monotonic()
    ffmpeg = publish_clip(f"{stack['rtmp_url']}/{channel.stream_key}", clip, seconds=16)
    try:
        stream = wait_for(lambda: Stream.objects.live().filter(channel=channel).first(), what="live")

        def master():
            # As the watch page's player asks: the master URL until it answers.
            status, body = get(f"{stack['web']}/streams/{stream.pk}/live.m3u8")
            return body.decode() if status == 200 else None

        text = wait_for(master, timeout=20, what="a master playlist", interval=0.05)
        first_playable = time.monotonic() - started
        assert api.get(f"/api/v1/streams/{stream.pk}/").json()["hls_url"].endswith("/live.m3u8")
        print(f"master playlist fetchable {first_playable:.1f} s after the publish began")
        assert first_playable <= 6.0

        playlist = m3u8.loads(text)
        assert playlist.is_variant
        resolutions = sorted(p.stream_info.resolution for p in playlist.playlists)
        assert resolutions == [(640, 360), (854, 480), (1280, 720)]  # no 1080p: the source is 720p
        variants = {p.stream_info.resolution[1]: p.uri for p in playlist.playlists}
        assert all(uri.startswith(stack["web"]) for uri in variants.values())

        first = {h: m3u8.loads(get(uri)[1].decode()) for h, uri in variants.items()}
        time.sleep(4.5)
        later = {h: m3u8.loads(get(uri)[1].decode()) for h, uri in variants.items()}
        for height in variants:
            before = first[height].media_sequence + len(first[height].segments)
            after = later[height].media_sequence + len(later[height].segments)
            assert after > before, f"{height}p segments are not growing"
            assert later[height].target_duration == 2
            assert later[height].program_date_time is not None

        segment_url = variants[720].rsplit("/", 1)[0] + "/" + later[720].segments[-1].uri
        probe = subprocess.run(
            [
                "ffprobe",
                "-v",
                "error",
                "-select_streams",
                "v:0",
                "-show_entries",
                "stream=width,height",
                "-of",
                "csv=p=0",
                segment_url,
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert probe.stdout.split()[0] == "1280,720"  # (mpegts lists it per program too)
        assert transcoder_running(stream.pk)
        # the first thumbnail is there while live (for the directory cards)
        assert Stream.objects.get(pk=stream.pk).thumbnail_updated_at is not None
        # S-12: the FFmpeg reading the publisher's feed has none of the worker's secrets.
        worker_pid = stack["transcode_worker"].pid
        ffmpeg_pids = subprocess.run(
            ["pgrep", "-P", str(worker_pid), "ffmpeg"], capture_output=True, text=True
        ).stdout.split()
        assert ffmpeg_pids, "no FFmpeg under the transcode worker"
        assert "DATABASE_URL" in environ_of(worker_pid)
        # S-06: it pulls the public name; no process on this machine but OBS (the publisher,
        # on the streamer's machine in real life) has the secret on its command line.
        holders = [pid for pid in all_pids() if channel.key_secret in cmdline_of(pid)]
        assert holders == [ffmpeg.pid], [cmdline_of(pid) for pid in holders]
        assert f"/live/{channel.stream_name}" in cmdline_of(int(ffmpeg_pids[0]))
        ffmpeg_env = environ_of(int(ffmpeg_pids[0]))
        assert ffmpeg_env.keys() <= {"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"}, ffmpeg_env.keys()
        # ... and runs confined: its own user (the tests run as root), no new privileges, a
        # seccomp filter (socialflow.lib.sandbox; test_ffmpeg_confinement tries the escapes).
        status = dict(
            line.split(":\t", 1) for line in Path(f"/proc/{ffmpeg_pids[0]}/status").read_text().splitlines()
        )
        assert (status["NoNewPrivs"], status["Seccomp"]) == ("1", "2")
        if os.geteuid() == 0:
            assert status["Uid"].split() == [str(pwd.getpwnam("nobody").pw_uid)] * 4
    finally:
        ffmpeg.wait(40)
    # The publisher left: the broadcast ends, the transcoder stops, its files are gone.
    wait_for(lambda: Stream.objects.filter(pk=stream.pk, status="ended").exists(), what="ended")
    wait_for(lambda: not transcoder_running(stream.pk), timeout=20, what="the transcoder to stop")
    wait_for(lambda: not (stack["work_dir"] / stream.pk).exists(), timeout=10, what="temp files to go")
    assert not any("ffmpeg" in children_of(stack["transcode_worker"].pid) for _ in range(1))
    samples = StreamHealthSample.objects.filter(stream=stream)
    assert samples.count() >= 2 and all(s.fps and s.fps > 20 for s in samples.exclude(fps=None)[1:])
    assert StreamEvent.objects.filter(
        stream=stream, type="transcoder", message="Transcoder started."
    ).exists()
    stream.refresh_from_db()
    assert stream.thumbnail_updated_at is not None
    thumb = Path(settings.MEDIA_ROOT) / stream.media_prefix / "thumb.jpg"
    assert thumb.stat().st_size > 1000


def start_publishing(stack, channel, seconds=40, size="1280x720"):
    args = [*FFMPEG_PUBLISH]
    args[args.index("testsrc2=size=640x360:rate=30")] = f"testsrc2=size={size}:rate=30"
    args[args.index("-t") + 1] = str(seconds)
    return subprocess.Popen(
        [*args, f"{stack['rtmp_url']}/{channel.stream_key}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def ladder_ready(channel):
    return Stream.objects.live().filter(channel=channel, hls_ready_at__isnull=False).first()


def interrupt_ffmpeg_and_wait_for_the_restart(stack, channel, signal_name: str, restart_timeout: float):
    """Publish `channel`, wait for the ladder, send the transcoder's FFmpeg `signal_name`, and wait for
    the restart; returns (publisher, stream, the FFmpeg's pid, a check that segments grew
    since)."""
    publisher = start_publishing(stack, channel, size="640x360")
    try:
        stream = wait_for(lambda: ladder_ready(channel), timeout=20, what="the ladder")
        variant = Path(settings.MEDIA_ROOT) / stream.media_prefix / "360p" / "index.m3u8"
        pids = subprocess.run(
            ["pgrep", "-P", str(stack["transcode_worker"].pid), "ffmpeg"], capture_output=True, text=True
        ).stdout.split()
        assert len(pids) == 1
        subprocess.run(["kill", f"-{signal_name}", pids[0]], check=True)
        before = m3u8.loads(variant.read_text())
        wait_for(
            lambda: StreamEvent.objects.filter(
                stream=stream, message__startswith="Transcoder restarted"
            ).exists(),
            timeout=restart_timeout,
            what="the restart event",
        )
    except BaseException:  # the publisher must not outlive a failed test
        publisher.kill()
        publisher.wait()
        raise

    def grew():
        now = m3u8.loads(variant.read_text())
        return now.media_sequence + len(now.segments) > before.media_sequence + len(before.segments) + 1

    return publisher, stream, int(pids[0]), grew


@pytest.mark.faults
def test_a_killed_ffmpeg_is_restarted_and_segments_keep_coming(stack, channel):
    # Neither recorded nor rewindable: no segment index, and still the gap is reported.
    channel.record_by_default = channel.dvr_by_default = False
    channel.save()
    publisher, stream, _, grew = interrupt_ffmpeg_and_wait_for_the_restart(
        stack, channel, "9", restart_timeout=20
    )
    try:
        died = StreamEvent.objects.get(stream=stream, message__startswith="FFmpeg exited with")
        assert died.severity == "warning" and died.details["exit_code"] == -9
        wait_for(grew, timeout=20, what="new segments after the restart")
        gap = wait_for(
            lambda: StreamEvent.objects.filter(stream=stream, message__startswith="Restart gap").first(),
            what="the gap event",
        )
        assert 0 < gap.details["gap_seconds"] < 20 and gap.message.endswith("not transcoded.")
        assert Stream.objects.get(pk=stream.pk).status == "live"
    finally:
        publisher.kill()
        publisher.wait()


def test_an_audio_only_feed_fails_fast_with_a_reason(stack, channel):
    audio_only = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "60",
        "-c:a", "aac", "-b:a", "96k", "-f", "flv", f"{stack['rtmp_url']}/{channel.stream_key}",
    ]  # fmt: skip
    publisher = subprocess.Popen(audio_only, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        failed = wait_for(
            lambda: Stream.objects.filter(channel=channel, status="failed").first(),
            timeout=45,
            what="the failure",
        )
        assert StreamEvent.objects.filter(stream=failed, message="Failed: The feed has no video.").exists()
        assert StreamEvent.objects.filter(
            stream=failed, severity="error", message__startswith="The feed has no video (audio only?)"
        ).exists()
        assert (
            StreamEvent.objects.filter(stream=failed, message__startswith="Could not read the source").count()
            == 2
        )
    finally:
        publisher.kill()
        publisher.wait()


@pytest.mark.faults
def test_a_stalled_ffmpeg_is_restarted_and_segments_keep_coming(stack, channel):
    """Alive but stuck (SIGSTOP: no progress reports): stopped and restarted, not waited on."""
    publisher, stream, pid, grew = interrupt_ffmpeg_and_wait_for_the_restart(
        stack, channel, "STOP", restart_timeout=30
    )
    try:
        stalled = StreamEvent.objects.get(stream=stream, message__startswith="FFmpeg made no progress")
        assert stalled.severity == "warning" and "no progress" in stalled.details["error"]
        assert not Path(f"/proc/{pid}").exists()  # the stuck FFmpeg is gone
        wait_for(grew, timeout=20, what="new segments after the restart")
        assert Stream.objects.get(pk=stream.pk).status == "live"
    finally:
        publisher.kill()
        publisher.wait()


def test_the_watch_page_plays_the_stream_in_chromium(stack, browser, channel):
    from socialflow.tests.processes import BASE_DIR

    publisher = start_publishing(stack, channel, size="640x360")
    try:
        stream = wait_for(lambda: ladder_ready(channel), timeout=20, what="the ladder")
        # S-16: the page plays under the site's Content-Security-Policy, with no violation
        # (waits poll from here: Playwright's wait_for_function would need 'unsafe-eval').
        page = browser.new_page(viewport={"width": 1280, "height": 800}, bypass_csp=False)
        current_time = lambda: page.evaluate("document.getElementById('player').currentTime")  # noqa: E731
        violations: list[str] = []
        page.on(
            "console", lambda msg: violations.append(msg.text) if "Content Security" in msg.text else None
        )
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('Content Security Policy: ' + e.violatedDirective + ' ' + e.blockedURI))"
        )
        response = page.goto(f"{stack['web']}/streams/{stream.pk}/", wait_until="domcontentloaded")
        assert "script-src 'self'" in response.headers["content-security-policy"]
        wait_for(lambda: current_time() > 1, timeout=20, what="the video to play")
        first = current_time()
        page.wait_for_timeout(2500)
        later = current_time()
        assert later > first + 1, (first, later)
        levels = page.eval_on_selector_all("#quality option", "options => options.map(o => o.textContent)")
        assert levels == ["Auto", "360p"]
        assert page.is_hidden("#player-status")
        out = BASE_DIR / "test-output" / "browser"
        out.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=out / "watch-live.png")
        # the channel page plays the same broadcast
        page.goto(f"{stack['web']}/alice/", wait_until="domcontentloaded")
        wait_for(lambda: current_time() > 0.5, timeout=20, what="the channel page to play")
        assert violations == []
    finally:
        publisher.kill()
        publisher.wait()


@pytest.mark.faults
def test_a_worker_shut_down_gracefully_leaves_no_ffmpeg_behind(stack, channel):
    publisher = start_publishing(stack, channel, size="640x360")
    worker = stack["transcode_worker"]
    try:
        stream = wait_for(lambda: ladder_ready(channel), timeout=20, what="the ladder")
        ffmpeg_pid = int(
            subprocess.run(
                ["pgrep", "-P", str(worker.pid), "ffmpeg"], capture_output=True, text=True
            ).stdout.split()[0]
        )
        worker.terminate()  # SIGTERM: Celery's warm shutdown
        assert worker.wait(30) == 0
        assert not Path(f"/proc/{ffmpeg_pid}").exists(), "FFmpeg outlived its worker"
        assert not (stack["work_dir"] / stream.pk).exists()
        assert StreamEvent.objects.filter(
            stream=stream, message="Transcoder stopped: worker shutting down."
        ).exists()
        assert Stream.objects.get(pk=stream.pk).status == "live"  # the broadcast itself goes on
    finally:
        publisher.kill()
        publisher.wait()
