from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        # app loading: chat's models are ready only now; analytics samples what chat counts.
        from analytics.series import register_source
        from chat.activity import ChatActivity

        register_source(ChatActivity())

        # app loading, as above: a channel's moderators end its broadcasts and read their
        # events (API.md); streams, below chat, asks through this check.
        from chat.selectors import is_channel_moderator
        from streams.selectors import register_channel_managers

        register_channel_managers("chat.channel_moderators", is_channel_moderator)
