"""Background jobs (imports, training, pre-labeling): poll them and wait with a progress bar."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from hitl_sdk.errors import JobFailed, JobTimeout

if TYPE_CHECKING:
    from hitl_sdk.client import Client
    from hitl_sdk.types import JobData

__all__ = ["FINISHED", "Job"]

FINISHED = ("succeeded", "failed")


class Job:
    """A job of the server (`GET /api/jobs/{id}/`): `id`, `kind`, `state` (`pending`, `running`, `succeeded`,
    `failed`), `progress` of `total`, `error`, `result`. `data` is the whole last answer."""

    def __init__(self, client: Client, data: JobData | dict[str, Any]) -> None:
        self._client = client
        self.data: dict[str, Any] = dict(data)

    @property
    def id(self) -> int:
        return int(self.data["id"])

    @property
    def kind(self) -> str:
        return str(self.data.get("kind", ""))

    @property
    def state(self) -> str:
        return str(self.data.get("state", "pending"))

    @property
    def progress(self) -> int:
        return int(self.data.get("progress") or 0)

    @property
    def total(self) -> int | None:
        total = self.data.get("total")
        return None if total is None else int(total)

    @property
    def error(self) -> str | None:
        error = self.data.get("error")
        return str(error) if error else None

    @property
    def result(self) -> Any:
        return self.data.get("result")

    @property
    def done(self) -> bool:
        return self.state in FINISHED

    @property
    def succeeded(self) -> bool:
        return self.state == "succeeded"

    def refresh(self) -> Job:
        """Read the job's current state from the server."""
        self.data = dict(self._client._request("GET", f"/api/jobs/{self.id}/"))
        return self

    def retry(self) -> Job:
        """Run a failed job again (`POST /api/jobs/{id}/retry/`)."""
        self.data = dict(self._client._request("POST", f"/api/jobs/{self.id}/retry/"))
        return self

    def wait(self, *, progress: bool = True, timeout: float | None = None, interval: float = 0.5,
             raise_on_failure: bool = True) -> Job:
        """Poll until the job succeeds or fails, showing a tqdm bar of `progress`/`total` with `progress`.

        Raises `JobFailed` (carrying the job's `error`) when it fails, unless not `raise_on_failure`, and
        `JobTimeout` after `timeout` seconds (the job goes on running)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.total, desc=f"{self.kind or 'job'} {self.id}", unit="it", leave=True)
        try:
            delay = min(interval, 0.1)
            while True:
                if bar is not None:
                    if self.total is not None and bar.total != self.total:
                        bar.total = self.total
                    bar.n = self.progress
                    bar.set_postfix_str(self.state, refresh=False)
                    bar.refresh()
                if self.done:
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    raise JobTimeout(f"job {self.id} ({self.kind}) is still {self.state} after {timeout}s",
                                     body=self.data)
                time.sleep(delay)
                delay = min(delay * 1.5, interval)
                self.refresh()
        finally:
            if bar is not None:
                bar.close()
        if self.state == "failed" and raise_on_failure:
            raise JobFailed(self.error or "The job failed.", job=self.data)
        return self

    def __repr__(self) -> str:
        total = "?" if self.total is None else self.total
        return f"<Job {self.id} {self.kind} {self.state} {self.progress}/{total}>"
