"""The FFmpeg command that turns one RTMP feed into an adaptive HLS ladder.

Pure functions: given what the source is and what the broadcast wants, the exact argv.
Everything about the live process (running, watching, restarting) is in streams.transcoder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    passthrough_top: bool = False
    thumbnail_every: int = 30  # seconds
    record_source: bool = True  # a stream copy of the source, for recordings and clips
    ladder: tuple[Rung, ...] = field(default=DEFAULT_LADDER)


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


def _video_graph(source: Source, encoded: list[Rung], thumbnail_every: int) -> list[str]:
    """One decode; rungs scaled in cascade (each from the one above, largest first), each
    with its own frame rate; a thumbnail branch from the source."""
    graph = ["[0:v]split=2[cascade][thumbsrc]"] if encoded else []
    previous = "cascade"
    for i, rung in enumerate(encoded):
        last = i == len(encoded) - 1
        chain = f"fps={rung_fps(source, rung):g},{_scale(source, rung.height)}:flags=bicubic,format=yuv420p"
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


def build_transcode_command(
    *,
    input_url: str,
    out_dir: Path,
    source: Source,
    options: HlsOptions,
    ffmpeg: str = "ffmpeg",
    run: int = 0,
    rungs: list[Rung] | None = None,
) -> list[str]:
    """argv for one FFmpeg that writes the whole ladder, a thumbnail and a source copy.

    out_dir/master.m3u8, out_dir/<rung>/index.m3u8 + seg_<run>_<n>.ts, out_dir/thumb.jpg
    and, when recording, out_dir/recording/index.m3u8 (a stream copy of the source; the
    publisher takes each segment to storage and the segment index as it appears). `run`
    names this FFmpeg's segments, so a restarted one never overwrites an earlier one's.
    `rungs`: the ladder to make (streams.capacity plans it); by default the whole ladder.
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
        # The media server sends the codec headers first; probing 32 KB instead of FFmpeg's
        # 5 MB makes the first segment a second sooner (measured: 4.2 s against 5.4 s from
        # the publish to every rung's first segment, docs/benchmarks.md).
        "-probesize",
        "32768",
    ]
    if not encoded:
        # Nothing re-encoded: only the thumbnail decodes, and keyframes are enough for it.
        argv += ["-skip_frame", "nokey"]
    graph = _video_graph(source, encoded, options.thumbnail_every)
    argv += ["-i", input_url, "-filter_complex", ";".join(graph)]
    var_map = []
    encoded_index = 0
    for index, rung in enumerate(rungs):
        if rung.passthrough:
            # Copied as sent; the bitrate only informs the master playlist's BANDWIDTH.
            argv += ["-map", "0:v:0", f"-c:v:{index}", "copy", f"-b:v:{index}", f"{rung.video_kbps}k"]
        else:
            gop = max(1, round(rung_fps(source, rung) * options.segment_seconds))
            argv += [
                "-map",
                f"[v{encoded_index}]",
                f"-c:v:{index}",
                "libx264",
                f"-b:v:{index}",
                f"{rung.video_kbps}k",
                f"-maxrate:v:{index}",
                f"{int(rung.video_kbps * 1.1)}k",
                f"-bufsize:v:{index}",
                f"{rung.video_kbps * 2}k",
                f"-preset:v:{index}",
                rung.preset or options.preset,
                f"-profile:v:{index}",
                "high",
                f"-x264-params:v:{index}",
                X264_PARAMS,
                # Closed GOPs of exactly one segment, at the same instants in every rung.
                f"-g:v:{index}",
                str(gop),
                f"-keyint_min:v:{index}",
                str(gop),
                f"-sc_threshold:v:{index}",
                "0",
                f"-flags:v:{index}",
                "+cgop",
                f"-force_key_frames:v:{index}",
                f"expr:gte(t,n_forced*{options.segment_seconds})",
            ]
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
