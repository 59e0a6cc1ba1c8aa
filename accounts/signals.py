"""A new password or a deactivation ends the user's API tokens and sessions, whichever way it was made:
the API, the Django admin, `manage.py changepassword` or a shell."""
from __future__ import annotations

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from accounts.models import User
from accounts.services import end_sessions_and_tokens

_WATCHED = {"password", "is_active"}


@receiver(pre_save, sender=User)
def _note_credential_change(sender, instance: User, raw: bool = False, update_fields=None, **kwargs) -> None:
    instance._end_sessions = False
    if raw or instance.pk is None or (update_fields is not None and not _WATCHED & set(update_fields)):
        return
    old = User.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if old is None:
        return
    deactivated = old["is_active"] and not instance.is_active
    # `_password` is set by set_password() and is None when Django only re-hashes the same password at
    # login (a new hasher or iteration count): that is no change of password.
    new_password = old["password"] != instance.password and (
        getattr(instance, "_password", None) is not None or not instance.has_usable_password())
    instance._end_sessions = deactivated or new_password


@receiver(post_save, sender=User)
def _end_sessions_on_credential_change(sender, instance: User, **kwargs) -> None:
    if getattr(instance, "_end_sessions", False):
        instance._end_sessions = False
        # In the same transaction as the change: if it rolls back, so do the deletions.
        end_sessions_and_tokens(instance)
