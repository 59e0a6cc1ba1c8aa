from __future__ import annotations

from django.db import transaction

from accounts.models import User
from tasks import audit


def create_user(*, username: str, password: str, role: str, by=None) -> User:
    """Create a user with a role (an admin-role user may use the Django admin too)."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password, role=role,
                                        is_staff=(role == "admin"))
        audit.record("user.created", user=by, created=user.pk, role=role)
    return user
