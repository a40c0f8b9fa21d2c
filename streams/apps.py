import mimetypes

from django.apps import AppConfig
from django.urls import register_converter

from streams.converters import StreamIdConverter


class StreamsConfig(AppConfig):
    name = "streams"

    def ready(self):
        register_converter(StreamIdConverter, "stream_id")
        # HLS types, for Django's own media serving and for S3 uploads alike.
        mimetypes.add_type("application/vnd.apple.mpegurl", ".m3u8")
        mimetypes.add_type("video/mp2t", ".ts")
