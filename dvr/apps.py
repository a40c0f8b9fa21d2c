from django.apps import AppConfig


class DvrConfig(AppConfig):
    name = "dvr"
