"""`Project`: one annotation project and everything done with it: items, labeling, review, import, export,
models, pre-labeling, statistics."""
from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hitl_sdk.jobs import Job

if TYPE_CHECKING:
    import pandas

    from hitl_sdk.client import Client
    from hitl_sdk.types import (
        Annotation,
        ExportRecord,
        ImportResult,
        ItemData,
        ModelVersion,
        NextItem,
        ProjectData,
        ReviewTask,
        User,
    )

__all__ = ["IMPORT_OPTIONS", "JSON_FORMATS", "JSONL_FORMATS", "Project", "SPOOL_BYTES", "flatten_record"]

# Export formats written one JSON record a line: `export()` reads them in constant memory.
JSONL_FORMATS = ("jsonl", "preference", "pairs")
# Export formats that are one JSON document (an array of records, or a COCO object): read whole.
JSON_FORMATS = ("json", "label_studio", "coco")
# The import endpoint's options (query parameters or form fields), see `Project.import_file`.
IMPORT_OPTIONS = ("format", "on_duplicate", "labels_as", "annotator", "text_column", "columns", "label_column")
# Records given to `import_records` are spooled in memory up to this size, then to a temporary file.
SPOOL_BYTES = 4 * 1024 * 1024


def _import_params(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(params) - set(IMPORT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown import option(s) {', '.join(sorted(unknown))}; use {', '.join(IMPORT_OPTIONS)}")
    out = dict(params)
    if isinstance(out.get("columns"), (list, tuple)):
        out["columns"] = ",".join(out["columns"])
    return out


def _json_default(value: Any) -> Any:
    """JSON for values json does not know: datetimes as ISO text, numpy scalars and arrays as numbers, lists."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _short_value(value: Any) -> Any:
    """The label of a value where it has one: classification's label, multi_label's labels, pairwise's choice."""
    if isinstance(value, dict):
        for key in ("label", "labels", "choice"):
            if key in value:
                return value[key]
    return None


def flatten_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row of an export record (the columns of `Project.to_pandas`)."""
    final = record.get("final") or {}
    prediction = record.get("prediction") or {}
    annotations = [a for a in record.get("annotations") or [] if not a.get("skipped")]
    row: dict[str, Any] = {
        "id": record.get("id"),
        "external_id": record.get("external_id"),
        "status": record.get("status"),
    }
    data = record.get("data") or {}
    for key, value in data.items():
        row[f"data.{key}"] = value
    row.update({
        "label": _short_value(final.get("value")),
        "final_value": final.get("value"),
        "final_source": final.get("source"),
        "final_by": final.get("by"),
        "final_at": final.get("at"),
        "gold": record.get("gold"),
        "annotation_count": len(annotations),
        "annotators": [a.get("user") for a in annotations],
        "annotation_values": [a.get("value") for a in annotations],
        "prediction_label": _short_value(prediction.get("value")),
        "prediction_value": prediction.get("value"),
        "prediction_confidence": prediction.get("confidence"),
        "model_version": prediction.get("model_version"),
        "review_reason": record.get("review_reason"),
        "created_at": record.get("created_at"),
    })
    return row


class Project:
    """A project of the server. `data` is its last JSON; `id`, `name`, `task_type`, `labels` and `settings`
    (every other field: overlap, thresholds, strategy, ...) read from it. `refresh()` re-reads it."""

    def __init__(self, client: Client, data: ProjectData | Mapping[str, Any]) -> None:
        self.client = client
        self.data: dict[str, Any] = dict(data)

    # -- the project itself ---------------------------------------------------------------------------------

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def name(self) -> str:
        return str(self.data.get("name", ""))

    @property
    def task_type(self) -> str:
        return str(self.data.get("task_type", ""))

    @property
    def labels(self) -> list[str]:
        return list(self.data.get("labels") or [])

    @property
    def settings(self) -> dict[str, Any]:
        """The project's fields other than id, name, task_type, labels and created_at."""
        return {k: v for k, v in self.data.items() if k not in ("id", "name", "task_type", "labels", "created_at")}

    def __repr__(self) -> str:
        return f"<Project {self.id} {self.name!r} ({self.task_type})>"

    def _url(self, tail: str = "") -> str:
        return f"/api/projects/{self.id}/{tail}"

    def refresh(self) -> Project:
        self.data = dict(self.client._request("GET", self._url()))
        return self

    def update(self, **fields: Any) -> Project:
        """Change project fields (admin): `project.update(overlap=2, auto_accept_threshold=0.95)`."""
        self.data = dict(self.client._request("PATCH", self._url(), json=fields))
        return self

    # -- members ----------------------------------------------------------------------------------------------

    def members(self) -> list[User]:
        return list(self.client._request("GET", self._url("members/")))

    @staticmethod
    def _user_id(user: int | Mapping[str, Any]) -> int:
        return int(user["id"]) if isinstance(user, Mapping) else int(user)

    def add_member(self, user: int | Mapping[str, Any]) -> User:
        """Make a user (id, or a user dict) a member (admin): only members (and admins) see a project."""
        member: User = self.client._request("POST", self._url("members/"), json={"user": self._user_id(user)})
        return member

    def remove_member(self, user: int | Mapping[str, Any]) -> None:
        self.client._request("DELETE", self._url(f"members/{self._user_id(user)}/"))

    # -- items and labeling -------------------------------------------------------------------------------------

    def items(self, status: str | list[str] | None = None, *, page_size: int | None = None) -> Iterator[ItemData]:
        """Every item (with `status`: only those), page after page."""
        yield from self.client.paginate(self._url("items/"), {"status": status}, page_size=page_size)

    def item(self, item_id: int) -> ItemData:
        """One item with its data, status, prediction, annotations and final value."""
        item: ItemData = self.client._request("GET", f"/api/items/{int(item_id)}/")
        return item

    def next(self, *, exclude: Iterable[int] = ()) -> NextItem | None:
        """Lease the caller's next item: `{"item", "prediction", "lease_expires_at"}`, or None when nothing is
        left for them."""
        excluded = ",".join(str(int(i)) for i in exclude) or None
        leased: NextItem | None = self.client._request("GET", self._url("next/"), params={"exclude": excluded})
        return leased

    def annotate(self, item_id: int, value: Mapping[str, Any], lead_time: float | None = None) -> Annotation:
        """Submit the caller's value for an item (`{"label": "pos"}`, ...). A second submission raises Conflict."""
        body: dict[str, Any] = {"value": dict(value)}
        if lead_time is not None:
            body["lead_time"] = lead_time
        annotation: Annotation = self.client._request("POST", f"/api/items/{int(item_id)}/annotations/", json=body)
        return annotation

    def skip(self, item_id: int) -> Annotation:
        annotation: Annotation = self.client._request("POST", f"/api/items/{int(item_id)}/annotations/",
                                                      json={"skip": True})
        return annotation

    def release(self, item_id: int) -> None:
        """Give back a leased item without labeling it."""
        self.client._request("POST", f"/api/items/{int(item_id)}/release/")

    def review_next(self) -> ReviewTask | None:
        """Lease the oldest in-review item (reviewer): item, annotations, prediction, `reason`; None if none."""
        task: ReviewTask | None = self.client._request("GET", self._url("review/next/"))
        return task

    def review(self, item_id: int, value: Mapping[str, Any], note: str | None = None) -> dict[str, Any]:
        """Decide an in-review item: the value becomes final with source `reviewer`."""
        body: dict[str, Any] = {"value": dict(value)}
        if note is not None:
            body["note"] = note
        return dict(self.client._request("POST", f"/api/items/{int(item_id)}/review/", json=body))

    # -- import -------------------------------------------------------------------------------------------------

    def _upload(self, files: list[tuple[str, IO[bytes], str]], params: Mapping[str, Any], *, wait: bool,
                progress: bool, timeout: float | None) -> dict[str, Any]:
        answer = self.client._request("POST", self._url("import/"), params=_import_params(params),
                                      files=[("file", f) for f in files])
        return self._import_outcome(answer, wait=wait, progress=progress, timeout=timeout)

    def _import_outcome(self, answer: Any, *, wait: bool, progress: bool, timeout: float | None) -> dict[str, Any]:
        if isinstance(answer, dict) and "job" in answer and "imported" not in answer:
            self.last_import_job = Job(self.client, {"id": answer["job"], "kind": "import", "state": "pending"})
            if not wait:
                return dict(answer)
            job = self.last_import_job.refresh().wait(progress=progress, timeout=timeout)
            return dict(job.result or {})
        return dict(answer)

    def import_records(self, records: Iterable[Mapping[str, Any]], *, wait: bool = True, progress: bool = False,
                       timeout: float | None = None, **params: Any) -> ImportResult:
        """Import records (`{"data": {...}, "external_id"?, "gold"?}` or flat objects taken as data) from any
        iterable, in constant memory: they are written as JSON Lines to a spooled temporary file while
        iterating, then uploaded as one file. All or nothing: a bad record raises ValidationError naming its
        line (`error.line`) and nothing is imported.

        `params` are the import options: `on_duplicate` (error|skip|update), `labels_as`
        (gold|annotations|predictions), `annotator`, `label_column`. A large upload runs as a job on the
        server; it is waited on (with a progress bar with `progress`) and its result returned, or
        `{"job": id}` without `wait`. Answers `{"imported", "updated", "skipped", "annotations"}`."""
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
            for record in records:
                spool.write(json.dumps(record, ensure_ascii=False, default=_json_default).encode())
                spool.write(b"\n")
            spool.seek(0)
            result: Any = self._upload([("records.jsonl", spool, "application/x-ndjson")], params,
                                       wait=wait, progress=progress, timeout=timeout)
        return result

    def import_json(self, records: list[Mapping[str, Any]], **params: Any) -> ImportResult:
        """Import a list of records sent as a JSON array body (small batches; always inline)."""
        result: ImportResult = self.client._request("POST", self._url("import/"), params=_import_params(params),
                                                    json=[dict(r) for r in records])
        return result

    def import_file(self, path: str | os.PathLike[str], *, wait: bool = True, progress: bool = False,
                    timeout: float | None = None, **params: Any) -> ImportResult:
        """Import one file (`.json`, `.jsonl`, `.csv`, `.zip` of images, an image), streamed from disk; the
        format comes from the extension unless `format=` says. Options as for `import_records`, plus
        `format`, `text_column` and `columns` (CSV)."""
        return self.import_files([path], wait=wait, progress=progress, timeout=timeout, **params)

    def import_files(self, paths: Iterable[str | os.PathLike[str]], *, wait: bool = True, progress: bool = False,
                     timeout: float | None = None, **params: Any) -> ImportResult:
        """Import several files in one all-or-nothing request."""
        handles: list[IO[bytes]] = []
        try:
            files: list[tuple[str, IO[bytes], str]] = []
            for path in paths:
                handle: IO[bytes] = open(path, "rb")  # closed below
                handles.append(handle)
                files.append((Path(path).name, handle, "application/octet-stream"))
            result: Any = self._upload(files, params, wait=wait, progress=progress, timeout=timeout)
            return result
        finally:
            for handle in handles:
                handle.close()

    def preview_import(self, path: str | os.PathLike[str], **params: Any) -> dict[str, Any]:
        """What importing a file would do, storing nothing: format, columns, first records or first error."""
        with open(path, "rb") as handle:
            return dict(self.client._request("POST", self._url("import/preview/"), params=_import_params(params),
                                             files=[("file", (Path(path).name, handle, "application/octet-stream"))]))

    # -- export --------------------------------------------------------------------------------------------------

    def export(self, format: str = "jsonl", **filters: Any) -> Iterator[ExportRecord]:
        """The project's records, one dict each, streamed from `GET /api/projects/{id}/export/`.

        `format`: `jsonl` (default), `preference` or `pairs` are read a line at a time in constant memory;
        `json`, `label_studio` are read whole (and `coco` yields its one object); `csv` yields a dict of
        strings per row. `filters`: `status`, `source` (a value or a list), `only_final` (bool), `since`,
        `until` (ISO dates), `ties` (preference: `include`)."""
        params = {**filters, "format": format}
        if format == "csv":
            with self.client.stream("GET", self._url("export/"), params=params) as response:
                lines = (line + "\n" for line in response.iter_lines())
                for row in csv.DictReader(lines):
                    yield row  # type: ignore[misc]
            return
        if format in JSON_FORMATS:
            with self.client.stream("GET", self._url("export/"), params=params) as response:
                document = json.loads(response.read())
            if isinstance(document, list):
                yield from document
            else:
                yield document
            return
        if format not in JSONL_FORMATS:
            raise ValueError(f"export() reads JSON formats ({', '.join(JSONL_FORMATS + JSON_FORMATS)}) and csv; "
                             f"write {format!r} to a file with export_to()")
        with self.client.stream("GET", self._url("export/"), params=params) as response:
            for line in response.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def export_to(self, path: str | os.PathLike[str] | IO[bytes], format: str = "jsonl",
                  **filters: Any) -> int:
        """Stream the export in `format` (any of the server's: json, jsonl, csv, coco, conll, preference,
        pairs, label_studio) to a file path or binary file object; answers the number of bytes written.
        A path is written to a temporary file next to it and renamed, so a failed export leaves nothing."""
        params = {**filters, "format": format}
        if not isinstance(path, (str, os.PathLike)):
            return self._copy_export(params, path)
        target = Path(path)
        handle = tempfile.NamedTemporaryFile(dir=target.parent or ".", prefix=f".{target.name}.",
                                             delete=False)
        try:
            with handle:
                written = self._copy_export(params, handle)
            shutil.move(handle.name, target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return written

    def _copy_export(self, params: Mapping[str, Any], out: IO[bytes]) -> int:
        written = 0
        with self.client.stream("GET", self._url("export/"), params=params) as response:
            for chunk in response.iter_bytes():
                out.write(chunk)
                written += len(chunk)
        return written

    def to_records(self, **filters: Any) -> list[dict[str, Any]]:
        """The flat rows of `to_pandas`, as dicts."""
        return [flatten_record(r) for r in self.export("jsonl", **filters)]

    def to_pandas(self, **filters: Any) -> pandas.DataFrame:
        """The export (filters as for `export`) as a pandas DataFrame, one row per item with the columns:
        `id`, `external_id`, `status`, `data.<key>` for every key of the items' data, `label` (the final
        value's label, labels or choice), `final_value`, `final_source`, `final_by`, `final_at`, `gold`,
        `annotation_count`, `annotators`, `annotation_values`, `prediction_label`, `prediction_value`,
        `prediction_confidence`, `model_version`, `review_reason`, `created_at`. Needs `hitl-sdk[pandas]`."""
        import pandas

        rows = self.to_records(**filters)
        frame = pandas.DataFrame.from_records(rows)
        if frame.empty:
            frame = pandas.DataFrame(columns=list(flatten_record({}).keys()))
        for column in ("final_at", "created_at"):
            if column in frame:
                frame[column] = pandas.to_datetime(frame[column], utc=True, format="ISO8601")
        return frame

    def to_dataset(self, **kwargs: Any) -> Any:
        """A Hugging Face `datasets.DatasetDict` of the project (see `hitl_sdk.datasets.to_dataset_dict`:
        `kind="labels"|"records"|"preference"`, `test_size`, `seed`). Needs `hitl-sdk[datasets]`."""
        from hitl_sdk.datasets import to_dataset_dict

        return to_dataset_dict(self, **kwargs)

    def save_dataset(self, path: str | os.PathLike[str], **kwargs: Any) -> Any:
        """Write the project as a Hugging Face dataset (`format="disk"|"parquet"`); see `hitl_sdk.datasets`."""
        from hitl_sdk.datasets import save_dataset

        return save_dataset(self, path, **kwargs)

    # -- models, jobs, statistics ----------------------------------------------------------------------------------

    def train(self, *, wait: bool = True, progress: bool = True, force: bool = False,
              timeout: float | None = None) -> Job:
        """Train a new model version on the final labels (ml_engineer); with `wait`, wait for the job (with a
        progress bar with `progress`). Raises JobFailed if it fails."""
        answer = self.client._request("POST", self._url("train/"), json={"force": force} if force else {})
        job = self.client.job(int(answer["job"]))
        return job.wait(progress=progress, timeout=timeout) if wait else job

    def models(self) -> list[ModelVersion]:
        """The model versions, newest first: version, created, train_size, metrics, active."""
        return list(self.client._request("GET", self._url("models/")))

    def active_model(self) -> ModelVersion | None:
        return next((m for m in self.models() if m.get("active")), None)

    def activate(self, model_id: int, *, wait: bool = False, progress: bool = False) -> ModelVersion:
        """Make a model version (its id, see `models()`) the active one (ml_engineer)."""
        return self.client.activate(model_id, wait=wait, progress=progress)

    def rollback(self) -> ModelVersion:
        """Bring back the version that was active before the current one (ml_engineer)."""
        result: ModelVersion = self.client._request("POST", self._url("rollback/"))
        return result

    def prelabel(self, *, wait: bool = True, progress: bool = True, timeout: float | None = None) -> Job:
        """Predict and route every item without a final value with the active model (ml_engineer)."""
        answer = self.client._request("POST", self._url("prelabel/"))
        job = self.client.job(int(answer["job"]))
        return job.wait(progress=progress, timeout=timeout) if wait else job

    def jobs(self) -> list[Job]:
        """The project's jobs, newest first."""
        return [Job(self.client, data) for data in self.client._request("GET", self._url("jobs/"))]

    def stats(self) -> dict[str, Any]:
        """Counts by status, agreement, per-annotator figures, routing and the active model's metrics."""
        return dict(self.client._request("GET", self._url("stats/")))
