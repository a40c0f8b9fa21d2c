"""Outgoing webhooks: a streamer's URLs told of their channel's events, signed, retried.

Every app emits through `webhooks_emit` (accounts sits below them all): one delivery row per
webhook that wants the event, queued after the commit. A delivery is a JSON POST of
`{id, event, created_at, data}` with the headers

    X-SocialFlow-Event: stream.started
    X-SocialFlow-Delivery: <the delivery's id, the same on every try>
    X-SocialFlow-Signature: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>

A try that gets no 2xx is retried by Celery with exponential backoff
(WEBHOOK_RETRY_BASE_SECONDS x 2^n) until WEBHOOK_MAX_ATTEMPTS; each try's answer is kept and
shown on the dashboard. Targets on private, loopback or link-local addresses are refused at
registration and again at every try, on the address really connected to
(socialflow.lib.outbound), unless WEBHOOKS_ALLOW_PRIVATE_TARGETS.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.errors import AccountError
from accounts.models import User, Webhook, WebhookDelivery, WebhookEvent
from accounts.tasks import webhook_deliver_task
from socialflow.lib import outbound

log = logging.getLogger(__name__)

PING = "ping"
USER_AGENT = "SocialFlow-Webhooks/1.0"


def signature(*, secret: str, body: bytes) -> str:
    """The `X-SocialFlow-Signature` value of `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _body(delivery: WebhookDelivery) -> bytes:
    """The exact bytes sent, the same on every try (the payload is stored, keys sorted)."""
    envelope = {
        "id": str(delivery.pk),
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


# --- Registration ---------------------------------------------------------------------


def _check_target(url: str) -> None:
    """Malformed: 400. Resolving to an address on the inside: 403 (unless
    WEBHOOKS_ALLOW_PRIVATE_TARGETS). A host that does not resolve yet is taken: the
    deliveries say so, and it is looked up again at every try."""
    try:
        outbound.parse(url)
    except outbound.TargetRefused as exc:
        raise AccountError(str(exc), code="webhook_target_refused") from None
    try:
        outbound.resolve(url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS)
    except outbound.Unresolvable:
        return
    except outbound.TargetRefused as exc:
        raise AccountError(str(exc), code="webhook_target_refused", status_code=403) from None


def webhook_create(*, owner: User, url: str, events: list[str]) -> Webhook:
    """Register `url` for `events` of `owner`'s channel, with a new signing secret."""
    url = url.strip()
    chosen = list(dict.fromkeys(events))
    unknown = [event for event in chosen if event not in WebhookEvent.values]
    if unknown:
        raise AccountError(
            f"Unknown event {unknown[0]!r}; the events are {', '.join(WebhookEvent.values)}.",
            code="webhook_unknown_event",
        )
    if not chosen:
        raise AccountError("Choose at least one event.", code="webhook_no_events")
    _check_target(url)
    with transaction.atomic():
        # Counted under the owner's row lock, so two registrations at once cannot pass the cap.
        User.objects.select_for_update().filter(pk=owner.pk).first()
        if Webhook.objects.filter(owner=owner).count() >= settings.WEBHOOKS_PER_USER:
            raise AccountError(
                f"You can register at most {settings.WEBHOOKS_PER_USER} webhooks; delete one first.",
                code="webhook_limit",
                status_code=409,
            )
        webhook = Webhook.objects.create(owner=owner, url=url, events=chosen, secret=secrets.token_hex(32))
        _changed(owner.pk)
    return webhook


def webhook_delete(*, webhook: Webhook) -> None:
    """Deletes it with its deliveries. Its row is locked first, so a delivery being created
    at the same moment (which holds the row FOR NO KEY UPDATE) either lands before and is
    deleted too, or finds the webhook gone: never a foreign-key error (a 500 the fuzzer found)."""
    owner_id = webhook.owner_id
    with transaction.atomic():
        locked = Webhook.objects.select_for_update().filter(pk=webhook.pk).first()
        if locked is not None:
            locked.delete()
    _changed(owner_id)


def webhook_get_for_owner(*, owner: User, webhook_id: int) -> Webhook:
    webhook = Webhook.objects.filter(pk=webhook_id, owner=owner).first()
    if webhook is None:
        raise AccountError("No such webhook.", code="not_found", status_code=404)
    return webhook


def webhooks_of(*, owner: User):
    return Webhook.objects.filter(owner=owner)


def webhook_deliveries(*, webhook: Webhook, limit: int = 50) -> list[WebhookDelivery]:
    return list(webhook.deliveries.order_by("-created_at")[:limit])


# --- Emitting -------------------------------------------------------------------------


def _generation_key(owner_id: int) -> str:
    return f"webhooks:gen:{owner_id}"


def _subscriptions(owner_id: int) -> list[tuple[int, list[str]]]:
    """[(webhook id, events)] of `owner_id`, read on every emit (each chat message), so
    cached in Redis under the owner's generation, which a change bumps after its commit. A
    reader that looked at the database before the change wrote under the old generation,
    which nobody reads again: a webhook just registered hears the very next event. Without
    Redis, the database answers."""
    try:
        generation = cache.get_or_set(_generation_key(owner_id), 0, None)
        key = f"webhooks:of:{owner_id}:{generation}"
        cached = cache.get(key)
    except Exception:  # Redis away
        key, cached = "", None
    if cached is not None:
        return [(pk, events) for pk, events in cached]
    rows = [
        (pk, list(events))
        for pk, events in Webhook.objects.filter(owner_id=owner_id).values_list("id", "events")
    ]
    if key:
        with contextlib.suppress(Exception):
            cache.set(key, rows, 300)  # a bump lost to a Redis outage lasts 5 min at most
    return rows


def _changed(owner_id: int) -> None:
    """Bump the owner's generation now and again after the commit (a reader between the two
    may have cached what was there before)."""

    def bump() -> None:
        with contextlib.suppress(ValueError):  # no generation yet: nothing was cached
            cache.incr(_generation_key(owner_id))

    with contextlib.suppress(Exception):
        bump()
    transaction.on_commit(bump, robust=True)


def _queue(delivery_ids: list[Any]) -> None:
    def send() -> None:
        for pk in delivery_ids:
            webhook_deliver_task.delay(str(pk))

    # robust: a broker that is away does not undo what committed; the sweep sends it later.
    transaction.on_commit(send, robust=True)


def webhooks_emit(*, owner_id: int, event: str, data: dict[str, Any]) -> int:
    """Queue `event` to each of `owner_id`'s webhooks that asked for it; returns how many."""
    wanted = [pk for pk, events in _subscriptions(owner_id) if event in events]
    if not wanted:
        return 0
    with transaction.atomic():
        # Held (FOR NO KEY UPDATE) until the commit: a webhook deleted meanwhile is skipped,
        # never a foreign-key violation at the caller's commit (a go-live, a chat message).
        alive = list(
            Webhook.objects.select_for_update(no_key=True).filter(pk__in=wanted).values_list("pk", flat=True)
        )
        deliveries = WebhookDelivery.objects.bulk_create(
            [WebhookDelivery(webhook_id=pk, event=event, payload=data) for pk in alive]
        )
    _queue([delivery.pk for delivery in deliveries])
    return len(deliveries)


def webhook_ping(*, webhook: Webhook) -> WebhookDelivery:
    """A test delivery (`ping`), whatever events the webhook asked for."""
    with transaction.atomic():
        if not Webhook.objects.select_for_update(no_key=True).filter(pk=webhook.pk).exists():
            raise AccountError("No such webhook.", code="not_found", status_code=404)
        delivery = WebhookDelivery.objects.create(
            webhook=webhook,
            event=PING,
            payload={
                "webhook": webhook.pk,
                "events": webhook.events,
                "message": "A test delivery from SocialFlow.",
            },
        )
    _queue([delivery.pk])
    return delivery


# --- Delivering -----------------------------------------------------------------------


def _backoff(attempts: int) -> float:
    return settings.WEBHOOK_RETRY_BASE_SECONDS * (2 ** max(0, attempts - 1))


def _claim(delivery_id: str) -> WebhookDelivery | None:
    """Take the delivery for one try: pending and due. The claim is a lease (next_attempt_at
    moves past this try's deadline), so a duplicate task finds nothing to do."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS * 3)
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    claimed = WebhookDelivery.objects.filter(
        Q(pk=delivery_id), due, status=WebhookDelivery.Status.PENDING
    ).update(attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=lease)
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("webhook").filter(pk=delivery_id).first()


def webhook_deliver(*, delivery_id: str) -> float | None:
    """One try of a delivery. Returns the seconds to wait before the next try, or None when
    it is over (delivered, failed for good, or not this task's to do)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    webhook = delivery.webhook
    body = _body(delivery)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-SocialFlow-Event": delivery.event,
        "X-SocialFlow-Delivery": str(delivery.pk),
        "X-SocialFlow-Signature": signature(secret=webhook.secret, body=body),
    }
    try:
        target = outbound.resolve(webhook.url, allow_private=settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS)
    except outbound.TargetRefused as exc:
        # Refused now (the name resolves inward since registration): no retry reaches it.
        _finish(delivery, status=WebhookDelivery.Status.FAILED, error=str(exc)[:300])
        log.warning("webhook %s: delivery %s refused: %s", webhook.pk, delivery.pk, exc)
        return None
    answer = outbound.post(target, body=body, headers=headers, timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    fields: dict[str, Any] = {
        "response_code": answer.status,
        "response_body": answer.body[:1024],
        "duration_ms": answer.duration_ms,
        "error": answer.error[:300],
    }
    if answer.status is not None and 200 <= answer.status < 300:
        _finish(delivery, status=WebhookDelivery.Status.DELIVERED, **fields)
        return None
    if not fields["error"]:
        fields["error"] = f"HTTP {answer.status}" + (
            " (redirects are not followed)" if 300 <= answer.status < 400 else ""
        )  # type: ignore[operator]
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        _finish(delivery, status=WebhookDelivery.Status.FAILED, **fields)
        log.info("webhook %s: delivery %s failed after %s tries", webhook.pk, delivery.pk, delivery.attempts)
        return None
    wait = _backoff(delivery.attempts)
    _finish(
        delivery,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=timezone.now() + timedelta(seconds=wait),
        **fields,
    )
    return wait


def _finish(delivery: WebhookDelivery, *, status: str, **fields: Any) -> None:
    if status != WebhookDelivery.Status.PENDING:
        fields["next_attempt_at"] = None
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=status, **fields)


def webhook_deliveries_resend_stale(*, now=None) -> int:
    """Deliveries left pending past their time by a lost task (a broker that was away at the
    commit, a worker killed mid-try): queued again. The claim keeps a live one from running twice."""
    now = now or timezone.now()
    late = now - timedelta(seconds=settings.WEBHOOK_STALE_SECONDS)
    stale = WebhookDelivery.objects.filter(
        Q(next_attempt_at__isnull=True, created_at__lte=late) | Q(next_attempt_at__lte=late),
        status=WebhookDelivery.Status.PENDING,
    ).values_list("pk", flat=True)[:1000]
    ids = list(stale)
    for pk in ids:
        webhook_deliver_task.delay(str(pk))
    return len(ids)


def webhook_deliveries_prune(*, now=None) -> int:
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    deleted, _ = (
        WebhookDelivery.objects.filter(created_at__lt=cutoff)
        .exclude(status=WebhookDelivery.Status.PENDING)
        .delete()
    )
    return deleted
