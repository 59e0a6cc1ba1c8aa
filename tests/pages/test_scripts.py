"""The pages' scripts: ES modules that share one layer (static/js/lib/) for the API, the DOM and errors."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
LIB = STATIC / "js" / "lib"
PAGE_SCRIPTS = sorted(p for p in STATIC.rglob("*.js") if LIB not in p.parents)


def test_every_page_script_is_loaded_as_a_module():
    for path in sorted((ROOT / "templates").glob("*.html")):
        for tag in re.findall(r"<script\b[^>]*\bsrc=[^>]*>", path.read_text()):
            if "{% static" in tag:
                assert 'type="module"' in tag, f"{path.name}: {tag}"


@pytest.mark.parametrize("copy", [r"function csrfToken\b", r"function h\(", r"\bfetch\(", r"function flattenErrors\b",
                                  r"function errorsUnder\b"])
def test_no_page_script_keeps_its_own_copy_of_the_shared_layer(copy):
    assert PAGE_SCRIPTS
    found = [str(p.relative_to(ROOT)) for p in PAGE_SCRIPTS if re.search(copy, p.read_text())]
    assert found == []


def test_every_page_script_imports_the_shared_layer():
    importers = {p.name for p in PAGE_SCRIPTS if re.search(r'from "(\.\./js|\.)/lib/\w+\.js"', p.read_text())}
    assert {"core.js", "choices.js", "spans.js", "boxes.js", "pairwise.js", "review.js", "models.js",
            "settings.js"} <= importers


@pytest.mark.django_db
def test_the_review_screen_loads_the_labeling_widgets_styles_and_the_labels(reviewer, project):
    client = Client()
    client.force_login(reviewer)
    html = client.get(f"/projects/{project.pk}/review/").content.decode()
    assert re.search(r'<script type="module" src="[^"]*/js/review\.(\w+\.)?js">', html)
    assert "label/label.css" in html
    assert json.dumps({"labels": project.labels})[1:-1] in html  # the widgets' labels, as on the labeling screen
