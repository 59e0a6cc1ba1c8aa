"""One-time password reset links: an admin hands one to a user who forgot their password, or the
"Forgot your password?" page mails one to the account's address.

The token is Django's (`default_token_generator`): it stops working once the password changes or
the user logs in, and after `PASSWORD_RESET_TIMEOUT` seconds."""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts.models import User
from audit import trail


def reset_path(user: User) -> str:
    """The path of the page where `user` sets a new password, valid once."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("password-reset-confirm", kwargs={"uidb64": uid, "token": default_token_generator.make_token(user)})


def issue_reset_link(user: User, *, by: User) -> tuple[str, int]:
    """A reset link's path for an admin to pass on, and how many hours it stays valid; audited."""
    if not user.is_active:
        raise ValueError("This account is deactivated; reactivate it before resetting its password.")
    trail.record("user.password_reset_link", user=by, changed=user.pk)
    return reset_path(user), settings.PASSWORD_RESET_TIMEOUT // 3600
