"""Who may do what (API.md, "Authentication and roles")."""
from __future__ import annotations

from accounts.models import Role

# Actions and the roles allowed to do them; admins may do everything.
LABEL = (Role.ANNOTATOR, Role.REVIEWER)
REVIEW = (Role.REVIEWER,)
MODEL_OPS = (Role.ML_ENGINEER,)
EXPORT = (Role.ML_ENGINEER,)
MANAGE = ()  # admin only
SEE_ALL_ANNOTATIONS = (Role.REVIEWER, Role.ML_ENGINEER)
