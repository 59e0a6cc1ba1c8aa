"""The decisions' periodic job: deadlines, missed answers, announcements to retry."""
from __future__ import annotations

from celery import shared_task

from decisions import services


@shared_task(name="decisions.sweep")
def sweep() -> dict[str, int]:
    return services.sweep()
