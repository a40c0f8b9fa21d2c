"""Analytics API: a broadcast's numbers for its streamer and moderators, a channel's for
its owner. Anyone else gets 404, as for a broadcast that does not exist."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors
from socialflow.lib.api import QuerySerializer


class SummarySerializer(serializers.Serializer):
    peak_viewers = serializers.IntegerField(
        help_text="most concurrent viewers (sockets and apps: two tabs are two)"
    )
    average_viewers = serializers.FloatField(help_text="total watch time / time live")
    unique_viewers = serializers.IntegerField(help_text="distinct users and anonymous browsers or apps")
    total_watch_seconds = serializers.IntegerField()
    average_watch_seconds = serializers.FloatField(help_text="total watch time / unique viewers")
    live_seconds = serializers.IntegerField()
    chat_messages = serializers.IntegerField()
    chatters = serializers.IntegerField()
    reactions = serializers.DictField(child=serializers.IntegerField())
    reactions_total = serializers.IntegerField()
    new_followers = serializers.IntegerField()
    played_seconds = serializers.FloatField(help_text="reported by players")
    rebuffer_seconds = serializers.FloatField()
    rebuffer_ratio = serializers.FloatField(allow_null=True, help_text="stalled / (played + stalled)")
    startup_ms_median = serializers.IntegerField(allow_null=True)
    quality = serializers.DictField(child=serializers.FloatField(), help_text="rung -> seconds played")
    devices = serializers.DictField(child=serializers.IntegerField(), help_text="device class -> sessions")
    referrers = serializers.DictField(child=serializers.IntegerField(), help_text="referrer -> sessions")
    final = serializers.BooleanField(help_text="false while live: refreshed every minute")
    updated_at = serializers.DateTimeField()


class PointSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="the end of the interval")
    seconds = serializers.IntegerField()
    viewers = serializers.FloatField()
    viewers_peak = serializers.IntegerField()
    chat_messages = serializers.IntegerField()
    chatters = serializers.IntegerField()
    reactions = serializers.IntegerField()
    reactions_by_type = serializers.DictField(child=serializers.IntegerField())
    new_followers = serializers.IntegerField()


class HealthPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    ingest_kbps = serializers.FloatField(allow_null=True)
    bitrate_kbps = serializers.FloatField(allow_null=True, help_text="what the whole ladder writes")
    fps = serializers.FloatField(allow_null=True)
    source_fps = serializers.FloatField(allow_null=True)
    speed = serializers.FloatField(allow_null=True)
    dropped_frames = serializers.IntegerField()
    restarts = serializers.IntegerField()
    ladder = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=["good", "warning", "bad"])
    reason = serializers.CharField()


class HighlightSerializer(serializers.Serializer):
    at = serializers.DateTimeField(help_text="the minute's start")
    offset_seconds = serializers.IntegerField(help_text="from the broadcast's start")
    chat_messages = serializers.IntegerField()
    reactions = serializers.IntegerField()
    score = serializers.FloatField(help_text="times the broadcast's typical minute")


class StreamAnalyticsApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(QuerySerializer):
        # `from` is a keyword: the field is renamed below.
        from_ = serializers.DateTimeField(required=False, help_text="ISO-8601; default: the start")
        to = serializers.DateTimeField(
            required=False, help_text="ISO-8601; default: its end, or now; at most 31 days after from"
        )
        resolution = serializers.ChoiceField(
            choices=[10, 60, 300], required=False, help_text="seconds per point (default: by the window)"
        )

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["from"] = self.fields.pop("from_")

    class OutputSerializer(serializers.Serializer):
        stream = serializers.DictField()
        from_ = serializers.DateTimeField()
        to = serializers.DateTimeField()
        resolution = serializers.IntegerField()
        summary = SummarySerializer()
        series = PointSerializer(many=True)
        health = HealthPointSerializer(many=True)
        warnings = serializers.ListField(child=serializers.DictField())
        highlights = HighlightSerializer(many=True)

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.fields["from"] = self.fields.pop("from_")

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request, stream_id: str):
        stream = selectors.analytics_stream_get(stream_id=stream_id, user=request.user)
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = selectors.analytics_window(
            stream=stream,
            start=query.validated_data.get("from_"),
            end=query.validated_data.get("to"),
            resolution=query.validated_data.get("resolution"),
        )
        return Response(selectors.stream_analytics(stream=stream, window=window))


class BroadcastRowSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    live_seconds = serializers.IntegerField()
    peak_viewers = serializers.IntegerField()
    average_viewers = serializers.FloatField()
    unique_viewers = serializers.IntegerField()
    total_watch_seconds = serializers.IntegerField()
    chat_messages = serializers.IntegerField()
    new_followers = serializers.IntegerField()
    rebuffer_ratio = serializers.FloatField(allow_null=True)


class ChannelAnalyticsSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    from_ = serializers.DateTimeField()
    to = serializers.DateTimeField()
    broadcasts = serializers.IntegerField(help_text="broadcasts that went live in the period")
    hours_live = serializers.FloatField()
    total_watch_seconds = serializers.IntegerField()
    average_viewers = serializers.FloatField()
    peak_viewers = serializers.IntegerField()
    unique_viewers = serializers.IntegerField(help_text="distinct across the period's broadcasts")
    chat_messages = serializers.IntegerField()
    reactions = serializers.IntegerField()
    new_followers = serializers.IntegerField()
    followers = serializers.IntegerField(help_text="now")
    streams = BroadcastRowSerializer(many=True, help_text=f"the newest {selectors.CHANNEL_BROADCASTS}")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from"] = self.fields.pop("from_")


class ChannelAnalyticsApi(APIView):
    permission_classes = [IsAuthenticated]

    class InputSerializer(QuerySerializer):
        days = serializers.ChoiceField(choices=[7, 30, 90], required=False, default=30)

    @extend_schema(parameters=[InputSerializer], responses=ChannelAnalyticsSerializer)
    def get(self, request):
        query = self.InputSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(selectors.channel_analytics(owner=request.user, days=query.validated_data["days"]))
