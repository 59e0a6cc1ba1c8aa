"""Jobs of the webhooks app: one attempt at a delivery, and the sweep of overdue ones."""
from __future__ import annotations

from celery import shared_task

from webhooks import services


@shared_task(name="webhooks.deliver")
def deliver(delivery_id: int) -> None:
    services.attempt(delivery_id)


@shared_task(name="webhooks.sweep")
def sweep() -> int:
    return services.sweep()
