#!/usr/bin/env python
"""Chat fan-out: N WebSocket viewers in one broadcast, one sender at 5 messages a second.

Starts the web tier as `make run` does (socialflow.web: WEB_CONCURRENCY Daphne processes,
DEBUG off) on a throwaway PostgreSQL database and the local Redis, connects N anonymous
viewers and one logged-in sender to the same live broadcast, and measures for every message
how long it took from the sender's send to each viewer's receive. Prints delivered/expected
and p50/p95/p99.

Then, unless --no-baseline, the same measurement (same client code, sockets, seconds and
rate) against the textbook Django Channels chat on this machine in this run
(bench/bare_channels.py: group_add per socket, group_send, send_json in the handler; the
same number of Daphne processes on one socket, the same channel layer), and prints both
figures and their ratio (bare / SocialFlow), since the machine is shared and noisy.

    .venv/bin/python bench/chat.py [--sockets 500] [--seconds 20] [--rate 5]
                                   [--web-processes N] [--layer pubsub|core]
                                   [--baseline | --no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import websockets

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR / "bench"))

from hooks import (  # noqa: E402
    bench_env,
    percentile,
    prepare_database,
    start_bare_channels,
    start_daphne,
    stop_processes,
)

from socialflow.web import default_workers  # noqa: E402


def streamer_token_and_stream(env: dict[str, str]) -> tuple[str, str]:
    script = (
        "from accounts.models import User; from streams import services;"
        "from accounts.tokens import TokenObtainPairSerializer as T;"
        "u = User.objects.get(username='benchstreamer');"
        "c = services.channel_get_or_create(user=u);"
        "s = services.broadcast_publish("
        "dialect='nginx-rtmp', key=c.stream_key, client_id='b', ip=None).stream;"
        "print(s.pk, T.get_token(u).access_token)"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    stream_id, token = out.stdout.strip().splitlines()[-1].split()
    return stream_id, token


@dataclass
class Result:
    sent: int
    sockets: int
    delivered: int
    ms: list[float]  # one latency per delivered message and socket

    @property
    def expected(self) -> int:
        return self.sent * self.sockets


async def viewer(
    url: str, origin: str, latencies: list[float], received: list[int], ready: asyncio.Event, n: int
):
    async with websockets.connect(url, origin=origin, max_queue=None, open_timeout=60) as ws:
        await ws.recv()  # history
        received[n] = 0
        ready.set()
        async for raw in ws:
            frame = json.loads(raw)
            if frame["type"] == "chat.message":
                sent = float(frame["content"].split()[1])
                latencies.append(time.time() - sent)
                received[n] += 1


async def wait_until_serving(url: str, origin: str, timeout: float = 60) -> None:
    """Until a socket gets its first frame: the port is bound before Daphne is up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            async with websockets.connect(url, origin=origin, open_timeout=5) as ws:
                await asyncio.wait_for(ws.recv(), 5)
                return
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def measure(url: str, sender_url: str, origin: str, args) -> Result:
    """The client side of one run, the same for SocialFlow and the baseline: connect the
    viewers one by one, then send at `args.rate` for `args.seconds` and count what arrives."""
    await wait_until_serving(url, origin)
    latencies: list[float] = []
    received = [0] * args.sockets
    tasks: list[asyncio.Task] = []
    try:
        for n in range(args.sockets):
            ready = asyncio.Event()
            task = asyncio.create_task(viewer(url, origin, latencies, received, ready, n))
            tasks.append(task)
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done():  # closed or failed before its first frame
                task.result()
                raise RuntimeError(f"viewer {n} was closed before its first frame")
        print(f"{args.sockets} viewers connected")
        await asyncio.sleep(2)
        latencies.clear()
        received[:] = [0] * args.sockets
        sent = 0
        async with websockets.connect(sender_url, origin=origin) as sender:
            await sender.recv()
            interval = 1 / args.rate
            start = time.monotonic()
            while time.monotonic() - start < args.seconds:
                await sender.send(json.dumps({"type": "chat.send", "content": f"t {time.time():.6f}"}))
                sent += 1
                await asyncio.sleep(max(0, start + sent * interval - time.monotonic()))
            await asyncio.sleep(3)  # let the last ones arrive
        return Result(sent, args.sockets, sum(received), [x * 1000 for x in latencies])
    finally:  # close every viewer before the servers are stopped (or the next run starts)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def report(result: Result, what: str, args) -> None:
    print(
        f"{result.sent} messages at {args.rate}/s to {args.sockets} sockets "
        f"({args.web_processes} Daphne process(es), {args.layer} channel layer{what}):"
    )
    print(
        f"  delivered {result.delivered}/{result.expected} "
        f"({100 * result.delivered / max(1, result.expected):.1f}%)"
    )
    ms = result.ms
    if ms:
        print(
            f"  latency p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms  "
            f"p99 {percentile(ms, 99):.0f} ms  max {max(ms):.0f} ms"
        )
    else:
        print("  latency: no message arrived")


def summary(name: str, result: Result) -> str:
    if not result.ms:
        return f"{name} nothing delivered"
    return f"{name} p50 {percentile(result.ms, 50):.0f} ms p99 {percentile(result.ms, 99):.0f} ms"


def ratio(bare: Result, real: Result, p: float) -> str:
    if not bare.ms or not real.ms:
        return "n/a"
    value = percentile(bare.ms, p) / max(percentile(real.ms, p), 0.001)
    return f"{value:.2g}x" if value < 10 else f"{value:.0f}x"


async def run(args) -> None:
    secret_env = bench_env("unused")
    secret_env.update(
        {"CHAT_RATE_MESSAGES": "100000", "PRESENCE_TTL_SECONDS": "300", "CHANNEL_LAYER": args.layer}
    )
    prepare_database(secret_env)
    stream_id, token = streamer_token_and_stream(secret_env)
    path = f"/ws/streams/{stream_id}/"

    daphne, port = start_daphne(secret_env, workers=args.web_processes)
    try:
        base = f"127.0.0.1:{port}"
        real = await measure(f"ws://{base}{path}", f"ws://{base}{path}?token={token}", f"http://{base}", args)
    finally:
        stop_processes([daphne])
    report(real, "", args)
    print("  target (500 sockets): 100% delivered, p50 <= 40 ms, p99 <= 100 ms")
    if not args.baseline:
        return

    print("baseline: bare Channels (bench/bare_channels.py) ...")
    processes, port = start_bare_channels(secret_env, workers=args.web_processes)
    try:
        base = f"127.0.0.1:{port}"
        bare = await measure(f"ws://{base}{path}", f"ws://{base}{path}", f"http://{base}", args)
    finally:
        stop_processes(processes)
    report(bare, "; bare Channels baseline", args)
    print(
        f"{summary('SocialFlow', real)} | {summary('bare Channels', bare)} | "
        f"bare/SocialFlow {ratio(bare, real, 50)} p50, {ratio(bare, real, 99)} p99"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rate", type=float, default=5)
    parser.add_argument(
        "--web-processes",
        type=int,
        default=default_workers(),
        help="default: as `make run` (WEB_CONCURRENCY)",
    )
    parser.add_argument("--layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure bare Django Channels (bench/bare_channels.py) and print the ratio",
    )
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
