"""A project's retraining timer, kept in django-celery-beat's tables so beat picks it up."""
from __future__ import annotations

import json

from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from tasks.models import Project
from tasks.schedules import parse

RETRAIN_TASK = "models_registry.scheduled_retrain"


def task_name(project_id: int) -> str:
    return f"retrain project {project_id}"


def sync(project: Project) -> None:
    """Make beat's table match the project's `retrain_schedule` (inside the caller's transaction)."""
    name = task_name(project.pk)
    if not project.retrain_schedule:
        PeriodicTask.objects.filter(name=name).delete()
        return
    fields = parse(project.retrain_schedule)
    schedule: dict = {"interval": None, "crontab": None}
    if "interval" in fields:
        schedule["interval"], _ = IntervalSchedule.objects.get_or_create(**fields["interval"])
    else:
        schedule["crontab"], _ = CrontabSchedule.objects.get_or_create(**fields["crontab"],
                                                                       timezone=settings.TIME_ZONE)
    PeriodicTask.objects.update_or_create(name=name, defaults={
        "task": RETRAIN_TASK, "args": json.dumps([project.pk]), "enabled": True, **schedule})
