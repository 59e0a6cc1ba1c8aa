"""An annotator's standing in a project: the quiz before real work, the gold record, pauses.

The one writer of `Standing` rows. The queue asks `gate()` before it hands out anything; the
submission path reports gold answers (`record_gold`), and the quality rules in `annotations.quality`
call `pause()`. Every change is audited. Rules apply to annotators; reviewers and admins who label
are trusted (they adjudicate the annotators).

    (first `next`) ── project has a quiz ──▶ qualifying ── right share ≥ pass mark ──▶ active
                                                         ── below it ─────────────────▶ failed
                   ── no quiz ────────────▶ active ── gold accuracy confidently below the floor,
                                                      or a behaviour guard ──────────▶ paused
    paused | failed ── an admin un-pauses ──▶ active (qualifying again after a failed quiz)
    paused with `paused_until` (a cap) ── that time passes ──▶ active
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from django.db import transaction
from django.utils import timezone
from scipy.stats import binomtest

from accounts.models import Role
from audit import trail
from common.errors import Forbidden
from tasks.models import Assignment, LeaseState, Project, Standing, StandingState


class Gate(StrEnum):
    WORK = "work"  # the normal queue
    QUIZ = "quiz"  # gold items only, with the answer shown after each


class Paused(Forbidden):
    """403: the annotator may not get work now; the body says why and whether it lifts by itself."""


@dataclass(frozen=True)
class GoldResult:
    correct: bool
    quiz: bool  # the answer was part of the qualification quiz
    standing: Standing
    paused: bool  # this answer paused the annotator (accuracy below the floor)
    qualified: bool | None = None  # the quiz ended with this answer: passed (True) or failed (False)


def applies_to(user) -> bool:
    """Quality rules watch annotators; reviewers and admins who label are trusted."""
    return getattr(user, "effective_role", None) == Role.ANNOTATOR


def standing_of(project: Project, user, *, lock: bool = False) -> Standing:
    """The user's standing in the project, created on first use (qualifying when the project has a quiz)."""
    initial = StandingState.QUALIFYING if project.qualification_items else StandingState.ACTIVE
    standing, _ = Standing.objects.get_or_create(project=project, user=user, defaults={"state": initial})
    if lock:
        standing = Standing.objects.select_for_update().get(pk=standing.pk)
    return standing


def gate(project: Project, user, now: datetime | None = None) -> Gate:
    """What the queue may hand the user: normal work or quiz items; raises `Paused` (403) when neither."""
    if not applies_to(user):
        return Gate.WORK
    if (getattr(project, "standing_state", None) == StandingState.ACTIVE
            and getattr(project, "standing_user", None) == user.pk):
        return Gate.WORK  # read with the project (`access.get_project_for_labeling`): nothing more to check
    now = now or timezone.now()
    standing = standing_of(project, user)
    if standing.state == StandingState.PAUSED and standing.paused_until and standing.paused_until <= now:
        with transaction.atomic():
            standing = standing_of(project, user, lock=True)
            if standing.state == StandingState.PAUSED and standing.paused_until and standing.paused_until <= now:
                _set(standing, StandingState.ACTIVE, "annotator.resumed", reason=standing.pause_reason)
    if standing.state == StandingState.PAUSED:
        raise Paused(_pause_body(standing))
    if standing.state == StandingState.FAILED:
        raise Paused({"detail": "You did not pass this project's qualification quiz "
                                f"({standing.quiz_correct} of {standing.quiz_answered} right). "
                                "An admin can let you try again.", "state": standing.state})
    if standing.state == StandingState.QUALIFYING:
        return Gate.QUIZ
    return Gate.WORK


def _pause_body(standing: Standing) -> dict:
    until = standing.paused_until
    detail = (f"You are paused in this project: {standing.pause_reason} "
              + (f"You can go on after {until:%Y-%m-%d %H:%M} UTC." if until else "An admin has been told and "
                 "can let you go on."))
    return {"detail": detail, "state": standing.state, "reason": standing.pause_reason,
            "paused_until": until.isoformat() if until else None}


def quiz_ran_out(project: Project, user) -> Standing:
    """No gold item is left for a qualifying annotator: decide on what they answered (none: let them work)."""
    with transaction.atomic():
        standing = standing_of(project, user, lock=True)
        if standing.state == StandingState.QUALIFYING:
            _finish_quiz(project, standing)
        return standing


def record_gold(project: Project, user, *, correct: bool, now: datetime | None = None) -> GoldResult | None:
    """Count a gold answer: a quiz answer while qualifying, else the continuous record, which pauses the
    annotator once the upper end of its 95% Wilson interval is below the project's floor.

    Call inside the submission's transaction; None for users the rules do not watch."""
    if not applies_to(user):
        return None
    now = now or timezone.now()
    standing = standing_of(project, user, lock=True)
    if standing.state == StandingState.QUALIFYING:
        standing.quiz_answered += 1
        standing.quiz_correct += int(correct)
        qualified = None
        if standing.quiz_answered >= project.qualification_items:
            qualified = _finish_quiz(project, standing)
        else:
            standing.save(update_fields=["quiz_answered", "quiz_correct", "updated_at"])
        return GoldResult(correct, True, standing, paused=False, qualified=qualified)
    standing.gold_answered += 1
    standing.gold_correct += int(correct)
    if correct and passes(standing.gold_correct, standing.gold_answered, project.accuracy_floor):
        standing.last_passed_at = now  # a passed check: what they labeled before it stands if they are paused
    standing.save(update_fields=["gold_answered", "gold_correct", "last_passed_at", "updated_at"])
    paused = False
    if standing.state == StandingState.ACTIVE and below_floor(standing.gold_correct, standing.gold_answered,
                                                               project.accuracy_floor):
        high = accuracy_interval(standing.gold_correct, standing.gold_answered)[1]
        pause(standing, f"gold accuracy {standing.gold_correct}/{standing.gold_answered} is below the "
                        f"project's floor of {project.accuracy_floor:.0%} (95% upper bound {high:.0%}).",
              kind="accuracy")
        paused = True
    return GoldResult(correct, False, standing, paused=paused)


def accuracy_interval(correct: int, answered: int) -> tuple[float, float]:
    """The 95% Wilson score interval of an accuracy (0, 1 with no answers)."""
    if answered == 0:
        return 0.0, 1.0
    ci = binomtest(correct, answered).proportion_ci(confidence_level=0.95, method="wilson")
    return float(ci.low), float(ci.high)


def passes(correct: int, answered: int, floor: float | None) -> bool:
    """Confidently at or above the floor: the interval's lower end is (with no floor, any right answer)."""
    return floor is None or accuracy_interval(correct, answered)[0] >= floor


def below_floor(correct: int, answered: int, floor: float | None) -> bool:
    """Confidently below the floor: even the interval's upper end is under it."""
    return floor is not None and answered > 0 and accuracy_interval(correct, answered)[1] < floor


def _finish_quiz(project: Project, standing: Standing) -> bool:
    answered = standing.quiz_answered
    passed = answered == 0 or standing.quiz_correct / answered >= project.qualification_pass
    _set(standing, StandingState.ACTIVE if passed else StandingState.FAILED,
         "annotator.qualified" if passed else "annotator.failed_quiz",
         correct=standing.quiz_correct, answered=answered, pass_mark=project.qualification_pass)
    return passed


def pause(standing: Standing, reason: str, *, kind: str, until: datetime | None = None, by=None) -> None:
    """Pause the annotator (call holding the standing's lock): no more `next` until un-paused or `until`."""
    now = timezone.now()
    standing.paused_at = now
    standing.paused_until = until
    # Their open leases end now, so others can have those items.
    Assignment.objects.filter(project_id=standing.project_id, user_id=standing.user_id, state=LeaseState.LEASED,
                              expires_at__gt=now).update(expires_at=now)
    standing.pause_reason = reason
    _set(standing, StandingState.PAUSED, "annotator.paused", by=by, reason=reason, kind=kind,
         until=until.isoformat() if until else None)


def unpause(project: Project, user, *, by) -> Standing:
    """An admin lets a paused annotator go on (their gold record starts afresh), or lets one who failed
    the quiz take it again."""
    with transaction.atomic():
        standing = standing_of(project, user, lock=True)
        if standing.state == StandingState.FAILED:
            standing.quiz_answered = standing.quiz_correct = 0
            _set(standing, StandingState.QUALIFYING, "annotator.unpaused", by=by, retake_quiz=True)
        elif standing.state == StandingState.PAUSED:
            standing.gold_answered = standing.gold_correct = 0
            standing.paused_until = None
            _set(standing, StandingState.ACTIVE, "annotator.unpaused", by=by, reason=standing.pause_reason)
        return standing


def _set(standing: Standing, state: str, action: str, *, by=None, **payload) -> None:
    standing.state = state
    standing.save()
    trail.record(action, user=by, project=standing.project_id, annotator=standing.user_id, **payload)
