from django.apps import AppConfig


class DvrConfig(AppConfig):
    name = "dvr"
    verbose_name = "Recordings and clips"

    def ready(self) -> None:
        # app loading: the receivers live in dvr.receivers, which imports models.
        from dvr import receivers  # noqa: F401
