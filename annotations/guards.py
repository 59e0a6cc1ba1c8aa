"""Behaviour guards: server-side rules on how an annotator works, checked after each submission.

Per project (null: off), judged on the annotator's own recent annotations in the project:
- `min_seconds_per_item`: the median time between their last eleven submissions (ten gaps; gaps of a
  break, 30 minutes or more, left out) is below it — faster than anyone reads an item.
- `streak_length` + `streak_max_share`: among their last `streak_length` labels, one label takes more
  than the share — the same key pressed over and over (classification).
- `session_cap`: items in the current session (a session ends after 30 minutes without a submission);
  reaching it pauses them until 30 minutes after their last submission.
- `daily_cap`: items since midnight UTC; reaching it pauses them until the next midnight.

A breach of the first two pauses the annotator as a low gold accuracy does (`tasks.standing.pause`)
and re-queues their labels since their last right gold answer; a cap pauses until a set time, keeps
their labels, and lifts by itself. Reviewers and admins are not watched.
"""
from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from annotations.models import Annotation
from annotations.quality import requeue_since_last_check
from tasks import standing
from tasks.models import Project, StandingState, TaskType

SESSION_GAP = timedelta(minutes=30)
SPEED_WINDOW = 11  # submissions: ten gaps


@dataclass(frozen=True)
class Breach:
    reason: str
    until: datetime | None = None  # a cap lifts by itself; a quality breach waits for an admin

    @property
    def requeues(self) -> bool:
        return self.until is None


def watched(project: Project) -> bool:
    return any(v is not None for v in (project.min_seconds_per_item, project.streak_length,
                                       project.session_cap, project.daily_cap))


def check(project: Project, user, now: datetime) -> Breach | None:
    """After the user's submission: pause them if they breached a guard. Call in the submission's transaction."""
    if not watched(project) or not standing.applies_to(user):
        return None
    breach = find_breach(project, user, now)
    if breach is None:
        return None
    s = standing.standing_of(project, user, lock=True)
    if s.state != StandingState.ACTIVE:
        return None
    standing.pause(s, breach.reason, kind="guard" if breach.requeues else "cap", until=breach.until)
    if breach.requeues:
        requeue_since_last_check(project, user, since=s.last_passed_at)
    return breach


def find_breach(project: Project, user, now: datetime) -> Breach | None:
    """The first guard the user's recent work breaches, or None."""
    mine = Annotation.objects.filter(project=project, user=user, skipped=False).order_by("-created_at")
    times = list(mine.values_list("created_at", flat=True)[:max(SPEED_WINDOW, project.session_cap or 0)])
    if project.daily_cap is not None:
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = Annotation.objects.filter(project=project, user=user, skipped=False, created_at__gte=midnight).count()
        if today >= project.daily_cap:
            return Breach(f"the daily cap of {project.daily_cap} items is reached.", until=midnight + timedelta(days=1))
    if project.session_cap is not None:
        in_session = session_length(times)
        if in_session >= project.session_cap:
            return Breach(f"the session cap of {project.session_cap} items is reached; take a break.",
                          until=times[0] + SESSION_GAP)
    if project.min_seconds_per_item is not None and len(times) >= SPEED_WINDOW:
        gaps = [(a - b).total_seconds() for a, b in zip(times, times[1:SPEED_WINDOW])]
        working = [g for g in gaps if g < SESSION_GAP.total_seconds()]
        if len(working) >= SPEED_WINDOW - 1 and statistics.median(working) < project.min_seconds_per_item:
            return Breach(f"items were answered in {statistics.median(working):.1f} s on median, under the "
                          f"project's minimum of {project.min_seconds_per_item:g} s.")
    if project.streak_length and project.streak_max_share is not None and project.task_type == TaskType.CLASSIFICATION:
        labels = [v.get("label") for v in mine.values_list("value", flat=True)[:project.streak_length]
                  if isinstance(v, dict)]
        if len(labels) >= project.streak_length:
            label, count = Counter(labels).most_common(1)[0]
            if count / len(labels) > project.streak_max_share:
                return Breach(f"{count} of the last {len(labels)} labels were {label!r}, more than the "
                              f"project's {project.streak_max_share:.0%}.")
    return None


def session_length(times_newest_first: list[datetime]) -> int:
    """How many of these submissions belong to the current session (no 30-minute gap in between)."""
    n = 0
    for i, t in enumerate(times_newest_first):
        if i and times_newest_first[i - 1] - t >= SESSION_GAP:
            break
        n += 1
    return n
