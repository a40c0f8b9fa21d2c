#!/usr/bin/env python
"""Chat fan-out: N WebSocket viewers in one broadcast, one sender at 5 messages a second.

Starts the web tier as `make run` does (socialflow.web: WEB_CONCURRENCY Daphne processes,
DEBUG off) on a throwaway PostgreSQL database and the local Redis, connects N anonymous
viewers and one logged-in sender to the same live broadcast, and measures for every message
how long it took from the sender's send to each viewer's receive. Prints delivered/expected
and p50/p95/p99.

    .venv/bin/python bench/chat.py [--sockets 500] [--seconds 20] [--rate 5]
                                   [--web-processes N] [--layer pubsub|core]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import websockets

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR / "bench"))

from hooks import bench_env, percentile, prepare_database, start_daphne  # noqa: E402

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


async def run(args) -> None:
    secret_env = bench_env("unused")
    secret_env.update(
        {"CHAT_RATE_MESSAGES": "100000", "PRESENCE_TTL_SECONDS": "300", "CHANNEL_LAYER": args.layer}
    )
    prepare_database(secret_env)
    stream_id, token = streamer_token_and_stream(secret_env)
    daphne, port = start_daphne(secret_env, workers=args.web_processes)
    try:
        origin = f"http://127.0.0.1:{port}"
        url = f"ws://127.0.0.1:{port}/ws/streams/{stream_id}/"
        latencies: list[float] = []
        received = [0] * args.sockets
        tasks = []
        for n in range(args.sockets):
            ready = asyncio.Event()
            tasks.append(asyncio.create_task(viewer(url, origin, latencies, received, ready, n)))
            await ready.wait()
        print(f"{args.sockets} viewers connected")
        await asyncio.sleep(2)
        latencies.clear()
        received[:] = [0] * args.sockets
        sent = 0
        async with websockets.connect(f"{url}?token={token}", origin=origin) as sender:
            await sender.recv()
            interval = 1 / args.rate
            start = time.monotonic()
            while time.monotonic() - start < args.seconds:
                await sender.send(json.dumps({"type": "chat.send", "content": f"t {time.time():.6f}"}))
                sent += 1
                await asyncio.sleep(max(0, start + sent * interval - time.monotonic()))
            await asyncio.sleep(3)  # let the last ones arrive
        for task in tasks:
            task.cancel()
        expected = sent * args.sockets
        delivered = sum(received)
        ms = [x * 1000 for x in latencies]
        print(
            f"{sent} messages at {args.rate}/s to {args.sockets} sockets "
            f"({args.web_processes} Daphne process(es), {args.layer} channel layer):"
        )
        print(f"  delivered {delivered}/{expected} ({100 * delivered / expected:.1f}%)")
        print(
            f"  latency p50 {percentile(ms, 50):.0f} ms  p95 {percentile(ms, 95):.0f} ms  "
            f"p99 {percentile(ms, 99):.0f} ms  max {max(ms):.0f} ms"
        )
        print("  target (500 sockets): 100% delivered, p50 <= 40 ms, p99 <= 100 ms")
    finally:
        daphne.send_signal(signal.SIGTERM)
        daphne.wait(10)


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
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
