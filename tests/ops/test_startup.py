"""A process of the platform (a `manage.py` command, a web or Celery worker) loads its URLconf and every app
without cleanlab, which with the pandas and datasets it brings took 0.7 s of each start-up: it is imported where
label issues are looked for (`models_registry.label_issues`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

LOADED = """
import sys, django
django.setup()
import hitl.urls, hitl.celery  # every app's models, receivers, views and jobs
print(sorted(name for name in ("cleanlab", "datasets") if name in sys.modules))
"""


def test_starting_up_loads_no_cleanlab(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}
    env.update({"DJANGO_SETTINGS_MODULE": "hitl.settings", "SECRET_KEY": "startup-test", "DEBUG": "0",
                "HITL_VAR_DIR": str(tmp_path)})
    done = subprocess.run([sys.executable, "-c", LOADED], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout


def test_label_issues_still_find_a_mislabeled_item():
    import numpy as np

    from models_registry import label_issues

    probs = np.array([[0.95, 0.05]] * 6 + [[0.05, 0.95]] * 6 + [[0.97, 0.03]])
    targets = ["a"] * 6 + ["b"] * 6 + ["b"]  # the last one says "b" where the model is sure of "a"
    issues = label_issues.find("classification", ["a", "b"], targets, probs)
    first = issues[0]
    assert (first.index, first.given, first.suggested) == (12, {"label": "b"}, {"label": "a"})
