"""Fixtures of the import and export tests."""
from __future__ import annotations

import pytest

from dataio import importing


@pytest.fixture
def sent(monkeypatch):
    """The follow-up jobs an import queued after its commit, as (task name, args), kept out of the broker: the
    session's worker, started by an earlier test, would otherwise build search vectors while the test's database
    is emptied (a TRUNCATE that deadlocked with it once) or against the next test's rows."""
    calls: list[tuple[str, list]] = []
    monkeypatch.setattr(importing.current_app, "send_task", lambda name, args: calls.append((name, args)))
    return calls
