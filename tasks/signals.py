"""Signals other apps listen to, so that `tasks` needs to know nothing about them."""
from django.dispatch import Signal

# Sent after the commit that gave an item a human final value; kwargs: project_id.
human_final_label = Signal()

# Sent inside the transaction that created or changed a project; kwargs: project, fields (the
# names of the settings that were written; every field for a new project).
project_saved = Signal()

# Sent by `next` for the item it hands out; kwargs: item, user. A receiver returns a dict of fields to
# add to the answer, or None (annotations adds a rework's `feedback`), so `tasks` needs no import of it.
next_served = Signal()
