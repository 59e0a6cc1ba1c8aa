"""Signals other apps listen to, so that `tasks` needs to know nothing about them."""
from django.dispatch import Signal

# Sent after the commit that gave an item a human final value; kwargs: project_id.
human_final_label = Signal()
