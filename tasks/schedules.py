"""How an admin writes a project's retraining timer, and its check.

An admin writes it as "every 6 hours" (seconds, minutes, hours or days) or as a cron line
"0 3 * * *" (minute hour day-of-month month day-of-week).
"""
from __future__ import annotations

import re

from celery.schedules import crontab

_EVERY = re.compile(r"^every\s+(\d+)\s+(second|minute|hour|day)s?$", re.IGNORECASE)
# django-celery-beat's IntervalSchedule periods.
_PERIODS = {"second": "seconds", "minute": "minutes", "hour": "hours", "day": "days"}


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
