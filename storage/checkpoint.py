"""WAL checkpoints off the write path.

SQLite's automatic checkpoint runs inside the commit that crosses the WAL's size limit, with an
fsync of the database file: measured at 1 000 appends/s, every third of a second one commit took
5-10 ms and held up every append queued behind it. The writer connection therefore turns
automatic checkpoints off, and this thread runs a PASSIVE checkpoint on its own connection every
`every_commits` commits (or `idle_s` seconds); a passive checkpoint never blocks a writer.
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
    ) -> None:
        self._path = path
        self._busy_timeout_s = busy_timeout_s
        self._every = every_commits
        self._idle_s = idle_s
        self._commits = 0
        self._due = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(
            target=self._loop, name=f"tierbuffer-checkpoint:{path.name}", daemon=True
        )
        self._thread.start()

    def committed(self) -> None:
        """Called by the writer thread after each commit."""
        self._commits += 1
        if self._commits >= self._every:
            self._commits = 0
            self._due.set()

    def _loop(self) -> None:
        connection = sqlite3.connect(
            str(self._path), timeout=self._busy_timeout_s, isolation_level=None
        )
        try:
            while not self._stopping:
                self._due.wait(self._idle_s)
                self._due.clear()
                if self._stopping:
                    break
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error as e:  # retried at the next round
                    logger.debug("checkpoint of %s skipped: %s", self._path, e)
        finally:
            connection.close()

    def close(self) -> None:
        """Stop the thread (blocking: call from a worker thread)."""
        self._stopping = True
        self._due.set()
        self._thread.join()
