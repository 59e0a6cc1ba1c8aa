"""docs/sdk-example.py, the SDK's notebook-style example, runs as written against the live server."""
from __future__ import annotations

import runpy

import pytest

from models_registry.models import ModelVersion
from tests.conftest import PASSWORD, ROOT

EXAMPLE = ROOT / "docs" / "sdk-example.py"


@pytest.mark.worker
def test_the_example_runs(live_server, admin, worker, monkeypatch, capsys):
    monkeypatch.setenv("HITL_URL", live_server.url)
    monkeypatch.setenv("HITL_USERNAME", admin.username)
    monkeypatch.setenv("HITL_PASSWORD", PASSWORD)
    namespace = runpy.run_path(str(EXAMPLE), run_name="__main__")
    out = capsys.readouterr().out
    assert "Logged in as alice (admin)" in out
    assert "bad line: 2" in out and "409:" in out
    assert namespace["result"]["imported"] == 60
    assert len(namespace["records"]) == 60
    assert namespace["prelabel"].succeeded
    assert ModelVersion.objects.filter(project_id=namespace["project"].id, active=True).exists()
    assert len(namespace["gold"]) == 40


def test_the_example_is_percent_format_cells():
    text = EXAMPLE.read_text()
    assert text.startswith("# %% [markdown]")
    assert text.count("# %%") >= 10
