import pytest
from asgiref.sync import async_to_sync
from rest_framework.test import APIClient

from chat.models import ReactionCount
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
    assert seen == {"type": "reaction", "reaction": "fire", "count": 1}
    assert limited["code"] == "rate_limited" and bad["code"] == "invalid"
    assert ReactionCount.objects.get(stream=live_stream, type="fire").count == 1


@pytest.mark.django_db
def test_reactions_over_rest(api_as, live_stream, carol):
    url = f"/api/v1/streams/{live_stream.pk}/reactions/"
    assert api_as(carol).post(url, {"type": "clap"}, format="json").json() == {"type": "clap", "count": 1}
    assert_error(api_as(carol).post(url, {"type": "x"}, format="json"), 400, "invalid")
    assert_error(APIClient().post(url, {"type": "clap"}, format="json"), 401, "not_authenticated")
