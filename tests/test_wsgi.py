"""The web worker's application module (`hitl.wsgi`, what the web server (granian) loads)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_objects_a_web_worker_loads_at_start_are_left_out_of_full_collections():
    """Once the application is loaded, its objects (modules, settings, URL patterns) are frozen: a full garbage
    collection, which walked them all (117 ms), leaves them out."""
    probe = "import gc, hitl.wsgi; print(gc.get_freeze_count())"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=os.environ, capture_output=True, text=True,
                         check=True, timeout=120)
    assert int(out.stdout.split()[-1]) > 100_000, out
