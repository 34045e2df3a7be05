"""Event payload encoding, schema versions and upcasting.

The log stores each event's payload as canonical JSON (msgspec: struct fields in declared order)
together with its type and schema version. The type is its own column, so the payload leaves the
union's tag out (`{"position_ms":1200}`, not `{"type":"PositionReported","position_ms":1200}`);
payloads written with the tag (before log schema revision 0002) decode the same. An event
written at an older version is upcast, step by step, when it is read; the stored row is never
rewritten.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import msgspec

from domain.errors import EventDecodeError
from domain.events import EVENT_TYPES, DomainEvent, Event

Payload = dict[str, Any]
Upcaster = Callable[[Payload], Payload]

#: Current schema version of every event type. Bump it when a payload changes shape and register
#: an upcaster from the previous version in UPCASTERS.
CURRENT_VERSIONS: Final[Mapping[str, int]] = {name: 1 for name in EVENT_TYPES}

#: (event type, version) -> function turning a payload of that version into the next version.
UPCASTERS: Final[Mapping[tuple[str, int], Upcaster]] = {}


class EventCodec:
    """Encodes events for the log and decodes (upcasting when needed) what the log holds."""

    def __init__(
        self,
        versions: Mapping[str, int] = CURRENT_VERSIONS,
        upcasters: Mapping[tuple[str, int], Upcaster] = UPCASTERS,
    ) -> None:
        self._versions = dict(versions)
        self._upcasters = dict(upcasters)
        self._encoder = msgspec.json.Encoder()
        #: One decoder per type: it reads the payload with or without the union's tag.
        self._decoders: dict[str, msgspec.json.Decoder[Any]] = {
            name: msgspec.json.Decoder(cls) for name, cls in EVENT_TYPES.items()
        }
        self._raw = msgspec.json.Decoder()

    def version_of(self, event_type: str) -> int:
        return self._versions[event_type]

    def encode(self, event: Event) -> tuple[str, int, bytes]:
        """(type, schema version, payload bytes) of an event; the payload without the tag."""
        name = type(event).__name__
        return name, self._versions[name], untagged(name, self._encoder.encode(event))

    def decode(self, event_type: str, version: int, payload: bytes) -> DomainEvent:
        current = self._versions.get(event_type)
        if current is None:
            raise EventDecodeError(event_type, version, "unknown event type")
        if version == current:
            try:
                event: DomainEvent = self._decoders[event_type].decode(payload)
            except msgspec.DecodeError as e:
                raise EventDecodeError(event_type, version, f"payload: {e}") from e
            return event
        if version > current:
            raise EventDecodeError(
                event_type, version, f"written by a newer tierbuffer (this one knows v{current})"
            )
        return self._upcast(event_type, version, current, payload)

    def _upcast(self, event_type: str, version: int, current: int, payload: bytes) -> DomainEvent:
        try:
            data = self._raw.decode(payload)
        except msgspec.DecodeError as e:
            raise EventDecodeError(event_type, version, str(e)) from e
        if not isinstance(data, dict):
            raise EventDecodeError(event_type, version, "payload is not an object")
        for step in range(version, current):
            upcaster = self._upcasters.get((event_type, step))
            if upcaster is None:
                raise EventDecodeError(event_type, version, f"no upcaster from v{step}")
            data = upcaster(dict(data))
        data["type"] = event_type
        try:
            upcast: DomainEvent = msgspec.convert(data, DomainEvent)
            return upcast
        except msgspec.ValidationError as e:
            raise EventDecodeError(event_type, version, f"after upcasting: {e}") from e


#: What msgspec writes first for each tagged event type: `{"type":"<name>"`.
_TAGS: Final[dict[str, bytes]] = {name: b'{"type":"%s"' % name.encode() for name in EVENT_TYPES}


def untagged(name: str, tagged: bytes) -> bytes:
    """The JSON of a tagged struct without its tag (msgspec always writes the tag first)."""
    tag = _TAGS.get(name)
    if tag is None or not tagged.startswith(tag):
        return tagged  # not the shape expected: kept whole, which decodes just as well
    rest = tagged[len(tag) :]
    return b"{" + rest[1:] if rest[:1] == b"," else b"{}"
