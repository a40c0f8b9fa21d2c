"""How much transcoding a worker can take, and which ladder a broadcast gets.

A transcode worker has a CPU budget (`TRANSCODE_CPU_BUDGET`, its cores by default). Each of
its broadcasts reserves what its ladder costs, by a cost model (cores per megapixel per
second decoded, scaled and encoded at each preset) that the worker measures when it starts
(`measure_cost_model`) or takes from the defaults below, measured the same way. A new
broadcast gets the best ladder that fits what is left: the whole ladder, the source passed
through as the top rung, faster presets for the lower rungs, fewer rungs, and at the very
least the source itself remuxed (a stream copy costs almost nothing). Broadcasts are never
queued behind one another: transcode worker slots are not the limit (deploy/supervisord.conf).

Reservations live in Redis (one hash per worker), renewed by their transcoder and gone
when it stops or its worker dies (they expire like the transcoder's lock).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path

import redis
from django.conf import settings

from socialflow.lib import ffmpeg
from streams import encoders
from streams.transcoding import (
    LIBX264,
    X264_PARAMS,
    HlsOptions,
    Rung,
    Source,
    can_pass_through,
    ladder_for,
    passthrough,
    rung_fps,
)

log = logging.getLogger(__name__)

# Faster to slower: what "a faster preset" steps through.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# A plan uses at most this share of the budget: the model is an estimate, and the worker's
# own Python, the publisher and the media server need some CPU too.
PLAN_UTILIZATION = 0.8


@dataclass(frozen=True)
class CostModel:
    """Cores that one second of video costs, per megapixel (width x height x fps / 1e6)."""

    decode: float = 0.0083  # H.264 decode of the source
    scale: float = 0.0036  # one bicubic scale, per input megapixel
    # x264 per encoded megapixel, and a fixed part per encoder (threads, rate control).
    encode: dict[str, float] = field(
        default_factory=lambda: {"veryfast": 0.0157, "superfast": 0.0124, "ultrafast": 0.0078}
    )
    encoder_base: float = 0.12
    remux: float = 0.02  # a stream copy of the source plus keyframe-only thumbnails
    # What the rest of the machine spends on each live broadcast beside its FFmpeg: the media
    # server's relay, the kernel's networking, the transcoder's publisher thread, storage.
    # bench/capacity.py, three 720p broadcasts: 1.74 busy cores, 1.28 of them their FFmpegs,
    # 0.06 the worker's Python and nginx-rtmp's processes; the rest is the kernel's. Not
    # scaled by what the FFmpegs are learned to cost.
    broadcast: float = 0.12
    # A hardware encoder (TRANSCODE_ENCODER) leaves the CPU only the rung's conversion to the
    # GPU's pixel format and its upload, per encoded megapixel, and a fixed part per encoder
    # (FFmpeg's encoder thread, the driver), whatever the preset. An estimate, not measured:
    # the conversion measured ~0.0005 here, the copy is a memcpy; this machine has no GPU.
    hardware_encode: float = 0.001
    hardware_base: float = 0.03
    measured: str = "defaults (Debian 12, FFmpeg 5.1, 2 cores, 2026-12-01)"
    # What the live FFmpegs on this worker really cost against this model's prices (learned
    # while they run, see `learn`); every price above is multiplied by it.
    learned: float = 1.0

    def scaled(self, factor: float) -> CostModel:
        """This model with every price multiplied by `factor` (and `learned` with them)."""
        if factor == 1.0:
            return self
        return replace(
            self,
            decode=self.decode * factor,
            scale=self.scale * factor,
            encode={preset: cost * factor for preset, cost in self.encode.items()},
            encoder_base=self.encoder_base * factor,
            remux=self.remux * factor,
            hardware_encode=self.hardware_encode * factor,
            hardware_base=self.hardware_base * factor,
            learned=self.learned * factor,
        )

    def encode_cost(self, preset: str, mpx: float, encoder: str = LIBX264) -> float:
        if encoder != LIBX264:
            return self.hardware_base + self.hardware_encode * mpx
        per_mpx = self.encode.get(preset)
        if per_mpx is None:  # a slower preset than measured: x264 roughly doubles per step
            known = [p for p in PRESETS if p in self.encode]
            slowest = known[-1] if known else "veryfast"
            steps = max(0, PRESETS.index(preset) - PRESETS.index(slowest)) if preset in PRESETS else 1
            per_mpx = self.encode.get(slowest, 0.0157) * 1.6**steps
        return self.encoder_base + per_mpx * mpx


def _mpx(width: int, height: int, fps: float) -> float:
    return width * height * fps / 1e6


def rung_size(source: Source, rung: Rung) -> tuple[int, int]:
    """The rung's output frame size (short side = rung.height, the other in proportion)."""
    if rung.passthrough or not source.width or not source.height:
        return source.width, source.height
    long_side = round(max(source.width, source.height) * rung.height / source.short_side / 2) * 2
    return (rung.height, long_side) if source.portrait else (long_side, rung.height)


def ladder_cost(
    source: Source, rungs: list[Rung], preset: str, model: CostModel, encoder: str | None = None
) -> float:
    """Cores the whole FFmpeg costs: one decode, a scale per encoded rung (in cascade, each
    from the one above), an encode per encoded rung; a remux when nothing is encoded.
    `encoder`: by default the one this worker process encodes with (streams.encoders)."""
    encoder = encoder or encoders.in_use()
    encoded = [r for r in rungs if not r.passthrough]
    if not encoded:
        return model.remux + model.broadcast
    cost = model.decode * _mpx(source.width, source.height, source.fps or 30)
    above = (source.width, source.height, source.fps or 30)
    for rung in encoded:
        width, height = rung_size(source, rung)
        fps = rung_fps(source, rung)
        if (width, height) != above[:2]:
            cost += model.scale * _mpx(*above)
        cost += model.encode_cost(rung.preset or preset, _mpx(width, height, fps), encoder)
        above = (width, height, fps)
    return cost + model.remux + model.broadcast


@dataclass(frozen=True)
class Plan:
    rungs: tuple[Rung, ...]
    cost: float
    full_cost: float  # what the whole ladder would cost
    free: float  # cores free for this broadcast when it was planned
    preset: str
    learned: float = 1.0  # the model's learned scale it was priced with (CostModel.learned)
    overhead: float = 0.0  # of `cost`, what the rest of the machine spends on it (CostModel.broadcast)
    model: str = ""  # which measurement priced it (CostModel.measured)

    @property
    def ffmpeg_cost(self) -> float:
        """What its FFmpeg is priced at."""
        return self.cost - self.overhead

    @property
    def remux_only(self) -> bool:
        return all(r.passthrough for r in self.rungs)

    @property
    def degraded(self) -> bool:
        return self.cost < self.full_cost - 1e-9

    def describe(self) -> str:
        """ "source (copied), 480p, 360p (superfast)"."""
        parts = []
        for rung in self.rungs:
            if rung.passthrough:
                parts.append("source (copied)")
            elif (rung.preset or self.preset) != self.preset:
                parts.append(f"{rung.name} ({rung.preset})")
            else:
                parts.append(rung.name)
        return ", ".join(parts)

    def reason(self, source: Source) -> str:
        label = f"{source.width}x{source.height}@{source.fps:g}"
        if not self.degraded:
            return (
                f"Ladder {self.describe()} for a {label} source: the whole ladder fits "
                f"({self.cost:.2f} of {self.free:.2f} free cores)."
            )
        if self.remux_only:
            return (
                f"Source only, remuxed ({label}): no transcode capacity left on this worker "
                f"({self.free:.2f} free cores; the whole ladder needs {self.full_cost:.2f}). "
                "Viewers get the source as sent; the ladder follows when capacity frees."
            )
        return (
            f"Reduced ladder {self.describe()} for a {label} source: the whole ladder needs "
            f"{self.full_cost:.2f} cores and {self.free:.2f} were free (this one costs {self.cost:.2f})."
        )

    def score(self) -> tuple:
        """Bigger is better: more rungs, then better presets, then re-encoded over copied
        top, then more pixels (viewers on slow links need the lower rungs most)."""
        encoded = [r for r in self.rungs if not r.passthrough]
        names = [r.preset or self.preset for r in encoded]
        presets = sum(PRESETS.index(name) for name in names if name in PRESETS)
        return (
            len(self.rungs),
            presets,
            not self.rungs[0].passthrough,
            sum(r.height for r in encoded),
        )

    def as_details(self) -> dict:
        return {
            "rungs": [r.name for r in self.rungs],
            "copied": [r.name for r in self.rungs if r.passthrough],  # the source as sent
            "presets": {r.name: r.preset or self.preset for r in self.rungs if not r.passthrough},
            "cost_cores": round(self.cost, 3),
            "full_cost_cores": round(self.full_cost, 3),
            "free_cores": round(self.free, 3),
        }


class NoCapacity(Exception):
    """Not even the cheapest ladder fits, and the source cannot be served as it is."""


def candidates(source: Source, options: HlsOptions) -> list[list[Rung]]:
    """Every ladder worth considering: the whole ladder; its top passed through; the
    lower rungs at faster presets; fewer lower rungs; the source alone."""
    full = ladder_for(source, options)
    tops = [full[0]]
    if can_pass_through(source) and not full[0].passthrough:
        tops.append(passthrough(full[0], source))
    lower_all = full[1:]
    # Each step makes every lower rung one preset faster than its own (veryfast, superfast,
    # ultrafast): the lower rungs may start at a faster preset than the top (lower_preset).
    steps = range(max((_index(r.preset or options.preset) for r in full), default=0) + 1)
    out: list[list[Rung]] = []
    for top in tops:
        for keep in range(len(lower_all), -1, -1):  # drop the highest lower rungs first
            lower = lower_all[len(lower_all) - keep :]
            for step in steps if lower else [0]:
                faster = [replace(r, preset=_faster_by(r.preset or options.preset, step)) for r in lower]
                ladder = [top, *faster]
                if ladder not in out:
                    out.append(ladder)
    alone = [passthrough(full[0], source)]  # the source alone, remuxed
    if can_pass_through(source) and not full[0].passthrough and alone not in out:
        out.append(alone)
    # An encoded top that is too costly: a cheaper encode of the lowest rung alone.
    smallest = full[-1] if not full[-1].passthrough else None
    if smallest is not None:
        for step in steps:
            ladder = [replace(smallest, preset=_faster_by(smallest.preset or options.preset, step))]
            if ladder not in out:
                out.append(ladder)
    return out


def plan_ladder(source: Source, options: HlsOptions, free: float, model: CostModel) -> Plan:
    """The best ladder that fits `free` cores; the source remuxed when nothing does.
    NoCapacity when the source cannot be passed through (say HEVC) and no encode fits."""
    full = ladder_for(source, options)
    full_cost = ladder_cost(source, full, options.preset, model)
    plans = [
        Plan(
            tuple(rungs),
            ladder_cost(source, rungs, options.preset, model),
            full_cost,
            free,
            options.preset,
            model.learned,
            model.broadcast,
            model.measured,
        )
        for rungs in candidates(source, options)
    ]
    fitting = [p for p in plans if p.cost <= free]
    if fitting:
        return max(fitting, key=Plan.score)
    remux = [p for p in plans if p.remux_only]
    if remux:
        return remux[0]  # always served: a stream copy costs next to nothing
    raise NoCapacity(
        f"This server has no capacity left to convert a {source.video_codec.upper() or 'non-H.264'} "
        f"source ({free:.2f} free cores, the cheapest conversion needs "
        f"{min(p.cost for p in plans):.2f}); send H.264 from OBS, or try again later."
    )


def shed(plan: Plan, source: Source) -> Plan | None:
    """The governor's next cheaper ladder: first the top rung passed through instead of
    re-encoded (an H.264 source), then the top encoded rung dropped, then a faster preset
    for the encoded rungs, and last the source alone. None: nothing left to shed."""
    rungs = list(plan.rungs)
    encoded = [r for r in rungs if not r.passthrough]
    if not encoded:
        return None
    if not rungs[0].passthrough and can_pass_through(source):
        rungs[0] = passthrough(rungs[0], source)
    elif len(encoded) >= 2:
        rungs.remove(encoded[0])
    elif (faster := _faster(encoded[0].preset or plan.preset)) is not None:
        rungs = [r if r.passthrough else replace(r, preset=faster) for r in rungs]
    elif rungs[0].passthrough:
        rungs = [rungs[0]]  # the source alone
    else:
        return None
    return replace(plan, rungs=tuple(rungs), cost=plan.cost)  # cost re-estimated by the caller


def priced(plan: Plan, source: Source, model: CostModel) -> Plan:
    """The plan with its cost estimated again (after `shed` changed its rungs)."""
    return replace(
        plan,
        cost=ladder_cost(source, list(plan.rungs), plan.preset, model),
        # The whole ladder at today's prices too (a change of scale only): else a cheaper
        # ladder could cost more than the stale whole one and stop counting as reduced.
        full_cost=plan.full_cost * model.learned / plan.learned
        if plan.model == model.measured
        else plan.full_cost,
        learned=model.learned,
        overhead=model.broadcast,
        model=model.measured,
    )


def _faster(preset: str) -> str | None:
    index = PRESETS.index(preset) if preset in PRESETS else 2
    return PRESETS[index - 1] if index > 0 else None


def _index(preset: str) -> int:
    return PRESETS.index(preset) if preset in PRESETS else 2


def _faster_by(preset: str, steps: int) -> str:
    """`steps` presets faster, at most ultrafast."""
    return PRESETS[max(0, _index(preset) - steps)]


# --- The per-worker ledger (Redis) --------------------------------------------------------


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def worker_name(worker: str | None) -> str:
    return worker or socket.gethostname()


def budget() -> float:
    return float(settings.TRANSCODE_CPU_BUDGET or os.cpu_count() or 1)


def _ledger_key(worker: str) -> str:
    return f"streams:capacity:{worker}"


def _entries(worker: str) -> dict[str, tuple[float, float]]:
    raw = _redis().hgetall(_ledger_key(worker))
    now = time.time()
    out = {}
    for stream_id, value in raw.items():
        try:
            cost, expires = (float(x) for x in value.decode().split("|"))
        except ValueError:
            continue
        if expires > now:
            out[stream_id.decode()] = (cost, expires)
    return out


def _holds(worker: str) -> dict[str, float]:
    """The broadcasts' own holds on this worker (no earmarks): stream id -> cores."""
    return {key: cost for key, (cost, _) in _entries(worker).items() if not _is_earmark(key)}


def used(worker: str, *, besides: str | None = None) -> float:
    """Cores held on this worker; `besides` leaves out a broadcast's own hold and the room
    given to it (its earmark, see room_to_give)."""
    mine = {besides, _earmark(besides)} if besides else set()
    return sum(cost for stream_id, (cost, _) in _entries(worker).items() if stream_id not in mine)


def free(worker: str, *, besides: str | None = None) -> float:
    return max(0.0, budget() * PLAN_UTILIZATION - used(worker, besides=besides))


def reserve(
    *, worker: str, stream_id: str, source: Source, options: HlsOptions, model: CostModel | None = None
) -> Plan:
    """Plan this broadcast's ladder against what its worker has free, and hold that much.
    Planning and holding happen under one lock, so two broadcasts starting together cannot
    both take the last capacity. Raises NoCapacity (see plan_ladder)."""
    model = model or cost_model(worker)
    with _redis().lock(f"{_ledger_key(worker)}:lock", timeout=10, blocking_timeout=10):
        plan = plan_ladder(source, options, free(worker, besides=stream_id), model)
        hold(worker=worker, stream_id=stream_id, cost=plan.cost)
        _redis().hdel(_ledger_key(worker), _earmark(stream_id))  # room given to it is taken
    return plan


def improve(
    *, worker: str, stream_id: str, source: Source, options: HlsOptions, current: Plan
) -> Plan | None:
    """A better ladder than `current` when its worker has the capacity now (held at once),
    else None (and `current` stays held)."""
    model = cost_model(worker)
    with _redis().lock(f"{_ledger_key(worker)}:lock", timeout=10, blocking_timeout=10):
        try:
            better = plan_ladder(source, options, free(worker, besides=stream_id), model)
        except NoCapacity:
            return None
        if better.score() <= current.score():
            return None
        hold(worker=worker, stream_id=stream_id, cost=better.cost)
        _redis().hdel(_ledger_key(worker), _earmark(stream_id))  # the room given is taken
    return better


def hold(*, worker: str, stream_id: str, cost: float, seconds: float | None = None) -> None:
    """Hold (or renew) a reservation; it lapses unless renewed within the lock time."""
    expires = time.time() + (seconds or settings.TRANSCODE_LOCK_SECONDS)
    key = _ledger_key(worker)
    pipe = _redis().pipeline()
    pipe.hset(key, stream_id, f"{cost:.4f}|{expires:.1f}")
    pipe.expire(key, max(60, settings.TRANSCODE_LOCK_SECONDS * 4))
    pipe.execute()


def release(*, worker: str, stream_id: str) -> None:
    pipe = _redis().pipeline()
    pipe.hdel(_ledger_key(worker), stream_id, _earmark(stream_id))
    pipe.hdel(_wants_key(worker), stream_id)
    pipe.execute()


# --- Sharing: a broadcast left with a thin ladder asks a richer one for room ----------------
#
# The first broadcast on a worker gets the whole ladder; the next ones get what is left,
# maybe only their source remuxed. Viewers of two broadcasts are better served by two
# ladders with the top rung passed through than by one whole ladder and one single rung:
# a broadcast with fewer than FAIR_RUNGS rungs asks its worker's others for the cores it
# lacks, and one that holds more than its share and keeps FAIR_RUNGS rungs after one step
# of `shed` gives them (and restarts on a segment boundary, as for the governor). The asker
# takes the room at its next upgrade check. Until then the room is earmarked for it in the
# ledger, so that a broadcast going live meanwhile cannot take it instead.

FAIR_RUNGS = 3
# A broadcast that gave room does not grow back for this long (the asker takes the room first).
GAVE_ROOM_HOLD_SECONDS = 60.0
# Room given stays earmarked for its asker this long (it looks every few seconds while asking).
EARMARK_SECONDS = 20.0


def _earmark(stream_id: str) -> str:
    return f"{stream_id}:given"


def _is_earmark(key: str) -> bool:
    return key.endswith(":given")


def _wants_key(worker: str) -> str:
    return f"streams:capacity:{worker}:wants"


def room_wanted(*, worker: str, stream_id: str, source: Source, options: HlsOptions, current: Plan) -> float:
    """The cores this broadcast lacks for the cheapest ladder of FAIR_RUNGS rungs, when
    `current` has fewer (0: it lacks nothing, or no such ladder exists for its source)."""
    if len(current.rungs) >= FAIR_RUNGS or _earmark(stream_id) in _entries(worker):
        return 0.0  # nothing lacking, or room given already and on its way
    model = cost_model(worker)
    costs = [
        ladder_cost(source, rungs, options.preset, model)
        for rungs in candidates(source, options)
        if len(rungs) >= FAIR_RUNGS
    ]
    if not costs:
        return 0.0
    return max(0.0, min(costs) - free(worker, besides=stream_id))


def ask_for_room(*, worker: str, stream_id: str, cores: float) -> None:
    """Ask the worker's other broadcasts for `cores` (the ask lapses like a reservation;
    renewing it keeps its place in the queue: the first to ask is served first)."""
    now = time.time()
    since = _wants(worker).get(stream_id, (0.0, now))[1]
    pipe = _redis().pipeline()
    pipe.hset(
        _wants_key(worker), stream_id, f"{cores:.4f}|{now + settings.TRANSCODE_LOCK_SECONDS:.1f}|{since:.3f}"
    )
    pipe.expire(_wants_key(worker), max(60, settings.TRANSCODE_LOCK_SECONDS * 4))
    pipe.execute()


def _wants(worker: str) -> dict[str, tuple[float, float]]:
    """The live asks on this worker: stream id -> (cores, asked since)."""
    now = time.time()
    out = {}
    for stream_id, value in _redis().hgetall(_wants_key(worker)).items():
        try:
            cores, expires, since = (float(x) for x in value.decode().split("|"))
        except ValueError:
            continue
        if expires > now:
            out[stream_id.decode()] = (cores, since)
    return out


def room_to_give(*, worker: str, stream_id: str, source: Source, plan: Plan) -> Plan | None:
    """A cheaper ladder for this broadcast when another one on its worker asked for room
    that one step of `shed` frees, this one holds more than an even share of the budget,
    and keeps FAIR_RUNGS rungs. The ask is taken (deleted) by the one broadcast that gives,
    and the room is earmarked for the asker: this one's hold drops to the cheaper ladder's
    cost at once, and the difference is held in the asker's name until it takes it."""
    wants = {other: ask for other, ask in _wants(worker).items() if other != stream_id}
    if not wants:
        return None
    cheaper = shed(plan, source)
    if cheaper is None or len(cheaper.rungs) < FAIR_RUNGS:
        return None
    model = cost_model(worker)
    plan, cheaper = priced(plan, source, model), priced(cheaper, source, model)  # today's prices
    share = budget() * PLAN_UTILIZATION / max(1, len(_holds(worker)))
    if plan.cost <= share:
        return None
    for other, (cores, _) in sorted(wants.items(), key=lambda item: item[1][1]):  # first asked first
        if plan.cost - cheaper.cost < cores:
            continue
        with _redis().lock(f"{_ledger_key(worker)}:lock", timeout=10, blocking_timeout=10):
            entries = _entries(worker)
            # What this one really frees: its hold now (priced when it was planned) less the
            # cheaper ladder's price today.
            freed = entries.get(stream_id, (plan.cost, 0.0))[0] - cheaper.cost
            if freed < cores:
                continue
            if not _redis().hdel(_wants_key(worker), other):
                continue  # taken by another giver meanwhile
            already = entries.get(_earmark(other), (0.0, 0.0))[0]  # given by another one
            hold(worker=worker, stream_id=stream_id, cost=cheaper.cost)
            hold(worker=worker, stream_id=_earmark(other), cost=already + freed, seconds=EARMARK_SECONDS)
        return cheaper
    return None


# --- The governor's turns -------------------------------------------------------------------
#
# On a worker that cannot keep up, every broadcast's FFmpeg slows down together; if each shed
# on its own, all would give up a rung where one less rung would do. So one sheds at a time,
# the one holding the most cores first, and the others measure afresh once it restarted.

RICHER_BY = 0.05  # cores: a broadcast holding this much more than another sheds before it


def richer_one_running(*, worker: str, stream_id: str) -> bool:
    """Whether another broadcast on this worker holds clearly more cores than this one."""
    holds = _holds(worker)
    mine = holds.get(stream_id, 0.0)
    return any(cost > mine + RICHER_BY for key, cost in holds.items() if key != stream_id)


def take_turn_to_shed(*, worker: str, stream_id: str, seconds: float) -> bool:
    """True when no other broadcast on this worker shed within the last `seconds`."""
    return bool(
        _redis().set(f"streams:capacity:{worker}:shedding", stream_id, nx=True, ex=max(1, round(seconds)))
    )


# --- Calibration ----------------------------------------------------------------------------


def _model_key(worker: str) -> str:
    return f"streams:cost-model:{worker}"


def cost_model(worker: str) -> CostModel:
    """The worker's measured model (or the defaults), priced by what its live FFmpegs cost."""
    try:
        raw, learned = _redis().mget(_model_key(worker), _scale_key(worker))
    except redis.exceptions.RedisError:
        raw = learned = None
    model = CostModel()
    if raw:
        try:
            model = CostModel(**json.loads(raw))
        except (TypeError, ValueError):
            log.warning("ignoring a malformed cost model for %s", worker)
    try:
        factor = float(learned) if learned else 1.0
    except ValueError:
        factor = 1.0
    return model.scaled(min(MAX_SCALE, max(MIN_SCALE, factor)))


def save_cost_model(worker: str, model: CostModel) -> None:
    """Keep a newly measured model; what was learned against the old one starts afresh
    (under learn's lock: a measurement under way cannot write the old scale back)."""
    with _redis().lock(f"{_scale_key(worker)}:lock", timeout=5, blocking_timeout=5):
        pipe = _redis().pipeline()
        pipe.set(_model_key(worker), json.dumps(asdict(replace(model, learned=1.0))), ex=30 * 24 * 3600)
        pipe.delete(_scale_key(worker))
        pipe.execute()


# --- Learning what the live FFmpegs cost ---------------------------------------------------
#
# The model prices the parts of a ladder, measured alone for a few seconds when the worker
# starts: a measurement that moved by 25% between two starts on this (shared, noisy) machine,
# and that leaves out what several FFmpegs sharing the cores cost each other. So every live
# FFmpeg is measured while it runs, as CPU seconds per second of video it wrote (whatever its
# speed: a starved FFmpeg writes less video with its CPU), and the worker's prices follow
# what its ladders really cost: a broadcast is planned against the truth, and its hold in the
# ledger is what it uses when that is more than it was priced at.

MIN_SCALE, MAX_SCALE = 0.7, 2.0
LEARN_RATE = 0.3  # each measurement moves the scale this far towards what it says
COST_METER_WARMUP_SECONDS = 10.0  # probing and the first burst of input are no steady cost
COST_METER_MIN_MEDIA_SECONDS = 10.0  # a measurement spans at least this much video


def _scale_key(worker: str) -> str:
    return f"streams:cost-scale:{worker}"


def learn(*, worker: str, plan: Plan, measured: float) -> float | None:
    """Move the worker's scale towards what `plan`'s FFmpeg costs (`measured` cores per
    second of video); returns the new scale. Only ladders that encode something teach:
    a remux costs too little to say anything about the encoder."""
    if plan.remux_only or plan.ffmpeg_cost < 0.1 or measured <= 0:
        return None
    if plan.model and plan.model != cost_model(worker).measured:
        return None  # priced by a measurement since replaced: its ratio says nothing of the new one
    said = plan.learned * measured / plan.ffmpeg_cost  # the scale that would have priced it right
    key = _scale_key(worker)
    with _redis().lock(f"{key}:lock", timeout=5, blocking_timeout=5):
        raw = _redis().get(key)
        try:
            current = float(raw) if raw else 1.0
        except ValueError:
            current = 1.0
        new = min(MAX_SCALE, max(MIN_SCALE, current + LEARN_RATE * (said - current)))
        _redis().set(key, f"{new:.4f}", ex=30 * 24 * 3600)
    return new


def _process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc; None elsewhere or once gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CostMeter:
    """What one FFmpeg costs: CPU seconds per second of video written, since its warm-up."""

    pid: int
    cpu: Callable[[int], float | None] = _process_cpu_seconds
    started: float | None = None
    first: tuple[float, float] | None = None  # (cpu, media) at the end of the warm-up

    def observe(self, wall: float, media: float) -> float | None:
        if self.started is None:
            self.started = wall
        if wall - self.started < COST_METER_WARMUP_SECONDS:
            return None
        cpu = self.cpu(self.pid)
        if cpu is None:
            return None
        if self.first is None:
            self.first = (cpu, media)
            return None
        cpu0, media0 = self.first
        if media - media0 < COST_METER_MIN_MEDIA_SECONDS:
            return None
        pace = (media - media0) / max(1e-3, wall - self.started - COST_METER_WARMUP_SECONDS)
        if not 0.5 <= pace <= 1.5:
            return None  # a timestamp jump in the feed, or a stall: no steady cost to read
        return (cpu - cpu0) / (media - media0)


def _cpu_seconds(args: list[str], *, workdir: Path | None = None) -> float:
    """CPU time (user + system) of one FFmpeg run (in `workdir`): what it costs whatever
    else runs. Read from that process alone (wait4): the worker's other children (an encoder
    probe, a transcoder's ffprobe) may end meanwhile, and RUSAGE_CHILDREN would count them."""
    cmd = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args]
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            **ffmpeg.spawn_kwargs(workdir),
        )
        timer = threading.Timer(120, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            raise subprocess.CalledProcessError(proc.returncode, cmd, stderr=err.read()[-500:])
    return usage.ru_utime + usage.ru_stime


# A live ladder FFmpeg also demuxes RTMP, muxes HLS, writes thumbnails and a source copy,
# and syncs its threads: bench/capacity.py measured 0.93 CPU s/s for a 720p ladder the
# model priced at 0.85, and 1.21 for a 1080p one priced at 1.12 (2026-12-02).
LIVE_OVERHEAD = 1.1


def measure_cost_model(*, seconds: float = 2.0) -> CostModel:
    """Measure this machine: decode, scale and x264 at three presets and two sizes, on a
    720p30 H.264 test pattern. Takes ~5 s of CPU; run it in the background."""
    fps, w, h = 30, 1280, 720
    frames = _mpx(w, h, fps) * seconds  # megapixels in the clip
    small = _mpx(640, 360, fps) * seconds
    with tempfile.TemporaryDirectory(prefix="calibrate-") as tmp:
        work, clip = Path(tmp), "clip.ts"  # FFmpeg runs in `work` (the sandbox)
        subprocess.run(
            [
                *("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y"),
                *("-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={fps}", "-t", str(seconds)),
                *("-c:v", "libx264", "-preset", "ultrafast", "-g", str(2 * fps), "-b:v", "4500k", clip),
            ],
            check=True,
            capture_output=True,
            timeout=120,
            **ffmpeg.spawn_kwargs(work),
        )
        null = ["-f", "null", "-"]
        decode = _cpu_seconds(["-i", clip, "-map", "0:v", *null], workdir=work)
        scaled = _cpu_seconds(["-i", clip, "-map", "0:v", "-vf", "scale=-2:360", *null], workdir=work)
        encode: dict[str, float] = {}
        base = []
        for preset in ("veryfast", "superfast", "ultrafast"):
            x264 = ["-c:v", "libx264", "-preset", preset, "-x264-params", X264_PARAMS, "-b:v", "2000k"]
            mpegts = ["-f", "mpegts", os.devnull]
            big = _cpu_seconds(["-i", clip, "-map", "0:v", *x264, *mpegts], workdir=work) - decode
            small_args = ["-i", clip, "-map", "0:v", "-vf", "scale=-2:360", *x264, *mpegts]
            little = _cpu_seconds(small_args, workdir=work) - scaled
            # cost = base + per_mpx * mpx, through the two sizes
            per_mpx = max(1e-4, (big - little) / (frames - small))
            encode[preset] = round(per_mpx, 5)
            base.append(max(0.0, little / seconds - per_mpx * small / seconds))
    real = LIVE_OVERHEAD  # the parts measured alone cost less than the live FFmpeg they make up
    return CostModel(
        decode=round(real * decode / frames, 5),
        scale=round(real * max(1e-4, (scaled - decode) / frames), 5),
        encode={preset: round(real * cost, 5) for preset, cost in encode.items()},
        encoder_base=round(real * sum(base) / len(base), 4),
        measured=f"measured on {socket.gethostname()} at {time.strftime('%Y-%m-%d %H:%M:%S')}",
    )


def _budget_key(worker: str) -> str:
    return f"streams:capacity-budget:{worker}"


def workers_load() -> list[dict[str, float | int | str | None]]:
    """Every transcode worker with a ledger: cores held, its budget (as it announced at
    start), and how many broadcasts it carries. For the staff's admin page."""
    client = _redis()
    workers = sorted(
        key.decode().removeprefix("streams:capacity:")
        for key in client.scan_iter(match="streams:capacity:*", count=500)
        if not key.decode().endswith((":wants", ":lock"))
    )
    out: list[dict[str, float | int | str | None]] = []
    for worker in workers:
        holds = _holds(worker)
        if not holds:
            continue
        announced = client.get(_budget_key(worker))
        out.append(
            {
                "worker": worker,
                "used": round(used(worker), 2),
                "budget": float(announced) if announced else None,
                "broadcasts": len(holds),
            }
        )
    return out


def calibrate(worker: str) -> CostModel:
    """Measure and keep this worker's model (a failure keeps the defaults, with a log line)."""
    with contextlib.suppress(redis.RedisError):
        _redis().set(_budget_key(worker), budget(), ex=30 * 24 * 3600)
    try:
        model = measure_cost_model()
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("transcode cost calibration failed, using the defaults: %s", exc)
        return CostModel()
    save_cost_model(worker, model)
    log.info("transcode cost model for %s: %s", worker, model)
    return model


# --- The speed governor ----------------------------------------------------------------------


@dataclass
class SpeedWatch:
    """FFmpeg's speed over a sliding window, from its -progress reports: the media time it
    wrote per wall-clock second. A live transcode that keeps up runs at 1.00x (it cannot
    read ahead of the publisher); one that stays below `threshold` for `window` seconds is
    falling behind, and its playlists with it."""

    window: float
    threshold: float = 0.97  # below 1.0 by more than a report's jitter over the window
    warmup: float = 4.0  # the first seconds: probing, then a burst of buffered input
    samples: deque = field(default_factory=deque)
    started: float | None = None
    # The machine's idle CPU over the same window: a slow FFmpeg on a machine with idle
    # cores is waiting for its input (the streamer's upload), and shedding would not help.
    idle: Callable[[], tuple[float, float]] | None = None
    idle_samples: deque = field(default_factory=deque)
    idle_fraction: float | None = None

    def observe(self, wall: float, media: float) -> float | None:
        """Feed a report; returns the window's speed when it is too slow, else None."""
        if self.started is None:
            self.started = wall
        if wall - self.started < self.warmup:
            return None
        self.samples.append((wall, media, self.idle() if self.idle else None))
        while len(self.samples) > 1 and wall - self.samples[1][0] >= self.window:
            self.samples.popleft()
        first_wall, first_media, first_idle = self.samples[0]
        if wall - first_wall < self.window:
            return None
        speed = (media - first_media) / (wall - first_wall)
        last_idle = self.samples[-1][2]
        if first_idle is not None and last_idle is not None and last_idle[1] > first_idle[1]:
            self.idle_fraction = (last_idle[0] - first_idle[0]) / (last_idle[1] - first_idle[1])
        return speed if speed < self.threshold else None

    def reset(self) -> None:
        self.samples.clear()
        self.started = None


# With more of the machine idle than this while FFmpeg is slow, its input is what is slow.
IDLE_MEANS_INPUT_BOUND = 0.25


def cpu_times() -> tuple[float, float]:
    """(idle, total) jiffies of the whole machine, from /proc/stat; (0, 0) elsewhere."""
    try:
        with open("/proc/stat") as stat:
            fields = [float(x) for x in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    return fields[3] + (fields[4] if len(fields) > 4 else 0.0), sum(fields)


def what_was_shed(before: Plan, after: Plan) -> str:
    """ "re-encoding 1080p", "720p", "the veryfast preset": what `shed` took away."""
    if not before.rungs[0].passthrough and after.rungs[0].passthrough:
        return f"re-encoding {before.rungs[0].name}"
    dropped = [r.name for r in before.rungs if r.name not in {a.name for a in after.rungs}]
    if dropped:
        return " and ".join(dropped)
    old = next((r.preset or before.preset for r in before.rungs if not r.passthrough), before.preset)
    return f"the {old} preset"


def audience(plan: Plan) -> str:
    """What viewers get, for a warning: "the source and 480p and below"."""
    encoded = [r for r in plan.rungs if not r.passthrough]
    parts = []
    if plan.rungs[0].passthrough:
        parts.append("the source as sent")
    if encoded:
        parts.append(f"{encoded[0].name} and below" if len(encoded) > 1 else encoded[0].name)
    return " and ".join(parts)
