"""Label Studio's JSON task format: a JSON array of tasks, every task type.

    {"id": <item id>, "data": <item data>,
     "meta": {"external_id", "status", "final_source"},
     "annotations": [{"completed_by": {"username", "email"?}, "result": [...], "lead_time",
                      "created_at", "was_cancelled", "ground_truth": false}, ...,
                     the final value, if any: {"result": [...], "ground_truth": true, "created_at": <final at>,
                                               "completed_by": <the deciding reviewer>?}],
     "predictions": [{"model_version", "score", "result": [...]}]}

Skipped annotations are `was_cancelled` with an empty result. The final value is the annotation
marked `ground_truth` (its `completed_by` is there only when a person set it, i.e. a reviewer).

Result items use the control "label" over the object "text" (or "image" for image items), with
the project's label names, as in these labeling configurations:

- classification: `<Text name="text" value="$text"/><Choices name="label" toName="text">...</Choices>`
  (`<Image name="image" value="$image"/>` for image items; `choice="multiple"` for multi_label);
  results `{"type": "choices", "value": {"choices": [...]}}`;
- spans: `<Labels name="label" toName="text">...</Labels>`; one `labels` result per span with
  `start`, `end` (character offsets) and the spanned `text`;
- boxes: `<Image name="image" value="$image"/><RectangleLabels name="label" toName="image">...`;
  one `rectanglelabels` result per box, `x`, `y`, `width`, `height` in percent of the image's size,
  with `original_width` and `original_height` in pixels. The size comes from `data.width` and
  `data.height`, or from the header of an uploaded image file. When it is unknown (a remote image
  without width and height in its data) the boxes cannot be placed in percent and are left out of
  that item's results; its `meta.boxes_without_size` says how many were left out. The JSON and JSONL
  exports hold them in pixels.
- pairwise: `<Text name="a" value="$a"/><Text name="b" value="$b"/><Pairwise name="label" toName="a,b"/>`;
  results `{"type": "pairwise", "value": {"selected": "left"|"right"}}` for a and b. Label Studio's
  Pairwise has no tie; a tie is `"selected": "none"`, its value when neither side is chosen.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import orjson

from dataio.export.images import image_size
from dataio.export.reading import Chunk
from dataio.export.records import raw

if TYPE_CHECKING:
    from dataio.export import Spec

SIDES = {"a": "left", "b": "right", "tie": "none"}


class _Item:
    """What converting one item's values needs: its task type, data and image size (read once)."""

    def __init__(self, task_type: str, data: dict):
        self.task_type = task_type
        self.data = data
        self.object = "image" if "image" in data and "text" not in data else "text"
        self._size: tuple | None | bool = False
        self.left_out = 0

    @property
    def size(self):
        if self._size is False:
            self._size = image_size(self.data)
        return self._size

    def result(self, value, prefix: str) -> list[dict]:
        """Label Studio result items of one of our values (None or a skip gives none)."""
        if not isinstance(value, dict):
            return []
        base = {"from_name": "label", "to_name": self.object}
        if self.task_type == "classification" and "label" in value:
            return [{"id": prefix, **base, "type": "choices", "value": {"choices": [value["label"]]}}]
        if self.task_type == "multi_label" and "labels" in value:
            return [{"id": prefix, **base, "type": "choices", "value": {"choices": list(value["labels"])}}]
        if self.task_type == "spans":
            text = self.data.get("text", "")
            return [{"id": f"{prefix}-{k}", **base, "type": "labels",
                     "value": {"start": s["start"], "end": s["end"], "text": text[s["start"]:s["end"]],
                               "labels": [s["label"]]}}
                    for k, s in enumerate(value.get("spans", ()))]
        if self.task_type == "boxes":
            boxes = value.get("boxes", ())
            if not boxes:
                return []
            if self.size is None:
                self.left_out += len(boxes)
                return []
            width, height = self.size
            return [{"id": f"{prefix}-{k}", "from_name": "label", "to_name": "image", "type": "rectanglelabels",
                     "original_width": width, "original_height": height, "image_rotation": 0,
                     "value": {"x": b["x"] * 100 / width, "y": b["y"] * 100 / height,
                               "width": b["w"] * 100 / width, "height": b["h"] * 100 / height, "rotation": 0,
                               "rectanglelabels": [b["label"]]}}
                    for k, b in enumerate(boxes)]
        if self.task_type == "pairwise" and value.get("choice") in SIDES:
            return [{"id": prefix, "from_name": "label", "to_name": "label", "type": "pairwise",
                     "value": {"selected": SIDES[value["choice"]]}}]
        return []


def _person(chunk: Chunk, user_id) -> dict | None:
    user = chunk.users.get(user_id)
    if user is None:
        return None
    return {"username": user.username, "email": user.email} if user.email else {"username": user.username}


def task(task_type: str, row, chunk: Chunk) -> dict:
    """The Label Studio task of one item row of `chunk`."""
    item = _Item(task_type, orjson.loads(row.data_json))
    annotations = []
    for k, a in enumerate(chunk.annotations.get(row.id, ())):
        value = orjson.loads(a.value_json) if a.value_json else None
        annotations.append({"completed_by": _person(chunk, a.user_id), "result": item.result(value, f"{row.id}-a{k}"),
                            "lead_time": a.lead_time, "created_at": a.created_at, "was_cancelled": a.skipped,
                            "ground_truth": False})
    if row.final_source:
        final = {"result": item.result(orjson.loads(row.final_value_json) if row.final_value_json else None,
                                       f"{row.id}-final"),
                 "created_at": row.final_at, "was_cancelled": False, "ground_truth": True}
        person = _person(chunk, row.final_by_id)
        if person is not None:
            final["completed_by"] = person
        annotations.append(final)
    predictions = []
    if row.prediction_json:
        stored = orjson.loads(row.prediction_json)
        if isinstance(stored, dict):
            predictions.append({"model_version": str(stored.get("model_version")), "score": stored.get("confidence"),
                                "result": item.result(stored.get("value"), f"{row.id}-p")})
    meta = {"external_id": row.external_id, "status": row.status, "final_source": row.final_source or None}
    if item.left_out:
        meta["boxes_without_size"] = item.left_out
    return {"id": row.id, "data": raw(row.data_json), "meta": meta, "annotations": annotations,
            "predictions": predictions}


def write(spec: Spec) -> Iterator[bytes]:
    """A JSON array of the selected items' tasks, a chunk at a time."""
    task_type = spec.project.task_type
    yield b"["
    first = True
    for chunk in spec.chunks(reviews=False):
        body = b",\n".join([orjson.dumps(task(task_type, row, chunk)) for row in chunk.items])
        yield body if first else b",\n" + body
        first = False
    yield b"]\n"
