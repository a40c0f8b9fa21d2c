"""Web Push: browsers' subscriptions, and the "went live" pushes sent to them.

A subscription is one browser's PushSubscription (its push service's endpoint and the keys
to encrypt for it); it belongs to the user who was logged in when the browser subscribed.
When a channel goes live, every subscription of its active followers gets a push: encrypted
(aes128gcm) and signed with this site's VAPID key by pywebpush, sent by Celery tasks in
batches. Push is on when WEB_PUSH_VAPID_PUBLIC_KEY and WEB_PUSH_VAPID_PRIVATE_KEY are set.

An endpoint is a URL a user hands us, so sending to it is a request to wherever they chose:
only https on public addresses (checked when it is registered and again before each push),
no redirects followed, a bounded answer read, a timeout (WEB_PUSH_ALLOW_INSECURE_ENDPOINTS
lifts the address rules for tests and development with a local push service).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import re
import time
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import requests
from celery.exceptions import SoftTimeLimitExceeded
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.templatetags.static import static
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from accounts import selectors
from accounts.errors import AccountError
from accounts.models import PushSubscription, User
from accounts.tasks import push_send_task
from socialflow.lib import outbound

log = logging.getLogger(__name__)

ENDPOINT_MAX_LENGTH = 2048
P256DH_BYTES = 65  # an uncompressed P-256 point
AUTH_BYTES = 16
# A push service answers with a few bytes; more is read no further.
# Push services take about 4 KB of payload; these keep a "went live" well inside it.
TITLE_MAX_CHARS = 120
BODY_MAX_CHARS = 240
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def push_public_key() -> str:
    """The VAPID public key browsers subscribe with (`applicationServerKey`); push must be on."""
    push_require_enabled()
    return settings.WEB_PUSH_VAPID_PUBLIC_KEY


def push_require_enabled() -> None:
    if not settings.WEB_PUSH_ENABLED:
        raise AccountError(
            "Browser push notifications are not set up on this site.", code="push_disabled", status_code=404
        )


# --- Checking what a browser hands over -------------------------------------------------


def _decode_key(value: str, *, name: str, length: int) -> bytes:
    if not _BASE64URL.fullmatch(value):
        raise AccountError(f"keys.{name}: Not base64url.", code="invalid_subscription")
    bare = value.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))
    except (binascii.Error, ValueError) as exc:
        raise AccountError(f"keys.{name}: Not base64url.", code="invalid_subscription") from exc
    if len(raw) != length:
        raise AccountError(
            f"keys.{name}: Expected {length} bytes, got {len(raw)}.", code="invalid_subscription"
        )
    return raw


def _check_keys(*, p256dh: str, auth: str) -> None:
    point = _decode_key(p256dh, name="p256dh", length=P256DH_BYTES)
    _decode_key(auth, name="auth", length=AUTH_BYTES)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise AccountError("keys.p256dh: Not a P-256 public key.", code="invalid_subscription") from exc


def _endpoint_parts(endpoint: str) -> tuple[str, int]:
    """The host and port of an endpoint of an allowed form, else AccountError."""
    if len(endpoint) > ENDPOINT_MAX_LENGTH:
        raise AccountError(f"endpoint: At most {ENDPOINT_MAX_LENGTH} characters.", code="invalid_endpoint")
    schemes = ("https", "http") if settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS else ("https",)
    try:
        parts = urlsplit(endpoint)
        port = parts.port
    except ValueError as exc:
        raise AccountError("endpoint: Not a URL.", code="invalid_endpoint") from exc
    if parts.scheme not in schemes or not parts.hostname:
        raise AccountError("endpoint: Must be an https:// URL.", code="invalid_endpoint")
    if parts.username is not None or parts.password is not None or any(c.isspace() for c in endpoint):
        raise AccountError("endpoint: Not a push service URL.", code="invalid_endpoint")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def endpoint_check(endpoint: str) -> None:
    """Refuses (AccountError) an endpoint this site must not send to: not https, or on an
    address that is not public (loopback, private, link-local: this machine and its
    network), unless WEB_PUSH_ALLOW_INSECURE_ENDPOINTS."""
    _endpoint_parts(endpoint)
    if settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS:
        return
    try:
        outbound.resolve(endpoint, allow_private=False)
    except outbound.Unresolvable:
        raise AccountError("endpoint: Its host does not resolve.", code="invalid_endpoint") from None
    except outbound.TargetRefused:
        raise AccountError("endpoint: Not a public address.", code="endpoint_not_public") from None


# --- Subscriptions ------------------------------------------------------------------------


def push_subscription_create(
    *, user: User, endpoint: str, p256dh: str, auth: str
) -> tuple[PushSubscription, bool]:
    """Registers this browser's subscription for `user` (returns created=False when the
    endpoint was known: it is the user's now, with these keys). Beyond
    WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER the user's oldest subscription goes."""
    push_require_enabled()
    _check_keys(p256dh=p256dh, auth=auth)
    endpoint_check(endpoint)
    with transaction.atomic():
        subscription, created = PushSubscription.objects.update_or_create(
            endpoint=endpoint,
            defaults={
                "user": user,
                "p256dh": p256dh,
                "auth": auth,
                "failures": 0,
                "created_at": timezone.now(),
            },
        )
        oldest = PushSubscription.objects.filter(user=user).order_by("-created_at", "-pk")[
            settings.WEB_PUSH_MAX_SUBSCRIPTIONS_PER_USER :
        ]
        PushSubscription.objects.filter(pk__in=list(oldest.values_list("pk", flat=True))).delete()
    return subscription, created


def push_subscription_delete(*, user: User, endpoint: str) -> bool:
    """Forgets `user`'s subscription at `endpoint`; another user's is left alone."""
    push_require_enabled()
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return bool(deleted)


# --- Sending ------------------------------------------------------------------------------


def push_send_to_followers(*, actor: User, title: str, body: str, url: str, tag: str) -> int:
    """Queues a push to every subscription of `actor`'s active followers, in batches of
    WEB_PUSH_BATCH_SIZE, once the transaction commits; returns how many subscriptions."""
    if not settings.WEB_PUSH_ENABLED:
        return 0
    icon = actor.avatar_url or static("img/push-icon.png")
    payload = {
        "title": title[:TITLE_MAX_CHARS],
        "body": body[:BODY_MAX_CHARS],
        "url": url,
        "icon": icon if "://" in icon else f"{settings.SITE_URL}{icon}",
        "tag": tag,
    }
    ids = list(
        PushSubscription.objects.filter(user__in=selectors.user_follower_ids(user=actor))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    size = settings.WEB_PUSH_BATCH_SIZE
    for start in range(0, len(ids), size):
        transaction.on_commit(partial(push_send_task.delay, ids[start : start + size], payload))
    return len(ids)


class _PinnedSession(requests.Session):
    """pywebpush's HTTP, sent through socialflow.lib.outbound to the address that was checked
    (no second lookup that could answer otherwise), without following a redirect, reading
    at most 1 KiB of the answer, within WEB_PUSH_TIMEOUT_SECONDS in all."""

    def __init__(self, target: outbound.Target):
        super().__init__()
        self.target = target

    def request(self, method: str | bytes, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        headers = {str(name): str(value) for name, value in (kwargs.get("headers") or {}).items()}
        body = kwargs.get("data") or b""
        answer = outbound.post(
            self.target,
            body=body if isinstance(body, bytes) else str(body).encode(),
            headers=headers,
            timeout=settings.WEB_PUSH_TIMEOUT_SECONDS,
        )
        if answer.status is None:
            raise requests.ConnectionError(answer.error)
        response = requests.Response()
        response.status_code = answer.status
        response._content = answer.body.encode()
        response.url = url
        return response


@dataclass
class PushBatchResult:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    deferred: int = 0


def _push_failed(subscription: PushSubscription, reason: str) -> None:
    log.info("push to subscription %s failed: %s", subscription.pk, reason)
    PushSubscription.objects.filter(pk=subscription.pk).update(failures=F("failures") + 1)
    PushSubscription.objects.filter(pk=subscription.pk, failures__gte=settings.WEB_PUSH_MAX_FAILURES).delete()


def _push_one(subscription: PushSubscription, data: str, vapid: Vapid) -> str:
    """Sends one push; answers "sent", "failed" or "dropped"."""
    try:
        _endpoint_parts(subscription.endpoint)
    except AccountError:  # registered under rules that no longer hold (an http endpoint)
        subscription.delete()
        return "dropped"
    try:
        # Again at each push: the name may point elsewhere since it was registered.
        target = outbound.resolve(
            subscription.endpoint, allow_private=settings.WEB_PUSH_ALLOW_INSECURE_ENDPOINTS
        )
    except outbound.Unresolvable:
        _push_failed(subscription, "its host does not resolve")
        return "failed"
    except outbound.TargetRefused:
        log.warning("push subscription %s dropped: its endpoint is not public", subscription.pk)
        subscription.delete()
        return "dropped"
    try:
        webpush(
            subscription_info=subscription.as_subscription_info(),
            data=data,
            vapid_private_key=vapid,
            # A new dict each time: pywebpush writes the endpoint's origin into it (`aud`).
            vapid_claims={"sub": settings.WEB_PUSH_CONTACT},
            ttl=settings.WEB_PUSH_TTL_SECONDS,
            headers={"Urgency": "high"},
            timeout=settings.WEB_PUSH_TIMEOUT_SECONDS,
            requests_session=_PinnedSession(target),
        )
    except WebPushException as exc:
        if exc.status_code in (404, 410):  # the browser unsubscribed, or the push service forgot it
            subscription.delete()
            return "dropped"
        _push_failed(subscription, f"HTTP {exc.status_code}" if exc.status_code else exc.message)
        return "failed"
    except (requests.RequestException, ValueError) as exc:  # timeout, refused, bad keys
        _push_failed(subscription, repr(exc))
        return "failed"
    PushSubscription.objects.filter(pk=subscription.pk).update(failures=0, last_success_at=timezone.now())
    return "sent"


def push_send_batch(*, subscription_ids: list[int], payload: dict[str, Any]) -> PushBatchResult:
    """Pushes `payload` (JSON) to those subscriptions. One slow endpoint costs at most its
    timeout; after WEB_PUSH_BATCH_SECONDS the rest goes to a new task, so a batch of
    unresponsive endpoints holds a worker for a bounded time."""
    result = PushBatchResult()
    if not settings.WEB_PUSH_ENABLED or not subscription_ids:
        return result
    vapid = Vapid.from_raw(settings.WEB_PUSH_VAPID_PRIVATE_KEY.encode())
    data = json.dumps(payload, separators=(",", ":"))
    subscriptions = list(PushSubscription.objects.filter(pk__in=subscription_ids).order_by("pk"))
    started = time.monotonic()
    for index, subscription in enumerate(subscriptions):
        if time.monotonic() - started > settings.WEB_PUSH_BATCH_SECONDS:
            rest = [later.pk for later in subscriptions[index:]]
            push_send_task.delay(rest, payload)
            result.deferred = len(rest)
            break
        try:
            outcome = _push_one(subscription, data, vapid)
        except SoftTimeLimitExceeded:  # Celery's last resort: an endpoint that dribbles
            _push_failed(subscription, "the task ran out of time")
            rest = [later.pk for later in subscriptions[index + 1 :]]
            if rest:
                push_send_task.delay(rest, payload)
            result.failed += 1
            result.deferred = len(rest)
            break
        setattr(result, outcome, getattr(result, outcome) + 1)
    return result
