import asyncio
import contextlib
import time
from collections import Counter

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from chat.models import ReactionCount
from chat.services import reaction_send
from chat.tests.helpers import connected, next_frame, socket
from socialflow.tests.helpers import assert_error


@pytest.mark.django_db(transaction=True)
def test_a_reaction_reaches_everyone_and_is_counted(live_stream, alice, carol):
    async def scenario():
        sender, watcher = socket(live_stream, carol), socket(live_stream)
        await connected(sender)
        await connected(watcher)
        await sender.send_json_to({"type": "reaction.send", "reaction": "fire"})
        seen = await next_frame(watcher)
        await sender.send_json_to({"type": "reaction.send", "reaction": "fire"})  # too soon
        limited = await next_frame(sender)
        while limited["type"] == "reaction":
            limited = await next_frame(sender)
        await sender.send_json_to({"type": "reaction.send", "reaction": "boo"})
        bad = await next_frame(sender)
        await sender.disconnect()
        await watcher.disconnect()
        return seen, limited, bad

    seen, limited, bad = async_to_sync(scenario)()
    assert seen == {
        "type": "reaction",
        "reaction": "fire",
        "count": 1,
        "added": {"fire": 1},
        "counts": {"fire": 1},
    }
    assert limited["code"] == "rate_limited" and bad["code"] == "invalid"
    assert ReactionCount.objects.get(stream=live_stream, type="fire").count == 1


@pytest.mark.django_db
def test_reactions_over_rest(api_as, live_stream, carol):
    url = f"/api/v1/streams/{live_stream.pk}/reactions/"
    assert api_as(carol).post(url, {"type": "clap"}, format="json").json() == {"type": "clap", "count": 1}
    assert_error(api_as(carol).post(url, {"type": "x"}, format="json"), 400, "invalid")
    assert_error(APIClient().post(url, {"type": "clap"}, format="json"), 401, "not_authenticated")


@pytest.mark.django_db(transaction=True)
def test_a_crowd_reacting_at_once_makes_a_few_frames_that_carry_every_reaction(live_stream, settings):
    # 40 reactions in a moment used to be 40 frames to every socket; now at most one
    # frame per REACTION_FRAME_SECONDS (0.25 s) per broadcast, with all of them in it.
    crowd = [UserFactory() for _ in range(40)]
    kinds = ["fire", "clap", "wow", "fire"]

    async def scenario():
        watcher = socket(live_stream)
        await connected(watcher)
        started = time.monotonic()
        for i, user in enumerate(crowd):
            await database_sync_to_async(reaction_send)(stream=live_stream, user=user, reaction=kinds[i % 4])
        sent_for = time.monotonic() - started
        frames = []
        with contextlib.suppress(asyncio.TimeoutError):
            while sum(sum(f["added"].values()) for f in frames) < len(crowd):
                frames.append(await next_frame(watcher, timeout=3))
        await watcher.disconnect()
        return frames, sent_for

    frames, sent_for = async_to_sync(scenario)()
    assert all(f["type"] == "reaction" for f in frames)
    added = Counter()
    for frame in frames:
        added.update(frame["added"])
    assert added == {"fire": 20, "clap": 10, "wow": 10}  # every reaction, none twice
    assert len(frames) <= sent_for / settings.REACTION_FRAME_SECONDS + 2, (len(frames), sent_for)
    assert len(frames) < 10
    last = frames[-1]
    assert last["counts"] == {
        k: ReactionCount.objects.get(stream=live_stream, type=k).count for k in last["counts"]
    }
    assert last["count"] == last["counts"][last["reaction"]]
