"""The decisions' listeners to the core's signals."""
from __future__ import annotations

import logging

from decisions import services

log = logging.getLogger(__name__)


def on_human_final(sender, project_id: int, item_id: int | None = None, awaited: bool | None = None,
                   **kwargs) -> None:
    """A person gave an item its final value (after commit): decide the decision it answers, if any (only an
    `awaited` item has one; None: not known, look). A failure here must not fail the person's request; the sweep
    catches up."""
    if awaited is False:
        return
    try:
        services.resolve_answered(project_id, item_id=item_id)
    except Exception:
        log.warning("project %s: deciding answered decisions failed; the sweep retries", project_id, exc_info=True)
