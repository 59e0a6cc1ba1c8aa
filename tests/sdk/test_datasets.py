"""Hugging Face datasets through the SDK, round trips through the real server: a project as a DatasetDict,
saved to disk and as Parquet, and Parquet imported back into a new project."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pyarrow.parquet as pq
import pytest

from annotations.models import Annotation
from tasks.models import Item
from tests.conftest import make_project
from tests.dataio.export_helpers import add_items, final

datasets = pytest.importorskip("datasets")
from hitl_sdk.datasets import import_parquet, save_dataset, to_dataset_dict  # noqa: E402

AT = datetime(2024, 5, 2, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def classified(admin, annotator, reviewer):
    """A classification project: six items with final values (one gold), one without."""
    project = make_project(admin, [annotator, reviewer], name="Reviews")
    items = add_items(
        project,
        *({"data": {"text": f"review {i}", "lang": "en"}, "external_id": f"r{i}",
           **final({"label": "pos" if i % 2 else "neg"}, source="reviewer" if i % 3 else "consensus")}
          for i in range(5)),
        {"data": {"text": "gold"}, "external_id": "g", "gold": {"label": "pos"}, **final({"label": "pos"}, "gold")},
        {"data": {"text": "open"}, "external_id": "o"},
    )
    Annotation.objects.create(project=project, item=items[0], user=annotator, value={"label": "neg"}, lead_time=2.0)
    return project


def test_labels_kind_has_flat_training_columns(connect, admin, classified):
    dd = to_dataset_dict(connect(admin).project(classified.pk))

    assert list(dd) == ["train"]
    train = dd["train"]
    assert train.num_rows == 6  # the open item has no final value
    # the data's fields in the order the database keeps them (jsonb: shorter keys first)
    assert train.column_names == ["id", "external_id", "lang", "text", "label", "source"]
    assert isinstance(train.features["label"], datasets.ClassLabel)
    assert train.features["label"].names == ["pos", "neg"]
    first = train[0]
    assert (first["external_id"], first["text"], first["lang"], first["source"]) == ("r0", "review 0", "en",
                                                                                      "consensus")
    assert train.features["label"].int2str(first["label"]) == "neg"
    assert train[5]["lang"] is None and train[5]["source"] == "gold"


def test_test_size_splits_by_seed(connect, admin, classified):
    project = connect(admin).project(classified.pk)
    dd = to_dataset_dict(project, test_size=2, seed=3)

    assert sorted(dd) == ["test", "train"]
    assert (dd["train"].num_rows, dd["test"].num_rows) == (4, 2)
    again = to_dataset_dict(project, test_size=2, seed=3)
    assert again["test"]["external_id"] == dd["test"]["external_id"]


def test_labels_round_trip_through_disk_and_parquet_into_a_new_project(connect, admin, classified, tmp_path):
    client = connect(admin)
    project = client.project(classified.pk)
    dd = to_dataset_dict(project)

    written = save_dataset(project, tmp_path / "disk")
    assert written == [tmp_path / "disk" / "train"]
    loaded = datasets.load_from_disk(str(tmp_path / "disk"))
    assert loaded["train"].to_list() == dd["train"].to_list()
    assert loaded["train"].features == dd["train"].features

    [path] = save_dataset(project, tmp_path / "pq", format="parquet")
    assert path == tmp_path / "pq" / "train.parquet"
    assert pq.read_table(path).num_rows == 6
    from_parquet = datasets.load_dataset("parquet", data_files={"train": str(path)},
                                         cache_dir=str(tmp_path / "cache"))
    assert from_parquet["train"].features["label"].names == ["pos", "neg"]

    copy = make_project(admin, name="Copy")
    result = import_parquet(client.project(copy.pk), path, label_column="label", labels_as="gold")
    assert result["imported"] == 6
    original = {i.external_id: i for i in Item.objects.filter(project=classified) if i.final_value}
    imported = {i.external_id: i for i in Item.objects.filter(project=copy)}
    assert set(imported) == set(original)
    for key, item in imported.items():
        assert item.data == original[key].data, key
        assert item.gold == original[key].final_value, key


def test_records_round_trip_through_parquet(connect, admin, annotator, reviewer, classified, tmp_path):
    client = connect(admin)
    project = client.project(classified.pk)
    dd = to_dataset_dict(project, kind="records")
    assert dd["train"].num_rows == 7 and "annotations" in dd["train"].column_names

    [path] = save_dataset(project, tmp_path, kind="records", format="parquet")
    copy = make_project(admin, [annotator, reviewer], name="Copy")
    copy_client = client.project(copy.pk)
    result = import_parquet(copy_client, path)
    assert result["imported"] == 7 and result["annotations"] == 1

    before, after = list(project.export()), list(copy_client.export())
    for key in ("external_id", "data", "gold", "final", "annotations", "prediction", "status"):
        assert [r[key] for r in after] == [r[key] for r in before], key


def test_server_parquet_export_imports_through_the_sdk(connect, admin, annotator, reviewer, classified, tmp_path):
    client = connect(admin)
    project = client.project(classified.pk)
    path = tmp_path / "export.parquet"
    project.export_to(path, format="parquet")
    copy = make_project(admin, [annotator, reviewer], name="Copy")

    assert import_parquet(client.project(copy.pk), path)["imported"] == 7
    assert [r["data"] for r in client.project(copy.pk).export()] == [r["data"] for r in project.export()]


def test_preference_kind_of_a_pairwise_project(connect, admin, tmp_path):
    project = make_project(admin, name="Pairs", task_type="pairwise", labels=[])
    add_items(project,
              {"data": {"prompt": "p1", "a": "A1", "b": "B1"}, "external_id": "x1", **final({"choice": "a"})},
              {"data": {"prompt": "p2", "a": "A2", "b": "B2"}, "external_id": "x2", **final({"choice": "b"})},
              {"data": {"prompt": "p3", "a": "A3", "b": "B3"}, "external_id": "x3", **final({"choice": "tie"})},
              {"data": {"prompt": "p4", "a": "A4", "b": "B4"}, "external_id": "x4"})
    sdk_project = connect(admin).project(project.pk)
    dd = to_dataset_dict(sdk_project, kind="preference")

    rows = dd["train"].to_list()
    assert [(r["prompt"], r["chosen"], r["rejected"], r["external_id"]) for r in rows] == [
        ("p1", "A1", "B1", "x1"), ("p2", "B2", "A2", "x2")]
    assert "model_score" not in dd["train"].column_names  # no active model: no scores
    [path] = save_dataset(sdk_project, tmp_path, kind="preference", format="parquet")
    assert pq.read_table(path).column("chosen").to_pylist() == ["A1", "B2"]

    labels = to_dataset_dict(sdk_project)["train"]
    assert sorted(labels.column_names) == ["a", "b", "choice", "external_id", "id", "prompt", "source"]
    assert labels["choice"] == ["a", "b", "tie"]


def test_preference_kind_of_a_ranking_project(connect, admin):
    project = make_project(admin, name="Rank", task_type="ranking", labels=[])
    responses = [{"id": "r1", "text": "one"}, {"id": "r2", "text": "two"}, {"id": "r3", "text": "three"}]
    add_items(project, {"data": {"prompt": "p", "responses": responses}, **final({"ranking": [["r2"], ["r1", "r3"]]})})
    dd = to_dataset_dict(connect(admin).project(project.pk), kind="preference")

    assert [(r["chosen"], r["rejected"], r["chosen_id"]) for r in dd["train"].to_list()] == [
        ("two", "one", "r2"), ("two", "three", "r2")]


def test_spans_labels_and_unknown_kinds(connect, admin):
    project = make_project(admin, name="NER", task_type="spans", labels=["PER"])
    spans = [{"start": 3, "end": 12, "label": "PER"}]
    add_items(project, {"data": {"text": "By Tom Hanks"}, **final({"spans": spans})})
    sdk_project = connect(admin).project(project.pk)

    assert to_dataset_dict(sdk_project)["train"][0]["spans"] == spans
    with pytest.raises(ValueError, match="kind"):
        to_dataset_dict(sdk_project, kind="nope")
    with pytest.raises(ValueError, match="pairwise and ranking"):
        to_dataset_dict(sdk_project, kind="preference")
    with pytest.raises(ValueError, match="format"):
        save_dataset(sdk_project, "/nonexistent", format="csv")


def test_the_import_error_says_how_to_install(monkeypatch):
    import builtins

    import hitl_sdk.datasets as module

    real = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError("no module named datasets")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(ImportError, match=r"hitl-sdk\[datasets\]"):
        module._datasets()


def test_parquet_metadata_names_the_data_columns(connect, admin, classified, tmp_path):
    [path] = save_dataset(connect(admin).project(classified.pk), tmp_path, format="parquet")
    meta = json.loads(pq.read_schema(path).metadata[b"hitl_sdk"])

    assert meta["kind"] == "labels" and sorted(meta["data_columns"]) == ["lang", "text"]
