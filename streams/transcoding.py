"""The FFmpeg command that turns one RTMP feed into an adaptive HLS ladder.

Pure functions: given what the source is and what the broadcast wants, the exact argv.
Everything about the live process (running, watching, restarting) is in streams.transcoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Rung:
    name: str  # also the variant's folder: 720p/index.m3u8
    height: int  # the short side: 720 is 1280x720, or 720x1280 for a portrait source
    video_kbps: int
    audio_kbps: int
    passthrough: bool = False  # the source copied, not re-encoded
    preset: str | None = None  # x264 preset; None: the ladder's (HlsOptions.preset)


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung("1080p", 1080, 5000, 160),
    Rung("720p", 720, 2800, 128),
    Rung("480p", 480, 1400, 96),
    Rung("360p", 360, 800, 64),
)
MAX_FPS = 60
# Rungs below this short side get at most 30 fps: a 60-fps source costs twice as much to
# encode, and at 480p the extra frames are worth less than the bits.
HIGH_FPS_MIN_HEIGHT = 720
LOW_RUNG_MAX_FPS = 30
# x264 beyond the preset, chosen by measurement (docs/benchmarks.md, "Transcoding"): no
# B-frames and a 10-frame lookahead, with frame threads. Against `-tune zerolatency` (the
# same without lookahead, with sliced threads) it costs as much CPU but runs faster on a
# busy machine (sliced threads leave cores idle); against x264's defaults it costs ~30% less.
X264_PARAMS = "bframes=0:rc-lookahead=10"
# A low-latency broadcast (1-s segments) has no lookahead: 10 frames are a third of a
# second of glass-to-glass (bench/latency.py), for a little quality at the same bitrate.
X264_LOW_LATENCY_PARAMS = "bframes=0:rc-lookahead=0:sync-lookahead=0"

# The H.264 encoders TRANSCODE_ENCODER may name: x264 on the CPU, or a GPU's (NVIDIA NVENC,
# VA-API on Intel and AMD, Intel Quick Sync). With a GPU the cascade still decodes and
# scales on the CPU; each rung's frames go to the encoder from there, uploaded where the
# encoder takes only frames in GPU memory (VA-API, Quick Sync).
LIBX264 = "libx264"
ENCODERS = (LIBX264, "h264_nvenc", "h264_vaapi", "h264_qsv")
VAAPI_DEVICE = "/dev/dri/renderD128"
# x264's presets, by position, to NVENC's p1 (fastest) .. p7 and to Quick Sync's: a faster
# x264 preset (what the capacity planner and the governor step down to) stays a faster one.
NVENC_PRESETS = {
    "ultrafast": "p1",
    "superfast": "p2",
    "veryfast": "p3",
    "faster": "p4",
    "fast": "p4",
    "medium": "p5",
    "slow": "p6",
    "slower": "p7",
    "veryslow": "p7",
    "placebo": "p7",
}
QSV_PRESETS = {
    "ultrafast": "veryfast",
    "superfast": "faster",
    "veryfast": "fast",
    "faster": "medium",
    "fast": "medium",
    "medium": "slow",
    "slow": "slower",
    "slower": "veryslow",
    "veryslow": "veryslow",
    "placebo": "veryslow",
}


@dataclass(frozen=True)
class Source:
    width: int
    height: int
    fps: float
    has_audio: bool = True
    video_codec: str = "h264"
    audio_codec: str = "aac"

    @property
    def short_side(self) -> int:
        return min(self.width, self.height) if self.width and self.height else self.height

    @property
    def portrait(self) -> bool:
        return self.height > self.width > 0


@dataclass(frozen=True)
class HlsOptions:
    segment_seconds: int = 2  # 1 in low-latency mode
    list_size: int = 6  # segments in a live playlist (the live window)
    preset: str = "veryfast"
    # The x264 preset of the rungs below 720p (TRANSCODE_LOWER_PRESET); None: `preset`.
    lower_preset: str | None = None
    passthrough_top: bool = False
    thumbnail_every: int = 30  # seconds
    record_source: bool = True  # a stream copy of the source, for recordings and clips
    ladder: tuple[Rung, ...] = field(default=DEFAULT_LADDER)
    encoder: str = LIBX264  # one of ENCODERS


# Codecs every HLS player takes as they are (a passthrough rung, audio copied into rungs).
PLAYABLE_VIDEO = {"h264", "avc", "avc1"}
PLAYABLE_AUDIO = {"aac", "mp4a"}


def can_pass_through(source: Source) -> bool:
    return source.video_codec.lower() in PLAYABLE_VIDEO


def output_fps(source: Source) -> float:
    """The source's own rate (29.97 stays 29.97), never above 60; 30 when unknown."""
    fps = source.fps if source.fps and source.fps > 0 else 30.0
    return round(min(MAX_FPS, fps), 3)


def rung_fps(source: Source, rung: Rung) -> float:
    fps = output_fps(source)
    if rung.height < HIGH_FPS_MIN_HEIGHT and fps > LOW_RUNG_MAX_FPS:
        return fps / 2 if fps / 2 <= LOW_RUNG_MAX_FPS else LOW_RUNG_MAX_FPS  # 59.94 -> 29.97
    return fps


def ladder_for(source: Source, options: HlsOptions) -> list[Rung]:
    """The rungs for this source: none above its resolution (its short side); at least one."""
    side = source.short_side
    rungs = [r for r in sorted(options.ladder, key=lambda r: -r.height) if r.height <= side]
    if not rungs:  # a source smaller than every rung: one rung at its own size
        smallest = min(options.ladder, key=lambda r: r.height)
        rungs = [Rung(f"{side}p", side - side % 2, smallest.video_kbps, smallest.audio_kbps)]
    if options.lower_preset:
        # Chosen by measurement (docs/benchmarks.md, "Transcode capacity"): a 720p ladder's
        # 480p and 360p at superfast cost ~14% less CPU than at veryfast; at those sizes the
        # preset's quality matters less than at the top, where viewers on good links are.
        rungs = [
            replace(r, preset=options.lower_preset)
            if r.height < HIGH_FPS_MIN_HEIGHT and r.preset is None and not r.passthrough
            else r
            for r in rungs
        ]
    if options.passthrough_top and can_pass_through(source):
        rungs[0] = passthrough(rungs[0], source)
    return rungs


def passthrough(top: Rung, source: Source) -> Rung:
    """The source as the top rung, copied; the bitrate only informs the master playlist.
    Named by its size like any rung ("720p" for a 720p source), so a switch between encoding
    and copying it keeps the rung's playlist, and its rewind window, where players have them."""
    side = source.short_side or top.height
    return Rung(f"{side}p", side, top.video_kbps, top.audio_kbps, passthrough=True)


def _scale(source: Source, height: int) -> str:
    # The short side to the rung's, the other in proportion (even, as H.264 wants).
    return f"scale=-2:{height}" if not source.portrait else f"scale={height}:-2"


def _video_graph(
    source: Source, encoded: list[Rung], thumbnail_every: int, encoder: str = LIBX264
) -> list[str]:
    """One decode; rungs scaled in cascade (each from the one above, largest first), each
    with its own frame rate; a thumbnail branch from the source. For an encoder that takes
    GPU frames, each rung is uploaded after its scale; the cascade goes on from the CPU copy."""
    graph = ["[0:v]split=2[cascade][thumbsrc]"] if encoded else []
    upload = _upload(encoder)
    pixels = "nv12" if upload else "yuv420p"
    previous = "cascade"
    for i, rung in enumerate(encoded):
        last = i == len(encoded) - 1
        chain = f"fps={rung_fps(source, rung):g},{_scale(source, rung.height)}:flags=bicubic,format={pixels}"
        if upload and last:
            graph.append(f"[{previous}]{chain},{upload}[v{i}]")
        elif upload:
            graph += [f"[{previous}]{chain},split=2[u{i}][c{i}]", f"[u{i}]{upload}[v{i}]"]
        else:
            outputs = f"[v{i}]" if last else f"split=2[v{i}][c{i}]"
            graph.append(f"[{previous}]{chain}" + ("" if last else ",") + outputs)
        previous = f"c{i}"
    thumb_input = "thumbsrc" if encoded else "0:v"
    # The first frame, then one every `thumbnail_every` seconds.
    graph.append(
        f"[{thumb_input}]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{thumbnail_every})',"
        f"{_scale(source, 360)}[thumb]"
    )
    return graph


def _upload(encoder: str) -> str | None:
    """The filters that put a CPU frame where the encoder takes it; None: it takes CPU frames."""
    if encoder == "h264_vaapi":
        return "hwupload"
    if encoder == "h264_qsv":
        # Quick Sync's encoder keeps a pool of GPU frames of its own: room for them.
        return "hwupload=extra_hw_frames=64,format=qsv"
    return None


def hw_device_args(encoder: str) -> list[str]:
    """Global options (before the input) that open the GPU the encoder needs."""
    if encoder == "h264_vaapi":
        return ["-vaapi_device", VAAPI_DEVICE]
    if encoder == "h264_qsv":
        return ["-init_hw_device", "qsv=hw", "-filter_hw_device", "hw"]
    return []  # x264 needs none; NVENC opens its GPU itself and takes CPU frames


def encoder_args(
    encoder: str, index: int, rung: Rung, preset: str, gop: int, segment_seconds: int
) -> list[str]:
    """One encoded rung's output options: the codec, its rate control, its preset, and
    closed GOPs of exactly one segment (keyframes at the same instants in every rung, none
    at scene cuts, no B-frames)."""
    if encoder not in ENCODERS:
        raise ValueError(f"unknown encoder {encoder!r}; choose from {', '.join(ENCODERS)}")
    rate = [
        f"-b:v:{index}",
        f"{rung.video_kbps}k",
        f"-maxrate:v:{index}",
        f"{int(rung.video_kbps * 1.1)}k",
        f"-bufsize:v:{index}",
        f"{rung.video_kbps * 2}k",
    ]
    keyframes = [f"-force_key_frames:v:{index}", f"expr:gte(t,n_forced*{segment_seconds})"]
    if encoder == LIBX264:
        return [
            f"-c:v:{index}",
            LIBX264,
            *rate,
            f"-preset:v:{index}",
            preset,
            f"-profile:v:{index}",
            "high",
            f"-x264-params:v:{index}",
            X264_LOW_LATENCY_PARAMS if segment_seconds < 2 else X264_PARAMS,
            # Closed GOPs of exactly one segment, at the same instants in every rung.
            f"-g:v:{index}",
            str(gop),
            f"-keyint_min:v:{index}",
            str(gop),
            f"-sc_threshold:v:{index}",
            "0",
            f"-flags:v:{index}",
            "+cgop",
            *keyframes,
        ]
    common = [f"-profile:v:{index}", "high", f"-bf:v:{index}", "0", f"-g:v:{index}", str(gop)]
    closed = [f"-flags:v:{index}", "+cgop"]
    if encoder == "h264_nvenc":
        return [
            f"-c:v:{index}",
            encoder,
            *rate,
            f"-rc:v:{index}",
            "vbr",
            f"-preset:v:{index}",
            NVENC_PRESETS.get(preset, "p4"),
            *common,
            f"-keyint_min:v:{index}",
            str(gop),
            f"-no-scenecut:v:{index}",
            "1",
            # The forced keyframes (segment starts) as IDR frames, not just I-frames.
            f"-forced-idr:v:{index}",
            "1",
            *closed,
            *keyframes,
        ]
    if encoder == "h264_qsv":
        return [
            f"-c:v:{index}",
            encoder,
            *rate,  # a maxrate above the bitrate: Quick Sync's VBR
            f"-preset:v:{index}",
            QSV_PRESETS.get(preset, "medium"),
            *common,
            # Every I-frame an IDR frame; the forced ones too; none placed by the encoder.
            f"-idr_interval:v:{index}",
            "0",
            f"-forced_idr:v:{index}",
            "1",
            f"-adaptive_i:v:{index}",
            "0",
            *closed,
            *keyframes,
        ]
    # h264_vaapi: no presets; a forced keyframe is always an IDR frame, and no scene cuts.
    return [
        f"-c:v:{index}",
        encoder,
        *rate,
        f"-rc_mode:v:{index}",
        "VBR",
        *common,
        f"-idr_interval:v:{index}",
        "0",
        *closed,
        *keyframes,
    ]


def build_probe_command(encoder: str, *, ffmpeg: str = "ffmpeg", preset: str = "veryfast") -> list[str]:
    """argv that encodes a few frames of a test pattern the way a rung is encoded (the same
    device, upload and encoder options), to nowhere: does this encoder work here?"""
    rung = Rung("144p", 144, 300, 64)
    upload = _upload(encoder)
    return [
        ffmpeg,
        *("-hide_banner", "-nostdin", "-loglevel", "error"),
        *hw_device_args(encoder),
        *("-f", "lavfi", "-i", "testsrc2=size=256x144:rate=30", "-frames:v", "5"),
        *("-vf", f"format=nv12,{upload}" if upload else "format=yuv420p"),
        *encoder_args(encoder, 0, rung, preset, 60, 2),
        *("-f", "null", "-"),
    ]


def build_transcode_command(
    *,
    input_url: str,
    out_dir: Path,
    source: Source,
    options: HlsOptions,
    ffmpeg: str = "ffmpeg",
    run: int = 0,
    rungs: list[Rung] | None = None,
    mid_stream: bool = False,
) -> list[str]:
    """argv for one FFmpeg that writes the whole ladder, a thumbnail and a source copy.

    out_dir/master.m3u8, out_dir/<rung>/index.m3u8 + seg_<run>_<n>.ts, out_dir/thumb.jpg
    and, when recording, out_dir/recording/index.m3u8 (a stream copy of the source; the
    publisher takes each segment to storage and the segment index as it appears). `run`
    names this FFmpeg's segments, so a restarted one never overwrites an earlier one's.
    `rungs`: the ladder to make (streams.capacity plans it); by default the whole ladder.
    `mid_stream`: FFmpeg joins a broadcast under way (a restart, another worker taking over).
    """
    rungs = list(rungs) if rungs is not None else ladder_for(source, options)
    encoded = [r for r in rungs if not r.passthrough]
    # AAC (what OBS sends) is copied into every rung: no audio encode at all.
    copy_audio = source.audio_codec.lower() in PLAYABLE_AUDIO

    argv = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        # A publisher that leaves makes the pull end within 5 s instead of hanging.
        "-rw_timeout",
        "5000000",
        # At a publish the media server sends the codec headers and the first keyframe at
        # once; probing 32 KB instead of FFmpeg's 5 MB makes the first segment a second
        # sooner (measured: 4.2 s against 5.4 s from the publish to every rung's first
        # segment, docs/benchmarks.md). Joining mid-stream, the video waits for the next
        # keyframe (up to a GOP) while audio flows: 32 KB of audio alone, and FFmpeg would
        # start without a video stream ("[0:v] matches no streams", seen at 720p and 1080p).
        "-probesize",
        "2000000" if mid_stream else "32768",
    ]
    if not encoded:
        # Nothing re-encoded: only the thumbnail decodes, and keyframes are enough for it.
        argv += ["-skip_frame", "nokey"]
    if encoded:
        argv += hw_device_args(options.encoder)
    graph = _video_graph(source, encoded, options.thumbnail_every, options.encoder)
    argv += ["-i", input_url, "-filter_complex", ";".join(graph)]
    var_map = []
    encoded_index = 0
    for index, rung in enumerate(rungs):
        if rung.passthrough:
            # Copied as sent; the bitrate only informs the master playlist's BANDWIDTH.
            argv += ["-map", "0:v:0", f"-c:v:{index}", "copy", f"-b:v:{index}", f"{rung.video_kbps}k"]
        else:
            gop = max(1, round(rung_fps(source, rung) * options.segment_seconds))
            argv += ["-map", f"[v{encoded_index}]"]
            argv += encoder_args(
                options.encoder, index, rung, rung.preset or options.preset, gop, options.segment_seconds
            )
            encoded_index += 1
        entry = f"v:{index}"
        if source.has_audio:
            argv += ["-map", "0:a:0"]
            if copy_audio:
                argv += [f"-c:a:{index}", "copy"]
            else:
                argv += [f"-c:a:{index}", "aac", f"-b:a:{index}", f"{rung.audio_kbps}k"]
                argv += [f"-ac:a:{index}", "2", f"-ar:a:{index}", "48000"]
            entry += f",a:{index}"
        var_map.append(f"{entry},name:{rung.name}")
    argv += [
        "-f",
        "hls",
        "-hls_time",
        str(options.segment_seconds),
        "-hls_list_size",
        str(options.list_size),
        "-hls_flags",
        # omit_endlist: a transcoder that restarts (a new ladder, a crash) must not end the
        # live playlists; the broadcast's end closes them (streams.hls_publisher).
        "independent_segments+program_date_time+delete_segments+temp_file+discont_start+omit_endlist",
        # Numbers from the clock: a restarted transcoder continues the sequence.
        "-hls_start_number_source",
        "epoch",
        "-hls_segment_type",
        "mpegts",
        "-hls_segment_filename",
        str(out_dir / "%v" / f"seg_{run}_%d.ts"),
        "-master_pl_name",
        "master.m3u8",
        "-var_stream_map",
        " ".join(var_map),
        str(out_dir / "%v" / "index.m3u8"),
        "-map",
        "[thumb]",
        "-c:v",
        "mjpeg",
        # One thread: a frame-threaded encoder holds each thumbnail back until the next one.
        "-threads",
        "1",
        "-q:v",
        "5",
        "-f",
        "image2",
        "-update",
        "1",
        "-atomic_writing",
        "1",
        str(out_dir / "thumb.jpg"),
    ]
    if options.record_source:
        argv += [
            "-map",
            "0:v:0",
            *(["-map", "0:a:0"] if source.has_audio else []),
            "-c",
            "copy",
            "-f",
            "hls",
            "-hls_time",
            str(options.segment_seconds),
            # A short list: the publisher indexes each segment and removes the local file.
            "-hls_list_size",
            "10",
            "-hls_flags",
            "program_date_time+temp_file+discont_start",
            "-hls_start_number_source",
            "epoch",
            "-hls_segment_filename",
            str(out_dir / "recording" / f"seg_{run}_%d.ts"),
            str(out_dir / "recording" / "index.m3u8"),
        ]
    argv += ["-progress", "pipe:1", "-nostats"]
    return argv
