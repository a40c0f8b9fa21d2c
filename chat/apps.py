from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        # app loading: chat's models are ready only now; analytics samples what chat counts.
        from analytics.series import register_source
        from chat.activity import ChatActivity

        register_source(ChatActivity())
