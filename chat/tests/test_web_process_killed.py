"""Fault test: one of the web tier's Daphne processes is killed with -9 while viewers chat.

The web tier as `make run` starts it (socialflow.web: two Daphnes on one socket, itself
under supervisord). Viewers behave like the watch page (stream-socket.js): reconnect with
backoff, history, then backfill by id. The sockets of the dead process reconnect to the
survivor and catch up on what was said meanwhile, none twice, none lost; the launcher starts
a new Daphne; and the site answers throughout.
"""

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from chat.models import ChatMessage
from chat.tests.helpers import Viewer, post_chat, token_for
from socialflow.tests.helpers import wait_for
from socialflow.tests.processes import web_server

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def daphnes_on(port: int) -> set[int]:
    """The Daphne processes of the web tier listening on `port` (its launcher's children)."""
    launchers, found = set(), set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if b"socialflow.web" in cmdline and str(port).encode() in cmdline:
            launchers.add(int(proc.name))
        elif b"socialflow.serve" in cmdline:
            found.add((int(proc.name), int(stat.rsplit(")", 1)[1].split()[1])))
    return {pid for pid, parent in found if parent in launchers}


def sockets_of(pid: int, port: int) -> int:
    """How many established connections on `port` process `pid` holds (the viewers it serves)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


def test_a_killed_web_process_loses_no_viewer_and_no_message(tmp_path, go_live, alice):
    stream = go_live()
    token = token_for(alice)
    with web_server(tmp_path, workers=2, CHAT_RATE_MESSAGES="1000") as base:
        port = int(base.rsplit(":", 1)[1])
        wait_for(lambda: len(daphnes_on(port)) == 2, timeout=20, what="two Daphnes")

        async def post(n: int) -> int:
            return await post_chat(base, stream.pk, token, n)

        async def scenario():
            viewers = [Viewer(base, stream.pk) for _ in range(6)]  # spread over both processes
            tasks = [asyncio.create_task(v.run()) for v in viewers]
            try:
                while not all(v.connects for v in viewers):
                    await asyncio.sleep(0.05)
                sent = [await post(n) for n in range(3)]
                # The Daphne holding the most viewers' sockets (the kernel shares them out).
                victim = max(daphnes_on(port), key=lambda pid: sockets_of(pid, port))
                assert sockets_of(victim, port) > 0
                os.kill(victim, signal.SIGKILL)
                killed_at = time.monotonic()
                for n in range(3, 10):
                    sent.append(await post(n))  # the survivor answers
                    await asyncio.sleep(0.1)
                deadline = time.monotonic() + 20
                while any(v.ids != sent for v in viewers) and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                caught_up = time.monotonic() - killed_at
                restarted = await asyncio.to_thread(
                    wait_for, lambda: len(daphnes_on(port) - {victim}) == 2, 20, "a new Daphne"
                )
                return (
                    sent,
                    [list(v.ids) for v in viewers],
                    [v.connects for v in viewers],
                    caught_up,
                    restarted,
                )
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

        sent, seen, connects, caught_up, restarted = asyncio.run(scenario())

    print(f"every viewer had every message {caught_up:.1f} s after the kill; connects {connects}")
    assert restarted
    assert any(n > 1 for n in connects)  # some sockets were on the killed process, and came back
    for ids in seen:
        assert ids == sent  # all of them, once each, in order
    persisted = list(ChatMessage.objects.filter(stream=stream).order_by("id").values_list("id", flat=True))
    assert persisted == sent
