"""Signals other apps listen to, so that `tasks` needs to know nothing about them."""
from django.dispatch import Signal

# Sent after the commit that gave an item a human final value; kwargs: project_id, item_id, project (the
# project row as the writer had it loaded, or None), awaited (the item's `awaited` flag; None where the writer
# had not loaded it).
human_final_label = Signal()

# Sent inside the transaction that gave an item a human final value (roll back, and it never was);
# kwargs: project_id, item_id, external_id, value, source, at. Receivers only write rows (webhooks' outbox).
item_final = Signal()

# Sent when a job ends: inside the transaction of `jobs.complete`, or by `jobs.fail`; kwargs: job_id,
# project_id, kind, state ("succeeded" or "failed"), result, error.
job_finished = Signal()

# Sent inside the transaction that created or changed a project; kwargs: project, fields (the
# names of the settings that were written; every field for a new project).
project_saved = Signal()

# Sent by `next` for the item it hands out; kwargs: item, user. A receiver returns a dict of fields to
# add to the answer, or None (annotations adds a rework's `feedback`), so `tasks` needs no import of it.
next_served = Signal()
