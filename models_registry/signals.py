"""Signals other apps listen to, so that `models_registry` needs to know nothing about them."""
from django.dispatch import Signal

# Sent inside the transaction that made a model version the serving one; kwargs: project_id,
# model_version_id, version, reason, previous (the version it replaced, or None).
model_activated = Signal()
