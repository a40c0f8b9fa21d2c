"""Start the platform's real processes (Daphne, Celery, ...) for end-to-end tests.

Each process gets the test settings and the test database of the running pytest session,
and is ended by its PID when the test is done.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


# Debian's Chromium as the browser tests and bench/latency.py launch it (Playwright with
# executable_path: `playwright install` cannot download browsers here).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The URL of the database this pytest session uses (test_socialflow)."""
    db = connection.settings_dict
    host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{db['NAME']}"


def process_env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "socialflow.settings_test", "PYTHONUNBUFFERED": "1"}
    env["DATABASE_URL"] = database_url()
    # Close connections after each request/task so the test database can be dropped at the end.
    env["DB_CONN_MAX_AGE"] = "0"
    env.update(extra)
    return env


@contextmanager
def running(
    args: list[str],
    *,
    ready: Callable[[], bool],
    log_path: Path,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Iterator[subprocess.Popen]:
    """Run `args` until the block ends; wait until `ready()` is true first."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            args, cwd=BASE_DIR, env=env or process_env(), stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + timeout
            while not ready():
                if proc.poll() is not None:
                    raise RuntimeError(f"{args[0]} exited with {proc.returncode}:\n{log_path.read_text()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} not ready after {timeout}s:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield proc
        finally:
            stop(proc)
            if not getattr(_stopping_together, "active", False):  # then they wait once, after
                wait_for_other_db_sessions_to_end()


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def wait_for_other_db_sessions_to_end(timeout: float = 5.0) -> None:
    """PostgreSQL ends a dead client's backend a moment after the client exits; wait for
    that, or pytest-django cannot drop the test database at the end of the session."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0] == 0:
                return
        time.sleep(0.05)


def http_ok(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def web_server(log_dir: Path, workers: int = 2, port: int | None = None, **env: str) -> Iterator[str]:
    """The web tier as `make run` starts it (socialflow.web: `workers` Daphne processes on
    one socket) on `port` or a free one; yields its base URL."""
    port = port or free_port()
    base = f"http://127.0.0.1:{port}"
    args = [str(BIN / "python"), "-m", "socialflow.web", "--port", str(port), "--workers", str(workers)]
    with running(
        args, ready=lambda: http_ok(f"{base}/healthz/"), log_path=log_dir / "web.log", env=process_env(**env)
    ):
        yield base


def daphne_server(log_dir: Path, port: int | None = None, **env: str):
    """One Daphne process serving the ASGI app on `port` or a free one; yields its base URL."""
    return web_server(log_dir, workers=1, port=port, **env)


_stopping_together = threading.local()


@contextmanager
def started_together(*managers) -> Iterator[list]:
    """Enter `managers` (each starts a process and waits until it is ready) at the same
    time, so that their start-ups overlap; yields what each yields. They also end at the
    same time (each process's graceful stop takes a second or two: one after the other, a
    stack's teardown took 4 s a test); if one fails to start, those started end."""
    from concurrent.futures import ThreadPoolExecutor

    started: list = []
    try:
        with ThreadPoolExecutor(len(managers)) as pool:
            futures = [pool.submit(manager.__enter__) for manager in managers]
        results, error = [], None
        for manager, future in zip(managers, futures, strict=True):
            try:
                results.append(future.result())
            except BaseException as exc:
                error = error or exc
                continue
            started.append(manager)
        if error is not None:
            raise error
        yield results
    finally:
        if started:

            def end(manager) -> None:
                _stopping_together.active = True
                manager.__exit__(None, None, None)

            with ThreadPoolExecutor(len(started)) as pool:
                ended = [pool.submit(end, manager) for manager in started]
            wait_for_other_db_sessions_to_end()
            for future in ended:
                future.result()  # a failure to stop is raised, once every one has ended


class RedisServer:
    """A throwaway redis-server on a free port, without persistence: killing it loses
    everything, as a crash of an unpersisted Redis does."""

    def __init__(self, log_dir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = log_dir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no"]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@contextmanager
def redis_server(log_dir: Path) -> Iterator[RedisServer]:
    server = RedisServer(log_dir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def celery_worker(
    log_dir: Path,
    queues: str = "default,analytics,webhooks",
    pool: tuple[str, ...] = ("--pool", "solo"),
    **env: str,
) -> Iterator[subprocess.Popen]:
    """A worker; `pool`: e.g. ("--pool", "threads", "--concurrency", "8") as make run's
    transcode worker."""
    log = log_dir / f"worker-{queues.replace(',', '-')}.log"
    # A name of its own: what a worker holds in Redis (its transcode capacity, its shutdown
    # flag) is per worker name, and one test's worker must not inherit another's.
    name = f"{queues.replace(',', '-')}-{uuid.uuid4().hex[:8]}@%h"
    args = [str(BIN / "celery"), "-A", "socialflow", "worker", "-Q", queues, *pool, "-n", name, "-l", "info"]
    ready = lambda: log.exists() and b"ready." in log.read_bytes()  # noqa: E731
    with running(args, ready=ready, log_path=log, env=process_env(**env)) as proc:
        yield proc


@contextmanager
def nginx_rtmp(
    prefix: Path,
    *,
    web_url: str,
    secret: str,
    update_interval: int = 10,
    control_port: int | None = None,
    rtmp_port: int | None = None,
) -> Iterator[dict]:
    """The local media server, hooks pointing at `web_url`; yields its ports."""
    import shutil
    from urllib.parse import urlencode

    from streams.media_server_config import write_nginx_rtmp_conf

    rtmp_port, control_port = rtmp_port or free_port(), control_port or free_port()
    conf = write_nginx_rtmp_conf(
        prefix=prefix,
        rtmp_host="127.0.0.1",
        rtmp_port=rtmp_port,
        control_port=control_port,
        hook_url=f"{web_url}/hooks/nginx-rtmp/?{urlencode({'secret': secret})}",
        update_interval=update_interval,
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with running(
        [nginx, "-p", str(prefix), "-c", str(conf)],
        ready=lambda: port_open(rtmp_port) and port_open(control_port),
        log_path=prefix / "stdout.log",
        env={**os.environ},
    ):
        yield {
            "rtmp_port": rtmp_port,
            "control_port": control_port,
            "rtmp_url": f"rtmp://127.0.0.1:{rtmp_port}/live",
            "api_url": f"http://127.0.0.1:{control_port}",
            "error_log": prefix / "logs" / "error.log",
        }


@contextmanager
def open_folder() -> Iterator[Path]:
    """A folder under /tmp that others may pass through (0711), removed at the end: for a
    test that gives FFmpeg's user (FFMPEG_USER, the tests run as root) absolute paths, or
    runs a program of its own as that user. (pytest's tmp_path is under a 0700 folder; the
    platform itself runs FFmpeg in its folder with relative paths, and needs no such thing.)"""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="socialflow-"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def live_stack(
    tmp_path: Path,
    *,
    transcode: bool = False,
    update_interval: int = 10,
    transcode_pool: tuple[str, ...] = ("--pool", "solo"),
    **extra_env: str,
) -> Iterator[dict]:
    """Web, a default worker, the media server (and a transcode worker), wired as `make run`
    wires them, on free ports; yields their addresses. `extra_env`: more settings for
    every process (TRANSCODE_CPU_BUDGET="1.2", say)."""
    from django.conf import settings

    control_port, rtmp_port = free_port(), free_port()
    env = {
        "GO_LIVE_MIN_FOLLOWERS": "2",
        "MEDIA_SERVER": "nginx-rtmp",
        "MEDIA_SERVER_API_URL": f"http://127.0.0.1:{control_port}",
        "RTMP_PULL_URL": f"rtmp://127.0.0.1:{rtmp_port}/live",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "TRANSCODE_WORK_DIR": str(tmp_path / "work"),
        "TRANSCODE_STALL_SECONDS": "5",
        # A killed worker frees its broadcasts quickly (tests start another one).
        "TRANSCODE_LOCK_SECONDS": "6",
        # The speed governor off, unless a test is about it: on a loaded test machine (a
        # browser, a live-encoding publisher) it would change ladders mid-test.
        "TRANSCODE_SLOW_SECONDS": "3600",
        **extra_env,
    }
    web_port = free_port()
    managers = [
        daphne_server(tmp_path, port=web_port, **env),
        nginx_rtmp(
            tmp_path / "nginx",
            web_url=f"http://127.0.0.1:{web_port}",
            secret=settings.MEDIA_HOOK_SECRET,
            update_interval=update_interval,
            control_port=control_port,
            rtmp_port=rtmp_port,
        ),
        celery_worker(tmp_path, **env),
    ]
    if transcode:
        managers.append(celery_worker(tmp_path, queues="transcode", pool=transcode_pool, **env))
    # Started together (the Python ones spend seconds importing Django), ended in reverse.
    with started_together(*managers) as (web, media, _worker, *transcode_worker):
        stack = {"web": web, "work_dir": tmp_path / "work", "env": env, **media}
        if transcode_worker:
            stack["transcode_worker"] = transcode_worker[0]
        yield stack


@contextmanager
def moto_s3(monkeypatch, bucket: str) -> Iterator[tuple[str, object]]:
    """moto's S3 server on loopback (S3 is the outside world) with `bucket` created;
    yields its endpoint and a boto3 client. moto's state is per process: each test file
    uses a bucket of its own."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=bucket)
    try:
        yield endpoint, client
    finally:
        server.stop()
