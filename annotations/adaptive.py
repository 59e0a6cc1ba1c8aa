"""Adaptive overlap: an item of a classification project with `overlap_mode: "adaptive"` collects
annotations until the truth-inference posterior of its leading label is sure enough.

The rule, applied by `services.settle` each time such an item has the annotations it `needed`:

1. Its votes (annotator -> label) give a posterior over the project's labels (`truth.posterior_given`):
   the label prior times, for each voter, P(what they said | true label) from their confusion matrix.
2. Posterior of the leading label >= `posterior_target`: the item is settled, agreed, with that label.
   Below it, with fewer than `max_overlap` annotations: `needed` goes up by one and the item's queue
   priority becomes `PRIORITY_BASE + posterior`, so the queue serves in-progress items, nearly settled
   first, before any fresh item (model strategies give priorities in [0, 1]; this is in [2, 3)).
   At `max_overlap`: review, as a disagreement.

New items start with the project's `overlap` annotations (the minimum: 1 or 2; see bench/README.md).

Confusion matrices come from a Dawid–Skene fit (crowd-kit, `agreement.truth_inference`) over the
project's latest `truth.WINDOW` overlapping annotations, stored as JSON in `tasks.ConfusionFit`. A
submission only reads that row: the fit runs in a job (`CONFUSION_FIT`), asked for when the stored fit
is `stale` (MIN_NEW new annotations, or STALE_SHARE of what it was fitted on, whichever is more), at
most one at a time per project. DS's raw matrices overfit sparse cells (a zero would veto a label
outright), so each row is shrunk towards the annotator's one-coin matrix (their accuracy on the
diagonal, the rest spread evenly) with PSEUDO_COUNT pseudo-items: with errors spread evenly (the usual
case) the raw cells are mostly noise, and a truly systematic confusion still shows once a row has tens
of items. Each annotator's DS accuracy is itself shrunk towards their gold accuracy (`tasks.Standing`,
shrunk towards DEFAULT_ACCURACY), which is also all there is for an annotator the fit does not know and
for everyone until the fit has MIN_FIT_ITEMS overlapping items (before that the label prior is uniform).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from annotations import agreement, truth
from annotations.consensus import Outcome
from annotations.models import Annotation
from tasks import jobs
from tasks.models import ConfusionFit, Job, JobState, Project, Standing, TaskType

ADAPTIVE = "adaptive"
CONFUSION_FIT = "confusion_fit"  # the job kind (registered in apps.py)
MIN_NEW = 50
STALE_SHARE = 0.1
PSEUDO_COUNT = 20.0  # pseudo-items of a confusion row (most rows are sparse: 10 labels, tens of items each)
ACCURACY_PSEUDO_COUNT = 10.0  # pseudo-items of an annotator's accuracy, towards their gold accuracy
MIN_FIT_ITEMS = 50  # overlapping items before a fit replaces the gold-record priors (a young DS fit is noisy)
DEFAULT_ACCURACY = 0.7
GOLD_WEIGHT = 4.0  # the default accuracy weighs as much as this many gold answers
PRIORITY_BASE = 2.0


@dataclass(frozen=True)
class Verdict:
    label: str | None  # the leading label
    posterior: float
    more: bool  # ask for one more annotation
    outcome: Outcome | None  # when not `more`: agreed on the label, or a disagreement for review
    reason: str


def applies(project: Project) -> bool:
    return project.task_type == TaskType.CLASSIFICATION and project.overlap_mode == ADAPTIVE


# --- the fit -------------------------------------------------------------------------------------

def fit_data(ratings: Sequence[agreement.Rating], labels: Sequence[str],
             prior_accuracy: dict[Hashable, float] | None = None) -> dict[str, Any]:
    """The stored form of a DS fit over `ratings` (pure): label prior, and per annotator their DS accuracy
    (shrunk towards `prior_accuracy`, their gold record, by how many items they rated), the items they
    rated per DS label, and DS's non-zero confusion entries. {} with too little data (fewer than
    MIN_FIT_ITEMS overlapping items or `truth.MIN_ANNOTATORS` annotators)."""
    overlap = agreement.by_item(ratings)
    annotators = {a for votes in overlap.values() for a in votes}
    if len(annotators) < truth.MIN_ANNOTATORS or len(overlap) < max(truth.MIN_ITEMS, MIN_FIT_ITEMS):
        return {}
    prior_accuracy = prior_accuracy or {}
    result = agreement.truth_inference(ratings)
    domain = list(dict.fromkeys([*labels, *sorted(set(result.dawid_skene.values()))]))
    shares = Counter(result.dawid_skene.values())
    n = len(result.dawid_skene)
    prior = {t: (shares[t] + 1) / (n + len(domain)) for t in domain}
    counts: dict[Hashable, Counter] = {a: Counter() for a in annotators}
    for item, votes in overlap.items():
        for a in votes:
            counts[a][result.dawid_skene[item]] += 1
    out = {}
    for a in annotators:
        rated = sum(counts[a].values())
        before = prior_accuracy.get(a, DEFAULT_ACCURACY)
        accuracy = (rated * result.accuracy.get(a, before) + ACCURACY_PSEUDO_COUNT * before) / (
            rated + ACCURACY_PSEUDO_COUNT)
        confusion = {t: {o: round(p, 5) for o, p in row.items() if p > 0}
                     for t, row in result.confusion.get(a, {}).items() if counts[a][t]}
        out[str(a)] = {"accuracy": round(accuracy, 5), "counts": dict(counts[a]), "confusion": confusion}
    return {"labels": domain, "prior": prior, "annotators": out}


def build_fit(project: Project) -> ConfusionFit:
    """A DS fit over the project's latest annotations (not saved): slow, run it outside transactions."""
    newest = Annotation.objects.filter(project_id=project.pk).order_by("-id").values_list("id", flat=True).first()
    ratings = truth.project_ratings(project.pk)
    annotators = list({u for _, u, _ in ratings})
    data = fit_data(ratings, [str(label) for label in project.labels], gold_accuracy(project, annotators))
    return ConfusionFit(project=project, fitted_through=newest or 0, annotations=len(ratings), data=data)


def store(fit: ConfusionFit) -> None:
    """Replace the project's stored fit (an upsert: two runs at once leave one row)."""
    ConfusionFit.objects.bulk_create([fit], update_conflicts=True, unique_fields=["project"],
                                     update_fields=["fitted_through", "annotations", "data", "fitted_at"])


def refit(project: Project) -> ConfusionFit:
    """Fit and store at once (scripts and tests; the app runs `run_refit_job`)."""
    fit = build_fit(project)
    store(fit)
    return fit


def stale(project: Project, fit: ConfusionFit | None, newest_id: int) -> bool:
    """Whether enough annotations came in after the fit (`newest_id`: the newest one known to the caller)."""
    since = fit.fitted_through if fit else 0
    threshold = max(MIN_NEW, int(STALE_SHARE * (fit.annotations if fit else 0)))
    if newest_id - since < threshold:  # ids are global: fewer ids, fewer of this project's annotations
        return False
    new = Annotation.objects.filter(project_id=project.pk, id__gt=since).order_by().values("id")[:threshold]
    return new.count() >= threshold


def request_refit(project: Project) -> Job | None:
    """Ask the workers for a fresh fit, unless one is already pending or running.

    Two submissions at the same moment may both ask; the second fit is merely redundant (and a broker
    that is down leaves the job pending for `jobs.requeue_stalled`)."""
    if Job.objects.filter(project=project, kind=CONFUSION_FIT, state__in=[JobState.PENDING, JobState.RUNNING]).exists():
        return None
    return jobs.create_job(CONFUSION_FIT, project=project, params={"trigger": "annotations"})


def run_refit_job(job: Job) -> None:
    """The job's work: fit outside any transaction (SQLite would hold its write lock for the whole fit),
    then store the fit and finish the job together. Re-running it simply fits again."""
    def stored(fit: ConfusionFit) -> dict:
        store(fit)
        return {"annotations": fit.annotations, "annotators": len(fit.data.get("annotators", {}))}

    jobs.compute_then_store(job, build_fit, stored)


def describe_fit(job: Job) -> str:
    result = job.result or {}
    if "annotations" not in result:
        return ""
    return f"Fitted {result['annotators']} annotators on {result['annotations']} labels."


# --- the posterior -------------------------------------------------------------------------------

def _one_coin(accuracy: float, true: str, said: str, n_labels: int) -> float:
    accuracy = min(max(accuracy, 0.01), 0.99)
    return accuracy if said == true else (1 - accuracy) / max(n_labels - 1, 1)


def gold_accuracy(project: Project, users: Sequence[Any]) -> dict[Any, float]:
    """Each user's gold accuracy, shrunk towards DEFAULT_ACCURACY (the prior of users the fit lacks)."""
    records = {u: (c, n) for u, c, n in Standing.objects.filter(project=project, user_id__in=users)
               .values_list("user_id", "gold_correct", "gold_answered")}
    out = {}
    for u in users:
        correct, answered = records.get(u, (0, 0))
        out[u] = (correct + GOLD_WEIGHT * DEFAULT_ACCURACY) / (answered + GOLD_WEIGHT)
    return out


def voter_confusion(votes: dict[int, str], labels: Sequence[str], data: dict[str, Any],
                    fallback: dict[int, float]) -> truth.Confusion:
    """P(said | true) for each voter's own label and every true label: DS's entry shrunk towards the voter's
    one-coin matrix; a voter the fit lacks is one-coin with their `fallback` accuracy."""
    known = data.get("annotators", {})
    out: truth.Confusion = {}
    for user, said in votes.items():
        record = known.get(str(user))
        row = {}
        for t in labels:
            if record is None:
                row[t] = {said: _one_coin(fallback.get(user, DEFAULT_ACCURACY), t, said, len(labels))}
                continue
            n = record["counts"].get(t, 0)
            ds = record["confusion"].get(t, {}).get(said, 0.0)
            base = _one_coin(record["accuracy"], t, said, len(labels))
            row[t] = {said: (n * ds + PSEUDO_COUNT * base) / (n + PSEUDO_COUNT)}
        out[user] = row
    return out


def posterior_of(project: Project, votes: dict[int, str], fit: ConfusionFit | None) -> dict[str, float]:
    """P(true label | votes) under the stored fit (or the priors when there is none)."""
    data = fit.data if fit else {}
    labels = list(dict.fromkeys([*(str(label) for label in project.labels), *data.get("labels", []),
                                 *votes.values()]))
    stored = data.get("prior", {})
    prior = {t: stored.get(t, 1.0 / len(labels)) if stored else 1.0 / len(labels) for t in labels}
    unknown = [u for u in votes if str(u) not in data.get("annotators", {})]
    fallback = gold_accuracy(project, unknown) if unknown else {}
    return truth.posterior_given(votes, voter_confusion(votes, labels, data, fallback), prior)


def judge(item) -> Verdict:
    """What the item's votes call for: settle, one more annotation, or review. Call holding its row lock.

    Also asks for a refit when the stored one is stale (the job runs after this transaction commits)."""
    project = item.project
    rows = list(Annotation.objects.filter(item=item, skipped=False).values_list("id", "user_id", "value"))
    votes = {u: v["label"] for _, u, v in rows if isinstance(v, dict) and isinstance(v.get("label"), str)}
    fit = ConfusionFit.objects.filter(project=project).first()
    if rows and stale(project, fit, max(r[0] for r in rows)):
        request_refit(project)
    post = posterior_of(project, votes, fit) if votes else {}
    label, exact = max(post.items(), key=lambda kv: kv[1]) if post else (None, 0.0)
    p = round(exact, 4)  # for people and the queue; the decision uses the exact value
    n = len(votes)
    if label is not None and exact >= project.posterior_target:
        return Verdict(label, p, False, Outcome(True, {"label": label}),
                       f"posterior {p} of {label!r} after {n} annotations (adaptive overlap)")
    if n < project.max_overlap:
        return Verdict(label, p, True, None, f"posterior {p} of {label!r} after {n} annotations: one more")
    return Verdict(label, p, False, Outcome(False, None),
                   f"posterior {p} of {label!r} still below {project.posterior_target} after {n} annotations")


def priority(verdict: Verdict) -> float:
    """Queue priority of an item waiting for one more annotation: above every fresh item, nearly settled first."""
    return PRIORITY_BASE + verdict.posterior
