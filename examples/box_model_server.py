#!/usr/bin/env python3
"""A team's own box model behind hitl's external-model protocol: a digit detector for the demo.

The demo's "Digit boxes" project shows dark handwritten digits on a light canvas. This server finds
them without any training: it thresholds the image's darkness, joins strokes that lie close together
(connected components of the dilated ink), and answers a box around each blob. A box's score grows
with the contrast of its ink and its size, so a faint or tiny mark gets a low score and is routed to
people; an image without ink gets no box and an item-level "confidence" that nothing is there.

Protocol (see the README, "Models, pre-labeling and routing"): hitl POSTs
`{"task_type": "boxes", "labels": [...], "items": [{"id": 7, "data": {"image": "/media/..."}}]}` and this
server answers `{"predictions": [{"id": 7, "boxes": [{"x", "y", "w", "h", "label", "score"}]}]}`
in image pixels. Every box gets the label given with --label, else the first of the request's labels.

Images are read from the platform's media folder (--media-root, shared with hitl's MEDIA_ROOT), or
fetched from the platform (--base-url, with an API token in HITL_TOKEN). Only the standard library,
numpy and Pillow; it listens on 127.0.0.1 only.

    python examples/box_model_server.py --port 8601 --media-root var/media
    # then, on the project's settings: model backend "http", endpoint http://127.0.0.1:8601/predict

This file is an example outside the application: hitl never imports it.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import urllib.request
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

# A pixel is ink when its darkness (0 white .. 1 black) is above this.
INK = 0.25
# Strokes closer than this share of the image's shorter side belong to one mark.
JOIN = 0.125
# Marks smaller than this share of the image are specks, not digits.
SPECK = 0.002
# A mark covering this share of the image is big enough to be sure of; smaller ones are less sure.
FULL_SIZE = 0.01
# The largest side the detector looks at; bigger images are scaled down first (and boxes scaled back).
MAX_SIDE = 256
MAX_BODY = 16 * 1024 * 1024


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float


def darkness(image: Image.Image) -> np.ndarray:
    """Each pixel's darkness in [0, 1]; a dark canvas with light ink is turned round."""
    grey = np.asarray(image.convert("L"), dtype=np.float64) / 255.0
    dark = 1.0 - grey
    return 1.0 - dark if np.median(dark) > 0.5 else dark


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """A square dilation by `radius` pixels, from shifted copies (no SciPy needed)."""
    out = mask.copy()
    for r in range(1, radius + 1):
        out[r:] |= mask[:-r]
        out[:-r] |= mask[r:]
    rows = out.copy()
    for r in range(1, radius + 1):
        out[:, r:] |= rows[:, :-r]
        out[:, :-r] |= rows[:, r:]
    return out


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """The 8-connected components of `mask`, each as an array of (row, column) pixels."""
    seen = np.zeros(mask.shape, dtype=bool)
    height, width = mask.shape
    found = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        queue, pixels = deque([start]), []
        while queue:
            r, c = queue.popleft()
            pixels.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < height and 0 <= cc < width and mask[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        queue.append((rr, cc))
        found.append(np.array(pixels))
    return found


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def detect(image: Image.Image) -> tuple[list[Box], float]:
    """The marks on the image, and how sure the detector is that it missed nothing (for no marks)."""
    width, height = image.size
    scale = min(1.0, MAX_SIDE / max(width, height))
    if scale < 1.0:
        image = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BILINEAR)
    dark = darkness(image)
    ink = dark > INK
    radius = max(1, round(JOIN * min(dark.shape) / 2))
    boxes = []
    for pixels in _components(_dilate(ink, radius)):
        rows, cols = pixels[:, 0], pixels[:, 1]
        strokes = ink[rows, cols]
        if strokes.sum() < max(4, SPECK * dark.size):
            continue
        rows, cols = rows[strokes], cols[strokes]
        # Contrast: how dark the mark's darker strokes are; faint marks are the ones people should check.
        contrast = float(np.percentile(dark[rows, cols], 90))
        size = min(1.0, len(rows) / (FULL_SIZE * dark.size))
        score = _sigmoid(12.0 * (contrast - 0.45)) * size
        x0, x1 = cols.min() / scale, (cols.max() + 1) / scale
        y0, y1 = rows.min() / scale, (rows.max() + 1) / scale
        boxes.append(Box(round(x0), round(y0), round(x1 - x0), round(y1 - y0), round(score, 4)))
    boxes.sort(key=lambda b: (b.x, b.y))
    # With no mark, the darkest pixel says how sure "nothing here" is: a faint smudge lowers it.
    return boxes, round(max(0.0, 1.0 - float(dark.max())), 4)


class Images:
    """Where item images come from: the media folder, or the platform over HTTP with a token."""

    def __init__(self, media_root: str | None, media_url: str, base_url: str | None, token: str | None):
        self.media_root = Path(media_root).resolve() if media_root else None
        self.media_url, self.base_url, self.token = media_url, base_url, token

    def open(self, url: str) -> Image.Image:
        if self.media_root is not None and url.startswith(self.media_url):
            path = (self.media_root / url[len(self.media_url):]).resolve()
            if self.media_root not in path.parents:
                raise OSError("outside the media folder")
            with Image.open(path) as img:
                img.load()
                return img
        if url.startswith(("http://", "https://")) or self.base_url:
            full = url if url.startswith(("http://", "https://")) else str(self.base_url).rstrip("/") + url
            request = urllib.request.Request(full, headers={"Authorization": f"Token {self.token}"}
                                             if self.token else {})
            with urllib.request.urlopen(request, timeout=10) as response:
                img = Image.open(io.BytesIO(response.read()))
                img.load()
                return img
        raise OSError(f"cannot read {url!r}")


def predict(body: dict, images: Images, label: str | None) -> dict:
    """The answer to one request, in the protocol's shape."""
    chosen = label or (body.get("labels") or ["object"])[0]
    predictions = []
    for item in body["items"]:
        try:
            image = images.open(str((item.get("data") or {}).get("image", "")))
        except (OSError, UnidentifiedImageError, ValueError):
            # Unreadable: no boxes, and no confidence in that, so people look at it first.
            predictions.append({"id": item["id"], "boxes": [], "confidence": 0.0})
            continue
        boxes, nothing_missed = detect(image)
        prediction = {"id": item["id"], "boxes": [{"x": b.x, "y": b.y, "w": b.w, "h": b.h, "label": chosen,
                                                    "score": b.score} for b in boxes]}
        if not boxes:
            prediction["confidence"] = nothing_missed
        predictions.append(prediction)
    return {"predictions": predictions}


def make_server(port: int, images: Images, label: str | None) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            if self.path.rstrip("/") != "/predict" or not 0 < length <= MAX_BODY:
                return self._send(404 if self.path.rstrip("/") != "/predict" else 400, {"error": "bad request"})
            try:
                body = json.loads(self.rfile.read(length))
                if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                    raise ValueError("no 'items' list")
                answer = predict(body, images, label)
            except (ValueError, KeyError, TypeError) as exc:
                return self._send(400, {"error": str(exc)})
            self._send(200, answer)

        def _send(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("BOX_MODEL_PORT", "8601")),
                        help="port on 127.0.0.1 (0: any free one; the first line printed names it)")
    parser.add_argument("--media-root", default=os.environ.get("MEDIA_ROOT"), help="hitl's MEDIA_ROOT")
    parser.add_argument("--media-url", default="/media/")
    parser.add_argument("--base-url", default=os.environ.get("HITL_BASE_URL"),
                        help="fetch images from the platform instead (with HITL_TOKEN)")
    parser.add_argument("--label", default=None, help="the label of every box (default: the request's first)")
    args = parser.parse_args(argv)
    images = Images(args.media_root, args.media_url, args.base_url, os.environ.get("HITL_TOKEN"))
    server = make_server(args.port, images, args.label)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}/predict", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
