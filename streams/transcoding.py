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
    height: int
    video_kbps: int
    audio_kbps: int
    passthrough: bool = False  # the source copied, not re-encoded


DEFAULT_LADDER: tuple[Rung, ...] = (
    Rung("1080p", 1080, 5000, 160),
    Rung("720p", 720, 2800, 128),
    Rung("480p", 480, 1400, 96),
    Rung("360p", 360, 800, 64),
)
MAX_FPS = 60


@dataclass(frozen=True)
class Source:
    width: int
    height: int
    fps: float
    has_audio: bool = True
    video_codec: str = "h264"


@dataclass(frozen=True)
class HlsOptions:
    segment_seconds: int = 2  # 1 in low-latency mode
    list_size: int = 6  # segments in a live playlist (the live window)
    preset: str = "veryfast"
    passthrough_top: bool = False
    thumbnail_every: int = 30  # seconds
    record_source: bool = True  # a stream copy of the source, for recordings and clips
    ladder: tuple[Rung, ...] = field(default=DEFAULT_LADDER)


def output_fps(source: Source) -> float:
    """The source's own rate (29.97 stays 29.97), never above 60; 30 when unknown."""
    fps = source.fps if source.fps and source.fps > 0 else 30.0
    return round(min(MAX_FPS, fps), 3)


def ladder_for(source: Source, options: HlsOptions) -> list[Rung]:
    """The rungs for this source: none above its resolution; at least one."""
    rungs = [r for r in sorted(options.ladder, key=lambda r: -r.height) if r.height <= source.height]
    if not rungs:  # a source smaller than every rung: one rung at its own height
        smallest = min(options.ladder, key=lambda r: r.height)
        rungs = [
            Rung(
                f"{source.height}p",
                source.height - source.height % 2,
                smallest.video_kbps,
                smallest.audio_kbps,
            )
        ]
    if options.passthrough_top and source.video_codec == "h264":
        top = rungs[0]
        rungs[0] = Rung("source", source.height, top.video_kbps, top.audio_kbps, passthrough=True)
    return rungs


def build_transcode_command(
    *,
    input_url: str,
    out_dir: Path,
    source: Source,
    options: HlsOptions,
    ffmpeg: str = "ffmpeg",
    run: int = 0,
) -> list[str]:
    """argv for one FFmpeg that writes the whole ladder, a thumbnail and a source copy.

    out_dir/master.m3u8, out_dir/<rung>/index.m3u8 + seg_<run>_<n>.ts, out_dir/thumb.jpg
    and, when recording, out_dir/recording/index.m3u8 (a stream copy of the source; the
    publisher takes each segment to storage and the segment index as it appears). `run`
    names this FFmpeg's segments, so a restarted one never overwrites an earlier one's.
    """
    rungs = ladder_for(source, options)
    fps = output_fps(source)
    gop = max(1, round(fps * options.segment_seconds))
    encoded = [r for r in rungs if not r.passthrough]

    # One decode, split once per encoded rung plus the thumbnail branch.
    branches = len(encoded) + 1
    graph = [f"[0:v]split={branches}" + "".join(f"[s{i}]" for i in range(branches))]
    for i, rung in enumerate(encoded):
        graph.append(f"[s{i}]fps={fps:g},scale=-2:{rung.height}:flags=bicubic,format=yuv420p[v{i}]")
    # The first frame, then one every `thumbnail_every` seconds.
    every = options.thumbnail_every
    graph.append(
        f"[s{len(encoded)}]select='isnan(prev_selected_t)+gte(t-prev_selected_t\\,{every})',scale=-2:360[thumb]"
    )

    argv = [
        ffmpeg,
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        # A publisher that leaves makes the pull end within 5 s instead of hanging.
        "-rw_timeout",
        "5000000",
        "-i",
        input_url,
        "-filter_complex",
        ";".join(graph),
    ]
    var_map = []
    encoded_index = 0
    for index, rung in enumerate(rungs):
        if rung.passthrough:
            # Copied as sent; the bitrate only informs the master playlist's BANDWIDTH.
            argv += ["-map", "0:v:0", f"-c:v:{index}", "copy", f"-b:v:{index}", f"{rung.video_kbps}k"]
        else:
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
                # Closed GOPs of exactly one segment, at the same frames in every rung.
                f"-preset:v:{index}",
                options.preset,
                f"-profile:v:{index}",
                "high",
                f"-tune:v:{index}",
                "zerolatency",
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
            argv += ["-map", "0:a:0", f"-c:a:{index}", "aac", f"-b:a:{index}", f"{rung.audio_kbps}k"]
            entry += f",a:{index}"
        var_map.append(f"{entry},name:{rung.name}")
    if source.has_audio:
        argv += ["-ac", "2", "-ar", "48000"]
    argv += [
        "-f",
        "hls",
        "-hls_time",
        str(options.segment_seconds),
        "-hls_list_size",
        str(options.list_size),
        "-hls_flags",
        "independent_segments+program_date_time+delete_segments+temp_file+discont_start",
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
