"""Failures of the chunk store (no space, read-only, folder gone, I/O) are not failures of the
chunk: they use none of its attempts, are retried as the store may recover (2 s, 4 s, ... at most
30 s apart), for as long as it takes, and a render that lands clears them."""

from __future__ import annotations

import pytest

from domain.events import ChunkFailed, FailureReason, Paused
from domain.plan import MAX_ATTEMPTS, STORE_RETRY_MAX_MS, TRANSIENT, store_retry_delay
from domain.tiers import chunk_id
from tests.domain.planning.given import key
from tests.domain.planning.test_tiers import TICK, playing, rendered

STORE_FAULTS: list[FailureReason] = ["no_space", "store_read_only", "store_missing", "store_io"]


def test_the_store_faults_are_the_transient_reasons() -> None:
    assert set(STORE_FAULTS) == TRANSIENT
    assert [store_retry_delay(n) for n in (1, 2, 3, 4, 5, 6, 50)] == [
        2_000,
        4_000,
        8_000,
        16_000,
        30_000,
        30_000,
        STORE_RETRY_MAX_MS,
    ]


@pytest.mark.parametrize("reason", STORE_FAULTS)
def test_a_store_fault_never_uses_up_the_chunks_attempts(reason: FailureReason) -> None:
    log = playing()
    log.at(1, Paused())  # the playhead stays in chunk 0 while the faults go on
    at, ident = 10, chunk_id(key(0))
    for waits in range(1, 3 * MAX_ATTEMPTS + 1):  # far more faults than attempts
        state = log.at(at, ChunkFailed(key(0), reason, "the store"))
        failure = state.cache.failures[ident]
        assert (failure.attempts, failure.waits, failure.reason) == (0, waits, reason)
        assert failure.retry_at == at + store_retry_delay(waits)
        assert key(0) not in [j.key for j in state.cache.plan]  # not before it is due
        at = failure.retry_at
        state = log.at(at, TICK)
        assert key(0) in [j.key for j in state.cache.plan]  # due: planned again
    state = log.at(at + 1, rendered(key(0)))  # the store recovered
    assert ident not in state.cache.failures and ident in state.cache.held


def test_a_real_failure_after_store_faults_uses_one_attempt_and_its_own_backoff() -> None:
    log = playing()
    log.at(10, ChunkFailed(key(0), "no_space"))
    state = log.at(20, ChunkFailed(key(0), "corrupt"))
    failure = state.cache.failures[chunk_id(key(0))]
    assert (failure.attempts, failure.waits, failure.reason) == (1, 0, "corrupt")
    assert failure.retry_at == 20 + 10_000
    # and a store fault after it keeps that attempt
    state = log.at(failure.retry_at, ChunkFailed(key(0), "store_read_only"))
    after = state.cache.failures[chunk_id(key(0))]
    assert (after.attempts, after.waits) == (1, 1)
