"""Built-in box model: ink blobs as boxes, with what the human boxes teach it. CPU, seconds to train.

A box is the bounding box of a blob of ink: pixels darker than a threshold, strokes closer than a
gap joined (connected components of the dilated ink, SciPy). Training learns from the human final
boxes of the training part:
- the threshold and the gap, by a grid search for the best F1 of candidate boxes against true ones
  (IoU >= 0.5, label aside);
- how people draw the edges: the median correction of each side, relative to the box size;
- each box's score: a logistic regression from the blob's contrast, size, fill and shape to "a
  person drew this box", so faint or odd blobs come out unsure and go to people;
- its label: a logistic regression on the blob's 12x12 pixels when the boxes have several labels;
- how often an image with no blob really has no box (the confidence of an empty answer).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from scipy import ndimage
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from models_registry.backends.base import Backend, BackendError, Predictions, Probabilities
from models_registry.backends.image import image_path
from models_registry.structured import EMPTY_CONFIDENCE

INKS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)  # darkness thresholds tried
JOINS = (0.0, 0.06, 0.125, 0.25)  # gaps tried, as a share of the image's shorter side
SPECK = 0.002  # blobs smaller than this share of the image are ignored
MAX_SIDE = 256  # larger images are scaled down for the search (boxes are scaled back)
GRID_IMAGES = 300  # the grid search looks at this many training images at most
CROP = 12  # side of a blob's pixels for the label classifier
IOU = 0.5


@dataclass
class Page:
    """An image's darkness map at the scale the detector works at."""

    dark: np.ndarray
    scale: float  # working pixels per image pixel
    width: int
    height: int


@dataclass
class Candidate:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in image pixels
    features: np.ndarray
    pixels: np.ndarray  # the blob's darkness, cut out at working scale

    @property
    def crop(self) -> np.ndarray:
        """The blob's pixels at CROP x CROP, for the label classifier."""
        small = Image.fromarray((self.pixels * 255).astype(np.uint8)).resize((CROP, CROP), Image.Resampling.BILINEAR)
        return np.asarray(small, dtype=np.float32).ravel() / 255.0


@dataclass
class BoxModel:
    """What training learned; pickled as the version's file."""

    ink: float
    join: float
    edges: tuple[float, float, float, float]  # added to x0, y0, x1, y1, as a share of the box's w or h
    scorer: Pipeline | None
    base_score: float
    classifier: Pipeline | None
    label: str
    empty_confidence: float


def read_page(data: dict) -> Page | None:
    """The item's image as darkness in [0, 1] (light ink on a dark canvas is turned round), or None."""
    image = data.get("image")
    path = image_path(image) if isinstance(image, str) else None
    if path is None:
        return None
    try:
        with Image.open(path) as img:
            width, height = img.size
            scale = min(1.0, MAX_SIDE / max(width, height))
            grey = img.convert("L")
            if scale < 1.0:
                size = (max(1, round(width * scale)), max(1, round(height * scale)))
                grey = grey.resize(size, Image.Resampling.BILINEAR)
            dark = 1.0 - np.asarray(grey, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    if np.median(dark) > 0.5:
        dark = 1.0 - dark
    return Page(dark, scale, width, height)


def candidates(page: Page, ink: float, join: float, describe: bool = True) -> list[Candidate]:
    """The blobs of ink on the page, each with its box (image pixels) and, with `describe`, its features."""
    mask = page.dark > ink
    radius = round(join * min(page.dark.shape) / 2)
    # A square dilation, done as a (separable) maximum filter.
    grown = ndimage.maximum_filter(mask.view(np.uint8), size=2 * radius + 1) > 0 if radius else mask
    labeled, _ = ndimage.label(grown, structure=np.ones((3, 3), bool))
    out = []
    size = page.dark.size
    for k, where in enumerate(ndimage.find_objects(labeled), start=1):
        if where is None:
            continue
        strokes = (labeled[where] == k) & mask[where]
        count = int(strokes.sum())
        if count < max(4, SPECK * size):
            continue
        rows, cols = np.nonzero(strokes)
        r0, r1 = where[0].start + rows.min(), where[0].start + rows.max() + 1
        c0, c1 = where[1].start + cols.min(), where[1].start + cols.max() + 1
        box = (c0 / page.scale, r0 / page.scale, c1 / page.scale, r1 / page.scale)
        if not describe:
            out.append(Candidate(box, np.zeros(0), np.zeros((0, 0))))
            continue
        values = page.dark[where][strokes]
        h, w = r1 - r0, c1 - c0
        touches = min(r0, c0) == 0 or r1 == page.dark.shape[0] or c1 == page.dark.shape[1]
        features = np.array([np.percentile(values, 90), values.mean(), np.log(count / size), count / (h * w),
                             np.log(w / h), float(touches)])
        out.append(Candidate(box, features, page.dark[r0:r1, c0:c1]))
    return out


def _corners(box: dict) -> tuple[float, float, float, float]:
    return float(box["x"]), float(box["y"]), float(box["x"]) + float(box["w"]), float(box["y"]) + float(box["h"])


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match(found: list[tuple], truth: list[tuple]) -> list[int | None]:
    """Greedy one-to-one pairing by IoU >= 0.5: for each found box, the index of its true box or None."""
    pairs = sorted(((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)), reverse=True)
    out: list[int | None] = [None] * len(found)
    taken: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < IOU:
            break
        if out[i] is None and j not in taken:
            out[i] = j
            taken.add(j)
    return out


def _adjust(box: tuple, edges: tuple, page: Page) -> tuple[float, float, float, float]:
    w, h = box[2] - box[0], box[3] - box[1]
    x0 = min(max(0.0, box[0] + edges[0] * w), page.width - 1.0)
    y0 = min(max(0.0, box[1] + edges[1] * h), page.height - 1.0)
    x1 = max(min(float(page.width), box[2] + edges[2] * w), x0 + 1.0)
    y1 = max(min(float(page.height), box[3] + edges[3] * h), y0 + 1.0)
    return x0, y0, x1, y1


def _grid_search(pages: list[Page], truths: list[list[tuple]]) -> tuple[float, float]:
    best, chosen = (-1.0, -1.0), (INKS[0], JOINS[0])
    for ink in INKS:
        for join in JOINS:
            tp = found = 0
            overlaps = []
            for page, truth in zip(pages, truths):
                boxes = [c.box for c in candidates(page, ink, join, describe=False)]
                pairs = match(boxes, truth)
                found += len(boxes)
                tp += sum(p is not None for p in pairs)
                overlaps += [iou(b, truth[p]) for b, p in zip(boxes, pairs) if p is not None]
            total = sum(len(t) for t in truths)
            f1 = 2 * tp / (found + total) if found + total else 0.0
            score = (round(f1, 6), float(np.mean(overlaps)) if overlaps else 0.0)
            if score > best:
                best, chosen = score, (ink, join)
    return chosen


def _median_edges(corrections: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    """How far people draw each side from the blob's, as the median share of the box's size."""
    if not corrections:
        return 0.0, 0.0, 0.0, 0.0
    m = np.median(np.array(corrections), axis=0)
    return float(m[0]), float(m[1]), float(m[2]), float(m[3])


class BoxBackend(Backend):
    name = "builtin_boxes"

    def fit(self, data: list[dict], targets: list[Any]) -> BoxModel:
        pages, truths, labels = [], [], []
        for d, boxes in zip(data, targets):
            page = read_page(d)
            if page is not None:
                pages.append(page)
                truths.append([_corners(b) for b in boxes])
                labels.append([b["label"] for b in boxes])
        if not pages:
            raise BackendError("None of the labeled items' images could be read.")
        if not any(truths):
            raise BackendError("Training needs boxes; the labeled images have none.")
        ink, join = _grid_search(pages[:GRID_IMAGES], truths[:GRID_IMAGES])

        found = [candidates(page, ink, join) for page in pages]
        corrections = []
        for cands, truth in zip(found, truths):
            boxes = [c.box for c in cands]
            for b, p in zip(boxes, match(boxes, truth)):
                if p is not None:
                    t, w, h = truth[p], b[2] - b[0], b[3] - b[1]
                    corrections.append(((t[0] - b[0]) / w, (t[1] - b[1]) / h, (t[2] - b[2]) / w, (t[3] - b[3]) / h))
        edges = _median_edges(corrections)

        features, right, crops, crop_labels = [], [], [], []
        empty_seen = empty_right = 0
        for page, cands, truth, names in zip(pages, found, truths, labels):
            if not cands:
                empty_seen += 1
                empty_right += not truth
            pairs = match([_adjust(c.box, edges, page) for c in cands], truth)
            for c, p in zip(cands, pairs):
                features.append(c.features)
                right.append(p is not None)
                if p is not None:
                    crops.append(c.crop)
                    crop_labels.append(names[p])
        y = np.array(right)
        scorer, base = None, (y.sum() + 1) / (len(y) + 2)
        if 0 < y.sum() < len(y):
            scorer = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
            scorer.fit(np.array(features), y)
        classifier = None
        if len(set(crop_labels)) >= 2:
            classifier = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
            classifier.fit(np.array(crops), crop_labels)
        label = max(set(crop_labels), key=crop_labels.count) if crop_labels else self.labels[0]
        empty = (empty_right + 1) / (empty_seen + 2) if empty_seen else EMPTY_CONFIDENCE
        return BoxModel(ink, join, edges, scorer, float(base), classifier, label, float(empty))

    def predict(self, model: Any, data: list[dict]) -> Probabilities:
        raise BackendError("The box model predicts boxes, not class probabilities.")

    def predict_values(self, model: BoxModel, data: list[dict], ids: list[int] | None = None) -> Predictions:
        values: list[Any] = []
        scores: list[dict] = []
        confidence = np.zeros(len(data))
        ok = np.zeros(len(data), dtype=bool)
        for i, d in enumerate(data):
            page = read_page(d)
            if page is None:
                values.append({"boxes": []})
                scores.append({"boxes": []})
                continue
            ok[i] = True
            cands = candidates(page, model.ink, model.join)
            sure = (model.scorer.predict_proba(np.array([c.features for c in cands]))[:, 1]
                    if model.scorer is not None and cands else np.full(len(cands), model.base_score))
            if model.classifier is not None and cands:
                probs = model.classifier.predict_proba(np.array([c.crop for c in cands]))
                names = [str(model.classifier.classes_[j]) for j in probs.argmax(axis=1)]
                sure = sure * probs.max(axis=1)
            else:
                names = [model.label] * len(cands)
            parts: list[dict] = []
            for c, name, s in zip(cands, names, sure):
                x0, y0, x1, y1 = _adjust(c.box, model.edges, page)
                parts.append({"x": round(float(x0), 1), "y": round(float(y0), 1), "w": round(float(x1 - x0), 1),
                              "h": round(float(y1 - y0), 1), "label": name, "score": round(float(s), 6)})
            values.append({"boxes": [{k: v for k, v in p.items() if k != "score"} for p in parts]})
            scores.append({"boxes": parts})
            confidence[i] = min((p["score"] for p in parts), default=model.empty_confidence)
        return Predictions(values, confidence, ok, scores)
