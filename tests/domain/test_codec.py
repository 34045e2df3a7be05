"""The event codec: canonical payloads, schema versions, upcasting on read (never rewriting)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import pytest

from domain.codec import CURRENT_VERSIONS, EventCodec, Payload
from domain.errors import EventDecodeError
from domain.events import EVENT_TYPES, Event, NewEvent, Seeked, TrackAdded, TrackChanged
from domain.projection import fold
from storage.chain import GENESIS, canonical_bytes, chain_hash, first_break
from storage.sqlite_rows import id_bytes
from storage.sqlite_store import SqliteEventStore
from tests.support.clock import FixedClock
from tests.support.strategies import SAMPLES, T0, assert_samples_cover_event_types, event_id


def test_every_event_type_has_a_sample() -> None:
    assert_samples_cover_event_types()


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_event_type_round_trips(name: str) -> None:
    codec = EventCodec()
    event = SAMPLES[name]
    event_type, version, payload = codec.encode(event)
    assert (event_type, version) == (name, CURRENT_VERSIONS[name])
    assert "type" not in msgspec.json.decode(payload)  # the type has its own column
    decoded = codec.decode(event_type, version, payload)
    assert type(decoded) is EVENT_TYPES[name]
    assert decoded == event
    assert codec.encode(decoded)[2] == payload  # canonical: same event, same bytes
    # A payload written with the union's tag (before schema revision 0002) decodes the same.
    tagged = msgspec.json.encode(event)
    assert msgspec.json.decode(tagged)["type"] == name
    assert codec.decode(event_type, version, tagged) == event


def test_current_versions_cover_every_event_type() -> None:
    assert set(CURRENT_VERSIONS) == set(EVENT_TYPES)
    assert all(v >= 1 for v in CURRENT_VERSIONS.values())


# --- versions ---------------------------------------------------------------------------------


def _seconds_to_ms(p: Payload) -> Payload:
    return {"position_ms": int(p.pop("position_s") * 1000)}


#: The codec of a tierbuffer where Seeked v1 carried seconds (`position_s`) and v2 carries ms.
NEW_VERSIONS = {**CURRENT_VERSIONS, "Seeked": 2}
NEW_UPCASTERS = {("Seeked", 1): _seconds_to_ms}
V1_SEEKED = b'{"type":"Seeked","position_s":12.5}'


def new_codec() -> EventCodec:
    return EventCodec(versions=NEW_VERSIONS, upcasters=NEW_UPCASTERS)


def test_old_version_is_upcast() -> None:
    assert new_codec().decode("Seeked", 1, V1_SEEKED) == Seeked(position_ms=12_500)


def test_new_version_encodes_at_the_new_version() -> None:
    assert new_codec().encode(Seeked(position_ms=5)) == (
        "Seeked",
        2,
        b'{"position_ms":5}',
    )


def test_upcasting_runs_every_step_in_order() -> None:
    steps: list[int] = []

    def v1_to_v2(p: Payload) -> Payload:
        steps.append(1)
        return {"position_cs": int(p["position_s"] * 100)}

    def v2_to_v3(p: Payload) -> Payload:
        steps.append(2)
        return {"position_ms": p["position_cs"] * 10}

    codec = EventCodec(
        versions={**CURRENT_VERSIONS, "Seeked": 3},
        upcasters={("Seeked", 1): v1_to_v2, ("Seeked", 2): v2_to_v3},
    )
    assert codec.decode("Seeked", 1, V1_SEEKED) == Seeked(position_ms=12_500)
    assert codec.decode("Seeked", 2, b'{"position_cs":7}') == Seeked(position_ms=70)
    assert steps == [1, 2, 2]


@pytest.mark.parametrize(
    ("codec", "event_type", "version", "payload", "reason"),
    [
        (EventCodec(), "Seeked", 2, b'{"type":"Seeked","position_ms":1}', "newer"),
        (EventCodec(), "NoSuchEvent", 1, b'{"type":"NoSuchEvent"}', "unknown event type"),
        (
            EventCodec(versions={**CURRENT_VERSIONS, "Seeked": 3}, upcasters=NEW_UPCASTERS),
            "Seeked",
            1,
            V1_SEEKED,
            "no upcaster from v2",
        ),
        (EventCodec(), "Seeked", 1, b'{"type":"Seeked","position_ms":-1}', ">= 0"),
        (EventCodec(), "Seeked", 1, b'{"type":"Seeked","position_ms":', "Seeked v1"),
        (EventCodec(), "Seeked", 1, b'{"type":"Seeked","position_ms":1,"x":2}', "x"),
        (new_codec(), "Seeked", 1, b'{"type":"Seeked","position_s":-1}', "after upcasting"),
        (new_codec(), "Seeked", 1, b"[1, 2]", "not an object"),
        (new_codec(), "Seeked", 1, b"{nope", "Seeked v1"),
    ],
    ids=[
        "newer-version",
        "unknown-type",
        "missing-upcaster",
        "invalid-field",
        "truncated",
        "unknown-field",
        "invalid-after-upcast",
        "not-an-object",
        "not-json-old-version",
    ],
)
def test_undecodable_rows_raise_event_decode_error(
    codec: EventCodec, event_type: str, version: int, payload: bytes, reason: str
) -> None:
    with pytest.raises(EventDecodeError) as raised:
        codec.decode(event_type, version, payload)
    assert raised.value.event_type == event_type
    assert raised.value.version == version
    assert reason in str(raised.value)


def test_the_stored_type_and_the_payload_must_agree() -> None:
    with pytest.raises(EventDecodeError):
        EventCodec().decode("Seeked", 1, b'{"type":"Paused"}')


# --- through the SQLite store -------------------------------------------------------------------


def _insert_raw(path: Path, *, event_type: str, version: int, payload: bytes, at: int) -> int:
    """Append a row as an older tierbuffer would have written it (chain format 1)."""
    with sqlite3.connect(path) as connection:
        seq, prev = connection.execute(
            "SELECT COALESCE(MAX(seq), 0), "
            "COALESCE((SELECT lower(hex(hash)) FROM events ORDER BY seq DESC LIMIT 1), ?) "
            "FROM events",
            (GENESIS,),
        ).fetchone()
        seq += 1
        eid = event_id(1000 + seq)
        digest = chain_hash(prev, canonical_bytes(seq, eid, event_type, version, at, at, payload))
        known = connection.execute(
            "SELECT code FROM event_types WHERE name = ?", (event_type,)
        ).fetchone()
        if known is None:  # a type this tierbuffer does not know: a code of its own
            known = connection.execute(
                "INSERT INTO event_types (code, name) SELECT MAX(MAX(code) + 1, 1000), ? "
                "FROM event_types RETURNING code",
                (event_type,),
            ).fetchone()
        connection.execute(
            "INSERT INTO events (seq, event_id, type_code, version, occurred_at, recorded_lag, "
            "track, payload, hash, chain) VALUES (?,?,?,?,?,0,?,?,?,1)",
            (seq, id_bytes(eid), known[0], version, at, None, payload, bytes.fromhex(digest)),
        )
    connection.close()
    return int(seq)


def _raw_row(path: Path, seq: int) -> tuple[Any, ...]:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT type_code, version, payload, hash FROM events WHERE seq = ?", (seq,)
        ).fetchone()
    finally:
        connection.close()
    assert row is not None
    return tuple(row)


async def _open(path: Path, codec: EventCodec) -> SqliteEventStore:
    return await SqliteEventStore.open(path, clock=FixedClock(T0), codec=codec)


def _new(seq: int, event: Event, at: int) -> NewEvent:
    return NewEvent(event_id(seq), at, event)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_v1_row_is_upcast_on_read_and_never_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    old = await _open(path, EventCodec())  # the old tierbuffer: Seeked is v1 everywhere
    track = TrackAdded(
        track="t1",
        path="t1.flac",
        fingerprint=SAMPLES["TrackAdded"].fingerprint,  # type: ignore[attr-defined]
        duration_ms=300_000,
        sample_rate=44_100,
        channels=2,
    )
    await old.append([_new(1, track, T0), _new(2, TrackChanged(track="t1"), T0 + 1)])
    await old.aclose()
    seq = _insert_raw(path, event_type="Seeked", version=1, payload=V1_SEEKED, at=T0 + 2)
    before = _raw_row(path, seq)

    store = await _open(path, new_codec())
    try:
        read = [r async for r in store.read()]
        assert read[-1].seq == seq
        assert read[-1].event == Seeked(position_ms=12_500)
        assert fold(read).playback.position_ms == 12_500
        # a new Seeked is written at v2, beside the v1 row
        (new_seq,) = await store.append([_new(9, Seeked(position_ms=7), T0 + 3)])
        assert [r.event async for r in store.read(after=seq)] == [Seeked(position_ms=7)]
        rows = [r async for r in store.read_rows(types={"Seeked"})]
        assert [(r.seq, r.version) for r in rows] == [(seq, 1), (new_seq, 2)]
        assert rows[0].payload == V1_SEEKED
        assert first_break(store.iter_rows()) is None
    finally:
        await store.aclose()
    assert _raw_row(path, seq) == before  # type, version 1, the original bytes and hash

    # the old tierbuffer refuses the v2 row instead of misreading it
    old = await _open(path, EventCodec())
    try:
        with pytest.raises(EventDecodeError, match="newer"):
            [r async for r in old.read(after=seq)]
    finally:
        await old.aclose()


@pytest.mark.anyio
async def test_unknown_stored_type_is_an_event_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    store = await _open(path, EventCodec())
    await store.aclose()
    _insert_raw(path, event_type="FromTheFuture", version=1, payload=b"{}", at=T0)
    store = await _open(path, EventCodec())
    try:
        with pytest.raises(EventDecodeError, match="unknown event type"):
            [r async for r in store.read()]
        assert [r.type async for r in store.read_rows()] == ["FromTheFuture"]
    finally:
        await store.aclose()
