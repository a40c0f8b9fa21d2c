"""Streams API: the channel (OBS settings), broadcasts, the live directory, events.

The stream key is serialized only in the owner's answers (`ingest`, the channel).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, HttpResponseBase
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from redis.exceptions import RedisError
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import apis as account_apis
from accounts.apis import UserSummarySerializer, user_summary
from accounts.selectors import user_go_live_eligibility
from socialflow.lib.api import PageNumberPagination, QuerySerializer
from socialflow.lib.schema import PAGE_PARAMETERS, page_of
from streams import selectors, services
from streams.models import Category, Stream, Visibility


class StreamEligibilityApi(APIView):
    """Whether the caller may go live now, and why not."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        eligible = serializers.BooleanField()
        follower_count = serializers.IntegerField()
        required = serializers.IntegerField()
        reason = serializers.CharField()
        code = serializers.CharField()
        exempt = serializers.BooleanField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        eligibility = user_go_live_eligibility(user=request.user)
        return Response(self.OutputSerializer(eligibility.as_dict()).data)


class _LiveState(serializers.Serializer):
    is_live = serializers.SerializerMethodField()

    def get_is_live(self, user) -> bool:
        return selectors.user_live_stream(user=user, viewer=self.context["request"].user) is not None


class UserDetailApi(account_apis.UserDetailApi):
    """A public profile, and whether the user is live now (for the caller)."""

    class OutputSerializer(account_apis.ProfileOutputSerializer, _LiveState):
        pass

    @extend_schema(responses=OutputSerializer)
    def get(self, request, username: str):
        return super().get(request, username)


class MeApi(account_apis.MeApi):
    """The caller's own profile, and whether they are live now."""

    class OutputSerializer(account_apis.MeApi.OutputSerializer, _LiveState):
        pass

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return super().get(request)

    @extend_schema(request=account_apis.MeApi.InputSerializer, responses=OutputSerializer)
    def patch(self, request):
        return super().patch(request)


class IngestSerializer(serializers.Serializer):
    server_url = serializers.CharField()
    stream_key = serializers.CharField()


class CategorySerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()


class StreamSerializer(serializers.Serializer):
    id = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    owner = UserSummarySerializer()
    category = CategorySerializer(allow_null=True)
    tags = serializers.ListField(child=serializers.CharField())
    visibility = serializers.CharField()
    scheduled_for = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()
    record = serializers.BooleanField()
    dvr_enabled = serializers.BooleanField()
    dvr_window_seconds = serializers.SerializerMethodField()
    viewer_count = serializers.IntegerField()
    peak_viewer_count = serializers.IntegerField()
    low_latency = serializers.BooleanField()
    source_passthrough = serializers.BooleanField()
    hls_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    ws_url = serializers.SerializerMethodField()

    def get_hls_url(self, stream) -> str | None:
        """The master playlist, once the transcoder has published one."""
        if not stream.is_live or stream.hls_ready_at is None:
            return None
        request = self.context["request"]
        url = request.build_absolute_uri(reverse("streams:hls", args=[stream.pk]))
        private = stream.visibility == Visibility.FOLLOWERS or stream.media_private
        if private and request.user.is_authenticated:  # a native player sends no token
            url += "?" + urlencode({"grant": selectors.playback_grant(stream=stream, user=request.user)})
        return url

    def get_dvr_window_seconds(self, stream) -> int:
        """How far viewers may rewind (0 without DVR)."""
        return stream.dvr_window

    def get_thumbnail_url(self, stream) -> str | None:
        url = selectors.stream_thumbnail_url(stream=stream)
        return self.context["request"].build_absolute_uri(url) if url else None

    def get_ws_url(self, stream) -> str:
        request = self.context["request"]
        scheme = "wss" if request.is_secure() else "ws"
        return f"{scheme}://{request.get_host()}/ws/streams/{stream.pk}/"

    def to_representation(self, stream) -> dict[str, Any]:
        # The declared fields' answer built by hand, in their order and formats: DRF's walk
        # over them cost more than everything else in a page of the live list (bench/api.py).
        # The fields above stay the documentation (drf-spectacular), and test_api_representation
        # holds this to DRF's own walk.
        request = self.context["request"]
        category = stream.category
        return {
            "id": str(stream.pk),
            "title": str(stream.title),
            "description": str(stream.description),
            "status": str(stream.status),
            "owner": user_summary(request, stream.owner),
            "category": None
            if category is None
            else {"slug": str(category.slug), "name": str(category.name)},
            "tags": [None if tag is None else str(tag) for tag in stream.tags],
            "visibility": str(stream.visibility),
            "scheduled_for": _DATETIME.to_representation(stream.scheduled_for),
            "started_at": _DATETIME.to_representation(stream.started_at),
            "ended_at": _DATETIME.to_representation(stream.ended_at),
            "end_reason": str(stream.end_reason),
            "record": bool(stream.record),
            "dvr_enabled": bool(stream.dvr_enabled),
            "dvr_window_seconds": self.get_dvr_window_seconds(stream),
            "viewer_count": int(stream.viewer_count),
            "peak_viewer_count": int(stream.peak_viewer_count),
            "low_latency": bool(stream.low_latency),
            "source_passthrough": bool(stream.source_passthrough),
            "hls_url": self.get_hls_url(stream),
            "thumbnail_url": self.get_thumbnail_url(stream),
            "ws_url": self.get_ws_url(stream),
        }


_DATETIME = serializers.DateTimeField()  # its format, for StreamSerializer.to_representation


class OwnerStreamSerializer(StreamSerializer):
    ingest = serializers.SerializerMethodField()

    def get_ingest(self, stream) -> dict:
        return IngestSerializer(services.channel_ingest(channel=stream.channel)).data

    def to_representation(self, stream) -> dict[str, Any]:
        return {**super().to_representation(stream), "ingest": self.get_ingest(stream)}


def _stream_response(request, stream: Stream, status_code=status.HTTP_200_OK) -> Response:
    serializer = OwnerStreamSerializer if stream.owner_id == request.user.pk else StreamSerializer
    return Response(serializer(stream, context={"request": request}).data, status=status_code)


class _CategoryField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="slug", queryset=Category.objects.filter(is_active=True), **kwargs)


class StreamFieldsInput(serializers.Serializer):
    title = serializers.CharField(max_length=140, required=False, allow_blank=True)
    description = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    category = _CategoryField(required=False, allow_null=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=40), max_length=20, required=False)
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
    scheduled_for = serializers.DateTimeField(required=False, allow_null=True)
    record = serializers.BooleanField(required=False)
    dvr_enabled = serializers.BooleanField(required=False)
    dvr_window_seconds = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="How far viewers may rewind; null: the site's DVR_WINDOW_SECONDS.",
    )
    low_latency = serializers.BooleanField(required=False)
    source_passthrough = serializers.BooleanField(required=False)


class StreamListCreateApi(APIView):
    """GET: the caller's own broadcasts, every status, newest first (`?mine=1`; the public
    listing is /api/v1/streams/live/). POST: prepare a broadcast."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(StreamFieldsInput):
        pass

    class FilterSerializer(QuerySerializer):
        mine = serializers.ChoiceField(choices=["1"], required=False, help_text="1: your own broadcasts")
        status = serializers.ChoiceField(choices=Stream.Status.choices, required=False)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "mine", str, enum=["1"], description="your own broadcasts (the only listing here)"
            ),
            OpenApiParameter("status", str, enum=list(Stream.Status.values)),
            *PAGE_PARAMETERS,
        ],
        responses=page_of(OwnerStreamSerializer, "OwnerStream"),
        operation_id="streams_list_mine",
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        streams = selectors.streams_of_owner(user=request.user, status=filters.validated_data.get("status"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(streams, request, view=self)
        data = OwnerStreamSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=InputSerializer, responses={201: OwnerStreamSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stream = services.stream_create(owner=request.user, **data.validated_data)
        stream = selectors.stream_get_for_owner(stream_id=stream.pk, user=request.user)
        return _stream_response(request, stream, status.HTTP_201_CREATED)


class _SharedWithAnonymous:
    """Anonymous callers share one answer per address for STREAMS_API_CACHE_SECONDS, kept in
    the cache so that every web process serves the same one: a broadcast that ends leaves
    the live list, and shows as ended, within that time. Signed-in callers are answered
    afresh: their answers differ (`hls_url` carries a playback grant for the caller when a
    broadcast's media is private, the owner gets `ingest`). Errors are never shared."""

    def shared_with_anonymous(self, request, answer: Callable[[], Response]) -> HttpResponseBase:
        seconds = settings.STREAMS_API_CACHE_SECONDS
        if request.user.is_authenticated or not seconds:
            return answer()
        # Everything the answer is made of: the links in it carry the scheme and host, and
        # the renderer follows the Accept header (`; indent=4`).
        key: str | None = "streams:api:" + "|".join(
            [request.scheme, request.get_host(), request.get_full_path(), str(request.accepted_media_type)]
        )
        try:
            cached = cache.get(key)
        except RedisError:  # the cache is away: answer afresh, as the throttles let it through
            cached = key = None
        if cached is not None:
            content, content_type = cached
            return HttpResponse(content, content_type=content_type)
        response = self.finalize_response(request, answer())  # type: ignore[attr-defined]
        response.render()
        if key is not None and response.status_code == status.HTTP_200_OK:
            with contextlib.suppress(RedisError):
                cache.set(key, (response.content, response["Content-Type"]), seconds)
        return response


class StreamDetailApi(_SharedWithAnonymous, APIView):
    """A broadcast anyone may see (anonymous callers share answers: _SharedWithAnonymous)."""

    permission_classes = [AllowAny]

    class InputSerializer(StreamFieldsInput):
        pass

    @extend_schema(responses=StreamSerializer)
    def get(self, request, stream_id: str):
        return self.shared_with_anonymous(
            request,
            lambda: _stream_response(
                request, selectors.stream_get_visible(stream_id=stream_id, user=request.user)
            ),
        )

    @extend_schema(request=InputSerializer, responses=OwnerStreamSerializer)
    def patch(self, request, stream_id: str):
        self._require_login(request)
        stream = selectors.stream_get_for_owner(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        stream = services.stream_update(stream=stream, **data.validated_data)
        return _stream_response(request, stream)

    @extend_schema(responses={204: None})
    def delete(self, request, stream_id: str):
        self._require_login(request)
        stream = selectors.stream_get_for_owner(stream_id=stream_id, user=request.user)
        services.stream_cancel(stream=stream, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _require_login(self, request):
        if not request.user.is_authenticated:
            self.permission_denied(request)


class StreamStartApi(APIView):
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        ingest = IngestSerializer()
        stream = OwnerStreamSerializer()

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request, stream_id: str):
        stream = selectors.stream_get_for_owner(stream_id=stream_id, user=request.user)
        ingest = services.stream_start(stream=stream)
        body = {
            "ingest": IngestSerializer(ingest).data,
            "stream": OwnerStreamSerializer(stream, context={"request": request}).data,
        }
        return Response(body)


class StreamEndApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=StreamSerializer)
    def post(self, request, stream_id: str):
        stream = selectors.stream_get_for_manager(stream_id=stream_id, user=request.user)
        stream = services.stream_end(stream=stream, by=request.user)
        return _stream_response(request, selectors.stream_get_visible(stream_id=stream.pk, user=request.user))


class StreamLiveListApi(_SharedWithAnonymous, ListAPIView):
    """The public directory (anonymous callers share answers: _SharedWithAnonymous)."""

    permission_classes = [AllowAny]
    serializer_class = StreamSerializer

    class FilterSerializer(QuerySerializer):
        category = serializers.CharField(max_length=50, required=False, help_text="category slug")
        q = serializers.CharField(
            max_length=100, required=False, help_text="search in titles and streamer names"
        )

    @extend_schema(parameters=[FilterSerializer])
    def get(self, request, *args, **kwargs):
        return self.shared_with_anonymous(request, lambda: super(StreamLiveListApi, self).get(request))

    def get_queryset(self):
        filters = self.FilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return selectors.streams_live(
            category=filters.validated_data.get("category"), q=filters.validated_data.get("q")
        )


class StreamEventsApi(ListAPIView):
    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        type = serializers.CharField()
        severity = serializers.CharField()
        message = serializers.CharField()
        details = serializers.JSONField()
        created_at = serializers.DateTimeField()

    serializer_class = OutputSerializer

    def get_queryset(self):
        stream = selectors.stream_get_for_manager(stream_id=self.kwargs["stream_id"], user=self.request.user)
        return selectors.stream_events(stream=stream)


class ChannelApi(APIView):
    """The caller's channel: OBS server URL, stream key and broadcast defaults."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        server_url = serializers.CharField()
        stream_key = serializers.CharField()
        default_title = serializers.CharField()
        default_category = CategorySerializer(allow_null=True)
        default_visibility = serializers.CharField()
        record_by_default = serializers.BooleanField()
        dvr_by_default = serializers.BooleanField()
        clips_enabled = serializers.BooleanField()
        recording_retention_days = serializers.IntegerField(
            allow_null=True, help_text="Days recordings are kept (0: forever); null: the site's default."
        )
        key_rotated_at = serializers.DateTimeField(allow_null=True)

    class InputSerializer(serializers.Serializer):
        default_title = serializers.CharField(max_length=140, required=False, allow_blank=True)
        default_category = _CategoryField(required=False, allow_null=True)
        default_visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)
        record_by_default = serializers.BooleanField(required=False)
        dvr_by_default = serializers.BooleanField(required=False)
        clips_enabled = serializers.BooleanField(required=False)
        recording_retention_days = serializers.IntegerField(
            required=False, allow_null=True, min_value=0, max_value=services.MAX_RETENTION_DAYS
        )

    def _render(self, channel):
        data = {
            "server_url": settings.RTMP_PUBLIC_URL,
            "stream_key": channel.stream_key,
            "default_title": channel.default_title,
            "default_category": channel.default_category,
            "default_visibility": channel.default_visibility,
            "record_by_default": channel.record_by_default,
            "dvr_by_default": channel.dvr_by_default,
            "clips_enabled": channel.clips_enabled,
            "recording_retention_days": channel.recording_retention_days,
            "key_rotated_at": channel.key_rotated_at,
        }
        return Response(self.OutputSerializer(data).data)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return self._render(services.channel_get_or_create(user=request.user))

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request):
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        clear = "default_category" in fields and fields["default_category"] is None
        clear_retention = "recording_retention_days" in fields and fields["recording_retention_days"] is None
        channel = services.channel_update_defaults(
            channel=services.channel_get_or_create(user=request.user),
            clear_category=clear,
            clear_retention=clear_retention,
            **fields,
        )
        return self._render(channel)


class ChannelRotateKeyApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=IngestSerializer)
    def post(self, request):
        channel = services.channel_rotate_key(
            channel=services.channel_get_or_create(user=request.user), by=request.user
        )
        return Response(IngestSerializer(services.channel_ingest(channel=channel)).data)
