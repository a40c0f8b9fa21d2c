"""The FFmpeg command builder, on its own (FFmpeg runs only in the tests marked e2e)."""

from pathlib import Path

import pytest

from streams.tests.helpers import encode_clip
from streams.transcoding import (
    ENCODERS,
    X264_PARAMS,
    HlsOptions,
    Rung,
    Source,
    build_probe_command,
    build_transcode_command,
    encoder_args,
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
    # Low latency (1-s segments): no lookahead, a third of a second less glass-to-glass.
    low = build_transcode_command(
        input_url="rtmp://x/live/k",
        out_dir=OUT,
        source=HD,
        options=HlsOptions(segment_seconds=1),
        rungs=rungs,
    )
    assert (
        value(low, "-x264-params:v:0")
        == value(low, "-x264-params:v:1")
        == "bframes=0:rc-lookahead=0:sync-lookahead=0"
    )


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

    clip = encode_clip(tmp_path / "clip.flv", size="1280x720", seconds=4)
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


# --- Hardware encoders (TRANSCODE_ENCODER) ---------------------------------------------------

HARDWARE = ["h264_nvenc", "h264_vaapi", "h264_qsv"]
UPLOAD = {"h264_vaapi": "hwupload", "h264_qsv": "hwupload=extra_hw_frames=64,format=qsv"}
# What makes each encoder's keyframes IDR frames at the segment starts only (besides -g and
# the forced keyframes every encoder gets).
KEYFRAME_OPTIONS = {
    "h264_nvenc": {"-forced-idr": "1", "-no-scenecut": "1", "-keyint_min": "60"},
    "h264_vaapi": {"-idr_interval": "0"},
    "h264_qsv": {"-idr_interval": "0", "-forced_idr": "1", "-adaptive_i": "0"},
}


@pytest.mark.parametrize("encoder", ENCODERS)
def test_every_encoded_rung_gets_the_encoder_and_its_rate(encoder):
    args = argv(source=Source(1920, 1080, 30), encoder=encoder)
    assert [value(args, f"-c:v:{i}") for i in range(4)] == [encoder] * 4
    assert [value(args, f"-b:v:{i}") for i in range(4)] == ["5000k", "2800k", "1400k", "800k"]
    assert value(args, "-maxrate:v:1") == "3080k" and value(args, "-bufsize:v:1") == "5600k"
    assert value(args, "-profile:v:3") == "high"
    assert value(args, "-var_stream_map") == (
        "v:0,a:0,name:1080p v:1,a:1,name:720p v:2,a:2,name:480p v:3,a:3,name:360p"
    )


@pytest.mark.parametrize("encoder", HARDWARE)
def test_hardware_encoders_get_no_x264_options(encoder):
    args = argv(encoder=encoder)
    x264_only = ("-x264-params", "-tune", "-sc_threshold")
    assert [a for a in args if a.startswith(x264_only)] == []
    assert "libx264" not in args and X264_PARAMS not in args


@pytest.mark.parametrize("encoder", HARDWARE)
def test_hardware_encoders_keep_closed_gops_aligned_to_segments(encoder):
    args = argv(encoder=encoder, segment_seconds=2)
    for i in range(3):  # every encoded rung
        assert value(args, f"-g:v:{i}") == "60"  # 30 fps x 2 s
        assert value(args, f"-bf:v:{i}") == "0"  # no B-frames, as x264 gets
        assert value(args, f"-force_key_frames:v:{i}") == "expr:gte(t,n_forced*2)"
        assert value(args, f"-flags:v:{i}") == "+cgop"
        for flag, expected in KEYFRAME_OPTIONS[encoder].items():
            assert value(args, f"{flag}:v:{i}") == expected, flag
    low = argv(encoder=encoder, segment_seconds=1, source=Source(1280, 720, 25))
    assert value(low, "-g:v:0") == "25" and value(low, "-force_key_frames:v:0") == "expr:gte(t,n_forced*1)"


@pytest.mark.parametrize(
    ("encoder", "expected"),
    [("h264_nvenc", ["p3", "p2", "p1"]), ("h264_qsv", ["fast", "faster", "veryfast"]), ("h264_vaapi", None)],
)
def test_x264_presets_map_to_the_hardware_presets(encoder, expected):
    """A rung's faster x264 preset (the capacity planner's, the governor's) is a faster
    hardware preset too; VA-API has no presets."""
    rungs = [
        HD_TOP,
        Rung("480p", 480, 1400, 96, preset="superfast"),
        Rung("360p", 360, 800, 64, preset="ultrafast"),
    ]
    args = build_transcode_command(
        input_url="rtmp://x/live/k", out_dir=OUT, source=HD, options=HlsOptions(encoder=encoder), rungs=rungs
    )
    presets = [value(args, f"-preset:v:{i}") if f"-preset:v:{i}" in args else None for i in range(3)]
    assert presets == (expected or [None] * 3)


@pytest.mark.parametrize("encoder", ["h264_vaapi", "h264_qsv"])
def test_vaapi_and_qsv_upload_each_rung_after_its_scale(encoder):
    args = argv(source=Source(1920, 1080, 30), encoder=encoder)
    graph = value(args, "-filter_complex").split(";")
    upload = UPLOAD[encoder]
    assert graph[0] == "[0:v]split=2[cascade][thumbsrc]"
    # Scaled on the CPU; one copy uploaded for the encoder, the other scaled for the next rung.
    assert graph[1] == "[cascade]fps=30,scale=-2:1080:flags=bicubic,format=nv12,split=2[u0][c0]"
    assert graph[2] == f"[u0]{upload}[v0]"
    assert graph[3].startswith("[c0]fps=30,scale=-2:720:") and graph[4] == f"[u1]{upload}[v1]"
    assert graph[7] == f"[c2]fps=30,scale=-2:360:flags=bicubic,format=nv12,{upload}[v3]"
    assert graph[8].startswith("[thumbsrc]select=") and "hwupload" not in graph[8]  # a CPU thumbnail
    assert [value(args, "-map", i) for i in (0, 2, 4, 6)] == ["[v0]", "[v1]", "[v2]", "[v3]"]
    device = ["-vaapi_device", "/dev/dri/renderD128"]
    if encoder == "h264_qsv":
        device = ["-init_hw_device", "qsv=hw", "-filter_hw_device", "hw"]
    start = args.index(device[0])
    assert args[start : start + len(device)] == device and start < args.index("-i")


def test_nvenc_takes_the_scaled_frames_as_they_are():
    args = argv(encoder="h264_nvenc")
    graph = value(args, "-filter_complex")
    assert "hwupload" not in graph and "format=yuv420p" in graph
    assert not {"-vaapi_device", "-init_hw_device", "-filter_hw_device"} & set(args)
    assert value(args, "-rc:v:0") == "vbr"


@pytest.mark.parametrize("encoder", HARDWARE)
def test_passthrough_top_rung_is_still_copied_with_a_hardware_encoder(encoder):
    args = argv(passthrough_top=True, encoder=encoder)
    assert value(args, "-c:v:0") == "copy" and "-g:v:0" not in args and "-bf:v:0" not in args
    assert args.count(encoder) == 2  # 480p and 360p are encoded
    assert value(args, "-var_stream_map").startswith("v:0,a:0,name:720p ")
    # a remux encodes nothing: no GPU opened, nothing uploaded
    remux = build_transcode_command(
        input_url="rtmp://x/live/k",
        out_dir=OUT,
        source=HD,
        options=HlsOptions(encoder=encoder),
        rungs=[passthrough(HD_TOP, HD)],
    )
    assert encoder not in remux and "hwupload" not in value(remux, "-filter_complex")
    assert not {"-vaapi_device", "-init_hw_device"} & set(remux)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_the_probe_encodes_a_few_frames_as_a_rung_is_encoded(encoder):
    probe = build_probe_command(encoder)
    rung = encoder_args(encoder, 0, Rung("144p", 144, 300, 64), "veryfast", 60, 2)
    assert probe[probe.index("-c:v:0") : probe.index("-c:v:0") + len(rung)] == rung
    assert value(probe, "-frames:v") == "5" and probe[-3:] == ["-f", "null", "-"]
    if encoder in UPLOAD:
        assert value(probe, "-vf") == f"format=nv12,{UPLOAD[encoder]}"


def test_an_unknown_encoder_is_refused():
    with pytest.raises(ValueError, match="unknown encoder 'x265'"):
        argv(encoder="x265")


@pytest.mark.e2e  # a real FFmpeg
def test_libx264_command_runs_in_real_ffmpeg(tmp_path):
    """FFmpeg on this machine accepts the default (libx264) ladder: every rung is written,
    in segments of the segment length (a keyframe at each segment start)."""
    import subprocess

    clip = encode_clip(tmp_path / "clip.flv", size="1280x720", seconds=6)
    out = tmp_path / "out"
    (out / "recording").mkdir(parents=True)
    args = build_transcode_command(input_url=str(clip), out_dir=out, source=HD, options=HlsOptions())
    assert "libx264" in args
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["360p", "480p", "720p", "recording"]
    for rung in ("720p", "480p", "360p"):
        playlist = (out / rung / "index.m3u8").read_text()
        durations = [
            float(line.split(":")[1].rstrip(","))
            for line in playlist.splitlines()
            if line.startswith("#EXTINF")
        ]
        assert durations[:2] == [2.0, 2.0], playlist
    assert (out / "thumb.jpg").stat().st_size > 0


@pytest.mark.e2e  # FFmpeg's own list of each encoder's options
@pytest.mark.parametrize("encoder", HARDWARE)
def test_hardware_options_are_ones_this_ffmpeg_knows(encoder):
    """No GPU here to run them: at least every private option, and every named value, is
    one this FFmpeg lists for the encoder (a typo such as -forced_idr for NVENC's
    -forced-idr would otherwise show only on a GPU machine)."""
    import subprocess

    listed = subprocess.run(
        ["ffmpeg", "-hide_banner", "-h", f"encoder={encoder}"], capture_output=True, text=True, check=True
    ).stdout
    names = {line.split()[0] for line in listed.splitlines() if line.strip().startswith("-")}
    constants = {line.split()[0] for line in listed.splitlines() if line.startswith("     ")}
    generic = {"-c", "-b", "-maxrate", "-bufsize", "-g", "-bf", "-keyint_min", "-flags", "-force_key_frames"}
    args = encoder_args(encoder, 0, HD_TOP, "veryfast", 60, 2)
    options = dict(zip(args[::2], args[1::2], strict=True))
    for flag, setting in options.items():
        name = flag.split(":")[0]
        if name in generic:
            continue
        assert name in names, f"{encoder} has no option {name}"
        if not setting.lstrip("-").isdigit():
            assert setting in constants, f"{encoder} {name} has no value {setting}"


def test_joining_mid_stream_probes_until_the_video_shows():
    """Fresh at the publish, 32 KB are enough; a restart joins between keyframes, with only
    audio for up to a GOP, and probes more."""
    fresh = build_transcode_command(
        input_url="rtmp://x/live/k", out_dir=Path("/tmp/o"), source=HD, options=HlsOptions()
    )
    joined = build_transcode_command(
        input_url="rtmp://x/live/k", out_dir=Path("/tmp/o"), source=HD, options=HlsOptions(), mid_stream=True
    )
    assert fresh[fresh.index("-probesize") + 1] == "32768"
    assert joined[joined.index("-probesize") + 1] == "2000000"


def test_the_rungs_below_720p_take_the_lower_preset():
    options = HlsOptions(lower_preset="superfast")
    rungs = ladder_for(Source(1920, 1080, 30), options)
    assert [(r.name, r.preset) for r in rungs] == [
        ("1080p", None),
        ("720p", None),
        ("480p", "superfast"),
        ("360p", "superfast"),
    ]
    args = argv(lower_preset="superfast")  # a 720p source: 720p, 480p, 360p
    assert [value(args, f"-preset:v:{i}") for i in range(3)] == ["veryfast", "superfast", "superfast"]
    # A source passed through keeps its copy; without a lower preset every rung takes the ladder's.
    assert ladder_for(HD, HlsOptions(lower_preset="superfast", passthrough_top=True))[0].passthrough
    assert [value(argv(), f"-preset:v:{i}") for i in range(3)] == ["veryfast"] * 3
