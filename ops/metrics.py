"""What Prometheus scrapes at `/metrics`: the platform's state, read from the database at scrape time.

The request metrics (latency, counts by view and status) are django-prometheus's middleware's. The
families here are computed from the database when Prometheus asks, so every web process (and the
Celery workers, which write the rows) agrees on them: nothing is counted in one process's memory.

Each scrape runs a fixed handful of set-based queries, whatever the number of projects:

- items by project, status, `needed` and review reason: one pass over the item table, from which come
  the items by status, the queue depth by band and the review depth by reason (the one query whose cost
  grows with the data: about 0.3 s at a million items on two cores, see docs/metrics.md);
- open leases by project (the partial index of leased assignments);
- annotations of the last hour by project (a range of primary keys: see `first_id_since`);
- jobs by kind and state, with their duration histogram (the job table, which holds one row per
  import, training, pre-labeling, export, ... and stays small).

Queue bands (`hitl_queue_depth{band}`), the work still waiting for people:
- `normal`: labelable (new or queued) items that need the project's usual overlap;
- `escalated`: labelable items that need more annotations than the project's overlap (the model was
  unsure, `escalated_overlap`; or adaptive overlap asked for more);
- `review`: items in review (disagreement, escalated dispute, audit sample, low agreement: see
  `hitl_review_depth{reason}`).
Auto-accepted and done items wait for nobody; `hitl_items{status}` counts them.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db import DatabaseError
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from annotations.models import Annotation
from tasks import jobs
from tasks.lifecycle import LABELABLE, Reason, Status
from tasks.models import Assignment, Item, Job, JobState, LeaseState, Project

log = logging.getLogger(__name__)

BANDS = ("normal", "escalated", "review")
# Upper bounds (seconds) of the job duration buckets: a second to four hours.
JOB_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0)
FINISHED = (JobState.SUCCEEDED, JobState.FAILED)


def first_id_since(model, cutoff: datetime) -> int | None:
    """The smallest primary key of the rows `created_at >= cutoff` (None if there are none).

    Rows get their id and their `created_at` at insert, so both grow together (up to the moments two
    transactions overlap). A binary search on the primary key finds the first recent row in ~log2(rows)
    one-row lookups, where a filter on `created_at`, which has no index of its own, would read the table.
    """
    bounds = model.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    lo, hi = bounds["lo"], bounds["hi"]
    if hi is None:
        return None
    newest = model.objects.filter(pk=hi).values_list("created_at", flat=True).first()
    if newest is None or newest < cutoff:
        return None
    # Invariant: the row at or after `hi` is recent; everything before `lo` is older than the cutoff.
    while lo < hi:
        mid = (lo + hi) // 2
        row = model.objects.filter(pk__gte=mid).order_by("pk").values_list("pk", "created_at").first()
        if row is None:  # cannot happen (hi exists); stay safe
            break
        pk, created = row
        if created >= cutoff:
            hi = pk
        else:
            lo = pk + 1
    return hi


class HitlCollector(Collector):
    """The platform's state as Prometheus metric families, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        ok = GaugeMetricFamily("hitl_metrics_database_ok",
                               "1 if the database answered the metrics queries of this scrape, else 0")
        try:
            families = list(self._families())
        except DatabaseError as exc:
            log.warning("metrics: the database is unavailable (%s)", type(exc).__name__)
            families = []
            ok.add_metric([], 0)
        else:
            ok.add_metric([], 1)
        yield from families
        yield ok
        took = GaugeMetricFamily("hitl_metrics_collect_seconds", "Time this scrape spent reading the database")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _families(self) -> Iterator[Metric]:
        now = timezone.now()
        projects = {pk: (name, overlap) for pk, name, overlap in Project.objects.values_list("id", "name", "overlap")}
        ids = sorted(projects)

        info = GaugeMetricFamily("hitl_project_info", "A project's name by its id (always 1)",
                                 labels=["project", "name"])
        for pk in ids:
            info.add_metric([str(pk), projects[pk][0]], 1)
        yield info

        # One pass over the items gives all three families: by status; what waits for people (labelable items
        # by how many annotations they need, in-review items by reason). The groups are few (project x status x
        # needed x reason), the scan is the cost: one read of the item table, whatever the number of projects.
        by_status: dict[tuple[int, str], int] = defaultdict(int)
        depth: dict[tuple[int, str], int] = defaultdict(int)
        review: dict[tuple[int, str], int] = defaultdict(int)
        groups = Item.objects.order_by().values("project_id", "status", "needed", "review_reason")
        for row in groups.annotate(n=Count("*")):
            pk, status, n = row["project_id"], row["status"], row["n"]
            by_status[pk, status] += n
            if status == Status.IN_REVIEW:
                depth[pk, "review"] += n
                review[pk, row["review_reason"] or "unknown"] += n
            elif status in LABELABLE:
                overlap = projects.get(pk, ("", 1))[1]
                depth[pk, "escalated" if row["needed"] > overlap else "normal"] += n
        items = GaugeMetricFamily("hitl_items", "Items by project and status", labels=["project", "status"])
        for pk in ids:
            for status in Status:
                items.add_metric([str(pk), status.value], by_status.get((pk, status.value), 0))
        yield items

        queue = GaugeMetricFamily(
            "hitl_queue_depth",
            "Items waiting for people, by project and band: normal and escalated (labelable items needing the "
            "project's overlap, or more), review (in review)", labels=["project", "band"])
        for pk in ids:
            for band in BANDS:
                queue.add_metric([str(pk), band], depth.get((pk, band), 0))
        yield queue
        reasons = GaugeMetricFamily("hitl_review_depth", "Items in review, by project and why they are there",
                                    labels=["project", "reason"])
        known = [r.value for r in Reason]
        for pk in ids:
            for reason in known:
                reasons.add_metric([str(pk), reason], review.get((pk, reason), 0))
        for (pk, reason), n in sorted(review.items()):
            if reason not in known:
                reasons.add_metric([str(pk), reason], n)
        yield reasons

        leases = GaugeMetricFamily("hitl_open_leases", "Items handed to an annotator whose lease has not expired",
                                   labels=["project"])
        open_leases = dict(Assignment.objects.order_by().filter(state=LeaseState.LEASED, expires_at__gt=now)
                           .values("project_id").annotate(n=Count("*")).values_list("project_id", "n"))
        for pk in ids:
            leases.add_metric([str(pk)], open_leases.get(pk, 0))
        yield leases

        # Labels per hour: the annotations (skips included, separately) of the last hour.
        recent: dict[tuple[int, bool], int] = {}
        first = first_id_since(Annotation, now - timedelta(hours=1))
        if first is not None:
            rows = (Annotation.objects.order_by().filter(pk__gte=first, created_at__gte=now - timedelta(hours=1))
                    .values("project_id", "skipped").annotate(n=Count("*")))
            recent = {(row["project_id"], row["skipped"]): row["n"] for row in rows}
        hour = GaugeMetricFamily("hitl_annotations_last_hour", "Annotations submitted in the last hour (not skips)",
                                 labels=["project"])
        skips = GaugeMetricFamily("hitl_skips_last_hour", "Items skipped in the last hour", labels=["project"])
        for pk in ids:
            hour.add_metric([str(pk)], recent.get((pk, False), 0))
            skips.add_metric([str(pk)], recent.get((pk, True), 0))
        yield hour
        yield skips

        yield from self._jobs(now)

    def _jobs(self, now: datetime) -> Iterator[Metric]:
        kinds = set(jobs.kinds())
        counts: dict[tuple[str, str], int] = {}
        for row in Job.objects.order_by().values("kind", "state").annotate(n=Count("*")):
            counts[row["kind"], row["state"]] = row["n"]
            kinds.add(row["kind"])
        kinds_sorted = sorted(kinds)
        by_state = GaugeMetricFamily("hitl_jobs", "Jobs by kind and state", labels=["kind", "state"])
        failures = CounterMetricFamily("hitl_job_failures", "Jobs that failed (a retried job leaves this count)",
                                       labels=["kind"])
        for kind in kinds_sorted:
            for state in JobState:
                by_state.add_metric([kind, state.value], counts.get((kind, state.value), 0))
            failures.add_metric([kind], counts.get((kind, JobState.FAILED.value), 0))
        yield by_state
        yield failures

        oldest = Job.objects.filter(state=JobState.PENDING).aggregate(at=Min("created_at"))["at"]
        waiting = GaugeMetricFamily("hitl_oldest_pending_job_seconds",
                                    "Age of the oldest job no worker has taken yet (0: none waiting)")
        waiting.add_metric([], max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)
        yield waiting

        # Durations of the finished jobs (started to finished), one conditional count per bucket.
        duration = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
        aggregates = {f"le{i}": Count("id", filter=Q(took__lte=timedelta(seconds=bound)))
                      for i, bound in enumerate(JOB_BUCKETS)}
        rows = (Job.objects.order_by().filter(state__in=FINISHED, started_at__isnull=False, finished_at__isnull=False)
                .alias(took=duration).values("kind", "state")
                .annotate(total=Count("id"), seconds=Sum("took"), **aggregates))
        found: dict[str, list] = {}
        for row in rows:
            acc = found.setdefault(row["kind"], [0, 0.0, [0] * len(JOB_BUCKETS)])
            acc[0] += row["total"]
            acc[1] += _seconds(row["seconds"])
            for i in range(len(JOB_BUCKETS)):
                acc[2][i] += row[f"le{i}"]
        hist = HistogramMetricFamily("hitl_job_duration_seconds",
                                     "Run time of finished jobs (succeeded or failed), started to finished",
                                     labels=["kind"])
        for kind in sorted(kinds | set(found)):
            total, seconds, cumulative = found.get(kind, (0, 0.0, [0] * len(JOB_BUCKETS)))
            buckets = [(floatToGoString(b), n) for b, n in zip(JOB_BUCKETS, cumulative, strict=True)]
            hist.add_metric([kind], buckets + [("+Inf", total)], seconds)
        yield hist


def _seconds(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return max(value.total_seconds(), 0.0)
    return max(float(value) / 1e6, 0.0)  # a backend without a duration type: microseconds
