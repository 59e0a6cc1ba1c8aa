"""API tokens that expire (settings.HITL_TOKEN_TTL_SECONDS after they were issued)."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

EXPIRED = "Your token has expired; request a new one with POST /api/auth/token/."


def token_expired(token: Token) -> bool:
    """True once the token is older than HITL_TOKEN_TTL_SECONDS."""
    return timezone.now() - token.created >= timedelta(seconds=settings.HITL_TOKEN_TTL_SECONDS)


def _user_by_token_sql() -> str:
    user = get_user_model()._meta
    return (f"SELECT u.*, t.created AS token_created FROM {user.db_table} u "
            f"JOIN {Token._meta.db_table} t ON t.user_id = u.{user.pk.column} WHERE t.key = %s")


def _created(value, db: str) -> datetime:
    """The token's `created` read outside the model, converted as the ORM would (SQLite: naive UTC)."""
    connection = connections[db]
    col = Token._meta.get_field("created").get_col(Token._meta.db_table)
    for convert in connection.ops.get_db_converters(col) + col.get_db_converters(connection):
        value = convert(value, col, connection)
    return value


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, refused with 401 once the token has expired (and then deleted).

    Every API call runs this, so the token and its user are read with one plain SQL statement rather
    than DRF's `select_related` query, whose compilation cost more than the database's answer."""

    def authenticate_credentials(self, key):
        user = next(iter(get_user_model().objects.raw(_user_by_token_sql(), [key])), None)
        if user is None:
            raise AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        db = user._state.db
        token = Token.from_db(db, ["key", "user_id", "created"], [key, user.pk, _created(user.token_created, db)])
        token.user = user
        if token_expired(token):
            token.delete()
            raise AuthenticationFailed(EXPIRED, code="token_expired")
        return user, token
