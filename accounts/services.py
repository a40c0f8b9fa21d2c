"""Writes for accounts: registration, profile edits, follows, bans."""

from __future__ import annotations

import io
import threading
from typing import Any

from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from PIL import Image
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts import selectors, webhooks
from accounts.errors import AccountError
from accounts.models import Follow, Notification, User, WebhookEvent
from socialflow.lib.updates import model_update


def _first_message(error: ValidationError) -> str:
    return error.messages[0] if error.messages else "Invalid value."


def user_register(*, username: str, email: str, password: str) -> User:
    """Create an account with the same rules as the sign-up page (allauth's adapter)."""
    adapter = get_adapter()
    try:
        # Stored lower-case, like the sign-up page does (ACCOUNT_PRESERVE_USERNAME_CASING=False).
        username = adapter.clean_username(username.strip().lower())
    except ValidationError as exc:
        # Taken, or reserved (a page's name): not available, whatever its form (409).
        if exc.code in ("username_taken", "username_blacklisted"):
            raise AccountError(
                f"username: {_first_message(exc)}", code="username_taken", status_code=409
            ) from exc
        raise AccountError(f"username: {_first_message(exc)}", code="invalid_username") from exc
    try:
        email = adapter.clean_email(email.strip())
    except ValidationError as exc:
        raise AccountError(f"email: {_first_message(exc)}", code="invalid_email") from exc
    if (
        EmailAddress.objects.filter(email__iexact=email).exists()
        or User.objects.filter(email__iexact=email).exists()
    ):
        raise AccountError(
            "email: A user is already registered with this e-mail address.",
            code="email_taken",
            status_code=409,
        )
    try:
        password_validation.validate_password(password, User(username=username, email=email))
    except ValidationError as exc:
        raise AccountError(f"password: {' '.join(exc.messages)}", code="invalid_password") from exc

    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
    except IntegrityError as exc:  # lost a race with a concurrent sign-up
        raise AccountError(
            "username: A user with that username already exists.", code="username_taken", status_code=409
        ) from exc
    return user


AVATAR_FORMATS = {"JPEG", "PNG", "GIF", "WEBP"}
# Refuse decompression bombs before decoding: a 16 MP image (a 4K photo and more) decodes to
# about 64 MB; 40 MP cost 160-300 MB each (S-19).
AVATAR_MAX_SOURCE_PIXELS = 16_000_000
AVATAR_SIZE = 512
# At most this many avatars decode at once per process: Daphne's thread pool could otherwise
# decode dozens together.
_decoding = threading.BoundedSemaphore(2)


def avatar_normalize(upload: UploadedFile) -> ContentFile:
    """A clean re-encoded copy of an uploaded avatar, at most 512x512.

    Re-encoding drops metadata (EXIF location) and anything smuggled behind the image;
    the file name comes from the real format, never from the client.
    """
    if upload.size > settings.AVATAR_MAX_BYTES:
        limit_mb = settings.AVATAR_MAX_BYTES / (1024 * 1024)
        raise AccountError(f"avatar: The image is larger than {limit_mb:g} MB.", code="avatar_too_large")
    try:
        upload.seek(0)
        with Image.open(upload) as image:
            if image.format not in AVATAR_FORMATS:
                raise AccountError("avatar: Use a JPEG, PNG, GIF or WebP image.", code="invalid_image")
            if image.width * image.height > AVATAR_MAX_SOURCE_PIXELS:
                raise AccountError("avatar: The image has too many pixels.", code="invalid_image")
            image.seek(0)  # the first frame of an animation
            has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
            if image.format == "JPEG":  # decode at a fraction of the size (JPEG's DCT scaling)
                image.draft("RGB", (AVATAR_SIZE, AVATAR_SIZE))
            with _decoding:
                picture = image.convert("RGBA" if has_alpha else "RGB")
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise AccountError("avatar: The file is not an image we can read.", code="invalid_image") from exc
    picture.thumbnail((AVATAR_SIZE, AVATAR_SIZE))
    out = io.BytesIO()
    if has_alpha:
        picture.save(out, format="PNG", optimize=True)
        suffix = "png"
    else:
        picture.save(out, format="JPEG", quality=88, optimize=True)
        suffix = "jpg"
    return ContentFile(out.getvalue(), name=f"avatar.{suffix}")


PROFILE_FIELDS = ("display_name", "bio", "email_notifications")


def user_update_profile(
    *,
    user: User,
    display_name: str | None = None,
    bio: str | None = None,
    avatar: UploadedFile | None = None,
    remove_avatar: bool = False,
    email_notifications: bool | None = None,
) -> User:
    data = {
        name: value
        for name, value in (
            ("display_name", display_name.strip() if display_name is not None else None),
            ("bio", bio.strip() if bio is not None else None),
            ("email_notifications", email_notifications),
        )
        if value is not None
    }
    _, fields = model_update(instance=user, fields=PROFILE_FIELDS, data=data, save=False)
    try:
        user.full_clean(exclude=["avatar"], validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise AccountError(f"{field}: {messages[0]}", code="invalid") from exc

    old_avatar = user.avatar.name if user.avatar else ""
    if avatar is not None:
        # Checked and re-encoded before anything is written to storage.
        clean = avatar_normalize(avatar)
        user.avatar.save(clean.name or "avatar", clean, save=False)
        fields.append("avatar")
    elif remove_avatar and user.avatar:
        user.avatar = None
        fields.append("avatar")
    if fields:
        user.save(update_fields=fields)
    if "avatar" in fields and old_avatar:
        storage = user.avatar.storage
        transaction.on_commit(lambda: storage.delete(old_avatar))
    return user


def follow_create(*, follower: User, followee: User) -> tuple[Follow, bool]:
    """Follow `followee`; following twice is not an error (returns created=False)."""
    if follower.pk == followee.pk:
        raise AccountError("You can't follow yourself.", code="self_follow", status_code=403)
    if not followee.is_active:
        raise AccountError("This account is suspended.", code="user_suspended", status_code=404)
    # get_or_create re-reads after an IntegrityError, so concurrent follows end in one row.
    with transaction.atomic():
        follow, created = Follow.objects.get_or_create(follower=follower, followee=followee)
        if created:
            webhooks.webhooks_emit(
                owner_id=followee.pk,
                event=WebhookEvent.FOLLOWER_NEW,
                data={
                    "follower": {"username": follower.username, "display_name": follower.name},
                    "followed_at": follow.created_at.isoformat(),
                },
            )
    return follow, created


def follow_delete(*, follower: User, followee: User) -> bool:
    """Unfollow; unfollowing someone you do not follow is not an error."""
    deleted, _ = Follow.objects.filter(follower=follower, followee=followee).delete()
    return bool(deleted)


def user_ban(*, user: User, by: User, reason: str = "") -> None:
    """Suspend an account platform-wide: it can no longer log in, use the API or go live."""
    if user.pk == by.pk:
        raise AccountError("You can't ban yourself.", code="self_ban")
    if (user.is_staff or user.is_superuser) and not by.is_superuser:
        raise AccountError("Only a superuser can ban staff.", code="permission_denied", status_code=403)
    user.is_active = False
    user.banned_at = timezone.now()
    user.ban_reason = (reason or f"Banned by {by.username}.")[:200]
    # No session sweep needed: the auth backend refuses an inactive user's session on the
    # next request, and simplejwt refuses their tokens.
    user.save(update_fields=["is_active", "banned_at", "ban_reason"])


def user_unban(*, user: User, by: User | None = None) -> None:
    """Lift a suspension. Only a superuser may reactivate a staff account (as for banning):
    a moderator could otherwise bring back a superuser that was deactivated (S-18)."""
    if by is not None and (user.is_staff or user.is_superuser) and not by.is_superuser:
        raise AccountError("Only a superuser can unban staff.", code="permission_denied", status_code=403)
    user.is_active = True
    user.banned_at = None
    user.ban_reason = ""
    user.save(update_fields=["is_active", "banned_at", "ban_reason"])


def user_set_go_live_exempt(*, user: User, exempt: bool, by: User | None = None) -> None:
    if by is not None and (user.is_staff or user.is_superuser) and not by.is_superuser:
        raise AccountError(
            "Only a superuser can change a staff account.", code="permission_denied", status_code=403
        )
    user.go_live_exempt = exempt
    user.save(update_fields=["go_live_exempt"])


def sessions_clear_expired() -> int:
    """Expired site sessions, and expired refresh tokens with their blacklist entries (every
    API sign-in and refresh records one)."""
    now = timezone.now()
    deleted, _ = Session.objects.filter(expire_date__lt=now).delete()
    tokens, _ = OutstandingToken.objects.filter(expires_at__lt=now).delete()  # blacklist cascades
    return deleted + tokens


def notifications_notify_followers(*, actor: User, kind: str, message: str, url: str) -> int:
    """One in-app notification per active follower of `actor`; returns how many."""
    follower_ids = list(selectors.user_follower_ids(user=actor).values_list("follower", flat=True))
    Notification.objects.bulk_create(
        [
            Notification(recipient_id=pk, actor=actor, kind=kind, message=message, url=url)
            for pk in follower_ids
        ],
        batch_size=1000,
    )
    return len(follower_ids)


def notifications_email_followers(*, actor: User, template: str, context: dict[str, Any]) -> int:
    """E-mail the followers of `actor` who want e-mail, at their verified primary address;
    returns how many were sent. The text
    comes from templates/emails/<template>.subject.txt and <template>.body.txt."""
    subject = " ".join(render_to_string(f"emails/{template}.subject.txt", context).split())
    body = render_to_string(f"emails/{template}.body.txt", context)
    # Verified addresses only: an address someone typed at sign-up without owning it gets no
    # mail from following channels (S-15).
    recipients = (
        EmailAddress.objects.filter(
            user__in=User.objects.filter(
                pk__in=selectors.user_follower_ids(user=actor), email_notifications=True
            ),
            verified=True,
            primary=True,
        )
        .exclude(email="")
        .values_list("email", flat=True)
    )
    messages = [(subject, body, None, [address]) for address in recipients.iterator()]
    return send_mass_mail(messages, fail_silently=False) if messages else 0


def notifications_mark_read(*, user: User, ids: list[int] | None = None) -> int:
    """Marks `user`'s unread notifications read: those of `ids` (others' ids are ignored),
    or all of them; returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())
