"""The FFmpeg command builder, on its own (FFmpeg runs only in the test marked e2e)."""

from pathlib import Path

import pytest

from streams.transcoding import HlsOptions, Rung, Source, build_transcode_command, ladder_for, output_fps

OUT = Path("/work/out")
HD = Source(1280, 720, 30)


def argv(source=HD, **options):
    return build_transcode_command(
        input_url="rtmp://x/live/k", out_dir=OUT, source=source, options=HlsOptions(**options)
    )


def value(args, flag, nth=0):
    positions = [i for i, a in enumerate(args) if a == flag]
    return args[positions[nth] + 1]


def test_ladder_never_exceeds_the_source():
    names = lambda src: [r.name for r in ladder_for(src, HlsOptions())]  # noqa: E731
    assert names(Source(1920, 1080, 30)) == ["1080p", "720p", "480p", "360p"]
    assert names(Source(1280, 720, 30)) == ["720p", "480p", "360p"]
    assert names(Source(640, 360, 30)) == ["360p"]
    assert names(Source(426, 240, 30)) == ["240p"]  # smaller than every rung: its own height


def test_frame_rate_never_above_the_source():
    assert output_fps(Source(1280, 720, 25)) == 25
    assert output_fps(Source(1280, 720, 29.97)) == 29.97
    assert output_fps(Source(1280, 720, 59.94)) == 59.94
    assert output_fps(Source(1280, 720, 120)) == 60
    assert output_fps(Source(1280, 720, 0)) == 30


def test_variants_map_one_video_and_one_audio_each():
    args = argv()
    assert value(args, "-var_stream_map") == "v:0,a:0,name:720p v:1,a:1,name:480p v:2,a:2,name:360p"
    assert value(args, "-master_pl_name") == "master.m3u8"
    assert value(args, "-hls_segment_filename") == "/work/out/%v/seg_0_%d.ts"
    assert args[args.index("-var_stream_map") + 2] == "/work/out/%v/index.m3u8"
    assert value(args, "-b:v:0") == "2800k" and value(args, "-b:a:2") == "64k"


def test_closed_gops_aligned_to_segments():
    args = argv(segment_seconds=2)
    for i in range(3):  # every encoded rung
        assert value(args, f"-g:v:{i}") == value(args, f"-keyint_min:v:{i}") == "60"  # 30 fps x 2 s
        assert value(args, f"-sc_threshold:v:{i}") == "0"
        assert value(args, f"-force_key_frames:v:{i}") == "expr:gte(t,n_forced*2)"
        assert value(args, f"-flags:v:{i}") == "+cgop"
    low = argv(segment_seconds=1, source=Source(1280, 720, 25))
    assert value(low, "-g:v:0") == "25" and value(low, "-hls_time") == "1"


def test_hls_flags_for_playback_and_measurement():
    flags = value(argv(), "-hls_flags")
    for flag in ("independent_segments", "program_date_time", "delete_segments", "temp_file"):
        assert flag in flags
    assert value(argv(), "-hls_start_number_source") == "epoch"  # restarts continue the sequence
    assert value(argv(list_size=4), "-hls_list_size") == "4"


def test_the_pull_gives_up_when_the_publisher_leaves():
    args = argv()
    assert value(args, "-rw_timeout") == "5000000"
    assert args.index("-rw_timeout") < args.index("-i")
    assert args[-3:] == ["-progress", "pipe:1", "-nostats"]


def test_no_audio_source_maps_video_only():
    args = argv(source=Source(1280, 720, 30, has_audio=False))
    assert value(args, "-var_stream_map") == "v:0,name:720p v:1,name:480p v:2,name:360p"
    assert "0:a:0" not in args and "-ac" not in args


def test_passthrough_top_rung_copies_the_source():
    args = argv(passthrough_top=True)
    assert value(args, "-var_stream_map").startswith("v:0,a:0,name:source ")
    assert value(args, "-c:v:0") == "copy" and "-profile:v:0" not in args and "-g:v:0" not in args
    assert args.count("libx264") == 2  # 480p and 360p are still encoded
    # ...but never for a codec HLS players may not take as is
    assert "copy" not in argv(source=Source(1280, 720, 30, video_codec="hevc"), passthrough_top=True)[:40]


def test_thumbnail_and_source_copy_outputs():
    args = argv(thumbnail_every=30)
    assert "/work/out/thumb.jpg" in args and value(args, "-update") == "1"
    thumb_output = args[args.index("[thumb]") : args.index("/work/out/thumb.jpg")]
    assert thumb_output[thumb_output.index("-threads") + 1] == "1"  # no frame-threading delay
    assert "gte(t-prev_selected_t\\,30)" in value(args, "-filter_complex")
    assert "/work/out/recording/index.m3u8" in args
    assert value(args, "-hls_segment_filename", 1) == "/work/out/recording/seg_0_%d.ts"
    assert "/work/out/recording/index.m3u8" not in argv(record_source=False)


@pytest.mark.parametrize("height", [1080, 720, 480, 360])
def test_every_encoded_rung_has_its_scale(height):
    graph = value(argv(source=Source(1920, 1080, 30)), "-filter_complex")
    assert f"scale=-2:{height}" in graph


def test_custom_ladder():
    options = HlsOptions(ladder=(Rung("540p", 540, 2000, 128),))
    assert [r.name for r in ladder_for(Source(1920, 1080, 30), options)] == ["540p"]


@pytest.mark.e2e  # a real FFmpeg
def test_passthrough_command_runs_in_real_ffmpeg(tmp_path):
    """FFmpeg accepts the passthrough ladder: the copied rung, encoded rungs and recording
    each land in their own folders, and the master announces the copy's bandwidth."""
    import subprocess

    clip = tmp_path / "clip.flv"
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=1280x720:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=48000",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "60",
            "-c:a",
            "aac",
            "-f",
            "flv",
            str(clip),
        ],
        check=True,
    )
    out = tmp_path / "out"
    (out / "recording").mkdir(parents=True)
    args = build_transcode_command(
        input_url=str(clip), out_dir=out, source=HD, options=HlsOptions(passthrough_top=True)
    )
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-500:]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["360p", "480p", "recording", "source"]
    master = (out / "master.m3u8").read_text()
    source_entry = master.split("source/index.m3u8")[0].rsplit("#EXT-X-STREAM-INF:", 1)[1]
    bandwidth = int(source_entry.split("BANDWIDTH=")[1].split(",")[0])
    assert bandwidth > 1_000_000, source_entry  # the copy is the richest rung, not the cheapest
