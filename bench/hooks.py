#!/usr/bin/env python
"""on_publish latency: 1,000 real go-live hooks against a real Daphne on PostgreSQL.

Starts Daphne with production-like settings (DEBUG off) on a throwaway PostgreSQL database,
creates an eligible streamer, then for each round posts nginx-rtmp's `publish` callback
(timed: key check, eligibility, the go-live transaction, events, the status broadcast to
Redis, the notification task to the broker) followed by `publish_done` (not timed). Every
call opens a new connection, as nginx-rtmp does. Prints p50/p95/p99.

    .venv/bin/python bench/hooks.py [--calls 1000] [--dialect nginx-rtmp|srs]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
DB_NAME = "socialflow_bench"
DB_URL = f"postgres://socialflow:socialflow@127.0.0.1:5432/{DB_NAME}"
REDIS = "redis://127.0.0.1:6379/10"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(secret: str, *, database_url: str = DB_URL, redis: str = REDIS) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "socialflow.settings",
        "ENV_FILE": "/nonexistent",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis,
        "CACHE_URL": redis,
        "CELERY_BROKER_URL": redis,
        "CELERY_RESULT_BACKEND": redis,
        "MEDIA_HOOK_SECRET": secret,
        "LOG_LEVEL": "WARNING",
    }


def _psql_admin(sql: str, check: bool = True) -> None:
    admin = ["psql", "-h", "127.0.0.1", "-U", "socialflow", "-d", "postgres", "-q", "-c", sql]
    subprocess.run(admin, check=check, env={**os.environ, "PGPASSWORD": "socialflow"})


def recreate_database(name: str) -> None:
    """Drop and create the PostgreSQL database `name` (fails while a connection is open)."""
    _psql_admin(f"DROP DATABASE IF EXISTS {name}")
    _psql_admin(f"CREATE DATABASE {name}")


def drop_database(name: str) -> None:
    """At the end of a bench: drop `name`, or say why not (a connection still open)."""
    _psql_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)


def prepare_database(env: dict[str, str]) -> str:
    """Fresh database, migrated, with one exempt streamer; returns the stream key."""
    recreate_database(DB_NAME)
    python = sys.executable
    subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=BASE_DIR, env=env, check=True)
    script = (
        "from accounts.models import User; from streams.services import channel_get_or_create;"
        "u = User.objects.create_user("
        "'benchstreamer', 'b@example.com', 'x-bench-pass-1', go_live_exempt=True);"
        "print(channel_get_or_create(user=u).stream_key)"
    )
    out = subprocess.run(
        [python, "manage.py", "shell", "-c", script],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def post(port: int, path: str, body: bytes, content_type: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": content_type})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def hook_bodies(dialect: str, key: str, client_id: str) -> tuple[str, bytes, bytes, str]:
    # OBS's key is `live_<channel>?key=<secret>`: the media server reports the stream by its
    # name and hands the secret over as an argument (a `key` field, or SRS's `param`).
    name, _, arguments = key.partition("?")
    secret = dict(part.split("=", 1) for part in arguments.split("&") if "=" in part).get("key", "")
    if dialect == "srs":
        base = {
            "server_id": "vid-bench",
            "service_id": "bench",
            "client_id": client_id,
            "ip": "127.0.0.1",
            "vhost": "__defaultVhost__",
            "app": "live",
            "tcUrl": "rtmp://127.0.0.1:1935/live",
            "stream": name,
            "param": f"?key={secret}",
            "stream_url": f"/live/{name}",
            "stream_id": "vid-bench",
        }
        publish = json.dumps({**base, "action": "on_publish"}).encode()
        done = json.dumps({**base, "action": "on_unpublish"}).encode()
        return "/hooks/srs/", publish, done, "application/json"
    base = {
        "app": "live",
        "flashver": "FMLE/3.0",
        "swfurl": "",
        "tcurl": "rtmp://127.0.0.1:1935/live",
        "pageurl": "",
        "addr": "127.0.0.1",
        "clientid": client_id,
        "name": name,
        "key": secret,
    }
    publish = urlencode({**base, "call": "publish", "type": "live"}).encode()
    done = urlencode({**base, "call": "publish_done"}).encode()
    return "/hooks/nginx-rtmp/", publish, done, "application/x-www-form-urlencoded"


def start_daphne(env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen, int]:
    """The web tier as `make run` starts it (socialflow.web: `workers` Daphne processes on
    one socket), on a free port; returns once it accepts connections."""
    port = free_port()
    daphne = subprocess.Popen(
        [sys.executable, "-m", "socialflow.web", "--port", str(port), "--workers", str(workers)],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return daphne, port


def start_bare_channels(
    env: dict[str, str], workers: int = 1, application: str = "bench.bare_channels:application"
) -> tuple[list[subprocess.Popen], int]:
    """A baseline (bench/chat.py's by default; bench/api.py's is bench.bare_api): `workers`
    Daphne processes serving `application` on one socket, as socialflow.web shares its socket
    (bound once here, handed over with `daphne --fd`), on a free port. Returns the processes
    (stop them with stop_processes) once the port accepts connections."""
    from socialflow.web import DAPHNE, listen

    port = free_port()
    sock = listen("127.0.0.1", port)
    processes: list[subprocess.Popen] = []
    try:
        fd = sock.fileno()
        for _ in range(workers):
            processes.append(
                subprocess.Popen(
                    [*DAPHNE, "--fd", str(fd), application],
                    cwd=BASE_DIR,
                    env=env,
                    pass_fds=(fd,),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
    except BaseException:
        stop_processes(processes)
        raise
    finally:
        sock.close()  # the processes hold it now
    return processes, port


def stop_processes(processes: list[subprocess.Popen], timeout: float = 25) -> None:
    """SIGTERM each process by its PID, wait up to `timeout` seconds, then SIGKILL what is left
    (socialflow.web itself gives its Daphne processes 20 seconds)."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--dialect", choices=["nginx-rtmp", "srs"], default="nginx-rtmp")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()

    secret = secrets.token_urlsafe(24)
    env = bench_env(secret)
    key = prepare_database(env)
    daphne, port = start_daphne(env)
    try:
        path_base, *_ = hook_bodies(args.dialect, key, "0")
        path = f"{path_base}?{urlencode({'secret': secret})}"
        latencies: list[float] = []
        allowed = 0
        for i in range(args.warmup + args.calls):
            _, publish, done, ctype = hook_bodies(args.dialect, key, str(1000 + i))
            started = time.perf_counter()
            status, body = post(port, path, publish, ctype)
            elapsed = (time.perf_counter() - started) * 1000
            ok = status == 200 and (args.dialect != "srs" or body == b"0")
            post(port, path, done, ctype)
            if i >= args.warmup:
                latencies.append(elapsed)
                allowed += ok
        print(
            f"on_publish ({args.dialect}) over {len(latencies)} calls "
            "(each a full go-live on a new connection):"
        )
        print(f"  allowed {allowed}/{len(latencies)}")
        print(
            f"  p50 {percentile(latencies, 50):.1f} ms   p95 {percentile(latencies, 95):.1f} ms   "
            f"p99 {percentile(latencies, 99):.1f} ms   max {max(latencies):.1f} ms   "
            f"mean {statistics.fmean(latencies):.1f} ms"
        )
        print("  target: p99 <= 50 ms")
    finally:
        daphne.send_signal(signal.SIGTERM)
        daphne.wait(10)
        import redis

        redis.Redis.from_url(REDIS).flushdb()


if __name__ == "__main__":
    main()
