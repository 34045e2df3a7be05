"""`prepare`: a batch's ids checked and converted at once, each event's chain part and row values
the same as the one definition in `storage.chain` gives, and the first bad event named."""

from __future__ import annotations

import uuid

import pytest

from domain.codec import EventCodec
from domain.events import ChunkKey, ChunkRequested, NewEvent, Paused, PositionReported
from storage.batch import prepare
from storage.chain import event_part
from storage.errors import InvalidEventError
from tests.support.events import T0, mixed_events, new_event

CODEC = EventCodec()


def test_each_prepared_event_matches_the_chains_definition() -> None:
    key = ChunkKey(track="t\u00e9\n", revision=0, preset="warm", intensity_tenths=5, index=3)
    events = [*mixed_events(40), new_event(ChunkRequested(key=key))]
    prepared = prepare(CODEC, events)
    assert [p.event_id for p in prepared] == [e.event_id for e in events]
    for p, new in zip(prepared, events, strict=True):
        event_type, version, payload = CODEC.encode(new.event)
        id_hex = new.event_id.replace("-", "")
        assert (p.type, p.version, p.payload, p.occurred_at) == (
            event_type,
            version,
            payload,
            new.occurred_at,
        )
        assert p.id16 == uuid.UUID(new.event_id).bytes
        assert p.part == event_part(id_hex, event_type, version, new.occurred_at, p.track, payload)
    assert prepared[-1].track == "t\u00e9\n"


@pytest.mark.parametrize(
    "spell",
    [str.upper, lambda i: "{" + i + "}", lambda i: i.replace("-", ""), uuid.UUID],
    ids=["upper-case", "braces", "no-hyphens", "uuid-object"],
)
def test_an_id_in_another_spelling_is_stored_canonical_beside_canonical_ones(spell: object) -> None:
    events = mixed_events(5)
    odd = events[2]
    canonical = odd.event_id
    events[2] = NewEvent(spell(canonical), odd.occurred_at, odd.event)  # type: ignore[operator]
    prepared = prepare(CODEC, events)
    assert prepared[2].event_id == canonical
    assert prepared[2].id16 == uuid.UUID(canonical).bytes
    assert prepared[2].part.startswith(canonical.replace("-", "").encode() + b"\x1f")
    assert [p.event_id for p in prepared[:2]] == [e.event_id for e in events[:2]]


@pytest.mark.parametrize(
    ("bad", "index"),
    [
        ("not-a-uuid", 1),
        ("", 0),
        (None, 2),
        (f"{uuid.uuid4()}\n{uuid.uuid4()}", 1),
    ],
    ids=["not-a-uuid", "empty", "none", "two-ids-in-one"],
)
def test_the_first_id_that_is_no_uuid_is_named(bad: object, index: int) -> None:
    events = [new_event(Paused()) for _ in range(3)]
    events[index] = NewEvent(bad, T0, Paused())  # type: ignore[arg-type]
    with pytest.raises(InvalidEventError) as raised:
        prepare(CODEC, events)
    assert raised.value.index == index


def test_ids_whose_lengths_only_add_up_are_refused() -> None:
    """One id a character short, the next a character long: the batch's joined length is right."""
    short, long = str(uuid.uuid4())[:-1], str(uuid.uuid4()) + "a"
    events = [NewEvent(short, T0, Paused()), NewEvent(long, T0, Paused())]
    with pytest.raises(InvalidEventError) as raised:
        prepare(CODEC, events)
    assert raised.value.index == 0


def test_a_bad_time_is_named_after_good_ids() -> None:
    events = [new_event(PositionReported(position_ms=i)) for i in range(4)]
    events[3] = NewEvent(events[3].event_id, 2**63, events[3].event)
    with pytest.raises(InvalidEventError) as raised:
        prepare(CODEC, events)
    assert raised.value.index == 3


def test_an_empty_batch_prepares_to_nothing() -> None:
    assert prepare(CODEC, []) == []
