"""Why libsndfile refused a file: look at its first bytes and name what it is.

libsndfile's own words mislead here: a junk `.mp3` is "File does not exist or is not a regular
file", and an intact WAVE file carrying Ogg Vorbis (format tag 0x674F, an old ACM codec) is "Error
in WAV file. Malformed 'fmt ' chunk". A file in a container or codec we cannot decode is
`unsupported`, with the format named; a file that is nothing recognisable is `corrupt`.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Final

from adapters.audio.errors import ReadReason

HEAD_BYTES: Final = 4096
# WAVE format tags libsndfile decodes: PCM, ADPCM (MS, IMA), float, A-law, mu-law, GSM, G721,
# extensible.
DECODED_WAVE_TAGS: Final = frozenset(
    {0x0001, 0x0002, 0x0003, 0x0006, 0x0007, 0x0011, 0x0031, 0x0040, 0xFFFE}
)
WAVE_TAG_NAMES: Final[dict[int, str]] = {
    0x0050: "MPEG audio",
    0x0055: "MPEG layer 3",
    0x00FF: "AAC",
    0x0160: "WMA",
    0x0161: "WMA",
    0x0162: "WMA Pro",
    0x2000: "AC-3",
    0x2001: "DTS",
}
_VORBIS_TAGS: Final = range(0x674F, 0x6772)  # Ogg Vorbis ACM modes 1..3, 1+..3+


def refusal(path: Path) -> tuple[ReadReason, str]:
    """The reason and detail for a readable file that libsndfile would not open."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    except OSError as e:
        return "missing", str(e)
    if len(head) >= 12 and head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return _wave(head)
    if head[4:8] == b"ftyp":
        return "unsupported", "MP4/M4A container (AAC or ALAC), which libsndfile does not decode"
    if head[:4] == b"\x30\x26\xb2\x75":
        return "unsupported", "ASF/WMA content, which libsndfile does not decode"
    if head[:4] == b"MThd":
        return "unsupported", "a MIDI file, not audio"
    if path.suffix.lower() == ".mp3":
        return "corrupt", "no MPEG audio frames found"
    return "corrupt", "content not recognised as audio"


def _wave(head: bytes) -> tuple[ReadReason, str]:
    tag = _wave_tag(head)
    if tag is None:
        return "corrupt", "WAVE file without a readable 'fmt ' chunk"
    if tag in DECODED_WAVE_TAGS:
        return "corrupt", f"WAVE file (format tag 0x{tag:04X}) with a damaged header"
    name = "Ogg Vorbis" if tag in _VORBIS_TAGS else WAVE_TAG_NAMES.get(tag, "an unknown codec")
    return "unsupported", f"WAVE file with format tag 0x{tag:04X} ({name}), not decodable here"


def _wave_tag(head: bytes) -> int | None:
    """The format tag of the 'fmt ' chunk of a RIFF/WAVE header, if the bytes reach it."""
    offset = 12
    while offset + 8 <= len(head):
        chunk, size = head[offset : offset + 4], struct.unpack_from("<I", head, offset + 4)[0]
        if chunk == b"fmt " and offset + 10 <= len(head):
            tag: int = struct.unpack_from("<H", head, offset + 8)[0]
            return tag
        offset += 8 + size + (size & 1)
    return None
