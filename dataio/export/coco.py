"""COCO object detection (boxes projects): one JSON document from the items' final values.

    {"info": {...}, "licenses": [],
     "images": [{"id", "file_name", "width", "height"}],
     "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd": 0}],
     "categories": [{"id", "name"}]}

An image's id is the item's id and its `file_name` the item's `data.image` (URL or path). `width`
and `height` come from `data.width`/`data.height`, or from the header of an uploaded image file;
when neither is known they are left out rather than written as 0. Only items with a final value
are exported (an image listed without boxes says it holds no object); boxes are in pixels of the
original image, as stored. Categories are the project's labels, with ids from 1 in label order,
followed by any label a final value still uses after it was removed from the project (which is why
they come last).

Images and annotations are two passes over the items, each read a chunk at a time, so the
document is streamed in constant memory.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import orjson

from dataio.export.images import image_size

if TYPE_CHECKING:
    from dataio.export import Spec


def write(spec: Spec) -> Iterator[bytes]:
    """The COCO document of the selected items, in pieces: the images pass, then the boxes pass."""
    project = spec.project
    categories = {label: n for n, label in enumerate(project.labels, start=1)}
    head = {"info": {"description": project.name, "date_created": datetime.now(timezone.utc)}, "licenses": []}
    yield orjson.dumps(head)[:-1] + b',"images":['
    first = True
    for chunk in spec.chunks(annotations=False, reviews=False):
        images = []
        for row in chunk.items:
            data = orjson.loads(row.data_json)
            image = {"id": row.id, "file_name": data.get("image")}
            size = image_size(data)
            if size is not None:
                image["width"], image["height"] = size
            images.append(orjson.dumps(image))
        if images:
            yield (b"" if first else b",") + b",".join(images)
            first = False
    yield b'],"annotations":['
    first, next_id = True, 1
    for chunk in spec.chunks(annotations=False, reviews=False):
        boxes = []
        for row in chunk.items:
            value = orjson.loads(row.final_value_json) if row.final_value_json else None
            for box in (value or {}).get("boxes", ()):
                category = categories.setdefault(box["label"], len(categories) + 1)
                boxes.append(orjson.dumps({
                    "id": next_id, "image_id": row.id, "category_id": category,
                    "bbox": [box["x"], box["y"], box["w"], box["h"]], "area": box["w"] * box["h"], "iscrowd": 0,
                }))
                next_id += 1
        if boxes:
            yield (b"" if first else b",") + b",".join(boxes)
            first = False
    yield b'],"categories":' + orjson.dumps([{"id": n, "name": label} for label, n in categories.items()]) + b"}\n"
