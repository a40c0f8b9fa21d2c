from django.apps import AppConfig
from django.urls import register_converter


class StreamsConfig(AppConfig):
    name = "streams"

    def ready(self):
        from streams.converters import StreamIdConverter

        register_converter(StreamIdConverter, "stream_id")
