"""`Client`: the connection to a hitl server (base URL, token, one `httpx.Client`) and the entry point to
projects, users, jobs and models.

    from hitl_sdk import Client

    client = Client("https://hitl.example.com", token="...")
    client = Client("https://hitl.example.com", username="alice", password="...")   # logs in
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from hitl_sdk.errors import AuthenticationError, ConnectionFailed, HitlError, error_for
from hitl_sdk.jobs import Job
from hitl_sdk.projects import Project
from hitl_sdk.types import ModelVersion, User
from hitl_sdk.users import Users

__all__ = ["DEFAULT_TIMEOUT", "Client", "Params"]

DEFAULT_TIMEOUT = 60.0

# Query parameters: a list is sent as the parameter repeated; None leaves it out; booleans as true/false.
Params = Mapping[str, Any]


def clean_params(params: Params | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple, set)):
            value = [("true" if v else "false") if isinstance(v, bool) else v for v in value]
        out[key] = value
    return out


class Client:
    """A connection to a hitl server.

    `url` is the server's base URL (`http://localhost:8000`; a trailing `/api` is allowed). Authenticate
    with `token`, or with `username` and `password` (a token is fetched from `POST /api/auth/token/`).
    Without either, `HITL_URL` / `HITL_TOKEN` from the environment are used. Use it as a context manager,
    or call `close()`.
    """

    def __init__(self, url: str | None = None, token: str | None = None, *, username: str | None = None,
                 password: str | None = None, timeout: float = DEFAULT_TIMEOUT, verify: bool = True,
                 transport: httpx.BaseTransport | None = None, headers: Mapping[str, str] | None = None) -> None:
        url = url or os.environ.get("HITL_URL")
        if not url:
            raise ValueError("Give the server's URL (or set HITL_URL).")
        url = url.rstrip("/")
        if url.endswith("/api"):
            url = url[: -len("/api")]
        self.url = url
        self._http = httpx.Client(base_url=url, timeout=timeout, verify=verify, transport=transport,
                                  headers={"Accept": "application/json", **(headers or {})})
        self.token: str | None = None
        if token is None and username is None:
            token = os.environ.get("HITL_TOKEN") or None
        if token:
            self.set_token(token)
        elif username is not None:
            if password is None:
                raise ValueError("Give a password with the username.")
            self.login(username, password)
        self.users = Users(self)

    # -- plumbing -----------------------------------------------------------------------------------------

    def set_token(self, token: str) -> None:
        self.token = token
        self._http.headers["Authorization"] = f"Token {token}"

    def login(self, username: str, password: str) -> str:
        """Exchange a username and password for a token, use it from now on, and return it.

        Wrong credentials raise `AuthenticationError` carrying the server's message."""
        self._http.headers.pop("Authorization", None)
        try:
            body = self._request("POST", "/api/auth/token/", json={"username": username, "password": password})
        except HitlError as exc:
            if exc.status_code == 400:  # the token endpoint answers 400 to bad credentials
                raise AuthenticationError(exc.detail, status_code=400, body=exc.body, method=exc.method,
                                          url=exc.url) from None
            raise
        token = str(body["token"])
        self.set_token(token)
        return token

    def logout(self) -> None:
        """Revoke the token (`DELETE /api/auth/token/`)."""
        self._request("DELETE", "/api/auth/token/")
        self._http.headers.pop("Authorization", None)
        self.token = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    @staticmethod
    def _path(path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        if not path.startswith("/"):
            path = "/" + path
        if not path.startswith("/api/"):
            path = "/api" + path
        return path if path.endswith("/") or "?" in path else path + "/"

    def _raise_for(self, response: httpx.Response) -> None:
        if response.is_success:
            return
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text.strip() or None
        raise error_for(response.status_code, body, method=response.request.method, url=str(response.request.url))

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, self._path(path), **kwargs)
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"Could not reach {self.url}: {exc}", method=method, url=self.url) from exc

    def _request(self, method: str, path: str, *, params: Params | None = None, json: Any = None,
                 data: Mapping[str, Any] | None = None, files: Any = None,
                 timeout: float | None = None) -> Any:
        """Send one request; answer the decoded JSON body (None for an empty answer, e.g. 204), or raise the
        `HitlError` subclass of the error answer, carrying the server's message and body."""
        kwargs: dict[str, Any] = {"params": clean_params(params)}
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = clean_params(data)
        if files is not None:
            kwargs["files"] = files
        if timeout is not None:
            kwargs["timeout"] = timeout
        response = self._send(method, path, **kwargs)
        self._raise_for(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def get(self, path: str, params: Params | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post(self, path: str, json: Any = None, params: Params | None = None) -> Any:
        return self._request("POST", path, json=json, params=params)

    def patch(self, path: str, json: Any = None) -> Any:
        return self._request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    @contextlib.contextmanager
    def stream(self, method: str, path: str, *, params: Params | None = None) -> Iterator[httpx.Response]:
        """A streamed answer (`response.iter_bytes()`, `iter_lines()`), error answers raised as for `_request`."""
        try:
            with self._http.stream(method, self._path(path), params=clean_params(params)) as response:
                if not response.is_success:
                    response.read()
                    self._raise_for(response)
                yield response
        except httpx.TransportError as exc:
            raise ConnectionFailed(f"Could not reach {self.url}: {exc}", method=method, url=self.url) from exc

    def paginate(self, path: str, params: Params | None = None, *, page_size: int | None = None) -> Iterator[Any]:
        """Every result of a list endpoint, page after page (lists that are not paginated come whole)."""
        query = dict(params or {})
        if page_size is not None:
            query["page_size"] = page_size
        page = 1
        while True:
            body = self._request("GET", path, params={**query, "page": page})
            if isinstance(body, list):
                yield from body
                return
            yield from body.get("results", [])
            if not body.get("next"):
                return
            page += 1

    # -- the API --------------------------------------------------------------------------------------------

    def me(self) -> User:
        """The authenticated user (`GET /api/users/me/`)."""
        result: User = self._request("GET", "/api/users/me/")
        return result

    def projects(self) -> list[Project]:
        """The projects the user can see."""
        return [Project(self, data) for data in self.paginate("/api/projects/")]

    def project(self, project: int | str) -> Project:
        """One project, by id or (exact) name."""
        if isinstance(project, str) and not project.isdigit():
            for candidate in self.paginate("/api/projects/"):
                if candidate.get("name") == project:
                    return Project(self, candidate)
            raise error_for(404, {"detail": f"No project named {project!r}."})
        return Project(self, self._request("GET", f"/api/projects/{int(project)}/"))

    def create_project(self, name: str, task_type: str, labels: list[str], **settings: Any) -> Project:
        """Create a project (admin); `settings` are its other fields (overlap, strategy, thresholds, ...)."""
        body = {"name": name, "task_type": task_type, "labels": list(labels), **settings}
        return Project(self, self._request("POST", "/api/projects/", json=body))

    def job(self, job_id: int) -> Job:
        """A background job (`GET /api/jobs/{id}/`); `.wait()` on it."""
        return Job(self, self._request("GET", f"/api/jobs/{int(job_id)}/"))

    def model(self, model_id: int) -> ModelVersion:
        """A model version with its metrics (`GET /api/models/{id}/`)."""
        result: ModelVersion = self._request("GET", f"/api/models/{int(model_id)}/")
        return result

    def activate(self, model_id: int, *, wait: bool = False, progress: bool = False) -> ModelVersion:
        """Make a model version the active one (ml_engineer). The answer names the re-scoring job
        (`prelabel_job`); with `wait`, that job is waited on."""
        result: ModelVersion = self._request("POST", f"/api/models/{int(model_id)}/activate/")
        job_id = result.get("prelabel_job")
        if wait and job_id:
            self.job(int(job_id)).wait(progress=progress)
        return result
