from celery import shared_task

from accounts import services


@shared_task(name="accounts.tasks.sessions_clear_expired_task")
def sessions_clear_expired_task() -> int:
    return services.sessions_clear_expired()


# Time limits: a last resort against an endpoint that answers a byte at a time (each push
# has its timeout, and a batch hands what is left to a new task after WEB_PUSH_BATCH_SECONDS).
@shared_task(name="accounts.tasks.push_send_task", ignore_result=True, soft_time_limit=120, time_limit=150)
def push_send_task(subscription_ids: list[int], payload: dict) -> int:
    from accounts import push

    return push.push_send_batch(subscription_ids=subscription_ids, payload=payload).sent
