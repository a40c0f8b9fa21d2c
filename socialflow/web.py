"""The web tier as `make run` starts it: several Daphne processes sharing one listening socket.

One Daphne process is one Python interpreter, so it uses one core; chat fan-out to hundreds
of sockets needs more. This launcher binds the port once, hands the socket to
WEB_CONCURRENCY Daphne processes (`daphne --fd`), lets the kernel spread new connections
among them, restarts a process that dies, and stops them all on SIGTERM/SIGINT. The
processes share nothing but Redis and PostgreSQL, which is also how several machines behind
a load balancer work.

    python -m socialflow.web [--bind 127.0.0.1] [--port 8000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

from socialflow.lib.sandbox import die_with_parent, protect_self

# Daphne with an access log that redacts secrets from query strings (socialflow.serve).
DAPHNE = [sys.executable, "-m", "socialflow.serve"]
APPLICATION = "socialflow.asgi:application"
RESTART_BACKOFF_SECONDS = (1, 2, 5, 10)
HEALTHY_AFTER_SECONDS = 60  # a process that lived this long starts its backoff afresh
GIVE_UP_AFTER_FAILED_STARTS = 5  # in a row, each within HEALTHY_AFTER_SECONDS: a broken setup


def default_workers() -> int:
    configured = os.environ.get("WEB_CONCURRENCY", "").strip()
    if configured:
        workers = int(configured)
        if workers < 1:
            raise SystemExit("WEB_CONCURRENCY must be at least 1.")
        return workers
    return max(1, min(os.cpu_count() or 1, 4))


def listen(bind: str, port: int) -> socket.socket:
    if ":" in bind:  # daphne's fd endpoint adopts IPv4 sockets only
        raise SystemExit("BIND must be an IPv4 address (put a proxy in front for IPv6).")
    sock = socket.create_server((bind, port), backlog=2048)
    sock.set_inheritable(True)
    return sock


class Supervisor:
    def __init__(self, sock: socket.socket, workers: int, extra_args: list[str]):
        self.sock = sock
        self.workers = workers
        self.extra_args = extra_args
        self.children: dict[int, subprocess.Popen] = {}
        self.started_at: dict[int, float] = {}
        self.restarts: dict[int, int] = {}
        self.stopping = False

    def spawn(self, slot: int) -> None:
        fd = self.sock.fileno()
        argv = [*DAPHNE, "--fd", str(fd), *self.extra_args, APPLICATION]
        # The kernel ends the Daphnes if this launcher dies, even by SIGKILL: the launcher
        # restarted by supervisord must not find orphans holding the port.
        self.children[slot] = child = subprocess.Popen(argv, pass_fds=(fd,), preexec_fn=die_with_parent)
        self.started_at[slot] = time.monotonic()
        if self.stopping:  # the signal came while it was starting
            child.send_signal(signal.SIGTERM)

    def stop(self, signum=signal.SIGTERM, _frame=None) -> None:
        self.stopping = True
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)  # before any child exists: none is orphaned
        signal.signal(signal.SIGINT, self.stop)
        for slot in range(self.workers):
            self.spawn(slot)
        print(
            f"web: {self.workers} Daphne process(es) on {self.sock.getsockname()[:2]} "
            f"(pids {', '.join(str(c.pid) for c in self.children.values())})",
            flush=True,
        )
        while not self.stopping:
            time.sleep(0.5)
            for slot, child in list(self.children.items()):
                if child.poll() is None or self.stopping:
                    continue
                lived = time.monotonic() - self.started_at[slot]
                count = 0 if lived > HEALTHY_AFTER_SECONDS else self.restarts.get(slot, 0)
                if count >= GIVE_UP_AFTER_FAILED_STARTS:
                    print(
                        f"web: Daphne keeps failing to start (exit {child.returncode}); giving up", flush=True
                    )
                    self.stop()
                    self.wait()
                    return 1
                delay = RESTART_BACKOFF_SECONDS[min(count, len(RESTART_BACKOFF_SECONDS) - 1)]
                print(
                    f"web: Daphne pid {child.pid} exited with {child.returncode}; restarting in {delay}s",
                    flush=True,
                )
                time.sleep(delay)
                self.restarts[slot] = count + 1
                if not self.stopping:
                    self.spawn(slot)
        self.wait()
        return 0

    def wait(self) -> None:
        deadline = time.monotonic() + 20
        for child in self.children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=None, help="default: WEB_CONCURRENCY or the CPU count")
    args, daphne_args = parser.parse_known_args(argv)
    protect_self()  # its environment holds the secrets (socialflow.lib.sandbox)
    if args.workers is not None and args.workers < 1:
        raise SystemExit("--workers must be at least 1.")
    workers = args.workers or default_workers()
    sock = listen(args.bind, args.port)
    return Supervisor(sock, workers, daphne_args).run()


if __name__ == "__main__":
    sys.exit(main())
