"""The FFmpeg command builder, on its own (FFmpeg runs only in the test marked e2e)."""

from pathlib import Path

import pytest

from streams.transcoding import (
    HlsOptions,
    Rung,
    Source,
    build_transcode_command,
    ladder_for,
    output_fps,
    passthrough,
)

OUT = Path("/work/out")
HD = Source(1280, 720, 30)
HD_TOP = Rung("720p", 720, 2800, 128)


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
    assert value(args, "-b:v:0") == "2800k"
    # AAC is copied into every rung (no audio encode); anything else is encoded per rung.
    assert [value(args, f"-c:a:{i}") for i in range(3)] == ["copy"] * 3 and "-b:a:2" not in args
    other = argv(source=Source(1280, 720, 30, audio_codec="mp3"))
    assert value(other, "-c:a:2") == "aac" and value(other, "-b:a:2") == "64k"
    assert value(other, "-ac:a:2") == "2" and value(other, "-ar:a:2") == "48000"


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
    # omit_endlist: a restarted transcoder must not end the live playlists
    for flag in ("independent_segments", "program_date_time", "delete_segments", "temp_file", "omit_endlist"):
        assert flag in flags
    assert value(argv(), "-hls_start_number_source") == "epoch"  # restarts continue the sequence
    assert value(argv(list_size=4), "-hls_list_size") == "4"


def test_the_pull_gives_up_when_the_publisher_leaves():
    args = argv()
    assert value(args, "-rw_timeout") == "5000000"
    assert args.index("-rw_timeout") < args.index("-i")
    assert value(args, "-probesize") == "32768" and args.index("-probesize") < args.index("-i")
    assert args[-3:] == ["-progress", "pipe:1", "-nostats"]


def test_no_audio_source_maps_video_only():
    args = argv(source=Source(1280, 720, 30, has_audio=False))
    assert value(args, "-var_stream_map") == "v:0,name:720p v:1,name:480p v:2,name:360p"
    assert "0:a:0" not in args and "-ac" not in args


def test_passthrough_top_rung_copies_the_source():
    args = argv(passthrough_top=True)
    # named by its size like any rung: switching to or from a copy keeps its playlist
    assert value(args, "-var_stream_map").startswith("v:0,a:0,name:720p ")
    assert value(args, "-c:v:0") == "copy" and "-profile:v:0" not in args and "-g:v:0" not in args
    assert args.count("libx264") == 2  # 480p and 360p are still encoded
    # ...but never for a codec HLS players may not take as is
    hevc = argv(source=Source(1280, 720, 30, video_codec="hevc"), passthrough_top=True)
    assert value(hevc, "-c:v:0") == "libx264"
    assert value(hevc, "-var_stream_map").startswith("v:0,a:0,name:720p")


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


def test_rungs_are_scaled_in_cascade_from_one_decode():
    graph = value(argv(source=Source(1920, 1080, 30)), "-filter_complex").split(";")
    assert graph[0] == "[0:v]split=2[cascade][thumbsrc]"
    assert graph[1].startswith("[cascade]fps=30,scale=-2:1080:") and graph[1].endswith("split=2[v0][c0]")
    assert graph[2].startswith("[c0]fps=30,scale=-2:720:") and graph[2].endswith("split=2[v1][c1]")
    assert graph[3].startswith("[c1]fps=30,scale=-2:480:")
    assert graph[4].startswith("[c2]fps=30,scale=-2:360:") and graph[4].endswith("[v3]")
    assert graph[5].startswith("[thumbsrc]select=")


def test_x264_options_and_a_preset_per_rung():
    rungs = [Rung("720p", 720, 2800, 128), Rung("360p", 360, 800, 64, preset="superfast")]
    args = build_transcode_command(
        input_url="rtmp://x/live/k", out_dir=OUT, source=HD, options=HlsOptions(), rungs=rungs
    )
    assert value(args, "-preset:v:0") == "veryfast" and value(args, "-preset:v:1") == "superfast"
    assert value(args, "-x264-params:v:0") == value(args, "-x264-params:v:1") == "bframes=0:rc-lookahead=10"
    assert "zerolatency" not in args
    assert value(args, "-var_stream_map") == "v:0,a:0,name:720p v:1,a:1,name:360p"


def test_a_remux_decodes_only_keyframes_for_the_thumbnail():
    args = build_transcode_command(
        input_url="rtmp://x/live/k",
        out_dir=OUT,
        source=HD,
        options=HlsOptions(),
        rungs=[passthrough(HD_TOP, HD)],
    )
    assert args.index("-skip_frame") < args.index("-i") and value(args, "-skip_frame") == "nokey"
    assert "libx264" not in args and value(args, "-c:v:0") == "copy"
    assert value(args, "-filter_complex").startswith("[0:v]select=")
    assert value(args, "-var_stream_map") == "v:0,a:0,name:720p"
    assert "-skip_frame" not in argv()  # the encoded rungs need every frame


def test_a_portrait_source_is_scaled_by_its_short_side():
    portrait = Source(1080, 1920, 30)
    assert [r.name for r in ladder_for(portrait, HlsOptions())] == ["1080p", "720p", "480p", "360p"]
    graph = value(argv(source=portrait), "-filter_complex")
    assert "scale=1080:-2" in graph and "scale=360:-2" in graph and "scale=-2:" not in graph


def test_sixty_fps_keeps_its_rate_above_480p_only():
    args = argv(source=Source(1920, 1080, 60))
    graph = value(args, "-filter_complex")
    assert "[cascade]fps=60," in graph and "[c0]fps=60," in graph  # 1080p, 720p
    assert "[c1]fps=30," in graph and "[c2]fps=30," in graph  # 480p, 360p
    assert value(args, "-g:v:0") == "120" and value(args, "-g:v:2") == "60"  # 2 s either way
    assert "fps=29.97," in value(argv(source=Source(1280, 720, 59.94)), "-filter_complex")


def test_odd_and_tiny_sources_get_an_even_ladder():
    assert [r.height for r in ladder_for(Source(853, 479, 30), HlsOptions())] == [360]
    tiny = ladder_for(Source(321, 181, 30), HlsOptions())
    assert [(r.name, r.height) for r in tiny] == [("181p", 180)]


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
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["360p", "480p", "720p", "recording"]
    master = (out / "master.m3u8").read_text()
    source_entry = master.split("720p/index.m3u8")[0].rsplit("#EXT-X-STREAM-INF:", 1)[1]
    bandwidth = int(source_entry.split("BANDWIDTH=")[1].split(",")[0])
    assert bandwidth > 1_000_000, source_entry  # the copy is the richest rung, not the cheapest
