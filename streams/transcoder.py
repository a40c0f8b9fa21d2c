"""Running a broadcast's transcoder: one FFmpeg, watched, restarted, stopped for sure.

`transcode_broadcast` is what the Celery task runs, for as long as the broadcast is live:
it learns what the source is, starts FFmpeg with the ladder (streams.transcoding),
publishes the output (streams.hls_publisher), records health samples and events, restarts
a dead FFmpeg with backoff while the publisher is still there, and cleans up after itself.
A Redis lock, renewed all along, makes sure one broadcast never has two transcoders.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from pathlib import Path

import redis
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import storages
from django.db import close_old_connections
from django.utils import timezone

from socialflow.lib import ffmpeg, realtime
from streams import capacity, encoders, health
from streams.hls_publisher import HlsPublisher
from streams.media_servers import get_media_server, is_publishing
from streams.models import Stream, StreamEvent, StreamHealthSample
from streams.segments import SegmentIndex, parse_media_playlist, segments_trim
from streams.services import (
    broadcast_drop_publisher,
    stream_event_record,
    stream_fail,
    transcode_dequeued,
    transcode_enqueue_once,
)
from streams.transcoding import (
    DEFAULT_LADDER,
    HlsOptions,
    Source,
    build_transcode_command,
    can_pass_through,
    passthrough,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
FIRST_POLL_SECONDS = 0.05
STATUS_CHECK_SECONDS = 2.0
HEALTH_SAMPLE_SECONDS = 5.0
# How often segments that left the DVR window are removed (unrecorded broadcasts).
TRIM_EVERY_SECONDS = 10.0
# A transcoder that ran this long without trouble starts its restart count afresh.
HEALTHY_RESET_SECONDS = 300
# A ladder change: the old run publishes until the new one's ladder is out, at most this long.
HANDOVER_SECONDS = 20.0
# A reduced ladder looks this often for capacity freed on its worker.
UPGRADE_CHECK_SECONDS = 15.0
# Sooner while this broadcast waits for room another one gives (capacity.ask_for_room).
ASKED_UPGRADE_CHECK_SECONDS = 4.0
# How often a broadcast looks whether another one on its worker asked for room.
SHARE_CHECK_SECONDS = 2.0
# Set when the worker is shutting down: transcoders stop cleanly, another worker resumes.
SHUTTING_DOWN = threading.Event()


class Outcome(StrEnum):
    """Why a transcoder stopped (the task's result, and the last transcoder event)."""

    ALREADY_RUNNING = "already running"
    NOT_LIVE = "not live"
    LOST_LOCK = "lost its lock"
    WORKER_SHUTTING_DOWN = "worker shutting down"
    TIME_LIMIT = "reached the task's time limit"
    ENDED_BEFORE_READABLE = "ended before the source was readable"
    PUBLISHER_LEFT = "publisher left"
    BROADCAST_ENDED = "broadcast ended"
    GAVE_UP = "gave up"
    NO_MEDIA = "no media from the publisher"


class RunEnd(StrEnum):
    """How one FFmpeg run ended, besides an Outcome that stops the transcoder."""

    EXITED = "exited"
    STALLED = "stalled"
    RELADDER = "new ladder"  # stopped on a segment boundary to restart with another ladder


class LockLost(Exception):
    """Another transcoder may own this broadcast now: stop at once."""


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def _shutdown_key(hostname: str) -> str:
    return f"streams:worker-shutting-down:{hostname}"


def announce_worker_shutdown(*, hostname: str) -> None:
    SHUTTING_DOWN.set()  # this process (solo pool)
    with contextlib.suppress(redis.exceptions.RedisError):  # its pool processes
        _redis().set(_shutdown_key(hostname), 1, ex=600)


def clear_worker_shutdown(*, hostname: str) -> None:
    with contextlib.suppress(redis.exceptions.RedisError):
        _redis().delete(_shutdown_key(hostname))


def worker_calibrate(*, hostname: str) -> None:
    """A transcode worker measures what ladders cost on its machine, in the background
    (broadcasts use the built-in model meanwhile)."""
    if settings.TRANSCODE_CALIBRATE:
        threading.Thread(target=capacity.calibrate, args=(hostname,), name="calibrate", daemon=True).start()


def worker_check_encoder(*, hostname: str) -> encoders.EncoderCheck:
    """A transcode worker tries TRANSCODE_ENCODER when it starts; one that does not work on
    this machine leaves the worker's broadcasts on libx264. ImproperlyConfigured for a name
    that is no encoder (socialflow.celery stops the worker on it)."""
    _check_presets()
    result = encoders.check(settings.TRANSCODE_ENCODER)
    if result.fell_back:
        log.warning(
            "%s: TRANSCODE_ENCODER %s does not work here (%s); this worker encodes with libx264",
            hostname,
            result.configured,
            result.why,
        )
    elif not result.works:
        log.error("%s: libx264 does not work here (%s); broadcasts will fail", hostname, result.why)
    else:
        log.info("%s: TRANSCODE_ENCODER %s works", hostname, result.configured)
    return result


def _check_presets() -> None:
    """ImproperlyConfigured for a preset x264 does not have (a worker stops at start on it)."""
    for name in ("TRANSCODE_PRESET", "TRANSCODE_LOWER_PRESET"):
        value = getattr(settings, name)
        if value and value not in capacity.PRESETS:
            choices = ", ".join(capacity.PRESETS)
            raise ImproperlyConfigured(f"{name} must be one of {choices}, not {value!r}")


def _encoder_event(stream: Stream) -> None:
    """A broadcast on a worker that fell back to libx264 says so, once."""
    result = encoders.effective()
    if result.fell_back:
        why = result.why if len(result.why) <= 160 else result.why[:159] + "…"  # events hold 300
        _event(
            stream,
            f"This server's TRANSCODE_ENCODER {result.configured} did not work ({why}); "
            "encoding with libx264.",
            StreamEvent.Severity.WARNING,
            encoder=result.encoder,
            configured=result.configured,
            error=result.why,
        )


def _shutting_down(hostname: str | None) -> bool:
    if SHUTTING_DOWN.is_set():
        return True
    if not hostname:
        return False
    try:
        return bool(_redis().exists(_shutdown_key(hostname)))
    except redis.exceptions.RedisError:
        return False


def lock_name(stream_id: str) -> str:
    return f"streams:transcoder:{stream_id}"


def transcoder_running(stream_id: str) -> bool:
    return bool(_redis().exists(lock_name(stream_id)))


def hls_options(stream: Stream) -> HlsOptions:
    by_name = {rung.name: rung for rung in DEFAULT_LADDER}
    unknown = [name for name in settings.TRANSCODE_RUNGS if name not in by_name]
    if unknown:
        raise ImproperlyConfigured(f"TRANSCODE_RUNGS: unknown rungs {unknown}; choose from {list(by_name)}")
    _check_presets()
    segment = settings.HLS_LOW_LATENCY_SEGMENT_SECONDS if stream.low_latency else settings.HLS_SEGMENT_SECONDS
    return HlsOptions(
        segment_seconds=segment,
        list_size=settings.HLS_LIST_SIZE,
        preset=settings.TRANSCODE_PRESET,
        lower_preset=settings.TRANSCODE_LOWER_PRESET or None,
        passthrough_top=stream.source_passthrough,
        thumbnail_every=settings.THUMBNAIL_EVERY_SECONDS,
        record_source=stream.record,
        ladder=tuple(by_name[name] for name in settings.TRANSCODE_RUNGS),
        encoder=encoders.effective().encoder,  # libx264 where TRANSCODE_ENCODER did not work
    )


def source_from_probe(probed: dict) -> Source:
    video = next((s for s in probed["streams"] if s.get("codec_type") == "video"), None)
    if video is None:
        raise ffmpeg.NoVideoError("the feed has no video")
    audio = next((s for s in probed["streams"] if s.get("codec_type") == "audio"), None)
    return Source(
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
        fps=ffmpeg.parse_rate(video.get("avg_frame_rate"))
        or ffmpeg.parse_rate(video.get("r_frame_rate"))
        or 30.0,
        has_audio=audio is not None,
        video_codec=video.get("codec_name", ""),
        audio_codec=(audio or {}).get("codec_name", ""),
    )


def _event(stream: Stream, message: str, severity: str = StreamEvent.Severity.INFO, **details) -> None:
    try:
        stream_event_record(
            stream=stream,
            kind=StreamEvent.Type.TRANSCODER,
            severity=severity,
            message=message,
            details=details,
        )
    except Exception:  # an event is worth less than the broadcast: never fail on it
        log.exception("could not record a transcoder event for %s", stream.pk)


def _is_live(stream_id: str) -> bool:
    return Stream.objects.filter(pk=stream_id, status=Stream.Status.LIVE).exists()


class _Lock:
    """The broadcast's Redis lock, renewed during every wait."""

    def __init__(self, lock, on_renew=None):
        self.lock = lock
        self.on_renew = on_renew  # renew what else lapses with the lock (the capacity held)
        self.renewed_at = time.monotonic()
        self.renew_at = self.renewed_at + settings.TRANSCODE_LOCK_SECONDS / 3

    def keep(self, *, now: bool = False) -> None:
        """Renew the lock when a third of its time is gone (`now`: at once, before a wait)."""
        if not now and time.monotonic() < self.renew_at:
            return
        try:
            self.lock.reacquire()
        except redis.exceptions.LockNotOwnedError as exc:
            raise LockLost from exc
        except redis.exceptions.RedisError as exc:
            # Fencing: past half the lock's time unrenewed, it may lapse and another
            # worker start a second transcoder on the same prefix. Stop first.
            if time.monotonic() - self.renewed_at > settings.TRANSCODE_LOCK_SECONDS / 2:
                raise LockLost(f"the lock was not renewed for half its time: {exc}") from exc
            log.warning("could not renew the transcoder lock: %s", exc)  # try again soon
            return
        self.renewed_at = time.monotonic()
        self.renew_at = self.renewed_at + settings.TRANSCODE_LOCK_SECONDS / 3
        if self.on_renew is not None:
            try:
                self.on_renew()
            except redis.exceptions.RedisError as exc:
                log.warning("could not renew the capacity held: %s", exc)

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.keep()
            time.sleep(min(left, 1.0))


def transcoders_ensure() -> int:
    """Start a transcoder for every live broadcast that has none (a worker died, or shut
    down); the per-broadcast lock makes a spare start harmless."""
    settled = timezone.now() - timedelta(seconds=10)
    started = 0
    for stream_id in Stream.objects.live().filter(started_at__lt=settled).values_list("pk", flat=True):
        if not transcoder_running(stream_id) and transcode_enqueue_once(stream_id=stream_id):
            started += 1
    return started


def transcode_broadcast(*, stream_id: str, worker: str | None = None) -> Outcome:
    """Transcode a live broadcast until it ends. Returns why it stopped."""
    lock = _redis().lock(lock_name(stream_id), timeout=settings.TRANSCODE_LOCK_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        return Outcome.ALREADY_RUNNING  # a redelivered or duplicate task
    transcode_dequeued(stream_id=stream_id)  # no longer waiting: the watchdog may queue again
    base_dir = Path(settings.TRANSCODE_WORK_DIR) / stream_id
    stream = None
    held = _Held(worker=capacity.worker_name(worker), stream_id=stream_id)
    try:
        stream = Stream.objects.select_related("channel").filter(pk=stream_id).first()
        if stream is None or not stream.is_live:
            return Outcome.NOT_LIVE
        outcome = _run(stream, base_dir, _Lock(lock, on_renew=held.renew), worker, held)
    except LockLost:
        outcome = Outcome.LOST_LOCK
    except SoftTimeLimitExceeded:
        outcome = Outcome.TIME_LIMIT  # the task queues a fresh one (a prefork pool's limit)
    finally:
        shutil.rmtree(base_dir, ignore_errors=True)
        with contextlib.suppress(redis.exceptions.RedisError):
            capacity.release(worker=held.worker, stream_id=stream_id)
        with contextlib.suppress(redis.exceptions.RedisError):  # expired meanwhile
            lock.release()
    _event(stream, f"Transcoder stopped: {outcome}.")
    return outcome


@dataclass
class _Held:
    """The capacity a transcoder holds on its worker (streams.capacity)."""

    worker: str
    stream_id: str
    plan: capacity.Plan | None = None
    # Set by the governor: this worker could not keep up with more, so no run gets more.
    ceiling: capacity.Plan | None = None
    # After giving room to another broadcast, no growing back before this (monotonic).
    no_upgrade_until: float = 0.0
    # New rung names to announce to players when the next master is out.
    announce: list[str] | None = None
    # A ladder change under way (room given away, or room taken): held at this cost until
    # the new run starts, whatever the lock's renewals meanwhile.
    switching_cost: float | None = None
    # What this run's FFmpeg really costs (capacity.CostMeter), once measured.
    measured: float | None = None

    def use(self, plan: capacity.Plan) -> None:
        """A new run with `plan`: what the last one gave away or measured is past."""
        self.plan, self.switching_cost, self.measured = plan, None, None

    def renew(self) -> None:
        """Renew the hold: the plan's price, or what its FFmpeg uses when that is more."""
        if self.plan is not None:
            cost = self.plan.cost if self.switching_cost is None else self.switching_cost
            if self.switching_cost is None and self.measured is not None:
                cost = max(cost, self.measured + self.plan.overhead)
            capacity.hold(worker=self.worker, stream_id=self.stream_id, cost=cost)


def _tell(stream: Stream, plan: capacity.Plan, message: str, severity: str, held: _Held) -> None:
    """The ladder event, and the streamer's dashboard shows why (stream.health). When the
    qualities changed (a rung that goes from encoded to copied keeps its name), players are
    told once the new run's master is out (`_announce_ladder`): read before, the master
    would still list the old rungs."""
    _event(stream, message, severity, ladder=plan.as_details())
    rungs = [r.name for r in plan.rungs]
    if held.plan is not None and rungs != [r.name for r in held.plan.rungs]:
        held.announce = rungs
    _health(stream, "good" if severity == StreamEvent.Severity.INFO else "warning", message, plan)


def _announce_ladder(stream: Stream, rungs: list[str]) -> None:
    """stream.ladder: players read the master again (static/js/ladder.js)."""
    try:
        realtime.send_on_commit(
            stream.pk, {"type": realtime.STREAM_LADDER, "stream_id": stream.pk, "rungs": rungs}
        )
    except Exception:  # a frame is worth less than the broadcast
        log.exception("could not send the ladder of %s", stream.pk)


def _health(stream: Stream, status: str, reason: str, plan: capacity.Plan) -> None:
    """A staff-only stream.health frame: good, warning or bad, and why."""
    frame = {
        "type": realtime.STREAM_HEALTH,
        "stream_id": stream.pk,
        "status": status,
        "reason": reason,
        "ladder": [r.name for r in plan.rungs],
    }
    try:
        realtime.send_on_commit(stream.pk, frame, staff=True)
    except Exception:
        log.exception("could not send the health of %s", stream.pk)


def _plan(stream: Stream, source: Source, options: HlsOptions, held: _Held) -> capacity.Plan:
    """The ladder for this run, planned against the worker's free capacity; an event when
    it differs from the last run's (the first one always says what and why)."""
    plan = capacity.reserve(worker=held.worker, stream_id=stream.pk, source=source, options=options)
    if held.ceiling is not None and plan.score() > held.ceiling.score():
        plan = held.ceiling
        capacity.hold(worker=held.worker, stream_id=stream.pk, cost=plan.cost)
    if held.plan is None or plan.rungs != held.plan.rungs:
        _tell(
            stream,
            plan,
            plan.reason(source),
            StreamEvent.Severity.WARNING if plan.degraded else StreamEvent.Severity.INFO,
            held,
        )
    held.use(plan)
    _ask_for_room(stream, source, options, held, plan)
    return plan


def _ask_for_room(
    stream: Stream, source: Source, options: HlsOptions, held: _Held, plan: capacity.Plan
) -> bool:
    """A thin ladder asks the worker's richer broadcasts for room (capacity.room_to_give)."""
    try:
        cores = capacity.room_wanted(
            worker=held.worker, stream_id=stream.pk, source=source, options=options, current=plan
        )
        if cores > 0:
            capacity.ask_for_room(worker=held.worker, stream_id=stream.pk, cores=cores)
    except redis.exceptions.RedisError as exc:
        log.warning("could not ask for room for %s: %s", stream.pk, exc)
        return False
    return cores > 0


@dataclass
class _Steering:
    """Ladder changes while a broadcast runs. The governor sheds work when FFmpeg stays
    below real time (capacity.shed: the top rung passed through, then the top encoded rung,
    then a faster preset), and a reduced ladder grows back when its worker has capacity
    again. Either way FFmpeg restarts on a segment boundary and the sequence continues."""

    stream: Stream
    source: Source
    options: HlsOptions
    held: _Held
    watch: capacity.SpeedWatch
    next_plan: capacity.Plan | None = None
    why: str = ""
    next_upgrade: float = 0.0
    next_share: float = 0.0
    warned: bool = False
    deferred: bool = False  # let a richer broadcast on this worker shed first, once
    # The ladder to start once this run's master is out (a first run that remuxes the source).
    pending: capacity.Plan | None = None

    def _warn_once(self, plan: capacity.Plan, speed: float, status: str, message: str) -> bool:
        """Slow, and nothing to shed: say so once (a speed below 1.0 is never silent), keep
        this ladder, and measure afresh."""
        self.watch.reset()
        if not self.warned:
            self.warned = True
            _event(self.stream, message, StreamEvent.Severity.WARNING, speed=round(speed, 3))
            _health(self.stream, status, message, plan)
        return False

    def check(self, now: float, block: dict[str, str]) -> bool:
        """True: restart with `next_plan` (and tell the streamer `why`)."""
        plan = self.held.plan
        if plan is None:
            return False
        if self.pending is not None:
            self.next_plan, self.pending, self.why = self.pending, None, ""
            return True
        media = (ffmpeg.number(block.get("out_time_us")) or 0) / 1_000_000
        speed = self.watch.observe(now, media)
        if speed is not None:
            return self._shed(plan, speed)
        if now >= self.next_share:
            self.next_share = now + SHARE_CHECK_SECONDS
            cheaper = capacity.room_to_give(
                worker=self.held.worker, stream_id=self.stream.pk, source=self.source, plan=plan
            )
            if cheaper is not None:
                self.held.no_upgrade_until = now + capacity.GAVE_ROOM_HOLD_SECONDS
                self.held.switching_cost = cheaper.cost
                self.next_plan = cheaper
                self.why = (
                    f"Made room for another broadcast on this server (gave up "
                    f"{capacity.what_was_shed(plan, cheaper)}); viewers get {capacity.audience(cheaper)}."
                )
                return True
        upgrade_at = max(self.next_upgrade, self.held.no_upgrade_until)
        if plan.degraded and self.held.ceiling is None and now >= upgrade_at:
            self.next_upgrade = now + UPGRADE_CHECK_SECONDS
            better = capacity.improve(
                worker=self.held.worker,
                stream_id=self.stream.pk,
                source=self.source,
                options=self.options,
                current=plan,
            )
            if better is not None:
                self.held.switching_cost = better.cost  # held from now on, not from the restart
                self.next_plan = better
                self.why = f"Capacity freed: the ladder grows to {better.describe()}."
                return True
            if _ask_for_room(self.stream, self.source, self.options, self.held, plan):
                self.next_upgrade = now + ASKED_UPGRADE_CHECK_SECONDS
        return False

    def _my_turn_to_shed(self) -> bool:
        """One broadcast per worker sheds at a time, the richest first (capacity, "The
        governor's turns"): a poorer one lets a richer one go first once."""
        worker, stream_id = self.held.worker, self.stream.pk
        if not self.deferred and capacity.richer_one_running(worker=worker, stream_id=stream_id):
            self.deferred = True
            return False
        if not capacity.take_turn_to_shed(
            worker=worker, stream_id=stream_id, seconds=settings.TRANSCODE_SLOW_SECONDS
        ):
            return False
        self.deferred = False
        return True

    def _shed(self, plan: capacity.Plan, speed: float) -> bool:
        window = settings.TRANSCODE_SLOW_SECONDS
        idle = self.watch.idle_fraction
        if idle is not None and idle > capacity.IDLE_MEANS_INPUT_BOUND:
            # Cores to spare, and still slow: the feed itself arrives slowly. Shedding
            # would lower quality for nothing; the streamer needs to know.
            return self._warn_once(
                plan,
                speed,
                "warning",
                f"The feed arrives slower than real time ({speed:.2f}x over {window} s) while this "
                f"server has {idle:.0%} of its CPU idle: check the streamer's upload (OBS's "
                "dropped frames, a lower bitrate).",
            )
        cheaper = capacity.shed(plan, self.source)
        if cheaper is not None and not self._my_turn_to_shed():
            self.watch.reset()  # measure afresh: another broadcast's shedding may be enough
            return False
        if cheaper is None:
            return self._warn_once(
                plan,
                speed,
                "bad",
                f"FFmpeg runs at {speed:.2f}x real time over {window} s with nothing left to shed "
                f"({plan.describe()}): the feed arrives too slowly or this server is overloaded; "
                "viewers will buffer.",
            )
        cheaper = capacity.priced(cheaper, self.source, capacity.cost_model(self.held.worker))
        self.next_plan = self.held.ceiling = cheaper
        self.why = (
            f"This server could not keep up with {capacity.what_was_shed(plan, cheaper)} "
            f"({speed:.2f}x real time over {window} s); viewers get {capacity.audience(cheaper)}."
        )
        return True


@dataclass
class _Outgoing:
    """The run a ladder change replaces (make-before-break): its FFmpeg keeps running and
    its segments keep going out while the new run starts beside it, so that viewers see no
    gap. The new run takes over once its whole ladder has a segment (`_ladder_out`), or
    after `deadline` (monotonic) whatever it has."""

    proc: subprocess.Popen
    publisher: HlsPublisher
    work_dir: Path
    gone: set[str]  # rungs the new ladder no longer has: their playlists go when it is out
    deadline: float
    stopped: bool = False

    def publish(self, stream: Stream) -> None:
        try:
            result = self.publisher.sync()
            if result.master_published:  # a first ladder can be replaced before it is out
                Stream.objects.filter(pk=stream.pk).update(hls_ready_at=timezone.now())
        except SoftTimeLimitExceeded:
            raise
        except Exception as exc:  # storage or the database blinked: the new run is coming
            log.warning("the outgoing run of %s could not publish: %s", stream.pk, exc)
            close_old_connections()

    def stop(self) -> None:
        """Its last segments would only repeat what the new run has: no need to finish them."""
        if not self.stopped:
            self.stopped = True
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def retire(self, stream: Stream) -> None:
        """After the new run's master is out: a rung that is gone answers 404, so players
        on it switch to one that exists; the old run's folder goes."""
        self.stop()
        for name in self.gone:
            with contextlib.suppress(Exception):
                storages["live"].delete(f"{stream.media_prefix}/{name}/index.m3u8")
        shutil.rmtree(self.work_dir, ignore_errors=True)


@dataclass
class _Handover:
    outgoing: _Outgoing | None = None

    def abandon(self) -> None:
        """The new run ended before it took over (it died, the broadcast ended): the old one
        stops too, with it."""
        if self.outgoing is not None:
            self.outgoing.stop()
            self.outgoing = None


def _ladder_out(work_dir: Path) -> bool:
    """Every rung of this run has a segment (FFmpeg writes the master once it knows them
    all): it can take over."""
    try:
        master = (work_dir / "master.m3u8").read_text()
    except FileNotFoundError:
        return False
    variants = [line.strip() for line in master.splitlines() if line.strip() and not line.startswith("#")]
    for variant in variants:
        try:
            text = (work_dir / variant).read_text()
        except FileNotFoundError:
            return False
        if not parse_media_playlist(text):
            return False
    return bool(variants)


def _run(stream: Stream, base_dir: Path, lock: _Lock, worker: str | None, held: _Held) -> Outcome:
    handover = _Handover()
    try:
        return _runs(stream, base_dir, lock, worker, held, handover)
    finally:
        handover.abandon()  # whatever ended the broadcast's runs, no FFmpeg is left behind


def _runs(
    stream: Stream, base_dir: Path, lock: _Lock, worker: str | None, held: _Held, handover: _Handover
) -> Outcome:
    # The public name (S-06): OBS's secret is an argument of its publish, never of this pull,
    # so it is in no FFmpeg command line. The redaction stays as a belt for the key's secret.
    input_url = f"{settings.RTMP_PULL_URL.rstrip('/')}/{stream.channel.stream_name}"
    secret = stream.channel.key_secret
    redact = lambda text: text.replace(secret, "<stream key>")  # noqa: E731
    options = hls_options(stream)
    _encoder_event(stream)
    restarts = attempt = no_video = 0
    previous_end = None  # where the last run's ladder stopped (for a gap without an index)
    forced: capacity.Plan | None = None
    known_source: Source | None = None
    health_meter = health.HealthMeter(ingest_limit_kbps=settings.INGEST_MAX_KBPS or None)
    # The publisher's media has reached a transcoder (this one made a segment, or an earlier
    # one published the ladder): the no-media rule is for a broadcast's start only.
    media_seen = stream.hls_ready_at is not None
    while True:
        lock.keep()
        if _shutting_down(worker):
            return Outcome.WORKER_SHUTTING_DOWN
        if not media_seen and _seconds_live(stream) >= settings.TRANSCODE_NO_MEDIA_SECONDS:
            return _drop_for_no_media(stream)
        try:
            # A ladder change restarts at once with what is known of the source: a probe
            # would add seconds to the restart's gap.
            source = known_source if forced is not None and known_source else _source(stream, input_url, lock)
        except (ffmpeg.ProbeError, subprocess.TimeoutExpired) as exc:
            if not _is_live(stream.pk):
                return Outcome.ENDED_BEFORE_READABLE
            restarts += 1
            _event(stream, f"Could not read the source: {redact(str(exc))}", StreamEvent.Severity.WARNING)
            # Twice in a row (a first look may come before the video header): not worth
            # minutes of retries, and the streamer needs to know why.
            no_video = no_video + 1 if isinstance(exc, ffmpeg.NoVideoError) else 0
            if no_video >= 2:
                return _give_up(
                    stream,
                    "The feed has no video (audio only?): add a video source in OBS and go live "
                    "again. The broadcast has failed.",
                    reason="The feed has no video.",
                )
            if restarts > settings.TRANSCODE_MAX_RESTARTS:
                return _give_up(stream)
            lock.sleep(_backoff(restarts, stream, media_seen))
            continue
        known_source = source
        refusal = source_refusal(source)
        if refusal is not None:
            log.info("refused the source of %s: %s (INGEST_MAX_HEIGHT)", stream.pk, refusal)
            return _give_up(stream, refusal, reason=refusal)
        if forced is not None:  # the governor's cheaper ladder, or a bigger one that now fits
            plan, forced = forced, None
            held.use(plan)
            held.renew()
        else:
            try:
                plan = _plan(stream, source, options, held)
            except capacity.NoCapacity as exc:
                return _give_up(stream, str(exc), reason=str(exc))
        steering = _Steering(
            stream,
            source,
            options,
            held,
            capacity.SpeedWatch(window=settings.TRANSCODE_SLOW_SECONDS, idle=capacity.cpu_times),
        )
        running = list(plan.rungs)
        if _remux_first(stream, source, plan, held, attempt, media_seen):
            # The first picture without waiting for an encoder on a busy worker: the source
            # remuxed (a few percent of a core) until its master is out, then the planned
            # ladder beside it (make-before-break). Its cores stay held for it.
            running = [passthrough(plan.rungs[0], source)]
            steering.pending = plan
            held.switching_cost = plan.cost  # nor is the remux's cost learned as the ladder's
        attempt += 1
        # Names this run's segments: no run overwrites another's, on any worker.
        run = int(time.time() * 1000)
        # A fresh folder per attempt: a late write of the previous FFmpeg cannot land here.
        work_dir = base_dir / f"run{attempt}"
        seamless = handover.outgoing is not None  # the last run goes on until this one is out
        if not seamless:
            shutil.rmtree(base_dir, ignore_errors=True)
        (work_dir / "recording").mkdir(parents=True)
        keeps = stream.record or stream.dvr_enabled
        publisher = HlsPublisher(
            work_dir=work_dir,
            prefix=stream.media_prefix,
            storage=storages["live"],
            stream=stream,  # follows a narrowing to followers-only while live (S-04)
            # A seamless change leaves no gap (the runs overlap): none to report.
            index=SegmentIndex(
                stream=stream, run=run, on_gap=None if seamless else lambda gap: _gap_event(stream, gap)
            )
            if keeps
            else None,
        )
        argv = build_transcode_command(
            input_url=input_url,
            out_dir=Path("."),  # FFmpeg runs in work_dir (the sandbox: the folders above are closed to it)
            source=source,
            options=options,
            run=run,
            rungs=running,
            mid_stream=attempt > 1
            or (stream.started_at is not None and timezone.now() - stream.started_at > timedelta(seconds=10)),
        )
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            # No platform secret, its own user, writes only in work_dir, connects only to the
            # media server: it parses publisher media (S-12).
            **ffmpeg.spawn_kwargs(work_dir, pulls=True),
        )
        rungs = [arg.split("name:")[-1] for arg in argv[argv.index("-var_stream_map") + 1].split()]
        health_meter.new_run()
        health_meter.source_fps, health_meter.restarts, health_meter.ladder = (
            source.fps or None,
            attempt - 1,
            [r.name for r in running],
        )
        _event(
            stream,
            f"Transcoder restarted (attempt {restarts})."
            if restarts
            else "Transcoder started: the source remuxed first (this worker is busy), the ladder "
            "follows once it plays."
            if steering.pending is not None
            else "Transcoder started."
            if attempt == 1
            else "Transcoder started the new ladder; the old one plays until it is out.",
            StreamEvent.Severity.INFO if restarts == 0 else StreamEvent.Severity.WARNING,
            source=f"{source.width}x{source.height}@{source.fps:g}",
            audio=source.has_audio,
            rungs=rungs,
            pid=proc.pid,
        )
        # With an index the index reports gaps; a seamless change has none.
        gap_from = None if keeps or seamless else previous_end
        outcome: Outcome | RunEnd | None = None
        try:
            outcome, exit_code, last_error = _watch(
                proc, stream, publisher, lock, redact, worker, gap_from, steering, health_meter, handover
            )
        finally:
            handover.abandon()  # this run ended before it took over: the old one ends too
            if outcome != RunEnd.RELADDER or steering.next_plan is None or held.plan is None:
                ffmpeg.stop(proc)  # whatever happened above, this FFmpeg ends here
                with contextlib.suppress(Exception):
                    publisher.sync(final=True)  # its last segments and ENDLIST playlists
            previous_end = publisher.last_segment_end or previous_end
            media_seen = media_seen or bool(publisher.uploaded)
        if not isinstance(outcome, RunEnd):
            return outcome
        if outcome == RunEnd.RELADDER and steering.next_plan is not None and held.plan is not None:
            plan = steering.next_plan
            # Make-before-break: this FFmpeg goes on publishing until the next run's ladder
            # is out, so a ladder change costs viewers no gap (it cost 0.3-5.6 s when this
            # one stopped first: the new FFmpeg joins the feed, waits for a keyframe and
            # probes). The two overlap for a few seconds; players see a discontinuity.
            handover.outgoing = _Outgoing(
                proc=proc,
                publisher=publisher,
                work_dir=work_dir,
                gone={r.name for r in running} - {r.name for r in plan.rungs},
                deadline=time.monotonic() + HANDOVER_SECONDS,
            )
            if steering.why:
                _tell(
                    stream,
                    plan,
                    steering.why,
                    StreamEvent.Severity.WARNING if plan.cost < held.plan.cost else StreamEvent.Severity.INFO,
                    held,
                )
            elif [r.name for r in running] != [r.name for r in plan.rungs]:
                held.announce = [r.name for r in plan.rungs]  # the planned ladder, already told
            forced = plan
            continue  # at once: no backoff, it is no failure
        if time.monotonic() - started > HEALTHY_RESET_SECONDS:
            restarts = 0
        # FFmpeg ended by itself: the publisher left (its unpublish hook ends the broadcast)
        # or FFmpeg died. Ask the media server; when it cannot tell, wait for the hook.
        # A worker stopping does not wait: with the media server gone too (a host shutting
        # down) the wait held the worker's stop for 8 s and more.
        if not _publisher_present(stream):
            deadline = time.monotonic() + 8
            while time.monotonic() < deadline and _is_live(stream.pk) and not _shutting_down(worker):
                lock.sleep(0.5)
        if _shutting_down(worker):
            return Outcome.WORKER_SHUTTING_DOWN
        if not _is_live(stream.pk):
            return Outcome.PUBLISHER_LEFT
        restarts += 1
        _event(
            stream,
            f"FFmpeg made no progress for {settings.TRANSCODE_STALL_SECONDS} s; restarting."
            if outcome == RunEnd.STALLED
            else f"FFmpeg exited with {exit_code} while the publisher was live; restarting.",
            StreamEvent.Severity.WARNING,
            exit_code=exit_code,
            error=last_error,
        )
        if restarts > settings.TRANSCODE_MAX_RESTARTS:
            return _give_up(stream)
        lock.sleep(_backoff(restarts - 1, stream, media_seen))


def _remux_first(
    stream: Stream, source: Source, plan: capacity.Plan, held: _Held, attempt: int, media_seen: bool
) -> bool:
    """On a worker that is already transcoding, a broadcast's first run remuxes its source
    (TRANSCODE_REMUX_FIRST), when its ladder encodes anything and the source plays as sent:
    its first segment then waits for no encoder competing for the CPU (six go-lives at once
    on 2 cores took 5.3-6.6 s to play). The first broadcast on an idle worker starts its
    ladder at once."""
    if not (
        settings.TRANSCODE_REMUX_FIRST
        and attempt == 0
        and not media_seen
        and not plan.remux_only
        and can_pass_through(source)
    ):
        return False
    try:
        return capacity.used(held.worker, besides=stream.pk) > 0
    except redis.exceptions.RedisError:
        return False


def _seconds_live(stream: Stream) -> float:
    """Seconds since the broadcast went live."""
    if stream.started_at is None:
        return 0.0
    return (timezone.now() - stream.started_at).total_seconds()


def _backoff(failures: int, stream: Stream, media_seen: bool) -> float:
    """The wait before the next attempt; before any media, never past the no-media check."""
    wait = float(min(10, 2**failures))
    if not media_seen:
        wait = min(wait, max(0.5, settings.TRANSCODE_NO_MEDIA_SECONDS - _seconds_live(stream)))
    return wait


def _drop_for_no_media(stream: Stream) -> Outcome:
    """The media server took the publisher, but nothing it sends can be read (SRS can feed a
    source nobody reads: SRS issue #4182): a live broadcast must not sit without video in
    silence. Dropping the publisher makes OBS reconnect, which brings a fresh source."""
    seconds = settings.TRANSCODE_NO_MEDIA_SECONDS
    _event(
        stream,
        f"No video could be read from OBS's connection in {seconds} s, though the media server "
        "accepted it: OBS was disconnected so that it reconnects.",
        StreamEvent.Severity.WARNING,
    )
    log.warning("no media from the publisher of %s in %s s: dropped it", stream.pk, seconds)
    broadcast_drop_publisher(stream=stream)
    return Outcome.NO_MEDIA


def _gap_event(stream: Stream, seconds: float) -> None:
    """Nothing was made while no FFmpeg ran (a restart, a lost worker): the streamer, and
    whoever watches the recording, learn how long the hole is."""
    _event(
        stream,
        f"Restart gap: {seconds:.1f} s of the broadcast were not transcoded"
        + (" or recorded." if stream.record else "."),
        StreamEvent.Severity.WARNING,
        gap_seconds=round(seconds, 2),
    )


def _publisher_present(stream: Stream) -> bool:
    """Only a yes from the media server counts; when it cannot tell, wait for the hook."""
    publishing = is_publishing(
        media_server=stream.media_server, channel_id=stream.channel_id, client_id=stream.publisher_client_id
    )
    return publishing is True


def _source(stream: Stream, input_url: str, lock: _Lock) -> Source:
    """What the publisher sends: from the media server's metadata when it has it (instant),
    else by probing the feed. A server that never announces it (SRS) is not waited for: the
    wait added 3 s to every SRS go-live."""
    server = get_media_server(stream.media_server)
    deadline = time.monotonic() + (3 if server.announces_source else 0)
    while time.monotonic() < deadline:
        info = server.source_info(channel_id=stream.channel_id)
        if info and info["width"] and info["height"]:
            return Source(**info)
        lock.sleep(0.2)
    return source_from_probe(ffmpeg.probe(input_url, attempts=3, before_each=lambda: lock.keep(now=True)))


def source_refusal(source: Source) -> str | None:
    """S-21: why a source is too big for this server (it would be transcoded, and recorded
    as it comes), or None. The shorter side counts: a portrait 1080x1920 is a 1080p source."""
    if source.short_side > settings.INGEST_MAX_HEIGHT:
        return (
            f"OBS sends {source.width}x{source.height}; this server takes at most "
            f"{settings.INGEST_MAX_HEIGHT}p. Lower the output resolution in OBS (Settings, Video) "
            "and go live again."
        )
    return None


def _give_up(
    stream: Stream,
    message: str = "The transcoder failed too many times; the broadcast has failed.",
    *,
    reason: str = "The feed could not be transcoded.",
) -> Outcome:
    """Nothing playable can be made of this feed: fail the broadcast (it drops OBS)
    rather than retry forever."""
    _event(stream, message, StreamEvent.Severity.ERROR)
    stream_fail(stream=stream, reason=reason)
    return Outcome.GAVE_UP


def _watch(
    proc,
    stream: Stream,
    publisher: HlsPublisher,
    lock: _Lock,
    redact,
    worker: str | None,
    gap_from: datetime | None = None,
    steering: _Steering | None = None,
    health_meter: health.HealthMeter | None = None,
    handover: _Handover | None = None,
) -> tuple[Outcome | RunEnd, int | None, str]:
    """Follow one FFmpeg until it exits or must stop. Returns (outcome, exit code, last error).
    `gap_from`: where the previous run's ladder ended; the first new segment reports the gap.
    `handover`: the run this one replaces, published until this one's ladder is out.

    A failing round (storage, database, Redis) is logged and retried; FFmpeg keeps going.
    """
    progress_lines: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, progress_lines.put), daemon=True).start()
    threading.Thread(
        target=_pump, args=(proc.stderr, lambda line: _stderr(line, errors, redact)), daemon=True
    ).start()
    progress = ffmpeg.Progress()
    latest: dict[str, str] = {}
    next_status = next_sample = last_progress = next_trim = time.monotonic()
    sample_bytes = 0
    sample_started = time.monotonic()
    failures = 0
    reladder = False  # the governor or the ledger chose another ladder: the next run starts now
    meter = capacity.CostMeter(proc.pid)
    handover = handover or _Handover()
    while proc.poll() is None:
        # Quicker until the first master is out: viewers are waiting for the broadcast.
        time.sleep(POLL_SECONDS if publisher.master_text or handover.outgoing else FIRST_POLL_SECONDS)
        lock.keep()  # LockLost ends the watch; the caller stops FFmpeg
        while not progress_lines.empty():
            block = progress.feed(progress_lines.get_nowait())
            if block:
                latest, last_progress = block, time.monotonic()
                if handover.outgoing is not None:
                    continue  # no ladder decision on the speed of two FFmpegs at once
                # Not before this run's ladder is out: viewers waiting for the broadcast's
                # first segments would wait for a second FFmpeg's too.
                ready = bool(publisher.master_text)
                if steering is not None and not reladder and ready and _steer(steering, last_progress, block):
                    # At once: this run goes on publishing until the next one is out.
                    reladder = True
        now = time.monotonic()
        if reladder:
            return RunEnd.RELADDER, None, ""
        # Alive but stuck (a hung input, a stopped process): no -progress report for too
        # long. Before the first report FFmpeg may still be reading the source: more slack.
        limit = settings.TRANSCODE_STALL_SECONDS if latest else max(30, settings.TRANSCODE_STALL_SECONDS)
        if now - last_progress > limit:
            lock.keep(now=True)  # the stop below may take its whole grace
            ffmpeg.stop(proc, grace=2.0)
            return RunEnd.STALLED, None, f"no progress for {int(now - last_progress)} s"
        if now >= next_status:
            next_status = now + STATUS_CHECK_SECONDS
            try:
                if _shutting_down(worker):
                    return Outcome.WORKER_SHUTTING_DOWN, None, ""
                if not _is_live(stream.pk):
                    return Outcome.BROADCAST_ENDED, None, ""
            except SoftTimeLimitExceeded:
                raise  # the task's time is up, not a blink
            except Exception as exc:  # the database blinked: keep transcoding, ask again soon
                log.warning("could not check broadcast %s: %s", stream.pk, exc)
                close_old_connections()
        outgoing = handover.outgoing
        if outgoing is not None:
            if not (
                _ladder_out(publisher.work_dir)
                or outgoing.proc.poll() is not None
                or time.monotonic() > outgoing.deadline
            ):
                outgoing.publish(stream)
                continue
            outgoing.stop()  # this run's first sync, below, replaces its playlists
        try:
            result = publisher.sync()
            if outgoing is not None and publisher.master_text:
                handover.outgoing = None
                outgoing.retire(stream)
            sample_bytes += result.new_bytes
            now = time.monotonic()
            fields = {}
            if result.master_published:
                fields["hls_ready_at"] = timezone.now()
                if steering is not None and steering.held.announce is not None:
                    _announce_ladder(stream, steering.held.announce)
                    steering.held.announce = None
            if result.thumbnail_published:
                fields["thumbnail_updated_at"] = timezone.now()
            if fields:
                Stream.objects.filter(pk=stream.pk).update(**fields)
            if gap_from is not None and publisher.first_segment_at is not None:
                _gap_event(stream, max(0.0, (publisher.first_segment_at - gap_from).total_seconds()))
                gap_from = None
            if now >= next_trim:
                next_trim = now + TRIM_EVERY_SECONDS
                if stream.dvr_enabled and not stream.record:
                    segments_trim(stream=stream, window_seconds=stream.dvr_window)
            if now >= next_sample and latest:
                _sample(
                    stream,
                    latest,
                    sample_bytes,
                    now - sample_started,
                    health_meter or health.HealthMeter(),
                    now,
                )
                sample_bytes, sample_started = 0, now
                next_sample = now + HEALTH_SAMPLE_SECONDS
                if steering is not None:
                    _measure_cost(steering.held, meter, now, latest)
                too_much = health_meter.ingest_over_limit if health_meter is not None else None
                if too_much is not None:
                    log.info("refused the ingest of %s: %.0f kbit/s (INGEST_MAX_KBPS)", stream.pk, too_much)
                    message = (
                        f"OBS sends {too_much:,.0f} kbit/s; this server takes at most "
                        f"{settings.INGEST_MAX_KBPS:,} kbit/s. Lower the bitrate in OBS (Settings, "
                        "Output) and go live again."
                    )
                    return _give_up(stream, message, reason=message), None, ""
            failures = 0
        except SoftTimeLimitExceeded:
            raise  # the caller stops FFmpeg and publishes its last segments
        except Exception as exc:
            failures += 1
            log.warning(
                "transcoder round failed for %s (%d in a row): %s", stream.pk, failures, redact(str(exc))
            )
            close_old_connections()
            if failures == 10:
                _event(stream, f"Publishing is failing: {redact(str(exc))[:200]}", StreamEvent.Severity.ERROR)
            lock.sleep(min(5, 0.5 * failures))
    return RunEnd.EXITED, proc.wait(), errors[-1] if errors else ""


def _measure_cost(held: _Held, meter: capacity.CostMeter, now: float, block: dict[str, str]) -> None:
    """What this FFmpeg costs, into its hold and the worker's prices (capacity.learn)."""
    cost = meter.observe(now, (ffmpeg.number(block.get("out_time_us")) or 0) / 1_000_000)
    if cost is None or held.plan is None or held.switching_cost is not None:
        return
    held.measured = cost
    try:
        learned = capacity.learn(worker=held.worker, plan=held.plan, measured=cost)
    except (redis.exceptions.RedisError, ValueError) as exc:
        log.warning("could not learn the cost of %s: %s", held.stream_id, exc)
        return
    log.debug(
        "%s costs %.3f cores (priced %.3f); worker scale %s",
        held.stream_id,
        cost,
        held.plan.ffmpeg_cost,
        learned,
    )


def _steer(steering: _Steering, now: float, block: dict[str, str]) -> bool:
    try:
        return steering.check(now, block)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:  # Redis or the database blinked: keep this ladder, look again later
        log.warning("ladder check failed for %s: %s", steering.stream.pk, exc)
        return False


def _pump(pipe, put) -> None:
    for line in iter(pipe.readline, ""):
        put(line)
    pipe.close()


def _stderr(line: str, errors: list[str], redact) -> None:
    line = redact(line.rstrip())
    if line and "deprecated pixel format" not in line:
        errors.append(line[-300:])
        del errors[:-20]
        log.warning("ffmpeg: %s", line)


def _sample(
    stream: Stream,
    block: dict[str, str],
    new_bytes: int,
    seconds: float,
    meter: health.HealthMeter,
    now: float,
) -> None:
    """A health sample: what FFmpeg reports, the ingest the media server sees, and the
    health judged from them, stored and sent live to the streamer's dashboard."""
    ingest = get_media_server(stream.media_server).ingest_kbps(channel_id=stream.channel_id)
    reading = meter.read(
        now=now,
        out_seconds=(ffmpeg.number(block.get("out_time_us")) or 0) / 1_000_000,
        frames=ffmpeg.number(block.get("frame")) or 0,
        dups=ffmpeg.number(block.get("dup_frames")) or 0,
        ingest_kbps=ingest,
    )
    sample = StreamHealthSample.objects.create(
        stream=stream,
        # Over the last interval where known: FFmpeg's own figures average since its start.
        fps=round(reading.fps, 2) if reading.fps is not None else ffmpeg.number(block.get("fps")),
        speed=round(reading.speed, 3) if reading.speed is not None else ffmpeg.number(block.get("speed")),
        bitrate_kbps=round(new_bytes * 8 / 1000 / seconds, 1) if seconds > 0 else None,
        dropped_frames=int(ffmpeg.number(block.get("drop_frames")) or 0),
        duplicated_frames=int(ffmpeg.number(block.get("dup_frames")) or 0),
        out_time_seconds=(ffmpeg.number(block.get("out_time_us")) or 0) / 1_000_000,
        ingest_kbps=round(ingest, 1) if ingest is not None else None,
        source_fps=meter.source_fps,
        restarts=meter.restarts,
        ladder=meter.ladder,
        status=reading.status,
        reason=reading.reason,
    )
    frame = {
        "type": realtime.STREAM_HEALTH,
        "stream_id": stream.pk,
        "status": sample.status,
        "reason": sample.reason,
        "ladder": sample.ladder,
        "metrics": {
            "at": sample.at.isoformat(),
            "ingest_kbps": sample.ingest_kbps,
            "bitrate_kbps": sample.bitrate_kbps,
            "fps": sample.fps,
            "source_fps": sample.source_fps,
            "speed": sample.speed,
            "dropped_frames": sample.dropped_frames,
            "restarts": sample.restarts,
        },
    }
    try:
        realtime.send_on_commit(stream.pk, frame, staff=True)
    except Exception:  # a frame is worth less than the broadcast
        log.exception("could not send the health of %s", stream.pk)
