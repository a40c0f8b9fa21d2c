"""TRANSCODE_ENCODER on a real machine: the start-up probe, the fallback to libx264, and a
transcode worker that refuses an unknown name. This machine has no GPU: every hardware
encoder fails its probe here, as it would on a server whose driver or device is missing."""

import subprocess
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from socialflow.tests.processes import BASE_DIR, BIN, celery_worker, process_env
from streams import capacity, encoders, transcoder
from streams.models import StreamEvent
from streams.transcoding import Rung, Source

HARDWARE = ["h264_nvenc", "h264_vaapi", "h264_qsv"]
# Where each would find its GPU: a machine that has one may well run the encoder.
DEVICES = {
    "h264_nvenc": "/dev/nvidia0",
    "h264_vaapi": "/dev/dri/renderD128",
    "h264_qsv": "/dev/dri/renderD128",
}
HD = Source(1280, 720, 30)
RUNGS = [Rung("720p", 720, 2800, 128), Rung("480p", 480, 1400, 96), Rung("360p", 360, 800, 64)]


@pytest.fixture(autouse=True)
def _fresh_checks(monkeypatch):
    """Each test starts as a fresh worker process would: nothing checked yet."""
    monkeypatch.setattr(encoders, "_checks", {})


@pytest.mark.e2e  # a real FFmpeg
def test_the_probe_finds_libx264_working():
    assert encoders.probe("libx264") == (True, "")


@pytest.mark.e2e  # a real FFmpeg
@pytest.mark.parametrize("encoder", HARDWARE)
def test_the_probe_finds_no_hardware_encoder_working_here(encoder):
    if Path(DEVICES[encoder]).exists():
        pytest.skip(f"{DEVICES[encoder]} exists: this machine may have the GPU")
    works, why = encoders.probe(encoder)
    assert not works
    # FFmpeg's own words: the cause first, without the "[h264_nvenc @ 0x...]" noise.
    expected = {"h264_nvenc": "libcuda", "h264_vaapi": "renderD128", "h264_qsv": "Device creation failed"}
    assert expected[encoder] in why and " @ 0x" not in why


def test_an_unknown_encoder_is_refused_by_name():
    with pytest.raises(ImproperlyConfigured, match="TRANSCODE_ENCODER must be one of libx264, h264_nvenc"):
        encoders.check("bogus")


@pytest.mark.e2e  # a real FFmpeg
@pytest.mark.django_db
def test_a_worker_whose_encoder_fails_encodes_with_libx264(settings, caplog, go_live):
    settings.TRANSCODE_ENCODER = "h264_nvenc"
    if Path(DEVICES["h264_nvenc"]).exists():
        pytest.skip("this machine may have an NVIDIA GPU")
    caplog.set_level("WARNING", logger="streams.transcoder")
    result = transcoder.worker_check_encoder(hostname="transcode@test")
    assert result.fell_back and result.encoder == "libx264"
    [record] = [r for r in caplog.records if "TRANSCODE_ENCODER" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert "h264_nvenc" in record.getMessage() and result.why in record.getMessage()
    # ...for every broadcast of this process, priced as x264 by the capacity planner...
    stream = go_live()
    assert transcoder.hls_options(stream).encoder == "libx264"
    assert encoders.in_use() == "libx264"
    model = capacity.CostModel()
    assert capacity.ladder_cost(HD, RUNGS, "veryfast", model) == capacity.ladder_cost(
        HD, RUNGS, "veryfast", model, "libx264"
    )
    # ...and each broadcast says so.
    transcoder._encoder_event(stream)
    event = StreamEvent.objects.get(stream=stream, type=StreamEvent.Type.TRANSCODER)
    assert event.severity == StreamEvent.Severity.WARNING
    assert event.message.startswith("This server's TRANSCODE_ENCODER h264_nvenc did not work (Cannot load")
    assert event.message.endswith("); encoding with libx264.")
    assert event.details["error"] == result.why


@pytest.mark.django_db
def test_a_worker_on_libx264_says_nothing_to_its_broadcasts(settings, go_live):
    settings.TRANSCODE_ENCODER = "libx264"
    stream = go_live()
    assert transcoder.hls_options(stream).encoder == "libx264"
    transcoder._encoder_event(stream)
    assert not StreamEvent.objects.filter(stream=stream, type=StreamEvent.Type.TRANSCODER).exists()


def test_a_working_hardware_encoder_is_used_and_priced_off_the_cpu(settings):
    settings.TRANSCODE_ENCODER = "h264_vaapi"
    encoders._checks["h264_vaapi"] = encoders.EncoderCheck("h264_vaapi", works=True)  # a GPU machine's
    assert encoders.effective().encoder == "h264_vaapi" and encoders.in_use() == "h264_vaapi"
    model = capacity.CostModel()
    x264 = capacity.ladder_cost(HD, RUNGS, "veryfast", model, "libx264")
    gpu = capacity.ladder_cost(HD, RUNGS, "veryfast", model)
    # The CPU still decodes and scales (most of what is left), converts and uploads each rung.
    assert model.decode * HD.width * HD.height * HD.fps / 1e6 + model.remux < gpu < x264 / 2
    assert gpu == capacity.ladder_cost(HD, RUNGS, "ultrafast", model)  # presets cost the GPU, not the CPU


@pytest.mark.e2e  # a real Celery worker and FFmpeg
@pytest.mark.django_db(transaction=True)
def test_a_transcode_worker_without_the_gpu_starts_on_libx264(tmp_path):
    if Path(DEVICES["h264_nvenc"]).exists():
        pytest.skip("this machine may have an NVIDIA GPU")
    with celery_worker(tmp_path, queues="transcode", TRANSCODE_ENCODER="h264_nvenc"):
        log = (tmp_path / "worker-transcode.log").read_text()
    [line] = [line for line in log.splitlines() if "TRANSCODE_ENCODER" in line]
    assert "WARNING" in line and "h264_nvenc does not work here (Cannot load libcuda.so.1" in line
    assert line.endswith("this worker encodes with libx264")


@pytest.mark.e2e  # a real Celery worker
@pytest.mark.django_db  # the test database's name, for the worker's settings
def test_a_transcode_worker_refuses_an_unknown_encoder():
    """Celery only logs what a worker_ready handler raises; the worker must stop anyway,
    before it takes a broadcast."""
    name = f"transcode-bogus-{uuid.uuid4().hex[:8]}@%h"
    args = [str(BIN / "celery"), "-A", "socialflow", "worker", "-Q", "transcode", "--pool", "solo"]
    proc = subprocess.Popen(
        [*args, "-n", name, "-l", "info"],
        cwd=BASE_DIR,
        env=process_env(TRANSCODE_ENCODER="bogus"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0, output
    assert "TRANSCODE_ENCODER must be one of libx264, h264_nvenc, h264_vaapi, h264_qsv, not 'bogus'" in output
    assert " ready." not in output


@pytest.mark.parametrize("name", ["TRANSCODE_PRESET", "TRANSCODE_LOWER_PRESET"])
def test_a_transcode_worker_refuses_an_unknown_preset_by_name(settings, name):
    setattr(settings, name, "fastest")
    refusal = f"{name} must be one of ultrafast, superfast, .*not 'fastest'"
    with pytest.raises(ImproperlyConfigured, match=refusal):
        transcoder.worker_check_encoder(hostname="transcode@test")
