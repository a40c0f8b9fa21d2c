"""Chat over REST: history and backfill by id, and posting (for clients without a socket)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.services import Client
from chat import moderation, playback, presence, schemas, selectors, services
from chat.frames import message_payload
from socialflow.lib.addresses import request_address
from streams.selectors import stream_get_visible


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user = serializers.DictField()
    content = serializers.CharField()
    created_at = serializers.CharField()


class StreamChatApi(APIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    InputSerializer = schemas.ChatSendInput

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="only messages with a larger id (backfill)")],
        responses=MessageSerializer(many=True),
    )
    def get(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        after = request.query_params.get("after")
        if after is not None and not after.isdecimal():
            raise serializers.ValidationError({"after": ["Expected a message id."]})
        messages = selectors.messages_after(stream=stream, after=int(after) if after else None)
        return Response([message_payload(m) for m in messages])

    @extend_schema(request=InputSerializer, responses={201: MessageSerializer})
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        message = services.message_send(
            stream=stream, user=request.user, content=data.validated_data["content"]
        )
        return Response(message_payload(message), status=status.HTTP_201_CREATED)


class StreamChatMessageApi(APIView):
    """Delete a message (its author, the streamer or a moderator)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, stream_id: str, message_id: int):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = schemas.MessageRefInput(data={"id": message_id})
        data.is_valid(raise_exception=True)
        moderation.message_delete(stream=stream, by=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StreamChatPinApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses=MessageSerializer)
    def post(self, request, stream_id: str, message_id: int):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = schemas.MessageRefInput(data={"id": message_id})
        data.is_valid(raise_exception=True)
        message = moderation.message_pin(stream=stream, by=request.user, **data.validated_data)
        return Response(message_payload(message))


class StreamChatClearApi(APIView):
    """Clear the chat: every message so far disappears for everyone (streamer or moderator)."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        cleared = serializers.IntegerField(help_text="how many messages were removed")

    @extend_schema(request=None, responses=OutputSerializer)
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        count = moderation.chat_clear(stream=stream, by=request.user)
        return Response({"cleared": count})


class StreamReactionApi(APIView):
    permission_classes = [IsAuthenticated]

    InputSerializer = schemas.ReactionPostInput

    class OutputSerializer(serializers.Serializer):
        type = serializers.CharField()
        count = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reaction = data.validated_data["reaction"]
        count = services.reaction_send(stream=stream, user=request.user, reaction=reaction)
        return Response({"type": reaction, "count": count}, status=status.HTTP_201_CREATED)


class ViewerSessionSerializer(serializers.Serializer):
    session = serializers.CharField(help_text="send it back with each heartbeat and with leave")
    viewers = serializers.IntegerField()
    heartbeat_seconds = serializers.IntegerField(help_text="join again with `session` this often")


class StreamJoinApi(APIView):
    """For native players that do not hold the WebSocket: count me as a viewer. Call it
    again with the returned `session` every `heartbeat_seconds`, and leave when done."""

    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        session = serializers.CharField(required=False, allow_blank=True)
        anonymous_id = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=128,
            help_text="a logged-out app's own random install id: unique viewers count it once",
        )

    @extend_schema(request=InputSerializer, responses={200: ViewerSessionSerializer})
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        client = Client(
            anonymous_id=data.validated_data.get("anonymous_id", ""),
            user_agent=request.headers.get("User-Agent", ""),
        )
        result = presence.viewer_join(
            stream=stream,
            user=request.user,
            session=data.validated_data.get("session"),
            client=client,
            address=request_address(request),
        )
        return Response(result)


class StreamPlaybackApi(APIView):
    """For native players: what playback was like since the last report (the socket's
    `playback.report`), at most every PLAYBACK_REPORT_MIN_SECONDS per viewer session.
    `session` is the one `join/` returned."""

    permission_classes = [AllowAny]

    class InputSerializer(schemas.PlaybackReportInput):
        session = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        member, session_id = presence.viewer_session_of(stream=stream, session=fields.pop("session"))
        playback.playback_report(stream=stream, reporter=member, session_id=session_id, **fields)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StreamLeaveApi(APIView):
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        session = serializers.CharField()

    @extend_schema(request=InputSerializer, responses={204: None})
    def post(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        presence.viewer_leave(stream=stream, session=data.validated_data["session"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class StreamViewersApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        viewers = serializers.IntegerField(help_text="watching now (sockets and native players)")
        peak_viewers = serializers.IntegerField()

    @extend_schema(responses=OutputSerializer)
    def get(self, request, stream_id: str):
        stream = stream_get_visible(stream_id=stream_id, user=request.user)
        return Response(presence.viewer_counts(stream=stream))
