"""Settings for `bench.py --drf-format-workaround` only: hitl.settings with DRF's `?format=` override off.

DRF reads the `format` query parameter as a renderer choice (URL_FORMAT_OVERRIDE) and answers
404 when no renderer has that format, which hides `GET /api/projects/{id}/export/?format=jsonl`
behind a 404. Turning the override off lets the benchmark time the export itself until the
application handles it; the default run measures the application exactly as it is.
"""
from hitl.settings import *  # noqa: F401,F403
from hitl.settings import REST_FRAMEWORK

REST_FRAMEWORK = {**REST_FRAMEWORK, "URL_FORMAT_OVERRIDE": None}
