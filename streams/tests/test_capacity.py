"""Which ladder a broadcast gets for the capacity left, what the governor sheds, and the
per-worker ledger in (real) Redis."""

import threading
import time
from dataclasses import replace

import pytest

from streams import capacity
from streams.capacity import CostModel, NoCapacity, Plan, ladder_cost, plan_ladder, shed
from streams.transcoding import HlsOptions, Source

# The planner's arithmetic without the platform's own share per broadcast (tested apart).
MODEL = CostModel(broadcast=0.0)
HD = Source(1280, 720, 30)
FULL_HD = Source(1920, 1080, 30)
OPTIONS = HlsOptions()


def names(plan: Plan) -> list[str]:
    """Rungs as the tests read them: "source" for the copied one, "360p@superfast"."""
    out = []
    for r in plan.rungs:
        preset = r.preset or plan.preset
        out.append("source" if r.passthrough else r.name if preset == plan.preset else f"{r.name}@{preset}")
    return out


def test_the_model_prices_what_a_ladder_does():
    full = ladder_cost(HD, list(plan_ladder(HD, OPTIONS, 99, MODEL).rungs), "veryfast", MODEL)
    assert 1.2 < full < 1.8  # measured: ~1.5 cores for 720p/480p/360p from a 720p30 source
    assert (
        ladder_cost(FULL_HD, list(plan_ladder(FULL_HD, OPTIONS, 99, MODEL).rungs), "veryfast", MODEL) > full
    )
    sixty = Source(1280, 720, 60)
    assert ladder_cost(sixty, list(plan_ladder(sixty, OPTIONS, 99, MODEL).rungs), "veryfast", MODEL) > full
    # ...and a faster preset costs less
    assert (
        MODEL.encode_cost("ultrafast", 27.6)
        < MODEL.encode_cost("superfast", 27.6)
        < MODEL.encode_cost("veryfast", 27.6)
    )
    assert MODEL.encode_cost("medium", 27.6) > MODEL.encode_cost("veryfast", 27.6)


@pytest.mark.parametrize(
    ("free", "expected"),
    [
        (99, ["720p", "480p", "360p"]),  # the whole ladder
        (1.0, ["source", "480p", "360p"]),  # the top passed through
        (0.6, ["source", "360p"]),  # fewer rungs
        (0.3, ["source"]),  # nothing encoded: the source remuxed
        (0.0, ["source"]),  # ...always, however full the worker
    ],
)
def test_a_broadcast_gets_the_best_ladder_that_fits(free, expected):
    plan = plan_ladder(HD, OPTIONS, free, MODEL)
    assert names(plan) == expected
    assert plan.cost <= max(free, MODEL.remux)
    assert plan.degraded is (expected != ["720p", "480p", "360p"])


def test_faster_presets_before_fewer_rungs():
    full = plan_ladder(FULL_HD, OPTIONS, 99, MODEL)
    reduced = plan_ladder(FULL_HD, OPTIONS, 1.8, MODEL)
    assert len(reduced.rungs) == 4 and reduced.rungs[0].passthrough
    assert all(r.preset in ("superfast", "ultrafast") for r in reduced.rungs[1:])
    assert reduced.cost < full.cost


def test_the_reason_says_what_and_why():
    assert "the whole ladder fits" in plan_ladder(HD, OPTIONS, 99, MODEL).reason(HD)
    reduced = plan_ladder(HD, OPTIONS, 1.0, MODEL).reason(HD)
    assert reduced.startswith("Reduced ladder source (copied), 480p, 360p") and "1.00 were free" in reduced
    remux = plan_ladder(HD, OPTIONS, 0.1, MODEL).reason(HD)
    assert remux.startswith("Source only, remuxed (1280x720@30)") and "when capacity frees" in remux


def test_a_source_players_cannot_take_as_is_is_refused_when_nothing_fits():
    hevc = Source(1280, 720, 30, video_codec="hevc")
    assert names(plan_ladder(hevc, OPTIONS, 99, MODEL)) == ["720p", "480p", "360p"]
    assert all(not r.passthrough for r in plan_ladder(hevc, OPTIONS, 0.7, MODEL).rungs)
    with pytest.raises(NoCapacity, match=r"HEVC source.*send H\.264"):
        plan_ladder(hevc, OPTIONS, 0.2, MODEL)


@pytest.mark.parametrize(
    ("source", "top"),
    [
        (Source(1080, 1920, 30), "1080p"),  # portrait
        (Source(3840, 2160, 30), "1080p"),  # 4K: the ladder tops out at 1080p
        (Source(853, 479, 29.97), "360p"),  # odd sizes
        (Source(1920, 1080, 60), "1080p"),  # 60 fps
        (Source(1280, 720, 0), "720p"),  # a frame rate that varies (unknown): priced at 30
    ],
)
def test_unusual_sources_get_a_sensible_ladder(source, top):
    whole = plan_ladder(source, OPTIONS, 99, MODEL)
    assert whole.rungs[0].name == top and not whole.degraded
    tight = plan_ladder(source, OPTIONS, 0.5, MODEL)
    assert tight.cost <= 0.5 and tight.rungs  # something plays, whatever the shape


def test_the_governor_sheds_in_order():
    plan = plan_ladder(FULL_HD, OPTIONS, 99, MODEL)
    steps = []
    while (plan := shed(plan, FULL_HD)) is not None:
        steps.append(names(plan))
    assert steps == [
        ["source", "720p", "480p", "360p"],  # re-encoding the top rung: passed through instead
        ["source", "480p", "360p"],  # then the top encoded rung
        ["source", "360p"],
        ["source", "360p@superfast"],  # then a faster preset
        ["source", "360p@ultrafast"],
        ["source"],  # and at last the source alone
    ]
    hevc = Source(1280, 720, 30, video_codec="hevc")
    last = plan_ladder(hevc, OPTIONS, 99, MODEL)
    while (following := shed(last, hevc)) is not None:
        last = following
    assert names(last) == ["360p@ultrafast"]  # never nothing for a source players cannot take


# --- the ledger ------------------------------------------------------------------------


@pytest.fixture
def worker(settings):
    settings.TRANSCODE_CPU_BUDGET = 2.25  # 1.8 cores to plan with
    settings.TRANSCODE_LOCK_SECONDS = 30
    name = f"test-worker-{time.monotonic_ns()}"
    capacity.save_cost_model(name, MODEL)  # what the ledger's own pricing uses too
    yield name
    capacity._redis().delete(
        capacity._ledger_key(name),
        capacity._wants_key(name),
        capacity._scale_key(name),
        capacity._model_key(name),
        f"streams:capacity:{name}:shedding",
    )


def test_reservations_share_the_budget_and_are_released(worker):
    first = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS, model=MODEL)
    second = capacity.reserve(worker=worker, stream_id="b", source=HD, options=OPTIONS, model=MODEL)
    assert not first.degraded and names(second) == ["source"]
    assert capacity.used(worker) == pytest.approx(first.cost + second.cost, abs=1e-3)
    again = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS, model=MODEL)
    assert not again.degraded  # a restart of "a" does not count its own reservation
    capacity.release(worker=worker, stream_id="a")
    assert not capacity.reserve(
        worker=worker, stream_id="c", source=HD, options=OPTIONS, model=MODEL
    ).degraded


def test_a_reservation_lapses_unless_renewed(worker, settings):
    settings.TRANSCODE_LOCK_SECONDS = 1
    capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS, model=MODEL)
    assert capacity.used(worker) > 1
    time.sleep(1.2)  # its transcoder died with its worker: nobody renewed it
    assert capacity.used(worker) == 0


def test_broadcasts_starting_together_never_overbook(worker):
    plans = {}

    def start(stream_id):
        plans[stream_id] = capacity.reserve(
            worker=worker, stream_id=stream_id, source=HD, options=OPTIONS, model=MODEL
        )

    threads = [threading.Thread(target=start, args=(f"s{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(p.cost for p in plans.values()) <= 2.25 * capacity.PLAN_UTILIZATION + 6 * MODEL.remux
    assert sum(not p.degraded for p in plans.values()) == 1 and len(plans) == 6


def test_a_measured_model_is_kept_per_worker(worker):
    capacity._redis().delete(capacity._model_key(worker))
    assert capacity.cost_model(worker) == CostModel()  # nothing measured: the defaults
    measured = CostModel(decode=0.01, measured="measured here")
    capacity.save_cost_model(worker, measured)
    try:
        assert capacity.cost_model(worker) == measured
    finally:
        capacity._redis().delete(capacity._model_key(worker))


@pytest.mark.e2e  # real FFmpeg runs
def test_the_worker_measures_this_machine():
    model = capacity.measure_cost_model(seconds=1.0)
    assert 0 < model.decode < 0.1 and 0 < model.scale < 0.1
    assert 0 < model.encode["ultrafast"] <= model.encode["veryfast"] * 1.3  # noise aside, faster is cheaper
    assert model.measured.startswith("measured on ")


# --- the speed governor's measure ---------------------------------------------------------


def feed(watch, speed, seconds, start=(0.0, 0.0), every=0.5):
    """Reports every `every` s of a run at `speed`; returns the last answer and where it ended."""
    wall, media = start
    answer = None
    for _ in range(int(seconds / every)):
        wall, media = wall + every, media + every * speed
        answer = watch.observe(wall, media)
    return answer, (wall, media)


def test_the_governor_acts_only_when_slow_for_the_whole_window():
    watch = capacity.SpeedWatch(window=10, warmup=4)
    answer, at = feed(watch, 0.5, 13)  # slow, but the window is not full yet after warm-up
    assert answer is None
    answer, at = feed(watch, 0.5, 2, start=at)
    assert answer == pytest.approx(0.5)
    steady = capacity.SpeedWatch(window=10, warmup=4)
    answer, at = feed(steady, 1.0, 30)
    assert answer is None  # real time: nothing to do
    answer, at = feed(steady, 0.9, 2, start=at)
    assert answer is None  # a blip: 0.98x over the window
    answer, _ = feed(steady, 0.9, 9, start=at)
    assert answer is not None and answer < 0.97


def test_a_start_up_burst_is_not_counted():
    watch = capacity.SpeedWatch(window=10, warmup=4)
    answer, at = feed(watch, 3.0, 4)  # buffered input read fast, then real time
    answer, _ = feed(watch, 1.0, 20, start=at)
    assert answer is None


def test_the_warning_says_what_was_shed_and_what_viewers_get():
    plan = plan_ladder(FULL_HD, OPTIONS, 99, MODEL)
    first = shed(plan, FULL_HD)
    assert capacity.what_was_shed(plan, first) == "re-encoding 1080p"
    assert capacity.audience(first) == "the source as sent and 720p and below"
    second = shed(first, FULL_HD)
    assert capacity.what_was_shed(first, second) == "720p"
    third = shed(shed(second, FULL_HD), FULL_HD)
    assert capacity.what_was_shed(shed(second, FULL_HD), third) == "the veryfast preset"
    assert capacity.priced(second, FULL_HD, MODEL).cost < capacity.priced(first, FULL_HD, MODEL).cost


def test_a_reduced_ladder_grows_back_when_capacity_frees(worker):
    hog = capacity.reserve(worker=worker, stream_id="hog", source=HD, options=OPTIONS, model=MODEL)
    small = capacity.reserve(worker=worker, stream_id="small", source=HD, options=OPTIONS, model=MODEL)
    assert not hog.degraded and small.remux_only
    kwargs = {"worker": worker, "stream_id": "small", "source": HD, "options": OPTIONS, "current": small}
    assert capacity.improve(**kwargs) is None  # nothing freed yet
    capacity.release(worker=worker, stream_id="hog")
    grown = capacity.improve(**kwargs)
    assert grown is not None and not grown.degraded
    assert capacity.used(worker) == pytest.approx(grown.cost, abs=1e-3)  # held at once


def test_a_thin_ladder_gets_room_from_a_rich_one_and_no_more_than_one_step(worker):
    first = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS, model=MODEL)
    second = capacity.reserve(worker=worker, stream_id="b", source=HD, options=OPTIONS, model=MODEL)
    assert names(first) == ["720p", "480p", "360p"] and names(second) == ["source"]
    assert capacity.room_wanted(worker=worker, stream_id="a", source=HD, options=OPTIONS, current=first) == 0
    lacks = capacity.room_wanted(worker=worker, stream_id="b", source=HD, options=OPTIONS, current=second)
    assert lacks > 0
    capacity.ask_for_room(worker=worker, stream_id="b", cores=lacks)
    assert capacity.room_to_give(worker=worker, stream_id="b", source=HD, plan=second) is None  # its own ask

    given = capacity.room_to_give(worker=worker, stream_id="a", source=HD, plan=first)
    assert given is not None and names(given) == ["source", "480p", "360p"]
    assert first.cost - given.cost >= lacks
    assert capacity.room_to_give(worker=worker, stream_id="a", source=HD, plan=given) is None  # ask taken
    # "a" holds less at once, and the difference is earmarked for "b": for anyone else the
    # worker is as full as before; for "b" the room is there.
    assert capacity.used(worker) == pytest.approx(first.cost + second.cost, abs=1e-3)
    assert capacity.used(worker, besides="b") == pytest.approx(given.cost, abs=1e-3)
    assert capacity.room_wanted(worker=worker, stream_id="b", source=HD, options=OPTIONS, current=second) == 0
    capacity.hold(worker=worker, stream_id="a", cost=given.cost)  # "a" restarted with it
    # A broadcast going live before "b" takes the room does not get it.
    early = capacity.reserve(worker=worker, stream_id="early", source=HD, options=OPTIONS, model=MODEL)
    assert names(early) == ["source"]
    capacity.release(worker=worker, stream_id="early")
    grown = capacity.improve(worker=worker, stream_id="b", source=HD, options=OPTIONS, current=second)
    assert grown is not None and len(grown.rungs) == 3 and grown.rungs[0].passthrough
    assert "b:given" not in capacity._entries(worker)  # taken

    # A third broadcast asks too, but nobody can give without falling below three rungs.
    third = capacity.reserve(worker=worker, stream_id="c", source=HD, options=OPTIONS, model=MODEL)
    assert names(third) == ["source"]
    lacks = capacity.room_wanted(worker=worker, stream_id="c", source=HD, options=OPTIONS, current=third)
    capacity.ask_for_room(worker=worker, stream_id="c", cores=lacks)
    for stream_id, plan in (("a", given), ("b", grown)):
        assert capacity.room_to_give(worker=worker, stream_id=stream_id, source=HD, plan=plan) is None
    capacity.release(worker=worker, stream_id="c")  # its ask goes with it
    assert capacity._wants(worker) == {}


def test_room_goes_to_the_broadcast_that_asked_first(worker):
    first = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS, model=MODEL)
    for stream_id in ("newer", "older"):
        capacity.reserve(worker=worker, stream_id=stream_id, source=HD, options=OPTIONS, model=MODEL)
    capacity.ask_for_room(worker=worker, stream_id="older", cores=0.1)
    time.sleep(0.01)
    capacity.ask_for_room(worker=worker, stream_id="newer", cores=0.1)
    capacity.ask_for_room(worker=worker, stream_id="older", cores=0.1)  # renewed: keeps its place
    assert capacity.room_to_give(worker=worker, stream_id="a", source=HD, plan=first) is not None
    assert list(capacity._wants(worker)) == ["newer"]
    assert "older:given" in capacity._entries(worker)


def test_the_prices_follow_what_the_live_ffmpegs_cost(worker):
    plan = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS)
    assert plan.learned == 1.0 and capacity.cost_model(worker).learned == 1.0
    # Its FFmpeg really costs 1.5 times its price: each measurement moves the prices a part
    # of the way there, and a plan priced afterwards costs more.
    scales = [capacity.learn(worker=worker, plan=plan, measured=plan.cost * 1.5) for _ in range(12)]
    assert scales[0] == pytest.approx(1.0 + capacity.LEARN_RATE * 0.5, abs=1e-3)
    assert scales == sorted(scales) and scales[-1] == pytest.approx(1.5, abs=0.01)
    model = capacity.cost_model(worker)
    assert model.learned == pytest.approx(1.5, abs=0.01)
    again = capacity.reserve(worker=worker, stream_id="b", source=HD, options=OPTIONS)
    assert again.learned == model.learned
    assert capacity.ladder_cost(HD, list(plan.rungs), "veryfast", model) == pytest.approx(
        plan.cost * model.learned
    )
    # A plan priced at the learned scale that costs what it was priced at changes nothing.
    repriced = capacity.priced(plan, HD, model)
    assert capacity.learn(worker=worker, plan=repriced, measured=repriced.cost) == pytest.approx(
        model.learned, abs=1e-3
    )
    # A remux says nothing about encoding; wild measurements are bounded.
    remux = capacity.plan_ladder(HD, OPTIONS, 0.0, model)
    assert remux.remux_only and capacity.learn(worker=worker, plan=remux, measured=1.0) is None
    for _ in range(30):
        capacity.learn(worker=worker, plan=plan, measured=plan.cost * 100)
    assert capacity.cost_model(worker).learned == capacity.MAX_SCALE
    # A new calibration starts afresh.
    capacity.save_cost_model(worker, CostModel())
    assert capacity.cost_model(worker) == CostModel()


def test_a_cost_meter_measures_cpu_per_second_of_video():
    cpu = {"now": 5.0}
    meter = capacity.CostMeter(pid=1, cpu=lambda pid: cpu["now"])
    assert meter.observe(0.0, 0.0) is None  # warming up
    assert meter.observe(capacity.COST_METER_WARMUP_SECONDS, 10.0) is None  # the start of the window
    cpu["now"] = 5.0 + 8.0
    assert meter.observe(capacity.COST_METER_WARMUP_SECONDS + 5, 15.0) is None  # too little video yet
    # 16 CPU seconds for 20 s of video: 0.8 cores, even if writing it took 25 s (starved).
    cpu["now"] = 5.0 + 16.0
    assert meter.observe(capacity.COST_METER_WARMUP_SECONDS + 25, 30.0) == pytest.approx(0.8)


def test_a_cost_meter_reads_a_real_process():
    import subprocess

    # The child spends 1 s of CPU (its own clock, however busy the machine is), says so, and
    # idles: what the meter reads then is that second, not a share of the wall clock.
    code = (
        "import sys, time\nwhile time.process_time() < 1.0: pass\nprint('spent', flush=True)\ntime.sleep(5)\n"
    )
    busy = subprocess.Popen(["python3", "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert busy.stdout.readline().strip() == "spent"
        used = capacity._process_cpu_seconds(busy.pid)
        assert used is not None and 0.9 <= used <= 1.3, used
    finally:
        busy.kill()
        busy.wait()
    assert capacity._process_cpu_seconds(busy.pid) is None  # gone


def test_one_broadcast_sheds_at_a_time_the_richest_first(worker):
    capacity.hold(worker=worker, stream_id="rich", cost=0.9)
    capacity.hold(worker=worker, stream_id="poor", cost=0.4)
    capacity.hold(worker=worker, stream_id="poor:given", cost=2.0)  # an earmark is nobody's hold
    assert capacity.richer_one_running(worker=worker, stream_id="poor")
    assert not capacity.richer_one_running(worker=worker, stream_id="rich")
    assert capacity.take_turn_to_shed(worker=worker, stream_id="rich", seconds=1)
    assert not capacity.take_turn_to_shed(worker=worker, stream_id="poor", seconds=1)  # measure afresh
    time.sleep(1.1)
    assert capacity.take_turn_to_shed(worker=worker, stream_id="poor", seconds=1)


def test_calibration_counts_only_its_own_ffmpeg():
    """The worker's other children (an encoder probe, say) ending during a measurement are
    not its cost: RUSAGE_CHILDREN counted them, and priced a 720p ladder 25% low."""
    import subprocess
    import threading

    source = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "4"]
    args = [*source, "-c:v", "libx264", "-preset", "veryfast", "-f", "null", "-"]
    alone = capacity._cpu_seconds(args)
    busy = subprocess.Popen(["python3", "-c", "import time\nt=time.time()\nwhile time.time()-t<0.6: pass"])
    reaper = threading.Thread(target=busy.wait)
    reaper.start()  # the busy child ends, and is reaped, while FFmpeg runs
    with_another = capacity._cpu_seconds(args)
    reaper.join()
    assert alone > 0.8 and with_another < alone + 0.3, (alone, with_another)


def test_every_broadcast_costs_the_platform_something_besides_its_ffmpeg(worker):
    model = CostModel()  # the defaults: 0.12 cores per broadcast
    bare = CostModel(broadcast=0.0)
    for rungs in (
        [capacity.passthrough(capacity.ladder_for(HD, OPTIONS)[0], HD)],
        capacity.ladder_for(HD, OPTIONS),
    ):
        assert ladder_cost(HD, rungs, "veryfast", model) == pytest.approx(
            ladder_cost(HD, rungs, "veryfast", bare) + model.broadcast
        )
    plan = plan_ladder(HD, OPTIONS, 5.0, model)
    assert plan.overhead == model.broadcast and plan.ffmpeg_cost == pytest.approx(plan.cost - 0.12)
    # What is learned is what the FFmpeg costs against its own price, not the platform's share:
    # an FFmpeg that costs what it was priced at teaches nothing.
    capacity.save_cost_model(worker, model)
    held = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS)
    assert held.overhead == 0.12
    assert capacity.learn(worker=worker, plan=held, measured=held.ffmpeg_cost) == pytest.approx(1.0)
    assert model.scaled(2.0).broadcast == model.broadcast


def test_the_room_earmarked_is_what_the_giver_really_frees(worker):
    first = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS, model=MODEL)
    capacity.reserve(worker=worker, stream_id="b", source=HD, options=OPTIONS, model=MODEL)
    capacity.ask_for_room(worker=worker, stream_id="b", cores=0.1)
    # The prices rose since "a" was planned: its hold is what it was priced at then.
    capacity._redis().set(capacity._scale_key(worker), "1.2")
    given = capacity.room_to_give(worker=worker, stream_id="a", source=HD, plan=first)
    assert given is not None and given.cost == pytest.approx(
        capacity.priced(given, HD, MODEL.scaled(1.2)).cost
    )
    earmark = capacity._entries(worker)["b:given"][0]
    assert earmark == pytest.approx(first.cost - given.cost, abs=1e-3)  # not today's price of "a"
    # "b" restarting takes it through reserve: no earmark left beside its new hold.
    capacity.reserve(worker=worker, stream_id="b", source=HD, options=OPTIONS)
    assert "b:given" not in capacity._entries(worker)


def test_what_was_priced_by_a_replaced_measurement_teaches_nothing(worker):
    plan = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS)
    capacity.save_cost_model(worker, CostModel(decode=0.02, measured="measured again"))
    assert capacity.learn(worker=worker, plan=plan, measured=plan.ffmpeg_cost * 1.5) is None
    assert capacity.cost_model(worker).learned == 1.0
    again = capacity.reserve(worker=worker, stream_id="a", source=HD, options=OPTIONS)
    assert again.model == "measured again"
    assert capacity.learn(worker=worker, plan=again, measured=again.ffmpeg_cost * 1.5) > 1.0


def test_lower_rungs_that_start_faster_only_get_faster():
    """With the lower rungs at superfast by default, no plan puts them back at veryfast (the
    planner's steps start from each rung's own preset), and shedding steps on to ultrafast."""
    options = replace(OPTIONS, lower_preset="superfast")
    ladders = capacity.candidates(HD, options)
    presets = {r.preset for ladder in ladders for r in ladder[1:] if not r.passthrough}
    assert presets == {"superfast", "ultrafast"}
    assert len(ladders) == len({tuple(ladder) for ladder in ladders})  # no ladder twice
    full = plan_ladder(HD, options, 99, MODEL)
    expected = [("720p", None), ("480p", "superfast"), ("360p", "superfast")]
    assert [(r.name, r.preset) for r in full.rungs] == expected
    assert not full.degraded
    assert full.cost < plan_ladder(HD, OPTIONS, 99, MODEL).cost
