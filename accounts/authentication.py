"""API tokens that expire (settings.HITL_TOKEN_TTL_SECONDS after they were issued)."""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

EXPIRED = "Your token has expired; request a new one with POST /api/auth/token/."


def token_expired(token: Token) -> bool:
    """True once the token is older than HITL_TOKEN_TTL_SECONDS."""
    return timezone.now() - token.created >= timedelta(seconds=settings.HITL_TOKEN_TTL_SECONDS)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refused with 401 once the token has expired (and then deleted)."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_expired(token):
            token.delete()
            raise AuthenticationFailed(EXPIRED, code="token_expired")
        return user, token
