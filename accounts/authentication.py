"""API tokens that expire (settings.HITL_TOKEN_TTL_SECONDS after they were issued)."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from common import prepared
from common.rows import Columns, converted

EXPIRED = "Your token has expired; request a new one with POST /api/auth/token/."


def token_expired(token: Token) -> bool:
    """True once the token is older than HITL_TOKEN_TTL_SECONDS."""
    return timezone.now() - token.created >= timedelta(seconds=settings.HITL_TOKEN_TTL_SECONDS)


_USER = Columns(get_user_model(), "u")
_USER_BY_TOKEN_SQL = (f"SELECT {_USER.sql}, t.created FROM {get_user_model()._meta.db_table} u "
                      f"JOIN {Token._meta.db_table} t ON t.user_id = u.id WHERE t.key = %(key)s")


def _user_by_token(key: str) -> tuple[Any, Any] | None:
    """The token's user and the token's `created`, or None."""
    with connection.cursor() as cur:
        prepared.execute(cur, _USER_BY_TOKEN_SQL, {"key": key})
        row = cur.fetchone()
    return None if row is None else (_USER.load(row[:-1]), converted(Token, "created", row[-1]))


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refused with 401 once the token has expired (and then deleted).

    Every API call runs this, so the token and its user are read with one plain SQL statement rather
    than DRF's `select_related` query, whose compilation cost more than the database's answer."""

    def authenticate_credentials(self, key):
        found = _user_by_token(key)
        if found is None:
            raise AuthenticationFailed(_("Invalid token."))
        user, created = found
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        token = Token.from_db(user._state.db, ["key", "user_id", "created"], [key, user.pk, created])
        token.user = user
        if token_expired(token):
            token.delete()
            raise AuthenticationFailed(EXPIRED, code="token_expired")
        return user, token
