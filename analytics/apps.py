from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "analytics"

    def ready(self) -> None:
        # app loading: the receivers need the models.
        from analytics import receivers  # noqa: F401
