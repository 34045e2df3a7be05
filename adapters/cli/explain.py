"""`tierbuffer explain CHUNK`: why a chunk was planned, rendered, evicted, waited on, failed or
retried, from the events alone (`domain.explain`), as text or `--json`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any, TextIO

from adapters.cli.options import non_negative

if TYPE_CHECKING:
    from adapters.audit.explain import Explanation
    from domain.events import ChunkKey

CHUNK_HELP = (
    "an index in the playing track (at the current preset and intensity), or a full key "
    "TRACK/REVISION/PRESET/INTENSITY_TENTHS/INDEX (the track id may itself contain '/')"
)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "explain",
        help="why a chunk was planned, rendered, evicted, waited on, failed or retried",
        description="Folds the log (each event verified against the chain) and tells each "
        "event that named the chunk or changed where it stands, with what changed and the "
        "interaction policy's mark, then where it stands now.",
    )
    p.add_argument("chunk", type=chunk_target, help=CHUNK_HELP)
    p.add_argument(
        "--since",
        type=non_negative,
        default=0,
        help="start the story after this sequence number (default: 0, the whole log)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object instead of text")
    p.set_defaults(run=explain)


def chunk_target(value: str) -> int | ChunkKey:
    """argparse type: an index, or TRACK/REVISION/PRESET/INTENSITY_TENTHS/INDEX."""
    import msgspec

    from domain.events import ChunkKey

    if value.isdecimal() and value.isascii():
        return int(value)
    parts = value.rsplit("/", 4)
    if len(parts) != 5:
        raise argparse.ArgumentTypeError(
            "not an index or TRACK/REVISION/PRESET/INTENSITY_TENTHS/INDEX"
        )
    track, *rest = parts
    fields = dict(zip(("revision", "preset", "intensity_tenths", "index"), rest, strict=True))
    try:
        return msgspec.convert(
            {"track": track, **{k: int(v) if v.isdecimal() else v for k, v in fields.items()}},
            ChunkKey,
        )
    except msgspec.ValidationError as e:
        raise argparse.ArgumentTypeError(f"not a chunk key: {e}") from e


def key_text(key: ChunkKey) -> str:
    from adapters.cli.terminal import printable

    track = printable(key.track)
    return f"{track}/{key.revision}/{key.preset}/{key.intensity_tenths}/{key.index}"


def text_of(explained: Explanation) -> str:
    from adapters.cli.events import iso
    from adapters.cli.terminal import printable

    lines = [f"chunk {key_text(explained.key)}"]
    if explained.omitted:
        lines.append(f"  ({explained.omitted} older steps left out)")
    for step in explained.steps:
        mark = f" [{step.mark}]" if step.mark else ""
        lines.append(f"{step.seq:>8}  {iso(step.at)}  {step.type}{mark}")
        lines.extend(f"{'':>10}{printable(change)}" for change in step.changes)
    if not explained.steps:
        lines.append(f"  no event after sequence {explained.after} names it or changes it")
    lines.append(f"now (sequence {explained.last}): {printable(explained.summary)}")
    return "\n".join(lines) + "\n"


async def explain(args: argparse.Namespace, out: TextIO) -> int:
    import msgspec

    from adapters.audit.explain import explain_chunk
    from adapters.bootstrap import open_log

    async with open_log(args.db, create=False, migrate=False, read_only=True) as log:
        explained = await explain_chunk(log, args.chunk, after=args.since)
    if args.json:
        out.write(msgspec.json.encode(explained).decode() + "\n")
    else:
        out.write(text_of(explained))
    return 0
