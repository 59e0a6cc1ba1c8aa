"""What `tasks` does when an account changes, whichever way it was changed (API, Django admin, shell).

Here rather than in `accounts.services.set_active`: `accounts` sits below `tasks` and knows no leases."""
from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import User
from tasks.queue import expire_leases_of


@receiver(post_save, sender=User)
def _expire_leases_of_inactive_user(sender, instance: User, raw: bool = False, **kwargs) -> None:
    # A deactivated user will not submit; their leased items go back to the queue at once.
    if not raw and not instance.is_active:
        expire_leases_of(instance)
