"""Projects, items (labeling tasks), leases and jobs."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from common.db_functions import TransactionStart
from tasks.lifecycle import HUMAN_SOURCES, LABELABLE, Reason, Source, Status


class TaskType(models.TextChoices):
    CLASSIFICATION = "classification"
    MULTI_LABEL = "multi_label"
    SPANS = "spans"
    BOXES = "boxes"
    PAIRWISE = "pairwise"
    RANKING = "ranking"


class Strategy(models.TextChoices):
    LEAST_CONFIDENCE = "least_confidence"
    MARGIN = "margin"
    ENTROPY = "entropy"
    RANDOM = "random"
    SEQUENTIAL = "sequential"


class ProjectQuerySet(models.QuerySet):
    def visible_to(self, user) -> ProjectQuerySet:
        """Projects the user may read: all for admins, else those they are a member of."""
        if user.is_admin:
            return self
        return self.filter(id__in=Membership.objects.filter(user=user).values("project_id"))


class Project(models.Model):
    name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=16, choices=TaskType.choices)
    labels = models.JSONField(default=list)
    # A colour per label ({"cat": "#e6194b"}); labels without one take the palette's colour by position.
    label_colors = models.JSONField(default=dict, blank=True)
    instructions = models.TextField(blank=True, default="")
    overlap = models.PositiveSmallIntegerField(default=1)
    auto_accept_threshold = models.FloatField(null=True, blank=True)
    escalation_threshold = models.FloatField(null=True, blank=True)
    escalated_overlap = models.PositiveSmallIntegerField(null=True, blank=True)
    audit_rate = models.FloatField(default=0.05)
    # Spans and boxes of different annotators match when their IoU is at least this (consensus).
    consensus_iou = models.FloatField(default=0.5)
    # Which rule sets a classification item's consensus: majority vote, or Dawid–Skene (annotations.truth).
    consensus_method = models.CharField(max_length=16, choices=[("majority", "majority vote"),
                                                                ("dawid_skene", "Dawid–Skene")],
                                        default="majority")
    strategy = models.CharField(max_length=20, choices=Strategy.choices, default=Strategy.LEAST_CONFIDENCE)
    retrain_every = models.PositiveIntegerField(null=True, blank=True)
    # When to retrain on a timer: "every 6 hours", "every 30 minutes", or a cron line "0 3 * * *";
    # empty = never. Kept in django-celery-beat's tables (models_registry.retrain_schedule).
    retrain_schedule = models.CharField(max_length=100, blank=True, default="")
    # A new model version replaces the active one only if its held-out accuracy is at most this much lower.
    promotion_margin = models.FloatField(default=0.01)
    lease_seconds = models.PositiveIntegerField(default=600)
    # Share of `next` calls that hand out a gold (honeypot) item the annotator has not had yet.
    gold_rate = models.FloatField(default=0.1)
    # Where predictions come from: the built-in models, or a team's own model over HTTP.
    model_backend = models.CharField(max_length=16, choices=[("builtin", "built-in"), ("http", "HTTP endpoint")],
                                     default="builtin")
    model_endpoint = models.URLField(max_length=500, blank=True, default="")
    model_timeout = models.FloatField(default=30.0)
    # Rubric questions answered besides the main label (ratings, yes/no flags, choices, free text);
    # validated by `tasks.values`.
    questions = models.JSONField(default=list, blank=True)
    # Items whose ratings of a question spread more than this (max - min) go to review (low_agreement).
    question_spread = models.FloatField(null=True, blank=True)
    # --- Annotator quality (tasks.standing, annotations.quality) ---
    # New annotators first answer this many gold items as a quiz, seeing the right answer after each,
    # and get real work once they got `qualification_pass` of them right (0: no quiz).
    qualification_items = models.PositiveSmallIntegerField(default=0)
    qualification_pass = models.FloatField(default=0.8)
    # An annotator is paused once the upper end of the 95% Wilson interval of their gold accuracy falls
    # below this: confidently worse than the floor, not merely unlucky (null: never).
    accuracy_floor = models.FloatField(null=True, blank=True)
    # Behaviour guards (null: off); a breach pauses the annotator. Seconds per item: the median of
    # their last ten items, from lease to submission, measured by the server.
    min_seconds_per_item = models.FloatField(null=True, blank=True)
    # Among an annotator's last `streak_length` labels, no one label may take more than this share.
    streak_length = models.PositiveSmallIntegerField(null=True, blank=True)
    streak_max_share = models.FloatField(null=True, blank=True)
    # Items per session (a session ends after 30 minutes without a submission) and per calendar day
    # (UTC); a cap pauses until the next session or day.
    session_cap = models.PositiveIntegerField(null=True, blank=True)
    daily_cap = models.PositiveIntegerField(null=True, blank=True)
    # "fixed": every item gets `overlap` annotations. "adaptive" (classification): an item stops
    # collecting once the Dawid–Skene posterior of its leading label reaches `posterior_target`, and
    # asks for one more annotation at a time, up to `max_overlap`, while it does not.
    overlap_mode = models.CharField(max_length=8, choices=[("fixed", "fixed"), ("adaptive", "adaptive")],
                                    default="fixed")
    posterior_target = models.FloatField(default=0.95)
    max_overlap = models.PositiveSmallIntegerField(default=5)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_escalated_overlap(self) -> int:
        return self.escalated_overlap if self.escalated_overlap is not None else self.overlap + 1


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id}"


# An item's statuses, final sources and review reasons are the lifecycle's (`tasks.lifecycle`); these are
# their choices for the database columns.
ItemStatus = models.TextChoices("ItemStatus", [(s.name, s.value) for s in Status])
FinalSource = models.TextChoices("FinalSource", [(s.name, s.value) for s in Source])
ReviewReason = models.TextChoices("ReviewReason", [(s.name, s.value) for s in Reason])


class ItemQuerySet(models.QuerySet):
    def visible_to(self, user) -> ItemQuerySet:
        """Items of the projects the user may read: all for admins, else their projects'."""
        if user.is_admin:
            return self
        return self.filter(project__in=Membership.objects.filter(user=user).values("project_id"))

    def labelable(self) -> ItemQuerySet:
        """Items the labeling queue may hand out (waiting for annotations)."""
        return self.filter(status__in=LABELABLE)

    def in_review(self) -> ItemQuerySet:
        return self.filter(status=Status.IN_REVIEW)

    def finished(self) -> ItemQuerySet:
        """Items with a final value that stands: done, or accepted from the model."""
        return self.filter(status__in=[Status.DONE, Status.AUTO_ACCEPTED])

    def human_final(self) -> ItemQuerySet:
        """Items whose final value people gave (gold, consensus, reviewer)."""
        return self.filter(final_source__in=HUMAN_SOURCES)


class Item(models.Model):
    """One unit of work. Queue order: `priority` descending, then import order (`id`)."""

    # No index of its own: the composite indexes below all start with the project.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items", db_index=False)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    data = models.JSONField()
    # The database defaults (db_default) are a new item's: an import's COPY of items that bring only their data
    # leaves those columns out (dataio.importing, `_NARROW_COLUMNS`).
    status = models.CharField(max_length=16, choices=ItemStatus.choices, default=ItemStatus.NEW,
                              db_default=ItemStatus.NEW.value)
    # Higher is served first; 0 for everything until a model scores the item.
    priority = models.FloatField(default=0.0, db_default=0.0)
    # Annotations this item needs (the project's overlap, or escalated_overlap).
    needed = models.PositiveSmallIntegerField(default=1)
    # Submitted, non-skipped annotations; kept on the row so the queue needs no count.
    annotation_count = models.PositiveIntegerField(default=0, db_default=0)
    gold = models.JSONField(null=True, blank=True)
    final_value = models.JSONField(null=True, blank=True)
    final_source = models.CharField(max_length=16, choices=FinalSource.choices, blank=True, default="", db_default="")
    final_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    final_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=16, choices=ReviewReason.choices, blank=True, default="",
                                     db_default="")
    # The active model's prediction, as plain data: {"model_version", "value", "confidence", "scores"}.
    prediction = models.JSONField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_default=TransactionStart())
    updated_at = models.DateTimeField(auto_now=True, db_default=TransactionStart())
    # Somebody waits for this item's final value (a live decision): the listeners of a human final value look
    # for what waits only where this is set (`signals.human_final_label`), not after every submission. A
    # database default too, so that an import's COPY may leave it out.
    awaited = models.BooleanField(default=False, db_default=False)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            # Serves `next`: the labelable items of a project in queue order.
            models.Index(
                "project",
                models.F("priority").desc(),
                "id",
                name="item_queue",
                condition=Q(status__in=["new", "queued"]),
            ),
            # The items past the queue (in review, done, accepted), by status: the review queue, the done ones.
            # The labelable ones are `item_queue`'s; leaving them out spares every imported and every
            # pre-labeled item an insert here (an import's COPY: 14% less of PostgreSQL's time).
            models.Index(fields=["project", "status", "id"], name="item_past_queue",
                         condition=~Q(status__in=["new", "queued"])),
            models.Index(fields=["project", "id"], name="item_gold", condition=Q(gold__isnull=False)),
            # Reviewers' decisions by user; most items have none, and inserts skip this index.
            models.Index(fields=["final_by"], name="item_final_by", condition=Q(final_by__isnull=False)),
            # Counts the human final labels since the last training (retrain_every).
            models.Index(fields=["project", "final_at"], name="item_human_final",
                         condition=Q(final_source__in=["gold", "consensus", "reviewer"])),
        ]
        constraints = [
            # NULL (no external id) never collides.
            models.UniqueConstraint(fields=["project", "external_id"], name="item_external_id_unique")
        ]

    def __str__(self) -> str:
        return f"item {self.pk}"


class SearchVectorField(models.TextField):
    """A PostgreSQL tsvector (plain text elsewhere, where nothing fills it); written by SQL only."""

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else "text"


class ItemText(models.Model):
    """The full-text search vector of an item's `data.text`, beside the item rather than in its row.

    Built off the write path (see `tasks.text_search`): an import's items get theirs from a job after
    the import commits, so neither the import's COPY nor any later UPDATE of the item (pre-labeling,
    routing, labeling) pays for parsing the text. PostgreSQL only; SQLite searches by substring.
    """

    item_id = models.BigIntegerField(primary_key=True)  # a cascading foreign key on PostgreSQL (migration 0015)
    project_id = models.BigIntegerField()
    vector = SearchVectorField()


class ItemTextPending(models.Model):
    """Ids [first_id, last_id] of a project whose items may have no `ItemText` yet (imported, not built)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    first_id = models.BigIntegerField()
    last_id = models.BigIntegerField()


class StandingState(models.TextChoices):
    QUALIFYING = "qualifying"  # answering the project's quiz of gold items
    ACTIVE = "active"
    PAUSED = "paused"  # no more `next` until an admin un-pauses (or `paused_until` passes)
    FAILED = "failed"  # did not pass the quiz; an admin may let them try again


class Standing(models.Model):
    """One annotator's standing in one project: quiz progress, gold record, and whether they may work.

    Written by `tasks.standing` only, under this row's lock; the queue reads it before handing out work.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="standings")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="standings")
    state = models.CharField(max_length=10, choices=StandingState.choices, default=StandingState.ACTIVE)
    quiz_answered = models.PositiveIntegerField(default=0)
    quiz_correct = models.PositiveIntegerField(default=0)
    # Gold items answered outside the quiz since the last un-pause, and how many were right.
    gold_answered = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    # The last passed check: a right gold answer after which their accuracy was confidently at or above the
    # floor (the 95% interval's lower end). If they are paused, their labels after it are re-queued; all of
    # them if they never passed one.
    last_passed_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_until = models.DateTimeField(null=True, blank=True)  # caps lift by themselves
    pause_reason = models.CharField(max_length=300, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="standing_unique")]
        indexes = [models.Index(fields=["project", "state"], name="standing_state")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id}: {self.state}"


class LeaseState(models.TextChoices):
    LEASED = "leased"
    SUBMITTED = "submitted"
    SKIPPED = "skipped"


class Assignment(models.Model):
    """An item handed to a user: a lease until `expires_at`, then submitted or skipped.

    One row per (item, user) and never deleted once submitted or skipped, so the queue can
    tell in one index probe whether a user already had an item.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # No index of its own: `assignment_unique` starts with the item (one insert less for every lease).
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=10, choices=LeaseState.choices, default=LeaseState.LEASED)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "user"], name="assignment_unique")]
        indexes = [
            # The caller's open leases in a project (resume, prefetch).
            models.Index(
                fields=["user", "project", "expires_at"],
                name="assignment_open",
                condition=Q(state="leased"),
            ),
            # Leases that still hold a place on an item.
            models.Index(fields=["item", "expires_at"], name="assignment_item_lease", condition=Q(state="leased")),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} -> {self.user_id} ({self.state})"


class JobState(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(models.Model):
    """Long work run by a Celery worker; its row is the source of truth for progress."""

    # One of the kinds the apps register (tasks.jobs.register_kind).
    kind = models.CharField(max_length=16)
    project = models.ForeignKey(Project, null=True, on_delete=models.CASCADE, related_name="jobs")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(max_length=10, choices=JobState.choices, default=JobState.PENDING)
    params = models.JSONField(default=dict)
    progress = models.PositiveBigIntegerField(default=0)
    total = models.PositiveBigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="job_state"),
            models.Index(fields=["project", "kind", "state"], name="job_project_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} job {self.pk} ({self.state})"


class ConfusionFit(models.Model):
    """The latest Dawid–Skene fit of a project's annotators, as adaptive overlap reads it at each submission.

    Written by `annotations.adaptive` (a refit job) only; `data` is plain JSON: {"labels", "prior": {label: p},
    "annotators": {user id: {"accuracy", "counts": {true label: items}, "confusion": {true: {said: p}}}}}.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="confusion_fit")
    # The newest annotation id the fit saw: annotations after it make the fit stale.
    fitted_through = models.BigIntegerField(default=0)
    annotations = models.PositiveIntegerField(default=0)  # how many (overlapping) labels it was fitted on
    data = models.JSONField(default=dict)
    fitted_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"confusion fit of project {self.project_id} through annotation {self.fitted_through}"
