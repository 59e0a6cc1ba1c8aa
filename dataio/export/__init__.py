"""Exporting a project's items, streamed in constant memory, in the formats of `FORMATS`.

    result = export(project, "jsonl", parse_filters({"status": ["done"]}))
    for chunk in result.chunks: ...   # bytes

The API's export endpoint and the `export_items` command both call `export`. Items are read a
chunk at a time in id order (`reading`), a fixed number of queries per chunk; each format module
turns chunks into bytes. On PostgreSQL, JSON and JSON Lines skip that: PostgreSQL writes the
records' text itself (`jsonl_sql`), the same bytes, a query per 10,000 items (a long export on two
connections sharing its snapshot). On PostgreSQL the whole export reads one snapshot (a read-only
REPEATABLE READ transaction), so an export is consistent even while people keep labeling, and
COCO's two passes see the same items.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

from django.db import connection, transaction

from audit import trail
from dataio.export import coco, conll, jsonl_sql, label_studio, pairs, parquet, preference, reading, records
from dataio.export.filters import ExportError, Filters, parse_bool, parse_filters, parse_ties
from tasks.models import Project, TaskType

__all__ = ["FORMATS", "Export", "ExportError", "Filters", "Format", "Spec", "count", "export", "get_format",
           "parse_bool", "parse_filters", "parse_ties", "record"]


@dataclass(frozen=True)
class Spec:
    """What to export: the project, its filtered items and the format's options."""

    project: Project
    filters: Filters
    ties: bool = False  # preference: write ties too
    progress: Callable[[int], None] | None = None  # called with the number of items of each chunk used
    # The export reads a snapshot of its own (read-only, committed data only), which other
    # connections may share (`jsonl_sql` writes a long export on two); set by `export` as it starts.
    shared_snapshot: bool = False

    def chunks(self, **kwargs) -> Iterator[reading.Chunk]:
        return reading.iter_chunks(self.project, self.filters, progress=self.progress, **kwargs)


@dataclass(frozen=True)
class Format:
    name: str
    content_type: str
    suffix: str  # of the file name: project-<id><suffix>
    write: Callable[[Spec], Iterator[bytes]]
    description: str
    task_types: tuple[str, ...] = ()  # the task types it can express; empty for every one
    final_only: bool = False  # holds final values only, so items without one are left out
    passes: int = 1  # times it reads the items (for progress)


def _questions(spec: Spec) -> list[str]:
    # The project's rubric questions add their final answers (records.py).
    return [q["id"] for q in spec.project.questions or []]


def _records(writer):
    return lambda spec: writer(spec.chunks(), _questions(spec))


def _lines(spec: Spec, separator: str) -> Iterator[bytes]:
    """The records of `records.write_jsonl`, written by PostgreSQL (`jsonl_sql`) in chunks of lines."""
    return jsonl_sql.iter_text(spec.project, spec.filters, _questions(spec), separator=separator,
                               progress=spec.progress, shared_snapshot=spec.shared_snapshot)


def _write_jsonl(spec: Spec) -> Iterator[bytes]:
    """records.write_jsonl's lines: from PostgreSQL's own text where it can, else built in Python."""
    if not jsonl_sql.available():
        yield from records.write_jsonl(spec.chunks(), _questions(spec))
        return
    for text in _lines(spec, "\n"):
        yield text
        yield b"\n"


def _write_json(spec: Spec) -> Iterator[bytes]:
    """records.write_json's array, the same way."""
    if not jsonl_sql.available():
        yield from records.write_json(spec.chunks(), _questions(spec))
        return
    yield b"["
    for n, text in enumerate(_lines(spec, ",\n")):
        if n:
            yield b",\n"
        yield text
    yield b"]\n"


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("json", "application/json", ".json", _write_json,
           "a JSON array of item records (data, status, final value, annotations, reviews, prediction)"),
    Format("jsonl", "application/x-ndjson", ".jsonl", _write_jsonl,
           "the same records, one JSON object a line"),
    Format("csv", "text/csv", ".csv", _records(records.write_csv),
           "one row per item, nested parts as JSON text"),
    Format("parquet", "application/vnd.apache.parquet", ".parquet", parquet.write,
           "the same records as typed Parquet columns (data and label values as structs), for Hugging Face "
           "datasets and pandas", passes=2),
    Format("coco", "application/json", "-coco.json", coco.write,
           "COCO object detection from final values", task_types=(TaskType.BOXES,), final_only=True, passes=2),
    Format("conll", "text/plain; charset=utf-8", ".conll", conll.write,
           "CoNLL-2003-style IOB2, a token a line, from final values", task_types=(TaskType.SPANS,),
           final_only=True),
    Format("preference", "application/x-ndjson", "-preference.jsonl", preference.write,
           "JSON Lines of prompt, chosen, rejected from final values (ties left out unless ties=include)",
           task_types=(TaskType.PAIRWISE,), final_only=True),
    Format("pairs", "application/x-ndjson", "-pairs.jsonl", pairs.write,
           "JSON Lines of prompt, chosen, rejected: every pair a final ranking implies (ties give none)",
           task_types=(TaskType.RANKING,), final_only=True),
    Format("label_studio", "application/json", "-label-studio.json", label_studio.write,
           "Label Studio's JSON tasks with annotations, the final value as ground truth and predictions"),
)}


def get_format(project: Project, name: str) -> Format:
    """The format called `name`, if it can express the project's task type; else `ExportError`."""
    fmt = FORMATS.get(name)
    if fmt is None:
        raise ExportError("format", f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    if fmt.task_types and project.task_type not in fmt.task_types:
        raise ExportError("format", f"the {name} format is for {' and '.join(fmt.task_types)} projects; "
                                    f"this project's task type is {project.task_type}")
    return fmt


@dataclass(frozen=True)
class Export:
    format: Format
    filename: str
    chunks: Iterator[bytes]


def effective_filters(fmt: Format, filters: Filters) -> Filters:
    """Formats that hold final values only select items with one (and date them by final_at)."""
    return replace(filters, only_final=True) if fmt.final_only else filters


def count(project: Project, fmt: Format, filters: Filters) -> int:
    """How many items the export reads, passes included (a progress bar's total)."""
    return reading.count(project, effective_filters(fmt, filters)) * fmt.passes


def export(project: Project, fmt: str, filters: Filters | None = None, *, ties: bool = False,
           progress: Callable[[int], None] | None = None) -> Export:
    """The file name and byte chunks of a project's export in format `fmt`.

    Raises `ExportError` for an unknown format or one the project's task type cannot fill; nothing
    is read until the chunks are iterated.
    """
    format_ = get_format(project, fmt)
    spec = Spec(project, effective_filters(format_, filters or Filters()), ties=ties, progress=progress)
    return Export(format_, f"project-{project.pk}{format_.suffix}", _in_snapshot(format_.write, spec))


def record(project: Project, fmt: Format, filters: Filters, *, user=None, via: str, ties: bool = False,
           items: int | None = None, **details) -> None:
    """Append an export to the audit trail: who exported how many of which items, in what format."""
    if items is None:
        items = count(project, fmt, filters) // fmt.passes
    trail.record("items.exported", user=user, project=project, format=fmt.name, via=via, items=items,
                 filters=effective_filters(fmt, filters).as_dict(), **({"ties": "include"} if ties else {}),
                 **details)


@contextmanager
def _snapshot() -> Iterator[bool]:
    """PostgreSQL: one consistent, read-only view of the data for the whole export. Gives whether
    that view is the export's own (else: the caller's transaction, or none)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # SQLite runs one write transaction at a time, and a long read transaction there would hold
        # up checkpoints; inside a caller's transaction, that transaction's view applies.
        yield False
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield True


def _in_snapshot(write: Callable[[Spec], Iterator[bytes]], spec: Spec) -> Iterator[bytes]:
    """The format's chunks, written inside the export's snapshot (decided as the first is asked for:
    a streamed response is read after the view has returned)."""
    with _snapshot() as own:
        yield from write(replace(spec, shared_snapshot=own))
