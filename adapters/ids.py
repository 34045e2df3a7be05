"""Event ids minted by tierbuffer: UUIDv7 (RFC 9562), time-ordered.

Time-ordered ids keep the log's unique index on event ids growing at its right edge; random
UUIDv4 ids scatter every insert across the index (measured: 56 000 vs 104 000 rows/s batched).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid


class UuidV7Source:
    """Monotonic UUIDv7s: 48-bit ms timestamp, a 12-bit counter within the ms, 62 random bits.

    The random bits come from a generator of its own, seeded from `os.urandom` and reseeded in
    a forked child, not from `os.urandom` per id (ids must be unique, not secret, and a system
    call per id is a tenth of an append's cost), nor from the `random` module's shared state
    (which other code, a test framework among them, may be using).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0
        self._random = random.Random(os.urandom(16))
        os.register_at_fork(after_in_child=self._reseed)

    def _reseed(self) -> None:
        self._random.seed(os.urandom(16))

    def __call__(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
                ms = self._last_ms
            else:
                self._last_ms, self._counter = ms, 0
            counter = self._counter
        rand = self._random.getrandbits(62)  # uniqueness, not secrecy
        value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | rand
        return str(uuid.UUID(int=value))
