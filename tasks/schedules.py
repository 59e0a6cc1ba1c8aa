"""A project's retraining timer, kept in django-celery-beat's tables so beat picks it up.

An admin writes it as "every 6 hours" (seconds, minutes, hours or days) or as a cron line
"0 3 * * *" (minute hour day-of-month month day-of-week).
"""
from __future__ import annotations

import json
import re

from celery.schedules import crontab
from django.conf import settings
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from tasks.models import Project

RETRAIN_TASK = "models_registry.scheduled_retrain"
_EVERY = re.compile(r"^every\s+(\d+)\s+(second|minute|hour|day)s?$", re.IGNORECASE)
_PERIODS = {"second": IntervalSchedule.SECONDS, "minute": IntervalSchedule.MINUTES,
            "hour": IntervalSchedule.HOURS, "day": IntervalSchedule.DAYS}


def task_name(project_id: int) -> str:
    return f"retrain project {project_id}"


def parse(spec: str) -> dict:
    """The schedule's fields, or ValueError with a message for the admin."""
    spec = " ".join(spec.split())
    every = _EVERY.match(spec)
    if every:
        n = int(every.group(1))
        if n < 1:
            raise ValueError("The interval must be at least 1.")
        return {"interval": {"every": n, "period": _PERIODS[every.group(2).lower()]}}
    fields = spec.split(" ")
    if len(fields) != 5:
        raise ValueError('Write "every N minutes" (or seconds, hours, days) or a cron line of five fields, '
                         'such as "0 3 * * *".')
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    try:
        crontab(minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
                day_of_week=day_of_week)
    except Exception as exc:  # celery raises ValueError or its own ParseException
        raise ValueError(f"Not a valid cron line: {exc}") from None
    return {"crontab": {"minute": minute, "hour": hour, "day_of_month": day_of_month,
                        "month_of_year": month_of_year, "day_of_week": day_of_week}}


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
