"""One input schema per chat command, used by the socket (chat.consumers) and by REST
(chat.apis) alike, so both paths accept and refuse the same things with the same codes.

Services take typed keyword arguments and trust them; everything a client sends is checked
here first. JSON has types, so the socket and REST get strict ones: "5" is not a number and
"yes" is not a boolean.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from chat.models import MAX_MESSAGE_LENGTH, Reaction

MAX_TIMEOUT_SECONDS = int(timedelta(days=14).total_seconds())
MAX_SLOW_MODE_SECONDS = 3600
MAX_FOLLOW_MIN_MINUTES = 60 * 24 * 90
MAX_BLOCKED_TERMS_LENGTH = 5000
USERNAME_MAX_LENGTH = 30
# Codes clients act on; every other validation failure is `invalid`.
SPECIFIC_CODES = {"too_long", "empty"}


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class CommandInput(serializers.Serializer):
    """A command's input; its errors carry the socket's codes (`invalid` unless a client
    can do something specific about it)."""

    def run_validation(self, data: Any = serializers.empty) -> Any:
        try:
            return super().run_validation(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_recode(exc.detail)) from None


def _recode(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {name: _recode(value) for name, value in detail.items()}
    if isinstance(detail, list):
        return [_recode(value) for value in detail]
    code = detail.code if detail.code in SPECIFIC_CODES else "invalid"
    return ErrorDetail(str(detail), code=code)


class ChatSendInput(CommandInput):
    content = StrictCharField(trim_whitespace=False, allow_blank=True)

    def validate_content(self, value: str) -> str:
        value = value.replace("\x00", "").strip()
        if not value:
            raise serializers.ValidationError("The message is empty.", code="empty")
        if len(value) > MAX_MESSAGE_LENGTH:
            raise serializers.ValidationError(f"At most {MAX_MESSAGE_LENGTH} characters.", code="too_long")
        return value


def _reaction_field(**kwargs: Any) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=Reaction.choices,
        error_messages={"invalid_choice": f"One of {', '.join(Reaction.values)}."},
        **kwargs,
    )


class ReactionSendInput(CommandInput):
    """reaction.send {reaction}."""

    reaction = _reaction_field()


class ReactionPostInput(CommandInput):
    """POST .../reactions/ {type}: the same rule; `type` is the REST body's name for it (on
    the socket, `type` is the frame's)."""

    type = _reaction_field(source="reaction")


class MessageRefInput(CommandInput):
    """chat.delete and chat.pin: which message."""

    id = serializers.IntegerField(
        source="message_id", min_value=1, error_messages={"invalid": "Expected a message id."}
    )


class ChatBanInput(CommandInput):
    username = StrictCharField(max_length=USERNAME_MAX_LENGTH)


class ChatTimeoutInput(ChatBanInput):
    seconds = StrictIntegerField(
        min_value=1,
        max_value=MAX_TIMEOUT_SECONDS,
        default=600,
        error_messages={
            key: "Between 1 second and 14 days." for key in ("invalid", "min_value", "max_value")
        },
    )


def _bounded(maximum: int) -> StrictIntegerField:
    message = f"A whole number from 0 to {maximum}."
    return StrictIntegerField(
        min_value=0,
        max_value=maximum,
        required=False,
        error_messages={key: message for key in ("invalid", "min_value", "max_value")},
    )


class ChatSettingsInput(CommandInput):
    """chat.settings: any of the channel's chat modes; what is left out stays as it is."""

    slow_mode_seconds = _bounded(MAX_SLOW_MODE_SECONDS)
    followers_only = StrictBooleanField(required=False, error_messages={"invalid": "true or false."})
    follow_min_minutes = _bounded(MAX_FOLLOW_MIN_MINUTES)
    emote_only = StrictBooleanField(required=False, error_messages={"invalid": "true or false."})
    blocked_terms = StrictCharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_BLOCKED_TERMS_LENGTH,
        error_messages={"invalid": "Text, one term per line.", "max_length": "Text, one term per line."},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = [name for name in self.initial_data if name not in self.fields and name != "type"]
        if unknown:
            raise serializers.ValidationError(
                {unknown[0]: ErrorDetail("Unknown chat setting.", code="invalid")}
            )
        return attrs


MAX_REPORT_MS = 600_000  # a report covers at most 30 s; a late one (a reconnect) up to 10 min
MAX_DROPPED_FRAMES = 1_000_000


def _report_ms(help_text: str) -> StrictIntegerField:
    return StrictIntegerField(min_value=0, max_value=MAX_REPORT_MS, help_text=help_text)


class PlaybackReportInput(CommandInput):
    """playback.report (and POST .../playback/): what a player saw since its last report.
    Absurd values are refused, never stored."""

    startup_ms = _report_ms("from loading to the first frame played")
    rebuffer_ms = _report_ms("stalled since the last report (not counting the start)")
    played_ms = _report_ms("played since the last report")
    rung = serializers.RegexField(
        r"^(source|auto|\d{3,4}p\d{0,2})$",
        max_length=12,
        help_text='the rung played most: "source", "720p", ... ("auto" when the player cannot tell)',
    )
    dropped_frames = StrictIntegerField(min_value=0, max_value=MAX_DROPPED_FRAMES)
