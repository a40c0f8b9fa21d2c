"""How other apps' pages show chat: `{% load chat_tags %}`, then `{% chat_panel stream %}`
and `{% reaction_buttons %}`. The watch page (streams) composes chat through these, never by
importing chat's models or services."""

from __future__ import annotations

from typing import Any

from django import template

from analytics.services import referrer_of
from chat.models import MAX_MESSAGE_LENGTH, Reaction
from chat.presence import heartbeat_seconds
from chat.selectors import chat_can_moderate
from socialflow.lib import realtime
from streams.models import Stream

register = template.Library()


def chat_config() -> dict[str, Any]:
    """What stream-socket.js and chat.js must agree on with the server, rendered with
    json_script: never copied into the scripts as literals."""
    return {
        "max_length": MAX_MESSAGE_LENGTH,
        "heartbeat_seconds": heartbeat_seconds(),
        "frames": realtime.frame_types(),
        "close": {"not_found": realtime.CLOSE_NOT_FOUND, "try_again": realtime.CLOSE_TRY_AGAIN},
        "reactions": dict(Reaction.choices),
    }


def _referrer(request: Any) -> str:
    """Where the viewer came from, for the streamer's analytics (the socket passes it on):
    for an embed, the site that frames it."""
    return referrer_of(
        request.META.get("HTTP_REFERER", ""), own_hosts={request.get_host().split(":")[0].lower()}
    )


@register.inclusion_tag("chat/_chat_panel.html", takes_context=True)
def chat_panel(
    context: template.Context,
    stream: Stream,
    overlay: bool = False,
    popout: bool = False,
    readonly: bool = False,
):
    """`overlay`: the OBS browser source (messages fade); `readonly`: the chat embed (the
    history stays, nothing to send or moderate). Neither counts as a viewer."""
    request = context["request"]
    return {
        "request": request,
        "user": request.user,
        "stream": stream,
        "overlay": overlay,
        "readonly": readonly,
        "popout": popout,
        "chat_closed": stream.is_over,
        "can_moderate_chat": not (overlay or readonly)
        and chat_can_moderate(user=request.user, stream=stream),
        "chat_config": chat_config(),
        "referrer": _referrer(request),
    }


@register.inclusion_tag("chat/_stream_socket.html", takes_context=True)
def stream_socket(context: template.Context, stream: Stream):
    """The stream socket without a chat panel (the player embed): the viewer is counted,
    and the player follows ladder changes and sends its playback reports on it."""
    return {"stream": stream, "chat_config": chat_config(), "referrer": _referrer(context["request"])}


@register.inclusion_tag("chat/_reaction_buttons.html")
def reaction_buttons() -> dict[str, Any]:
    return {"reactions": Reaction.choices}
