"""S-18: "Delete for everyone" in the admin is a moderator's delete: recorded, and gone from
every open chat (a `chat.deleted` frame), as in chat."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from chat.models import ChatMessage, ModerationAction
from chat.tests.helpers import connected, next_frame, socket

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_admin_delete_is_recorded_and_broadcast(client, live_stream, bob, carol):
    message = ChatMessage.objects.create(stream=live_stream, user=carol, content="rude")
    client.force_login(bob)

    async def scenario():
        viewer = socket(live_stream)
        await connected(viewer)
        await database_sync_to_async(client.post)(
            "/admin/chat/chatmessage/", {"action": "delete_for_everyone", "_selected_action": [message.pk]}
        )
        seen = await next_frame(viewer)
        await viewer.disconnect()
        return seen

    assert async_to_sync(scenario)() == {"type": "chat.deleted", "id": message.pk}
    message.refresh_from_db()
    assert message.deleted_at is not None
    action = ModerationAction.objects.get()
    assert (action.kind, action.actor, action.target_user) == ("delete", bob, carol)
