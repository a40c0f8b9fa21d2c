"""Accounts API: register, me, profiles, follow/unfollow, follower lists."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from accounts import login_guard, push, selectors, services, tokens, webhooks
from accounts.models import BIO_MAX_LENGTH, DISPLAY_NAME_MAX_LENGTH, User, WebhookDelivery, WebhookEvent
from accounts.validators import username_validators
from socialflow.lib import outbound
from socialflow.lib.api import PageNumberPagination, QuerySerializer
from socialflow.lib.schema import PAGE_PARAMETERS, page_of

# Django refuses a password of digits only (any script's digits): at least one letter says it
# in a way a schema can.
NOT_ONLY_DIGITS = RegexValidator(r"[A-Za-z]", "Use at least one letter (a to z).", code="invalid_password")


def _absolute(request, url: str) -> str:
    return request.build_absolute_uri(url) if url and url.startswith("/") else url


class UserSummarySerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.SerializerMethodField()

    def get_avatar_url(self, user) -> str:
        return _absolute(self.context["request"], user.avatar_url)


def user_summary(request, user: User) -> dict[str, str]:
    """UserSummarySerializer's answer built by hand, for serializers that build theirs by
    hand (streams.apis.StreamSerializer)."""
    return {
        "username": str(user.username),
        "display_name": str(user.display_name),
        "avatar_url": _absolute(request, user.avatar_url),
    }


class ProfileOutputSerializer(UserSummarySerializer):
    bio = serializers.CharField()
    follower_count = serializers.IntegerField()
    following_count = serializers.IntegerField()
    is_following = serializers.BooleanField()


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_scope = "register"

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField(
            min_length=3,
            max_length=30,
            trim_whitespace=False,
            validators=username_validators,
            help_text="letters, digits and underscores; 409 `username_taken` if taken or reserved",
        )
        email = serializers.EmailField(help_text="409 `email_taken` if another account has it")
        password = serializers.CharField(
            min_length=8,
            max_length=128,
            trim_whitespace=False,
            write_only=True,
            style={"input_type": "password"},
            validators=[NOT_ONLY_DIGITS],
            help_text="8 or more characters, one of them a letter; a common password or one too like "
            "the username is refused (400 `invalid_password`)",
        )

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        username = serializers.CharField()
        email = serializers.EmailField()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(self.OutputSerializer(user).data, status=status.HTTP_201_CREATED)


@extend_schema(extensions={"x-error-statuses": [401]})  # wrong credentials
class TokenApi(TokenObtainPairView):
    """A failed sign-in is 401; one refused because the account or the address is locked
    out (accounts.login_guard) is 429 `locked_out`, whatever the password."""

    throttle_scope = "login"

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except AuthenticationFailed:
            if login_guard.locked_out(request):
                raise login_guard.LockedOut() from None
            raise


@extend_schema(extensions={"x-error-statuses": [401]})  # an invalid or used-up refresh token
class TokenRefreshApi(TokenRefreshView):
    """A new access token, and a new refresh token: the one sent is used up (S-20)."""

    throttle_scope = "login"


class LogoutApi(APIView):
    """Ends a refresh token (it is blacklisted): the app's sign-out. Its access tokens lapse
    within JWT_ACCESS_MINUTES; a password change ends every token at once."""

    permission_classes = [AllowAny]  # the refresh token is the credential
    authentication_classes: list = []  # an expired access token must not stop a sign-out
    throttle_scope = "login"

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'  # a refused token is 401, as on the refresh route

    @extend_schema(
        request=TokenBlacklistSerializer, responses={204: None}, extensions={"x-error-statuses": [401]}
    )
    def post(self, request):
        data = TokenBlacklistSerializer(data=request.data)
        try:
            data.is_valid(raise_exception=True)
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class WsTicketApi(APIView):
    """A ticket for one WebSocket connection (`?ticket=` on the socket's URL), good for
    WS_TICKET_SECONDS: unlike an access token, nothing is lost if a proxy logs it."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        ticket = serializers.CharField()
        expires_in = serializers.IntegerField(help_text="seconds")

    @extend_schema(request=None, responses={201: OutputSerializer})
    def post(self, request):
        ticket = tokens.ws_ticket_issue(user=request.user)
        body = {"ticket": ticket, "expires_in": settings.WS_TICKET_SECONDS}
        return Response(self.OutputSerializer(body).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    """The caller's own profile. Routed from streams.api_urls, where streams.apis.MeApi adds
    the live state: accounts knows nothing of broadcasts."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(ProfileOutputSerializer):
        id = serializers.IntegerField()
        email = serializers.EmailField()
        email_notifications = serializers.BooleanField()
        date_joined = serializers.DateTimeField()

    class InputSerializer(serializers.Serializer):
        display_name = serializers.CharField(
            max_length=DISPLAY_NAME_MAX_LENGTH, allow_blank=True, required=False
        )
        bio = serializers.CharField(max_length=BIO_MAX_LENGTH, allow_blank=True, required=False)
        remove_avatar = serializers.BooleanField(
            required=False, default=False, help_text="a new one: PUT /api/v1/me/avatar/"
        )
        email_notifications = serializers.BooleanField(required=False)

    def _render(self, request):
        user = selectors.user_get_profile(username=request.user.username, viewer=request.user)
        return Response(self.OutputSerializer(user, context={"request": request}).data)

    @extend_schema(responses=OutputSerializer)
    def get(self, request):
        return self._render(request)

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def patch(self, request):
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        services.user_update_profile(user=request.user, **data.validated_data)
        return self._render(request)


class MeAvatarApi(APIView):
    """PUT (multipart, `avatar`): your new avatar, re-encoded (JPEG, PNG, GIF or WebP up to
    AVATAR_MAX_SOURCE_PIXELS); 400 `invalid_image` for anything else. The one multipart
    operation: the rest of the profile is JSON (PATCH /api/v1/me/)."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser]

    class InputSerializer(serializers.Serializer):
        avatar = serializers.ImageField()

    class OutputSerializer(serializers.Serializer):
        avatar_url = serializers.CharField()

    @extend_schema(request={"multipart/form-data": InputSerializer}, responses=OutputSerializer)
    def put(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, avatar=data.validated_data["avatar"])
        return Response(self.OutputSerializer({"avatar_url": _absolute(request, user.avatar_url)}).data)


class UserDetailApi(APIView):
    """A public profile. Routed from streams.api_urls, where streams.apis.UserDetailApi adds
    the live state."""

    permission_classes = [AllowAny]
    OutputSerializer = ProfileOutputSerializer

    @extend_schema(responses=ProfileOutputSerializer)
    def get(self, request, username: str):
        user = selectors.user_get_profile(username=username, viewer=request.user)
        return Response(self.OutputSerializer(user, context={"request": request}).data)


class UserFollowApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "follow"

    class OutputSerializer(serializers.Serializer):
        following = serializers.BooleanField()
        follower_count = serializers.IntegerField()

    def _body(self, followee: User, following: bool) -> dict:
        return {"following": following, "follower_count": selectors.user_follower_count(user=followee)}

    @extend_schema(request=None, responses={201: OutputSerializer})
    def post(self, request, username: str):
        followee = selectors.user_get_active(username=username)
        services.follow_create(follower=request.user, followee=followee)
        # 201 on every call: following twice is the same as following once.
        return Response(self._body(followee, True), status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, username: str):
        followee = selectors.user_get_active(username=username)
        services.follow_delete(follower=request.user, followee=followee)
        return Response(status=status.HTTP_204_NO_CONTENT)


class FollowEntrySerializer(serializers.Serializer):
    username = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    followed_at = serializers.DateTimeField()


class _FollowListApi(generics.ListAPIView):
    permission_classes = [AllowAny]
    serializer_class = FollowEntrySerializer
    side: str  # which end of the Follow to list

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        rows = []
        for follow in page:
            user = getattr(follow, self.side)
            rows.append(
                {
                    "username": user.username,
                    "display_name": user.display_name,
                    "avatar_url": _absolute(request, user.avatar_url),
                    "followed_at": follow.created_at,
                }
            )
        return self.get_paginated_response(FollowEntrySerializer(rows, many=True).data)


class UserFollowersApi(_FollowListApi):
    side = "follower"

    def get_queryset(self):
        return selectors.user_followers(user=selectors.user_get_active(username=self.kwargs["username"]))


class UserFollowingApi(_FollowListApi):
    side = "followee"

    def get_queryset(self):
        return selectors.user_following(user=selectors.user_get_active(username=self.kwargs["username"]))


def _mark_read(request, ids: list[int] | None) -> Response:
    marked = services.notifications_mark_read(user=request.user, ids=ids)
    unread = selectors.notifications_unread_count(user=request.user)
    return Response(NotificationsApi.MarkedSerializer({"marked": marked, "unread": unread}).data)


class NotificationsApi(APIView):
    """GET: your notifications, newest first (`?unread=1`: the unread ones), paginated.
    POST {ids?}: marks those read (yours only; without `ids`, all); answers what is left unread."""

    permission_classes = [IsAuthenticated]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        message = serializers.CharField()
        url = serializers.CharField(help_text="the page it is about, on this site")
        actor = UserSummarySerializer(allow_null=True)
        created_at = serializers.DateTimeField()
        read_at = serializers.DateTimeField(allow_null=True)

    class FilterSerializer(QuerySerializer):
        unread = serializers.ChoiceField(choices=["1"], required=False)

    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), max_length=500, required=False
        )

    class MarkedSerializer(serializers.Serializer):
        marked = serializers.IntegerField()
        unread = serializers.IntegerField()

    @extend_schema(
        parameters=[OpenApiParameter("unread", str, enum=["1"]), *PAGE_PARAMETERS],
        responses=page_of(OutputSerializer, "Notification"),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        notifications = selectors.notifications_for(user=request.user)
        if filters.validated_data.get("unread"):
            notifications = notifications.filter(read_at__isnull=True)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(notifications, request, view=self)
        data = self.OutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=InputSerializer, responses=MarkedSerializer)
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _mark_read(request, data.validated_data.get("ids"))


class NotificationsReadApi(APIView):
    """POST {ids} or {all: true}: marks those of your notifications read (API.md's form of
    `POST /api/v1/notifications/`); answers what was marked and what is left unread."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        ids = serializers.ListField(
            child=serializers.IntegerField(min_value=1), max_length=500, required=False
        )
        all = serializers.BooleanField(required=False)

        def validate(self, attrs):
            if set(self.initial_data) - {"ids", "all"}:
                raise serializers.ValidationError("Send only ids, or all: true.", code="ids_or_all")
            if ("ids" in attrs) == ("all" in attrs) or attrs.get("all") is False:
                raise serializers.ValidationError("Send either ids or all: true.", code="ids_or_all")
            return attrs

    @extend_schema(
        request={
            "application/json": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "ids": {
                                "type": "array",
                                "items": {"type": "integer", "minimum": 1},
                                "maxItems": 500,
                            }
                        },
                        "required": ["ids"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {"all": {"type": "boolean", "enum": [True]}},
                        "required": ["all"],
                        "additionalProperties": False,
                    },
                ]
            }
        },
        responses=NotificationsApi.MarkedSerializer,
        extensions={"x-body-required": True},
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _mark_read(request, data.validated_data.get("ids"))


# --- Outgoing webhooks ------------------------------------------------------------------


class WebhookOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=WebhookEvent.choices))
    created_at = serializers.DateTimeField()


class WebhookDeliverySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    event = serializers.CharField()
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = serializers.IntegerField()
    response_code = serializers.IntegerField(allow_null=True, help_text="null: no HTTP answer (see error)")
    error = serializers.CharField(help_text="why the last try failed, or empty")
    duration_ms = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class WebhooksApi(APIView):
    """GET: your webhooks. POST {url, events}: register one; the answer carries its signing
    `secret`, shown this once (the dashboard shows it again to you)."""

    permission_classes = [IsAuthenticated]

    class InputSerializer(serializers.Serializer):
        url = serializers.CharField(
            max_length=outbound.MAX_URL_LENGTH,
            trim_whitespace=False,
            validators=[
                RegexValidator(
                    outbound.URL_PATTERN,
                    "An http:// or https:// URL with a host name, no user name or password, no spaces.",
                    code="webhook_target_refused",
                )
            ],
            help_text="403 `webhook_target_refused` if its host resolves to a private, loopback or "
            "link-local address",
        )
        events = serializers.ListField(
            child=serializers.ChoiceField(choices=WebhookEvent.choices),
            min_length=1,
            max_length=len(WebhookEvent.values),
        )

    class CreatedSerializer(WebhookOutputSerializer):
        secret = serializers.CharField(help_text="the HMAC-SHA256 key of X-SocialFlow-Signature")

    @extend_schema(parameters=PAGE_PARAMETERS, responses=page_of(WebhookOutputSerializer, "Webhook"))
    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(webhooks.webhooks_of(owner=request.user), request, view=self)
        return paginator.get_paginated_response(WebhookOutputSerializer(page, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhook = webhooks.webhook_create(owner=request.user, **data.validated_data)
        response = Response(self.CreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # it carries the secret
        return response


class WebhookDetailApi(APIView):
    """DELETE: remove one of your webhooks (its deliveries go with it)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, webhook_id: int):
        webhook = webhooks.webhook_get_for_owner(owner=request.user, webhook_id=webhook_id)
        webhooks.webhook_delete(webhook=webhook)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(APIView):
    """POST: send the webhook a `ping` delivery now; watch its result in the deliveries."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    def post(self, request, webhook_id: int):
        webhook = webhooks.webhook_get_for_owner(owner=request.user, webhook_id=webhook_id)
        delivery = webhooks.webhook_ping(webhook=webhook)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveriesApi(APIView):
    """GET: the webhook's latest 50 deliveries, newest first, with what the receiver answered."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    def get(self, request, webhook_id: int):
        webhook = webhooks.webhook_get_for_owner(owner=request.user, webhook_id=webhook_id)
        deliveries = webhooks.webhook_deliveries(webhook=webhook)
        return Response(WebhookDeliverySerializer(deliveries, many=True).data)


# --- Web Push ---------------------------------------------------------------------------


class PushKeyApi(APIView):
    """The VAPID public key a browser subscribes with (`applicationServerKey`). 404
    `push_disabled` when the site has no key pair (push is off)."""

    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        public_key = serializers.CharField(help_text="base64url, the uncompressed P-256 point")

    @extend_schema(responses=OutputSerializer, extensions={"x-error-statuses": [404]})  # push is off
    def get(self, request):
        return Response(self.OutputSerializer({"public_key": push.push_public_key()}).data)


class PushSubscriptionsApi(APIView):
    """This browser's Web Push subscription: POST the PushSubscription JSON
    (`subscription.toJSON()`) to get a push when a channel you follow goes live; DELETE
    {endpoint} to stop. One subscription serves every channel you follow."""

    permission_classes = [IsAuthenticated]
    throttle_scope = "push"

    class InputSerializer(serializers.Serializer):
        class KeysSerializer(serializers.Serializer):
            p256dh = serializers.CharField(max_length=100, trim_whitespace=False)
            auth = serializers.CharField(max_length=50, trim_whitespace=False)

        endpoint = serializers.CharField(max_length=push.ENDPOINT_MAX_LENGTH, trim_whitespace=False)
        keys = KeysSerializer()
        expirationTime = serializers.IntegerField(  # the browser's name
            required=False, allow_null=True, help_text="ignored"
        )

    class DeleteSerializer(serializers.Serializer):
        endpoint = serializers.CharField(max_length=push.ENDPOINT_MAX_LENGTH, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        endpoint = serializers.CharField()
        created_at = serializers.DateTimeField()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if hasattr(self, request.method.lower()):  # a method it lacks stays 405
            push.push_require_enabled()  # 404 push_disabled before the body is looked at

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 200: OutputSerializer},
        extensions={"x-error-statuses": [404]},  # push is off on this site
    )
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields, keys = data.validated_data, data.validated_data["keys"]
        subscription, created = push.push_subscription_create(
            user=request.user, endpoint=fields["endpoint"], p256dh=keys["p256dh"], auth=keys["auth"]
        )
        return Response(
            self.OutputSerializer(subscription).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=DeleteSerializer, responses={204: None}, extensions={"x-error-statuses": [404]})
    def delete(self, request):
        data = self.DeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        push.push_subscription_delete(user=request.user, endpoint=data.validated_data["endpoint"])
        return Response(status=status.HTTP_204_NO_CONTENT)
