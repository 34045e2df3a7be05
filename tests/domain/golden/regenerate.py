"""Recompute tests/domain/golden/expected.json: the state hash each golden session replays to.

Run it ONLY when the projection changed on purpose — and then PROJECTION_VERSION in
domain/state.py must have been bumped too, so that stored snapshots of the old projection are
ignored rather than trusted. A golden hash that changed by accident is a determinism bug: find
it instead of regenerating.

    .venv/bin/python tests/domain/golden/regenerate.py

Each `*.jsonl` session beside this script is ingested through the CLI into a fresh temporary
database and replayed from the log alone (`tierbuffer --db X ingest`, then `replay`); the hash it
prints is recorded, with the PROJECTION_VERSION it was computed under. A hash that changed while
PROJECTION_VERSION did not is refused (exit 1): bump the version first. Review the diff of
expected.json before committing it.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from io import StringIO
from pathlib import Path

import msgspec

from adapters.cli import main as cli
from domain.state import PROJECTION_VERSION

GOLDEN = Path(__file__).resolve().parent
EXPECTED = GOLDEN / "expected.json"
_HASH = re.compile(r"^state-hash: ([0-9a-f]{64})$", re.MULTILINE)


def fixtures() -> dict[str, Path]:
    """Golden sessions by name (file name without .jsonl)."""
    return {path.stem: path for path in sorted(GOLDEN.glob("*.jsonl"))}


def run(*argv: str) -> str:
    """Run the CLI in-process; its output, or RuntimeError naming the command."""
    out = StringIO()
    code = cli(list(argv), out=out)
    if code != 0:
        raise RuntimeError(f"tierbuffer {' '.join(argv)} exited {code}:\n{out.getvalue()}")
    return out.getvalue()


def printed_hash(output: str) -> str:
    """The one `state-hash: <hex>` line of a command's output."""
    found = _HASH.findall(output)
    if len(found) != 1:
        raise ValueError(f"expected one state-hash line in:\n{output}")
    return str(found[0])


def replay_hash(session: Path, db: Path) -> str:
    """Ingest a session into `db` through the CLI and replay it from the log alone."""
    run("--db", str(db), "ingest", str(session))
    return printed_hash(run("--db", str(db), "replay"))


def compute() -> dict[str, str]:
    hashes = {}
    with tempfile.TemporaryDirectory(prefix="tierbuffer-golden-") as tmp:
        for name, session in fixtures().items():
            hashes[name] = replay_hash(session, Path(tmp) / f"{name}.db")
    return hashes


class Expected(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """expected.json: the projection version the hashes were computed under, hash per session."""

    projection_version: int
    hashes: dict[str, str]


def load_expected() -> Expected:
    return msgspec.json.decode(EXPECTED.read_bytes(), type=Expected)


def changed_without_bump(old: Expected, new: dict[str, str]) -> list[str]:
    """Sessions whose hash changed although PROJECTION_VERSION is the one they were recorded at."""
    if old.projection_version != PROJECTION_VERSION:
        return []
    return sorted(name for name, digest in new.items() if old.hashes.get(name, digest) != digest)


def main() -> int:
    old = load_expected() if EXPECTED.exists() else Expected(PROJECTION_VERSION, {})
    new = compute()
    refused = changed_without_bump(old, new)
    if refused:
        sys.stderr.write(
            f"refusing: the state hash of {', '.join(refused)} changed but PROJECTION_VERSION is "
            f"still {PROJECTION_VERSION}. Bump it in domain/state.py (old snapshots must not be "
            "trusted by the new projection), then run this again.\n"
        )
        return 1
    expected = Expected(PROJECTION_VERSION, dict(sorted(new.items())))
    EXPECTED.write_text(
        json.dumps(msgspec.to_builtins(expected), indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    for name, digest in new.items():
        previous = old.hashes.get(name)
        note = "unchanged" if previous == digest else f"was {previous or 'absent'}"
        sys.stdout.write(f"{name}: {digest} ({note})\n")
    for name in sorted(set(old.hashes) - set(new)):
        sys.stdout.write(f"{name}: removed (no {name}.jsonl any more)\n")
    sys.stdout.write(f"recorded at PROJECTION_VERSION {PROJECTION_VERSION}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
