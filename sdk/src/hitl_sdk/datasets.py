"""A project as a Hugging Face `datasets.DatasetDict`, saved to disk or as Parquet, and Parquet imported back.

    from hitl_sdk.datasets import to_dataset_dict, save_dataset, import_parquet

    dd = to_dataset_dict(project, kind="labels", test_size=0.2, seed=0)   # {"train", "test"}
    save_dataset(project, "out/", kind="preference", format="parquet")  # out/train.parquet
    import_parquet(other_project, "out/train.parquet", label_column="label", labels_as="gold")

Kinds:

- `"labels"`: the items with a final value, as flat training columns: `id`, `external_id`, the data's
  fields (`text`, `image`, `prompt`, `a`, `b`, `responses`, ...), the final value flattened by task type
  (classification: `label`, a `datasets.ClassLabel` over the project's labels; multi_label: `labels`, a list;
  spans: `spans`, a list of `{start, end, label}`; boxes: `boxes`, a list of `{x, y, w, h, label}`;
  pairwise: `choice`; ranking: `ranking`, a list of groups of response ids) and `source` (gold, consensus,
  reviewer or model). A data field named like one of these columns is called `data_<name>`.
- `"records"`: the full export records (data, status, final value, annotations, reviews, prediction), as
  `project.export()` gives them; they import back whole.
- `"preference"`: `prompt`, `chosen`, `rejected` with `id`, `external_id` (and `model_score`,
  `model_version` when the server has them; ranking adds `chosen_id`, `rejected_id`): the server's
  `preference` (pairwise) or `pairs` (ranking) export, the columns TRL's DPO and reward trainers read.

Without `test_size` the dataset has one split, "train"; with it, `Dataset.train_test_split(test_size,
seed=seed)` makes "train" and "test". Needs `pip install 'hitl-sdk[datasets]'`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import datasets

    from hitl_sdk.projects import Project
    from hitl_sdk.types import ImportResult

__all__ = ["FORMATS", "KINDS", "VALUE_COLUMNS", "import_parquet", "label_rows", "save_dataset", "to_dataset_dict"]

KINDS = ("labels", "records", "preference")
FORMATS = ("disk", "parquet")
# The column a final value becomes in the "labels" kind, and the value's key it is read from.
VALUE_COLUMNS = {"classification": "label", "multi_label": "labels", "spans": "spans", "boxes": "boxes",
                 "pairwise": "choice", "ranking": "ranking"}
# Export formats of the "preference" kind by task type.
_PREFERENCE_FORMATS = {"pairwise": "preference", "ranking": "pairs"}
# Key of the metadata `save_dataset` adds to its Parquet files (read back by `import_parquet`).
METADATA_KEY = b"hitl_sdk"
_INSTALL = "pip install 'hitl-sdk[datasets]'"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"Hugging Face datasets is not installed; {_INSTALL}") from exc
    return datasets


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"pyarrow is not installed; {_INSTALL}") from exc
    return pyarrow, pyarrow.parquet


def _value_column(task_type: str) -> str:
    try:
        return VALUE_COLUMNS[task_type]
    except KeyError:
        raise ValueError(f"the labels kind does not know the task type {task_type!r}") from None


def _data_column(key: str, reserved: set[str]) -> str:
    return f"data_{key}" if key in reserved else key


def label_rows(records: Iterable[Mapping[str, Any]], task_type: str) -> Iterator[dict[str, Any]]:
    """The flat rows of the "labels" kind from export records: only records with a final value."""
    column = _value_column(task_type)
    reserved = {"id", "external_id", "source", column}
    for record in records:
        final = record.get("final") or {}
        value = final.get("value")
        if not isinstance(value, Mapping) or column not in value:
            continue
        row: dict[str, Any] = {"id": record.get("id"), "external_id": record.get("external_id")}
        for key, v in (record.get("data") or {}).items():
            row[_data_column(str(key), reserved)] = v
        row[column] = value[column]
        row["source"] = final.get("source")
        yield row


def _dataset(rows: list[dict[str, Any]], class_label: tuple[str, list[str]] | None = None) -> datasets.Dataset:
    """A `datasets.Dataset` of rows; `class_label` (column, names) makes that column a `ClassLabel`."""
    ds = _datasets()
    if not rows:
        return ds.Dataset.from_list([])
    if class_label is None:
        return ds.Dataset.from_list(rows)
    pa, _ = _pyarrow()
    column, names = class_label
    names = list(names)
    for row in rows:  # a final label the project no longer lists still gets a name
        if row[column] not in names:
            names.append(row[column])
    features = ds.Features.from_arrow_schema(pa.Table.from_pylist(rows).schema)
    features[column] = ds.ClassLabel(names=[str(n) for n in names])
    return ds.Dataset.from_list(rows, features=features)


def _rows_of(project: Project, kind: str) -> tuple[list[dict[str, Any]], tuple[str, list[str]] | None]:
    if kind == "labels":
        rows = list(label_rows(project.export("jsonl", only_final=True), project.task_type))
        label = ("label", project.labels) if project.task_type == "classification" else None
        return rows, label
    if kind == "records":
        return [dict(r) for r in project.export("jsonl")], None
    if kind == "preference":
        fmt = _PREFERENCE_FORMATS.get(project.task_type)
        if fmt is None:
            raise ValueError(f"the preference kind is for pairwise and ranking projects; this project's task type "
                             f"is {project.task_type}")
        rows = [dict(r) for r in project.export(fmt)]
        for optional in ("model_score", "model_version"):  # only when the server has a model's scores
            if rows and all(r.get(optional) is None for r in rows):
                for r in rows:
                    r.pop(optional, None)
        return rows, None
    raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")


def to_dataset_dict(project: Project, kind: str = "labels", test_size: float | int | None = None,
                    seed: int = 0) -> datasets.DatasetDict:
    """The project as a `datasets.DatasetDict` of `kind` ("labels", "records" or "preference"): one split
    "train", or "train" and "test" with `test_size` (a fraction, or a number of rows) split by `seed`."""
    ds = _datasets()
    rows, class_label = _rows_of(project, kind)
    dataset = _dataset(rows, class_label)
    dataset.info.description = f"hitl project {project.id} ({project.task_type}), kind {kind}"
    if test_size is None:
        return ds.DatasetDict({"train": dataset})
    if dataset.num_rows < 2:
        raise ValueError(f"cannot split {dataset.num_rows} row(s) into train and test")
    return dataset.train_test_split(test_size=test_size, seed=seed)


def save_dataset(project: Project, path: str | os.PathLike[str], *, kind: str = "labels", format: str = "disk",
                 test_size: float | int | None = None, seed: int = 0) -> list[Path]:
    """Write the project's `to_dataset_dict(kind, test_size, seed)` to `path` and answer what was written:

    - `format="disk"`: `DatasetDict.save_to_disk(path)` (read back with `datasets.load_from_disk`); answers
      the split folders `path/<split>`.
    - `format="parquet"`: one file per split, `path/<split>.parquet` (read with
      `datasets.load_dataset("parquet", data_files=...)`, pandas or pyarrow; a ClassLabel keeps its names in
      the file's metadata); answers the files. `import_parquet` imports them into a project.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    dataset_dict = to_dataset_dict(project, kind=kind, test_size=test_size, seed=seed)
    folder = Path(path)
    if format == "disk":
        dataset_dict.save_to_disk(str(folder))
        return [folder / split for split in dataset_dict]
    pa, pq = _pyarrow()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    data_columns = _data_columns(project, kind, dataset_dict)
    for split, dataset in dataset_dict.items():
        table = dataset.with_format("arrow")[:]
        metadata = dict(table.schema.metadata or {})
        metadata[METADATA_KEY] = _json_bytes({"kind": kind, "project": project.id, "task_type": project.task_type,
                                              "data_columns": data_columns})
        target = folder / f"{split}.parquet"
        pq.write_table(table.replace_schema_metadata(metadata), str(target))
        written.append(target)
    return written


def _data_columns(project: Project, kind: str, dataset_dict: datasets.DatasetDict) -> list[str] | None:
    """The columns of a "labels" dataset that hold the items' data (what an import puts back into data)."""
    if kind != "labels":
        return None
    column = _value_column(project.task_type)
    names: list[str] = next(iter(dataset_dict.values())).column_names if dataset_dict else []
    return [n for n in names if n not in ("id", "external_id", "source", column)]


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()


def import_parquet(project: Project, path: str | os.PathLike[str], **params: Any) -> ImportResult:
    """Upload a Parquet file to `project` (`project.import_file`, waiting for the job of a large one).

    `params` are the import options (`label_column`, `labels_as`, `annotator`, `text_column`, `columns`,
    `on_duplicate`, ...). The server reads a "labels" file written by `save_dataset` back into its data
    columns only (not `id` or `source`; the file's metadata names them) unless `columns` says otherwise, and
    its `ClassLabel` ids as their names. A "records" file (or the server's own `format=parquet` export)
    imports whole.
    """
    params.setdefault("format", "parquet")
    return project.import_file(path, **params)
