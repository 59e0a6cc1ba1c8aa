"""The example box model (examples/box_model_server.py) in the loop, on real servers, through the API.

The example runs as its own process on a free loopback port and reads the images from the media
folder; the project points at it (`model_backend: "http"`); pre-labeling runs in the real Celery
worker. Dark digits come back as sure boxes and are accepted, faint ones as unsure boxes that go
to people (escalated when one box of the image is unsure), the queue serves the least sure first,
and the models page gets the endpoint's mAP@0.5 against the gold boxes.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from PIL import Image
from sklearn.datasets import load_digits

from models_registry.backends import BackendError
from models_registry.models import ModelVersion, Prediction
from models_registry.prelabel import prelabel
from tasks.models import Item, ItemStatus
from tests.conftest import ROOT, make_project, wait_for_job

EXAMPLE = ROOT / "examples" / "box_model_server.py"
CELL = 8  # the demo draws each of the 8x8 digit cells as 8x8 pixels
GAP = 32  # between two digits on one canvas


def start_example(*extra: str):
    """The example server as a subprocess on a free port; returns (process, endpoint URL)."""
    proc = subprocess.Popen([sys.executable, str(EXAMPLE), "--port", "0", "--media-root", str(settings.MEDIA_ROOT),
                             *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline().strip()  # "listening on http://127.0.0.1:<port>/predict"
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the example box model did not start: {line}{proc.stdout.read()}")
    return proc, line.removeprefix("listening on ")


@pytest.fixture(scope="module")
def box_model():
    proc, url = start_example()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def mislabeling_model():
    proc, url = start_example("--label", "cat")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def digit_pixels(index: int, fade: float = 1.0) -> np.ndarray:
    """Digit `index` of scikit-learn's set as the demo draws it (64x64, dark on white), its ink faded."""
    cells = load_digits().images[index] * fade
    grey = (255 - cells * (255 / 16)).clip(0, 255).astype("uint8")
    return np.asarray(Image.fromarray(grey, mode="L").resize((8 * CELL, 8 * CELL), Image.NEAREST))


def digit_box(index: int, x: int = 0) -> dict:
    """A person's tight box around digit `index`: the cells with any ink."""
    rows, cols = np.nonzero(load_digits().images[index] > 0)
    return {"x": x + int(cols.min()) * CELL, "y": int(rows.min()) * CELL, "w": int(cols.max() - cols.min() + 1) * CELL,
            "h": int(rows.max() - rows.min() + 1) * CELL, "label": "digit"}


@pytest.fixture
def images():
    """PNG files under the media folder, by name: their URL, and a truth for the gold ones."""
    folder = Path(settings.MEDIA_ROOT) / "test-box-model" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    canvases = {
        "dark-1": digit_pixels(1), "dark-2": digit_pixels(2), "dark-3": digit_pixels(3),
        "faded-0.6": digit_pixels(4, 0.6),
        "faded-0.4": digit_pixels(5, 0.4),
        # A sure digit and a faint one on one canvas: the faint one decides.
        "pair": np.hstack([digit_pixels(6), np.full((64, GAP), 255, np.uint8), digit_pixels(7, 0.4)]),
        "blank": np.full((64, 64), 255, np.uint8),
        # Gold: two digits found exactly; a canvas whose second digit is too faint for the model.
        "gold-8": digit_pixels(8), "gold-9": digit_pixels(9),
        "gold-pair": np.hstack([digit_pixels(10), np.full((64, GAP), 255, np.uint8), digit_pixels(11, 0.15)]),
    }
    urls = {}
    for name, pixels in canvases.items():
        Image.fromarray(pixels, mode="L").save(folder / f"{name}.png")
        urls[name] = f"{settings.MEDIA_URL}{folder.relative_to(settings.MEDIA_ROOT).as_posix()}/{name}.png"
    truth = {"gold-8": [digit_box(8)], "gold-9": [digit_box(9)],
             "gold-pair": [digit_box(10), digit_box(11, x=64 + GAP)]}
    yield urls, truth
    shutil.rmtree(folder, ignore_errors=True)


def create_project(client, url: str, users) -> int:
    r = client.post("/api/projects/", {
        "name": "Digit boxes", "task_type": "boxes", "labels": ["digit"], "overlap": 1, "escalated_overlap": 2,
        "auto_accept_threshold": 0.9, "escalation_threshold": 0.6, "audit_rate": 0.0, "gold_rate": 0.0,
        "strategy": "least_confidence", "model_backend": "http", "model_endpoint": url, "model_timeout": 20},
        format="json")
    assert r.status_code == 201, r.content
    pid = r.json()["id"]
    for user in users:
        assert client.post(f"/api/projects/{pid}/members/", {"user": user.pk}, format="json").status_code == 201
    return pid


def import_images(client, pid: int, urls: dict, truth: dict) -> dict[str, int]:
    records = [{"data": {"image": url}, "external_id": name,
                **({"gold": {"boxes": truth[name]}} if name in truth else {})} for name, url in urls.items()]
    r = client.post(f"/api/projects/{pid}/import/", records, format="json")
    assert r.status_code == 201, r.content
    return dict(Item.objects.filter(project_id=pid).values_list("external_id", "id"))


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_example_box_model_pre_labels_routes_and_orders_the_queue(worker, box_model, images, admin, annotator,
                                                                      ml_engineer, as_user):
    urls, truth = images
    pid = create_project(as_user(admin), box_model, [annotator, ml_engineer])
    ids = import_images(as_user(admin), pid, urls, truth)

    r = as_user(ml_engineer).post(f"/api/projects/{pid}/prelabel/")
    assert r.status_code == 202, r.content
    job = wait_for_job(r.json()["job"])
    assert job.state == "succeeded", job.error
    assert job.result["scored"] == 7  # not the three gold images

    items = {name: Item.objects.get(pk=pk) for name, pk in ids.items()}
    # Every box comes with its own score; the item's confidence is its least sure box.
    for name in ("dark-1", "dark-2", "dark-3", "faded-0.6", "faded-0.4", "pair"):
        prediction = Prediction.objects.get(item_id=ids[name])
        scores = [b["score"] for b in prediction.scores["boxes"]]
        assert len(scores) == (2 if name == "pair" else 1), name
        assert prediction.confidence == items[name].confidence == min(scores), name
        assert prediction.value == {"boxes": [{k: b[k] for k in ("x", "y", "w", "h", "label")}
                                              for b in prediction.scores["boxes"]]}
    # Dark digits: sure boxes, accepted without a person, the box where a person would draw it.
    for name in ("dark-1", "dark-2", "dark-3"):
        assert (items[name].status, items[name].final_source) == (ItemStatus.AUTO_ACCEPTED, "model"), name
        assert items[name].confidence > 0.99
    [found] = items["dark-1"].final_value["boxes"]
    assert found == digit_box(1) | {"x": found["x"]} and abs(found["x"] - digit_box(1)["x"]) <= CELL
    # A faint digit needs a person; a fainter one two; a sure digit beside a faint one two as well.
    assert (items["faded-0.6"].status, items["faded-0.6"].needed) == (ItemStatus.QUEUED, 1)
    assert 0.6 <= items["faded-0.6"].confidence < 0.9
    for name in ("faded-0.4", "pair"):
        assert (items[name].status, items[name].needed) == (ItemStatus.QUEUED, 2), name
        assert items[name].confidence < 0.6, name
    pair_scores = sorted(b["score"] for b in items["pair"].prediction["scores"]["boxes"])
    assert pair_scores[0] < 0.6 < 0.99 < pair_scores[1]
    # An empty canvas: the model says it is sure there is nothing, and that is accepted.
    assert (items["blank"].status, items["blank"].final_value) == (ItemStatus.AUTO_ACCEPTED, {"boxes": []})

    # The queue serves the least sure first.
    waiting = sorted(("faded-0.6", "faded-0.4", "pair"), key=lambda name: items[name].confidence)
    r = as_user(annotator).get(f"/api/projects/{pid}/next/")
    assert r.status_code == 200 and r.json()["item"]["id"] == ids[waiting[0]]
    order = Item.objects.filter(project_id=pid, status__in=[ItemStatus.NEW, ItemStatus.QUEUED]).order_by(
        "-priority", "id").values_list("id", flat=True)
    assert list(order) == [ids[name] for name in waiting]

    # The models page: the endpoint's mAP@0.5 on the gold boxes (it misses the faint gold digit).
    [version] = as_user(ml_engineer).get(f"/api/projects/{pid}/models/").json()
    metrics = version["metrics"]
    assert (version["backend"], metrics["evaluated_on"], metrics["test_size"]) == ("http", "human_labels", 3)
    assert (metrics["precision"], metrics["recall"]) == (1.0, 0.75)
    assert metrics["map50"] == pytest.approx(76 / 101, abs=1e-4)
    assert metrics["per_class"]["digit"]["support"] == 4

    # With every accepted item audited, the same least-sure-box rule picks the audit sample.
    assert as_user(admin).patch(f"/api/projects/{pid}/", {"audit_rate": 1.0}, format="json").status_code == 200
    r = as_user(ml_engineer).post(f"/api/projects/{pid}/prelabel/")
    job = wait_for_job(r.json()["job"])
    assert job.state == "succeeded", job.error
    statuses = dict(Item.objects.filter(project_id=pid).values_list("external_id", "status"))
    reasons = dict(Item.objects.filter(project_id=pid).values_list("external_id", "review_reason"))
    for name in ("dark-1", "dark-2", "dark-3", "blank"):
        assert (statuses[name], reasons[name]) == (ItemStatus.IN_REVIEW, "audit"), name
    for name in ("faded-0.6", "faded-0.4", "pair"):
        assert statuses[name] == ItemStatus.QUEUED, name
    assert ModelVersion.objects.filter(project_id=pid).count() == 1


@pytest.mark.django_db
def test_an_example_answer_with_a_label_the_project_lacks_fails_and_changes_nothing(mislabeling_model, images,
                                                                                   admin):
    urls, _ = images
    project = make_project(admin, name="Digit boxes", task_type="boxes", labels=["digit"], model_backend="http",
                           model_endpoint=mislabeling_model, model_timeout=20, auto_accept_threshold=0.9)
    Item.objects.bulk_create([Item(project=project, data={"image": urls["dark-1"]})])
    before = list(Item.objects.filter(project=project).values())

    with pytest.raises(BackendError) as error:
        prelabel(project)

    assert str(error.value) == ("predictions[0].boxes[0].label: unknown label 'cat'; the project's labels are "
                                "['digit'].")
    assert list(Item.objects.filter(project=project).values()) == before
    assert not Prediction.objects.exists()
