"""The audit trail over HTTP, for admins: `GET /api/audit/` (a page at a time, in id order) and
`GET /api/audit/export/` (every matching event, streamed as JSON Lines or CSV)."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import orjson
from django.db.models import Max, Q, QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.views import APIView

from audit import trail
from audit.models import AuditEvent
from common.errors import Forbidden
from common.text import NUL

EXPORT_FORMATS = {"jsonl": "application/x-ndjson", "csv": "text/csv"}
CSV_COLUMNS = ["id", "created_at", "action", "user", "username", "project", "item", "payload"]
# Events read per query by the export (keyset chunks: constant memory whatever the trail's length).
EXPORT_CHUNK = 2000


def admins_only(user, action: str) -> None:
    """The trail is for admins (a user with no role beyond admin may do this; see accounts.User.has_role)."""
    if not user.has_role():
        raise Forbidden(f"Your role ({user.effective_role}) may not {action}.")


class AuditEventSerializer(serializers.ModelSerializer):
    """Who (`user`, `username`), when (`created_at`), what (`action` on `project`/`item`) and the
    details, before and after values included (`payload`)."""

    user = serializers.IntegerField(source="user_id", allow_null=True)
    username = serializers.SerializerMethodField()
    project = serializers.IntegerField(source="project_id", allow_null=True)
    item = serializers.IntegerField(source="item_id", allow_null=True)
    payload = serializers.DictField()

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "action", "user", "username", "project", "item", "payload"]

    def get_username(self, event: AuditEvent) -> str | None:
        # The trail outlives users (no foreign key constraint): a deleted user's events keep their id.
        return event.user.username if event.user is not None else None


@dataclass(frozen=True)
class AuditFilters:
    project: int | None = None
    actions: tuple[str, ...] = ()
    user: int | None = None
    username: str | None = None
    since: datetime | None = None
    before: datetime | None = None
    after: int | None = None

    def as_dict(self) -> dict:
        """The filters that are set, as JSON (for the audit trail)."""
        described = {"project": self.project, "action": list(self.actions), "user": self.user,
                     "username": self.username, "since": self.since.isoformat() if self.since else None,
                     "before": self.before.isoformat() if self.before else None, "after": self.after}
        return {name: value for name, value in described.items() if value is not None and value != []}

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.project is not None:
            events = events.filter(project_id=self.project)
        if self.actions:
            # `model.*` stands for every action that starts with `model.`.
            match = Q()
            for action in self.actions:
                match |= Q(action__startswith=action[:-1]) if action.endswith("*") else Q(action=action)
            events = events.filter(match)
        if self.user is not None:
            events = events.filter(user_id=self.user)
        if self.username is not None:
            events = events.filter(user__username=self.username)
        if self.since is not None:
            events = events.filter(created_at__gte=self.since)
        if self.before is not None:
            events = events.filter(created_at__lt=self.before)
        if self.after is not None:
            events = events.filter(id__gt=self.after)
        return events


def _digits(raw: str) -> bool:
    # ASCII only: str.isdigit() also says yes to "²", which int() refuses.
    return raw.isascii() and raw.isdigit()


def _whole_number(params, name: str) -> int | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    if not _digits(raw) or len(raw) > 18:
        raise ValidationError({name: ["Must be a whole number (at most 18 digits)."]})
    return int(raw)


def _moment(params, name: str, *, end: bool) -> datetime | None:
    """An ISO date or date-time; a date is that day's start, or for `end` the next day's (inclusive)."""
    raw = params.get(name, "").strip()
    if not raw:
        return None
    message = f"{raw!r} is not an ISO date (2024-05-01) or date-time (2024-05-01T12:00:00Z)."
    try:
        day = parse_date(raw) if len(raw) == 10 else None
        moment = None if day else parse_datetime(raw)
        if day is None and moment is None:
            raise ValidationError({name: [message]})
        if day is not None:
            moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_current_timezone())
        if end and day is None:
            moment += timedelta(microseconds=1)  # `until` is inclusive; times have microseconds
    except (ValueError, OverflowError):
        raise ValidationError({name: [message]}) from None
    return moment


def parse_filters(params) -> AuditFilters:
    """The filters of the query string: `project`, `action` (repeatable, comma-separated, `prefix.*`),
    `user` (an id or a username), `since`, `until` (ISO dates or date-times) and `after` (an event id)."""
    actions = tuple(dict.fromkeys(a.strip() for value in params.getlist("action") for a in value.split(",")
                                  if a.strip()))
    user = params.get("user", "").strip()
    for name, values in (("action", actions), ("user", [user])):
        if any(NUL in value for value in values):
            raise ValidationError({name: [f"Contains a NUL character (\\u0000); no {name} has one."]})
    since, before = _moment(params, "since", end=False), _moment(params, "until", end=True)
    if since is not None and before is not None and before <= since:
        raise ValidationError({"until": ["Is before since."]})
    return AuditFilters(
        project=_whole_number(params, "project"), actions=actions,
        user=_whole_number(params, "user") if _digits(user) else None,
        username=user if user and not _digits(user) else None,
        since=since, before=before, after=_whole_number(params, "after"),
    )


FILTER_PARAMETERS = [
    OpenApiParameter("project", int, description="Only events of this project."),
    OpenApiParameter("action", str, many=True, explode=True, description=(
        "Only these actions (repeat the parameter, or separate by commas); `model.*` matches every action "
        "starting with `model.`. Actions include `annotation.submitted`, `annotation.skipped`, "
        "`annotation.undone`, `review.decided`, `review.requested`, `final.set`, `project.created`, "
        "`project.updated` (settings with their values before and after), `member.added`, `member.removed`, "
        "`items.imported`, `items.prelabeled`, `items.exported`, `model.trained`, `model.activated`, "
        "`model.corrupt`, `user.created` and `audit.exported`.")),
    OpenApiParameter("user", str, description="Only events by this user (an id or a username)."),
    OpenApiParameter("since", str, description="ISO date or date-time: only events from then on (no offset: UTC)."),
    OpenApiParameter("until", str, description="ISO date or date-time, inclusive (a date includes that whole day)."),
    OpenApiParameter("after", int, description="Only events with a greater id (resume where you stopped)."),
]


class AuditPagination(CursorPagination):
    """Keyset pages in id order: a page never skips or repeats an event however the trail grows."""

    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class AuditListView(generics.ListAPIView):
    """The audit trail, oldest first, a page at a time (admins only)."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditPagination

    @extend_schema(parameters=FILTER_PARAMETERS)
    def get(self, request, *args, **kwargs):
        admins_only(request.user, "read the audit trail")
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return parse_filters(self.request.query_params).apply(AuditEvent.objects.select_related("user"))


class AuditExportView(APIView):
    """Every event of the audit trail that matches the filters, streamed in id order (admins only)."""

    @extend_schema(
        parameters=[OpenApiParameter("format", enum=list(EXPORT_FORMATS), default="jsonl",
                                     description="`jsonl`: one JSON object an event; `csv`: one row an event, "
                                                 "the payload as JSON text."),
                    *FILTER_PARAMETERS],
        responses={(200, content_type): bytes for content_type in EXPORT_FORMATS.values()},
    )
    def get(self, request):
        admins_only(request.user, "export the audit trail")
        fmt = request.query_params.get("format", "jsonl") or "jsonl"
        if fmt not in EXPORT_FORMATS:
            raise ValidationError({"format": [f"Unknown format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}."]})
        filters = parse_filters(request.query_params)
        trail.record("audit.exported", user=request.user, format=fmt, filters=filters.as_dict())
        # Up to the last event now: the stream ends even while events keep coming.
        last = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0
        events = filters.apply(AuditEvent.objects.filter(id__lte=last))
        response = StreamingHttpResponse(write_csv(events) if fmt == "csv" else write_jsonl(events),
                                         content_type=EXPORT_FORMATS[fmt])
        response["Content-Disposition"] = f'attachment; filename="audit.{fmt}"'
        return response


def iter_events(events: QuerySet[AuditEvent]) -> Iterator[list[dict]]:
    """The events as records, a chunk at a time in id order (keyset: each query starts after the last id)."""
    after = 0
    while True:
        chunk = list(events.filter(id__gt=after).select_related("user").order_by("id")[:EXPORT_CHUNK])
        if not chunk:
            return
        yield AuditEventSerializer(chunk, many=True).data
        after = chunk[-1].id


def write_jsonl(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    for records in iter_events(events):
        yield b"".join(orjson.dumps(dict(r)) + b"\n" for r in records)


def write_csv(events: QuerySet[AuditEvent]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for records in iter_events(events):
        for record in records:
            writer.writerow({**record, "payload": orjson.dumps(record["payload"]).decode()})
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()
