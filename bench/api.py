#!/usr/bin/env python
"""API reads: GET /api/v1/streams/live/ and GET /api/v1/streams/{id}/ under load, each
beside plain baselines measured the same way in the same run.

Setup: a PostgreSQL database of its own (socialflow_bench_api, dropped at the end) with
10,000 users, 200 live public broadcasts (each with its Channel, a category, tags, a
thumbnail and a playable ladder), 1,000 ended ones and 30,000 follows, all written with
bulk_create; a throwaway redis-server on a free port (the shared Redis's numbered DBs are
all taken: see bench/analytics.py). Then the web tier as `make run` starts it
(`python -m socialflow.web`: WEB_CONCURRENCY Daphne processes on one socket), DEBUG off.

Checked in-process first (Django's test client against the same database): the number of
queries of the live list at page_size 5, 20 and 100, anonymous and signed in, and of the
detail. They must not grow with the page size.

Measured, at concurrency 4 and 32 (that many keep-alive connections, each from its own
loopback address as that many clients, each sending its next request when the last one is
answered), for --seconds after a second of warm-up, --rounds
times with the targets interleaved (the machine is shared: each round's baselines run
within a minute of its endpoints):

- ceiling: a raw asyncio HTTP responder (no Django), the load client's own ceiling;
- bare DRF: bench/bare_api.py, an APIView answering a fixed small JSON, no middleware, on
  the same Daphne launch as the web tier (the floor under any DRF endpoint);
- /healthz/: the real web tier's cheapest answer (the whole middleware stack, no DRF);
- the live list (first page, 20), anonymous and with a JWT; the detail of each of the 200
  broadcasts in turn, anonymous.

For each: requests/s, p50/p99 latency, the web processes' CPU (so requests per CPU-second
of web process, "per core"), the client's CPU per request, and how busy the machine was.
Medians over the rounds, with their range; ratios against the bare DRF view.

Targets (issue 14): >= 450 requests/s per core, p99 <= 50 ms at concurrency 4.

    .venv/bin/python bench/api.py [--rounds 3] [--seconds 4] [--web-processes N] [--db-pool]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
sys.path.insert(0, str(BASE_DIR / "bench"))

from hooks import (  # noqa: E402
    bench_env,
    drop_database,
    free_port,
    percentile,
    recreate_database,
    start_bare_channels,
    start_daphne,
    stop_processes,
)

DB_NAME = "socialflow_bench_api"
USERS = 10_000
LIVE = 200
ENDED_PER_STREAMER = 5
FOLLOWS_PER_USER = 3
PAGE_SIZES = (5, 20, 100)
CONCURRENCIES = (4, 32)
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- the client's ceiling: a raw HTTP/1.1 keep-alive responder, no framework ---

CEILING_RESPONSE = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"ok": true}\n'
)


class _Responder(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(CEILING_RESPONSE)


def serve_ceiling(port: int) -> None:
    async def main():
        server = await asyncio.get_running_loop().create_server(_Responder, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- CPU accounting from /proc ---


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def children_of(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


# --- the load client ---


@dataclass
class Target:
    name: str
    urls: list[str]
    server_pids: list[int]  # whose CPU the run charges to the server
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Run:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    server_cpu: float
    client_cpu: float
    machine_busy: float  # fraction of all cores

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def per_core(self) -> float:
        return self.requests / self.server_cpu if self.server_cpu else float("nan")

    @property
    def client_us(self) -> float:
        return 1e6 * self.client_cpu / max(1, self.requests)


async def load(target: Target, concurrency: int, seconds: float, warmup: float = 1.0) -> Run:
    import aiohttp

    latencies: list[float] = []
    errors = 0
    state = {"counting": False, "stop": False}

    async def worker(n: int) -> None:
        nonlocal errors
        # Each connection from its own loopback address: the throttles count per address,
        # as they would for that many clients, not one history of every request.
        source = (f"127.0.{n // 250}.{2 + n % 250}", 0)
        connector = aiohttp.TCPConnector(limit=1, local_addr=source)
        async with aiohttp.ClientSession(connector=connector, headers=target.headers) as session:
            i = n
            while not state["stop"]:
                url = target.urls[i % len(target.urls)]
                i += concurrency
                started = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    status = response.status
                elapsed = time.perf_counter() - started
                if state["counting"]:
                    latencies.append(elapsed * 1000)
                    errors += status != 200

    tasks = [asyncio.create_task(worker(n)) for n in range(concurrency)]
    await asyncio.sleep(warmup)
    server0, client0, machine0 = cpu_seconds(target.server_pids), time.process_time(), machine_ticks()
    started = time.perf_counter()
    state["counting"] = True
    await asyncio.sleep(seconds)
    state["counting"] = False
    elapsed = time.perf_counter() - started
    server1, client1, machine1 = cpu_seconds(target.server_pids), time.process_time(), machine_ticks()
    state["stop"] = True
    await asyncio.gather(*tasks)
    busy = (machine1[0] - machine0[0]) / max(1, machine1[1] - machine0[1])
    return Run(len(latencies), errors, elapsed, latencies, server1 - server0, client1 - client0, busy)


# --- setup ---


def seed() -> dict[str, object]:
    """The users, channels, broadcasts and follows, by bulk_create; returns what the
    requests need (the live broadcasts' ids, a signed-in viewer's token)."""
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Follow, User
    from accounts.tokens import TokenObtainPairSerializer
    from streams.models import Category, Channel, Stream, Visibility

    rng = random.Random(14)
    now = timezone.now()
    started = time.perf_counter()
    names = ["Games", "Music", "Talk", "Art", "Science", "Sports", "Cooking", "Travel"]
    Category.objects.bulk_create(
        [Category(name=n, slug=n.lower(), position=i) for i, n in enumerate(names)], ignore_conflicts=True
    )
    categories = list(Category.objects.all())
    users = User.objects.bulk_create(
        [
            User(
                username=f"bench{i:05d}",
                email=f"bench{i:05d}@example.com",
                password="!",  # unusable: nobody signs in with a password here
                display_name=f"Bench user {i}",
                bio="A seeded user." if i % 3 else "",
            )
            for i in range(USERS)
        ],
        batch_size=2000,
    )
    streamers = users[:LIVE]
    channels = Channel.objects.bulk_create(
        [Channel(user=u, default_title=f"{u.username} live") for u in streamers]
    )
    tag_pool = ["speedrun", "chill", "english", "pvp", "lofi", "ama", "retro", "coop", "news", "diy"]

    def broadcast(channel: Channel, n: int, live: bool) -> Stream:
        begun = now - timedelta(minutes=rng.randint(1, 600) + (0 if live else 1440 * (n + 1)))
        return Stream(
            channel=channel,
            owner=channel.user,
            title=f"{channel.user.display_name}: broadcast {n}",
            description="Seeded for bench/api.py.",
            category=rng.choice(categories),
            tags=rng.sample(tag_pool, 3),
            visibility=Visibility.PUBLIC,
            status=Stream.Status.LIVE if live else Stream.Status.ENDED,
            started_at=begun,
            ended_at=None if live else begun + timedelta(hours=2),
            end_reason="" if live else Stream.EndReason.PUBLISHER_LEFT,
            viewer_count=rng.randint(0, 5000) if live else 0,
            peak_viewer_count=rng.randint(0, 8000),
            media_server="nginx-rtmp" if live else "",
            publisher_client_id=str(n) if live else "",
            last_seen_at=now if live else None,
            hls_ready_at=begun + timedelta(seconds=5),
            thumbnail_updated_at=now if live else None,
        )

    live = Stream.objects.bulk_create([broadcast(c, 0, True) for c in channels])
    Stream.objects.bulk_create(
        [broadcast(c, n, False) for c in channels for n in range(1, ENDED_PER_STREAMER + 1)]
    )
    streamer_ids = [u.pk for u in streamers]
    Follow.objects.bulk_create(
        [
            Follow(follower=u, followee_id=followee)
            for u in users
            for followee in rng.sample(streamer_ids, FOLLOWS_PER_USER)
            if followee != u.pk
        ],
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    viewer = users[-1]
    print(
        f"seeded {User.objects.count():,} users, {Stream.objects.live().count()} live and "
        f"{Stream.objects.filter(status='ended').count():,} ended broadcasts, "
        f"{Follow.objects.count():,} follows in {time.perf_counter() - started:.1f} s"
    )
    return {
        "live_ids": [s.pk for s in live],
        "token": str(TokenObtainPairSerializer.get_token(viewer).access_token),
    }


def query_counts(live_ids: list[str], token: str) -> dict[str, int]:
    """Queries per request, in-process on the same database (Django's test client)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    clients = {"anonymous": Client(), "signed in": Client(HTTP_AUTHORIZATION=f"Bearer {token}")}
    counts: dict[str, int] = {}
    for who, client in clients.items():
        client.get("/api/v1/streams/live/")  # the first request loads what a process loads once
        for size in PAGE_SIZES:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(f"/api/v1/streams/live/?page_size={size}")
            body = response.json()
            assert response.status_code == 200 and len(body["results"]) == size, response.content[:300]
            counts[f"live list, {who}, page_size={size}"] = len(queries)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(f"/api/v1/streams/{live_ids[0]}/")
        assert response.status_code == 200 and response.json()["status"] == "live"
        counts[f"detail, {who}"] = len(queries)
    connection.close()
    return counts


# --- the report ---


def median_of(runs: list[Run], attr: str) -> float:
    return statistics.median(
        getattr(r, attr) if attr != "p50" and attr != "p99" else _p(r, attr) for r in runs
    )


def _p(run: Run, which: str) -> float:
    return percentile(run.latencies_ms, 50 if which == "p50" else 99) if run.latencies_ms else float("nan")


def span(runs: list[Run], attr: str, fmt: str) -> str:
    values = [getattr(r, attr) if attr not in ("p50", "p99") else _p(r, attr) for r in runs]
    mid = statistics.median(values)
    if len(values) == 1:
        return format(mid, fmt)
    return f"{format(mid, fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def report(results: dict[tuple[str, int], list[Run]], names: list[str], baseline: str) -> None:
    for concurrency in CONCURRENCIES:
        print(f"\nconcurrency {concurrency} (medians over rounds, ranges in brackets):")
        base = results[(baseline, concurrency)]
        base_rate, base_p99 = median_of(base, "rate"), median_of(base, "p99")
        for name in names:
            runs = results[(name, concurrency)]
            errors = sum(r.errors for r in runs)
            print(
                f"  {name:<28} {span(runs, 'rate', '.0f')} req/s  "
                f"p50 {span(runs, 'p50', '.1f')} ms  p99 {span(runs, 'p99', '.1f')} ms  "
                f"{span(runs, 'per_core', '.0f')} req per web CPU-s  "
                f"client {span(runs, 'client_us', '.0f')} us/req  "
                f"machine {median_of(runs, 'machine_busy') * 100:.0f}% busy"
                + (f"  ERRORS {errors}" if errors else "")
            )
            if name != baseline and not name.startswith("ceiling"):
                rate, p99 = median_of(runs, "rate"), median_of(runs, "p99")
                print(
                    f"  {'':<28} vs {baseline}: {rate / base_rate:.2f}x the req/s, "
                    f"{p99 / base_p99:.1f}x the p99"
                )


def main() -> None:
    from socialflow.web import default_workers

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured seconds per target and round")
    parser.add_argument(
        "--web-processes", type=int, default=default_workers(), help="default: WEB_CONCURRENCY"
    )
    parser.add_argument("--db-pool", action="store_true", help="DB_POOL=true, as docker-compose.yml runs it")
    parser.add_argument("--ceiling-server", type=int, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    if args.ceiling_server:
        serve_ceiling(args.ceiling_server)
        return

    from socialflow.tests.processes import RedisServer

    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    (tmp / "static").mkdir()  # whitenoise (DEBUG off) wants the folder
    redis = RedisServer(tmp)
    redis.start()
    atexit.register(redis.kill)
    env = bench_env(
        "unused",
        database_url=f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}",
        redis=redis.url,
    )
    env.update(
        {
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "MEDIA_ROOT": str(tmp / "media"),
            "STATIC_ROOT": str(tmp / "static"),
            # The throttles still run (a Redis read and write a request), with room for the load.
            "API_THROTTLE_ANON": "1000000/s",
            "API_THROTTLE_USER": "1000000/s",
            "DB_POOL": "true" if args.db_pool else "false",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("AWS_STORAGE_BUCKET_NAME", None)
    os.environ.update(env)
    recreate_database(DB_NAME)
    atexit.register(drop_bench_database)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    seeded = seed()
    live_ids: list[str] = seeded["live_ids"]  # type: ignore[assignment]
    token: str = seeded["token"]  # type: ignore[assignment]
    counts = query_counts(live_ids, token)
    print("queries per request (in-process, same database):")
    for what, count in counts.items():
        print(f"  {what}: {count}")

    processes: list[subprocess.Popen] = []
    try:
        web, web_port = start_daphne(env, workers=args.web_processes)
        processes.append(web)
        bare, bare_port = start_bare_channels(
            env, workers=args.web_processes, application="bench.bare_api:application"
        )
        processes.extend(bare)
        ceiling_port = free_port()
        ceiling = subprocess.Popen([sys.executable, __file__, "--ceiling-server", str(ceiling_port)])
        processes.append(ceiling)
        wait_serving(
            [
                f"http://127.0.0.1:{web_port}/healthz/",
                f"http://127.0.0.1:{bare_port}/api/v1/bare/",
                f"http://127.0.0.1:{ceiling_port}/",
            ]
        )
        web_pids = children_of(web.pid)
        web_url = f"http://127.0.0.1:{web_port}"
        targets = [
            Target("ceiling (raw asyncio)", [f"http://127.0.0.1:{ceiling_port}/"], [ceiling.pid]),
            Target("bare DRF view", [f"http://127.0.0.1:{bare_port}/api/v1/bare/"], [p.pid for p in bare]),
            Target("/healthz/", [f"{web_url}/healthz/"], web_pids),
            Target("live list", [f"{web_url}/api/v1/streams/live/"], web_pids),
            Target(
                "live list, signed in",
                [f"{web_url}/api/v1/streams/live/"],
                web_pids,
                {"Authorization": f"Bearer {token}"},
            ),
            Target("detail", [f"{web_url}/api/v1/streams/{pk}/" for pk in live_ids], web_pids),
        ]
        print(
            f"\nweb tier: {len(web_pids)} Daphne process(es), DB_POOL={env['DB_POOL']}; "
            f"{args.rounds} round(s) of {args.seconds:g} s per target and concurrency"
        )
        results: dict[tuple[str, int], list[Run]] = {}
        for round_ in range(args.rounds):
            for concurrency in CONCURRENCIES:
                for target in targets:
                    run = asyncio.run(load(target, concurrency, args.seconds))
                    results.setdefault((target.name, concurrency), []).append(run)
                    print(
                        f"  round {round_ + 1} c={concurrency} {target.name}: {run.rate:.0f} req/s, "
                        f"p99 {_p(run, 'p99'):.1f} ms" + (f", {run.errors} errors" if run.errors else ""),
                        flush=True,
                    )
        report(results, [t.name for t in targets], "bare DRF view")
        print("\ntargets: >= 450 req per web CPU-s (per core), p99 <= 50 ms at concurrency 4")
    finally:
        stop_processes(processes)


def wait_serving(urls: list[str], timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    for url in urls:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer")
            time.sleep(0.2)


def drop_bench_database() -> None:
    from django.db import connections

    connections.close_all()
    drop_database(DB_NAME)


if __name__ == "__main__":
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    main()
