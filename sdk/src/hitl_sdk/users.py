"""User accounts (admins only): list, create, deactivate, set a password."""
from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hitl_sdk.client import Client
    from hitl_sdk.types import User

__all__ = ["Users"]


class Users:
    """`client.users`: `list()`, `create(username, password, role)`, `update(id, ...)`, `get(username)`."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def __iter__(self) -> Iterator[User]:
        return iter(self.list())

    def list(self) -> list[User]:
        """Every account (`GET /api/users/`)."""
        return list(self._client.paginate("/api/users/"))

    def get(self, user: int | str) -> User:
        """One account by id or username (NotFound if there is none)."""
        from hitl_sdk.errors import NotFound

        for candidate in self._client.paginate("/api/users/"):
            if candidate.get("id") == user or candidate.get("username") == user:
                found: User = candidate
                return found
        raise NotFound(f"No user {user!r}.", status_code=404, body={"detail": f"No user {user!r}."})

    def create(self, username: str, password: str, role: str = "annotator", *, email: str | None = None) -> User:
        """Create an account with a role: `admin`, `ml_engineer`, `reviewer` or `annotator`."""
        body: dict[str, Any] = {"username": username, "password": password, "role": role}
        if email is not None:
            body["email"] = email
        created: User = self._client._request("POST", "/api/users/", json=body)
        return created

    def update(self, user_id: int, *, is_active: bool | None = None, password: str | None = None,
               role: str | None = None) -> User:
        """Deactivate (or reactivate) an account, set its password or its role (`PATCH /api/users/{id}/`)."""
        body: dict[str, Any] = {}
        if role is not None:
            body["role"] = role
        if is_active is not None:
            body["is_active"] = is_active
        if password is not None:
            body["password"] = password
        updated: User = self._client._request("PATCH", f"/api/users/{int(user_id)}/", json=body)
        return updated

    def deactivate(self, user_id: int) -> User:
        return self.update(user_id, is_active=False)

    def me(self) -> User:
        return self._client.me()
