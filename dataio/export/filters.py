"""Which items an export holds: the export endpoint's query parameters and `export_items`' options.

Parsing is shared by both, so a bad value gets the same message from the API (a 400 naming the
parameter) and from the command line (a `CommandError`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from tasks.models import FinalSource, ItemStatus

TRUE = ("true", "1", "yes", "on")
FALSE = ("false", "0", "no", "off")
TIES = ("exclude", "include")


class ExportError(ValueError):
    """A parameter that cannot be honoured; `param` names it (`format`, `status`, `since`, ...)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Filters:
    """The items to export.

    `since` is inclusive and `before` exclusive. They apply to `final_at` (when the final value was
    set) when the export is limited to final values (`only_final`, `sources`, or a format that only
    holds final values), and to `created_at` (when the item was imported) otherwise.
    """

    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    since: datetime | None = None
    before: datetime | None = None
    only_final: bool = False

    @property
    def final_only(self) -> bool:
        return self.only_final or bool(self.sources)

    @property
    def date_field(self) -> str:
        return "final_at" if self.final_only else "created_at"

    def as_dict(self) -> dict:
        """The filters that are set, as JSON (for the audit trail)."""
        described = {"status": list(self.statuses), "source": list(self.sources),
                     "since": self.since.isoformat() if self.since else None,
                     "before": self.before.isoformat() if self.before else None, "only_final": self.only_final}
        return {name: value for name, value in described.items() if value}

    def apply(self, rows: QuerySet, item: str = "") -> QuerySet:
        """`rows` narrowed to the items these filters keep: items, or with `item="item__"` rows
        that refer to an item (annotations, review decisions)."""
        if self.statuses:
            rows = rows.filter(**{f"{item}status__in": self.statuses})
        if self.sources:
            rows = rows.filter(**{f"{item}final_source__in": self.sources})
        elif self.only_final:
            rows = rows.exclude(**{f"{item}final_source": ""})
        if self.since is not None:
            rows = rows.filter(**{f"{item}{self.date_field}__gte": self.since})
        if self.before is not None:
            rows = rows.filter(**{f"{item}{self.date_field}__lt": self.before})
        return rows


def _values(raw: Sequence[str]) -> list[str]:
    """Repeated and comma-separated values alike: ["a,b", "c"] -> ["a", "b", "c"]."""
    return [v.strip() for value in raw for v in str(value).split(",") if v.strip()]


def _choices(raw: Sequence[str], allowed: Sequence[str], param: str, what: str) -> tuple[str, ...]:
    values = _values(raw)
    for value in values:
        if value not in allowed:
            # Else a typo would export an empty file that looks like a real one.
            raise ExportError(param, f"unknown {what} {value!r}; use one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def _moment(raw: Sequence[str], param: str, *, end: bool) -> datetime | None:
    """An ISO date or date-time. A date is the start of that day, or with `end` the start of the next
    (so `until=2024-05-31` keeps all of May 31); a time without an offset is in the server's time zone."""
    if not raw or not raw[-1].strip():
        return None
    text = raw[-1].strip()
    message = "must be an ISO date (2024-05-01) or date-time (2024-05-01T12:00:00Z)"
    try:
        day = parse_date(text) if len(text) == 10 else None
        moment = None if day else parse_datetime(text)
    except ValueError:
        raise ExportError(param, f"{text!r} is not a valid date; {message}") from None
    if day is None and moment is None:
        raise ExportError(param, f"{text!r} {message}")
    try:
        if day is not None:
            moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_current_timezone())
        if end and day is None:
            # `until` is inclusive; stored times have microsecond precision.
            moment += timedelta(microseconds=1)
    except OverflowError:
        raise ExportError(param, f"{text!r} is out of range") from None
    return moment


def parse_bool(raw: Sequence[str], param: str) -> bool:
    """The last of a parameter's values as a boolean (true/false, 1/0, yes/no, on/off); False when absent."""
    if not raw:
        return False
    value = str(raw[-1]).strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ExportError(param, f"{raw[-1]!r} is not a boolean; use true or false")


def parse_filters(params: Mapping[str, Sequence[str]]) -> Filters:
    """Filters from parameter lists: `status`, `source` (repeatable or comma-separated), `since`,
    `until` (ISO dates or date-times) and `only_final` (true/false). Raises `ExportError`."""
    since = _moment(params.get("since", ()), "since", end=False)
    before = _moment(params.get("until", ()), "until", end=True)
    if since is not None and before is not None and before <= since:
        raise ExportError("until", "is before since")
    return Filters(
        statuses=_choices(params.get("status", ()), ItemStatus.values, "status", "status"),
        sources=_choices(params.get("source", ()), FinalSource.values, "source", "final value source"),
        since=since,
        before=before,
        only_final=parse_bool(params.get("only_final", ()), "only_final"),
    )


def parse_ties(raw: Sequence[str]) -> bool:
    """The preference format's `ties` option: `exclude` (the default) or `include`; True to include."""
    values = _values(raw)
    if not values:
        return False
    if values[-1] not in TIES:
        raise ExportError("ties", f"unknown value {values[-1]!r}; use exclude or include")
    return values[-1] == "include"

