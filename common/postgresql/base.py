"""PostgreSQL as Django's backend, checking a kept connection only when it sat idle, and knowing which
statements it prepared (`common.prepared`).

With CONN_HEALTH_CHECKS Django sends `SELECT 1` before the first query of every request that reuses a
connection, so that one the database dropped (a restart, a failover) is replaced instead of failing the
request. On the labeling loop that check was a round trip of its own on every `next` and submission.
Here a connection that opened a cursor less than `TRUSTED_IDLE_SECONDS` (0.1 s) ago is taken as alive (a
busy worker's requests follow each other closer than that); one idle for longer is checked as before. A
connection cut within that tenth of a second costs the one request that meets it a 503
(`common.http_errors`); Django then closes the connection and the next request opens a new one.
"""
from __future__ import annotations

import time

from django.db.backends.postgresql import base

TRUSTED_IDLE_SECONDS = 0.1


class DatabaseWrapper(base.DatabaseWrapper):
    _used_at: float | None = None

    def init_connection_state(self):
        super().init_connection_state()
        # The names `common.prepared` prepared on this connection (a new connection has none).
        self.prepared_statements: set[str] = set()

    def create_cursor(self, name=None):
        self._used_at = time.monotonic()
        return super().create_cursor(name)

    def close_if_health_check_failed(self):
        if (self.connection is not None and not self.health_check_done and self._used_at is not None
                and not self.connection.closed and time.monotonic() - self._used_at < TRUSTED_IDLE_SECONDS):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
