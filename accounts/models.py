from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    ML_ENGINEER = "ml_engineer", "ML engineer"
    REVIEWER = "reviewer", "Reviewer"
    ANNOTATOR = "annotator", "Annotator"


class User(AbstractUser):
    """A platform user with exactly one role; a superuser is always an admin."""

    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANNOTATOR)

    def __str__(self) -> str:
        return self.username

    @property
    def effective_role(self) -> str:
        return Role.ADMIN if self.is_superuser else self.role

    @property
    def is_admin(self) -> bool:
        return self.effective_role == Role.ADMIN

    def has_role(self, *roles: str) -> bool:
        """True if the user is an admin or has one of `roles`."""
        return self.is_admin or self.effective_role in roles


class OidcIdentity(models.Model):
    """A user's account at an OpenID Connect provider: a single sign-on login finds its user by
    (issuer, sub), never by a name or an address someone else could have chosen (accounts.oidc)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="oidc_identities")
    issuer = models.CharField(max_length=255)
    sub = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "sub"], name="oidc_identity_unique")]

    def __str__(self) -> str:
        return f"{self.sub} at {self.issuer}"
