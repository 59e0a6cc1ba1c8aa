from __future__ import annotations

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.authentication import token_expired
from accounts.models import User
from audit import trail


def create_user(*, username: str, password: str, role: str, email: str = "", by=None) -> User:
    """Create a user with a role (an admin-role user may use the Django admin too).

    The password must have passed `validate_password` (the serializers do that)."""
    with transaction.atomic():
        user = User.objects.create_user(username=username, password=password, role=role, email=email,
                                        is_staff=(role == "admin"))
        trail.record("user.created", user=by, created=user.pk, role=role)
    return user


def issue_token(user: User) -> Token:
    """The user's API token: the current one, or a new one if there is none or it has expired."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and token_expired(token):
        token.delete()
        token = Token.objects.create(user=user)
    return token


def revoke_token(user: User, *, by=None) -> bool:
    """Delete the user's API token; True if there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        trail.record("token.revoked", user=by, revoked_for=user.pk)
    return bool(deleted)


def change_password(user: User, password: str, *, by=None) -> None:
    """Set a new password (already checked by `validate_password`); the user's tokens and sessions end
    (accounts.signals), so whoever held them must log in again."""
    with transaction.atomic():
        user.set_password(password)
        user.save()
        trail.record("user.password_changed", user=by, changed=user.pk)


def set_active(user: User, active: bool, *, by=None) -> None:
    """Activate or deactivate a user; deactivation ends their tokens and sessions (accounts.signals)."""
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        trail.record("user.activated" if active else "user.deactivated", user=by, changed=user.pk)


def set_role(user: User, role: str, *, by=None) -> bool:
    """Give the user another role (an admin-role user may use the Django admin too); True if it changed.
    With single sign-on and no role claim configured, this is how SSO users get their roles (accounts.oidc)."""
    if role == user.role:
        return False
    with transaction.atomic():
        before = user.role
        user.role = role
        user.is_staff = role == "admin"
        user.save(update_fields=["role", "is_staff"])
        trail.record("user.role_changed", user=by, changed=user.pk, role_before=before, role=role)
    return True


def end_sessions_and_tokens(user: User) -> None:
    """Revoke every API token and browser session of the user (called on password change or deactivation).

    Sessions in the database are found by decoding them; other session engines keep theirs, which
    Django refuses anyway once the password changed (session auth hash) or the user is inactive."""
    Token.objects.filter(user=user).delete()
    if settings.SESSION_ENGINE != "django.contrib.sessions.backends.db":
        return
    from django.contrib.sessions.models import Session

    mine = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if s.get_decoded().get(SESSION_KEY) == str(user.pk)]
    Session.objects.filter(pk__in=mine).delete()
