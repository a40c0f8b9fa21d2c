from celery import shared_task

from accounts import services


@shared_task(name="accounts.tasks.sessions_clear_expired_task")
def sessions_clear_expired_task() -> int:
    return services.sessions_clear_expired()


@shared_task(name="accounts.tasks.webhook_deliver_task", bind=True, ignore_result=True, max_retries=None)
def webhook_deliver_task(self, delivery_id: str) -> None:
    """One try of a webhook delivery; the next one, if any, after the service's backoff. The
    try is bounded by WEBHOOK_TIMEOUT_SECONDS, so a receiver that hangs does not hold the worker."""
    from accounts import webhooks

    wait = webhooks.webhook_deliver(delivery_id=delivery_id)
    if wait is not None:
        raise self.retry(countdown=wait)


@shared_task(name="accounts.tasks.webhook_deliveries_sweep_task", ignore_result=True)
def webhook_deliveries_sweep_task() -> int:
    """Re-queue deliveries a lost task left pending, and drop old finished ones."""
    from accounts import webhooks

    webhooks.webhook_deliveries_prune()
    return webhooks.webhook_deliveries_resend_stale()


# Time limits: a last resort against an endpoint that answers a byte at a time (each push
# has its timeout, and a batch hands what is left to a new task after WEB_PUSH_BATCH_SECONDS).
@shared_task(name="accounts.tasks.push_send_task", ignore_result=True, soft_time_limit=120, time_limit=150)
def push_send_task(subscription_ids: list[int], payload: dict) -> int:
    from accounts import push

    return push.push_send_batch(subscription_ids=subscription_ids, payload=payload).sent
