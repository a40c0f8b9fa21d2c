"""Recordings and clips API. Reads follow the recording's (or the broadcast's) visibility;
writes are for the streamer and moderators (and a clip's maker), and anyone else gets 404."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.apis import UserSummarySerializer
from accounts.selectors import user_get_profile
from dvr import clips, selectors, services
from dvr.models import Clip, Recording
from socialflow.lib.api import QuerySerializer
from streams.models import Visibility
from streams.selectors import stream_get_visible


class RecordingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    stream = serializers.CharField(source="stream_id")
    title = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    size_bytes = serializers.IntegerField()
    hls_url = serializers.SerializerMethodField()
    mp4_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    views = serializers.IntegerField()
    visibility = serializers.CharField(source="effective_visibility")
    kept = serializers.BooleanField()
    retention_until = serializers.DateTimeField(allow_null=True)
    expired = serializers.SerializerMethodField()

    def _absolute(self, url: str) -> str:
        return self.context["request"].build_absolute_uri(url)

    def get_hls_url(self, recording: Recording) -> str | None:
        """The VOD master playlist (adaptive), once ready."""
        if not recording.is_playable:
            return None
        return self._absolute(reverse("dvr:recording_master", args=[recording.pk]))

    def get_mp4_url(self, recording: Recording) -> str | None:
        return selectors.media_url(recording.mp4_path, self._absolute) if recording.is_playable else None

    def get_thumbnail_url(self, recording: Recording) -> str | None:
        return (
            selectors.media_url(recording.thumbnail_path, self._absolute) if recording.is_playable else None
        )

    def get_page_url(self, recording: Recording) -> str:
        return self._absolute(reverse("dvr:recording", args=[recording.pk]))

    def get_expired(self, recording: Recording) -> bool:
        """Its files were deleted (retention, or a moderator)."""
        return recording.files_deleted_at is not None


def _recording(request, recording: Recording, code=status.HTTP_200_OK) -> Response:
    return Response(RecordingSerializer(recording, context={"request": request}).data, status=code)


class StreamRecordingsApi(APIView):
    """A broadcast's recording(s) the caller may see."""

    permission_classes = [AllowAny]

    @extend_schema(responses=RecordingSerializer(many=True))
    def get(self, request, stream_id: str):
        rows = list(selectors.stream_recordings(stream_id=stream_id, user=request.user))
        if not rows:
            # An empty list for a broadcast the caller may see, 404 otherwise. Not before: a
            # recording made public stays listed when its broadcast was followers-only.
            stream_get_visible(stream_id=stream_id, user=request.user)
        return Response(RecordingSerializer(rows, many=True, context={"request": request}).data)


class RecordingDetailApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=140, required=False)
        visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)

    @extend_schema(responses=RecordingSerializer)
    def get(self, request, recording_id: int):
        return _recording(
            request, selectors.recording_get_visible(recording_id=recording_id, user=request.user)
        )

    @extend_schema(request=InputSerializer, responses=RecordingSerializer)
    def patch(self, request, recording_id: int):
        recording = selectors.recording_get_for_manager(recording_id=recording_id, user=request.user)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return _recording(request, services.recording_update(recording=recording, **data.validated_data))

    @extend_schema(responses={204: None})
    def delete(self, request, recording_id: int):
        recording = selectors.recording_get_for_manager(recording_id=recording_id, user=request.user)
        services.recording_delete(recording=recording)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RecordingKeepApi(APIView):
    """Keep forever, past retention (the seeds' "convert to VOD")."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=RecordingSerializer)
    def post(self, request, recording_id: int):
        recording = selectors.recording_get_for_manager(recording_id=recording_id, user=request.user)
        return _recording(request, services.recording_keep(recording=recording))


class RecordingChatApi(APIView):
    """The chat replay: the broadcast's messages between two offsets of the recording."""

    permission_classes = [AllowAny]

    class InputSerializer(QuerySerializer):
        from_offset = serializers.FloatField(
            required=False,
            default=0,
            min_value=0,
            max_value=selectors.REPLAY_MAX_OFFSET,
            help_text="seconds from the recording's start",
        )
        to_offset = serializers.FloatField(
            required=False, min_value=0, help_text="seconds from the start (default from_offset + 60)"
        )

    class OutputSerializer(serializers.Serializer):
        class MessageSerializer(serializers.Serializer):
            id = serializers.IntegerField()
            offset = serializers.FloatField(help_text="Seconds from the recording's start.")
            user = serializers.DictField()
            content = serializers.CharField()
            created_at = serializers.DateTimeField()

        messages = MessageSerializer(many=True)

    @extend_schema(parameters=[InputSerializer], responses=OutputSerializer)
    def get(self, request, recording_id: int):
        recording = selectors.recording_get_visible(recording_id=recording_id, user=request.user)
        data = self.InputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        start = data.validated_data["from_offset"]
        messages = selectors.recording_chat_replay(
            recording=recording, from_offset=start, to_offset=data.validated_data.get("to_offset", start + 60)
        )
        return Response(self.OutputSerializer({"messages": messages}).data)


class ClipSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    stream = serializers.CharField(source="stream_id")
    recording = serializers.IntegerField(source="recording_id", allow_null=True)
    creator = UserSummarySerializer()
    title = serializers.CharField()
    status = serializers.CharField()
    reason = serializers.CharField()
    seconds = serializers.IntegerField()
    duration_seconds = serializers.FloatField(allow_null=True)
    visibility = serializers.CharField(help_text="Inherited from the broadcast when it was cut.")
    mp4_url = serializers.SerializerMethodField()
    thumbnail_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField()
    views = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def _absolute(self, url: str) -> str:
        return self.context["request"].build_absolute_uri(url)

    def get_mp4_url(self, clip: Clip) -> str | None:
        return (
            selectors.media_url(clip.mp4_path, self._absolute) if clip.status == Clip.Status.READY else None
        )

    def get_thumbnail_url(self, clip: Clip) -> str | None:
        return (
            selectors.media_url(clip.thumbnail_path, self._absolute)
            if clip.status == Clip.Status.READY
            else None
        )

    def get_page_url(self, clip: Clip) -> str:
        return self._absolute(reverse("dvr:clip", args=[clip.pk]))


class StreamClipsApi(APIView):
    """Cut a clip (5-60 s) of a live broadcast's rewind window or of its recording."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=100, required=False, allow_blank=True)
        seconds = serializers.IntegerField()
        end_offset = serializers.FloatField(
            required=False,
            allow_null=True,
            min_value=0,
            help_text="Where the clip ends, in seconds from the start of the broadcast; "
            "default: the live edge, or the end of the recording.",
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={202: OutputSerializer})
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        clip = clips.clip_create(stream=stream, by=request.user, **data.validated_data)
        return Response(self.OutputSerializer(clip).data, status=status.HTTP_202_ACCEPTED)


class ClipDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(responses=ClipSerializer)
    def get(self, request, clip_id: int):
        clip = selectors.clip_get_visible(clip_id=clip_id, user=request.user)
        return Response(ClipSerializer(clip, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request, clip_id: int):
        clip = selectors.clip_get_visible(clip_id=clip_id, user=request.user)
        clips.clip_delete(clip=clip, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class UserClipsApi(APIView):
    """A channel's clips, most viewed first."""

    permission_classes = [AllowAny]

    @extend_schema(responses=ClipSerializer(many=True))
    def get(self, request, username: str):
        owner = user_get_profile(username=username, viewer=request.user)
        rows = selectors.user_clips(owner=owner, viewer=request.user)
        return Response(ClipSerializer(rows, many=True, context={"request": request}).data)
