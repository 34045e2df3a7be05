"""WAL checkpoints off the write path, and a WAL that stays bounded.

SQLite's automatic checkpoint runs inside the commit that crosses the WAL's size limit, with an
fsync of the database file: measured at 1 000 appends/s, every third of a second one commit took
5-10 ms and held up every append queued behind it. The writer connection therefore turns
automatic checkpoints off, and this thread checkpoints on its own connection:
- PASSIVE every `every_commits` commits: it never blocks a writer, but it cannot shrink the WAL
  file, and it cannot finish while a reader holds an old snapshot;
- TRUNCATE when the log has been idle for `idle_s` seconds, and at once when the writer saw the
  WAL grow past its cap (`urgent`): the WAL is copied back and cut to zero bytes. TRUNCATE waits
  for readers up to `truncate_wait_s` (a writer that arrives meanwhile waits too), then gives up
  until the next round.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

logger = logging.getLogger(__name__)


class Checkpointer:
    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_s: float,
        every_commits: int = 500,
        idle_s: float = 5.0,
        truncate_wait_s: float = 0.5,
    ) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._every = every_commits
        self._idle_s = idle_s
        self._truncate_wait_ms = int(truncate_wait_s * 1000)
        self._commits = 0
        self._since_truncate = 0
        self._urgent = False
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._loop, name=f"tierbuffer-checkpoint:{path.name}", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Called by whoever committed, after each commit."""
        self._commits += 1
        self._since_truncate += 1
        if self._commits >= self._every:
            self._commits = 0
            self._due.set()

    def urgent(self) -> None:
        """The WAL is over its cap: truncate it now."""
        self._urgent = True
        self._due.set()

    def _loop(self) -> None:
        connection = sqlite3.connect(
            str(self._path), timeout=self._busy_timeout_s, isolation_level=None
        )
        connection.execute(f"PRAGMA busy_timeout={self._truncate_wait_ms}")
        seen = -1
        try:
            while not self._stopping:
                woken = self._due.wait(self._idle_s)
                self._due.clear()
                if self._stopping:
                    break
                # Idle: a whole `idle_s` without a commit, after some since the last truncate.
                idle = not woken and self._since_truncate == seen and seen > 0
                seen = self._since_truncate
                mode = "TRUNCATE" if self._urgent or idle else "PASSIVE"
                self._checkpoint(connection, mode)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection, mode: str) -> None:
        try:
            busy, _, _ = connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as e:  # retried at the next round
            logger.debug("checkpoint of %s skipped: %s", self._path, e)
            return
        if mode == "TRUNCATE" and not busy:
            self._urgent = False
            self._since_truncate = 0

    def close(self) -> None:
        """Stop the thread (blocking: call from a worker thread)."""
        self._stopping = True
        self._due.set()
        self._thread.join()
