"""A stand-alone annotator that labels over HTTP until the queue is empty.

Imports nothing from Django, so it can run in freshly spawned processes.
"""
from __future__ import annotations

import json
import urllib.request


def label_until_empty(args: tuple[str, str, int]) -> list[int]:
    base, token, project_id = args
    taken = []
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    while True:
        req = urllib.request.Request(f"{base}/api/projects/{project_id}/next/", headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.status == 204:
                return taken
            item_id = json.loads(r.read())["item"]["id"]
        taken.append(item_id)
        body = json.dumps({"value": {"label": "neg"}, "lead_time": 1.5}).encode()
        req = urllib.request.Request(f"{base}/api/items/{item_id}/annotations/", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            assert r.status == 201
