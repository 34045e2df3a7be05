"""Recompute tests/golden/expected.json: the state hash each golden session replays to.

Run it ONLY when the projection changed on purpose — and then PROJECTION_VERSION in
domain/state.py must have been bumped too, so that stored snapshots of the old projection are
ignored rather than trusted. A golden hash that changed by accident is a determinism bug: find
it instead of regenerating.

    .venv/bin/python tests/golden/regenerate.py

Each `*.jsonl` session beside this script is ingested through the CLI into a fresh temporary
database and replayed from the log alone (`tierbuffer --db X ingest`, then `replay`); the hash it
prints is recorded. Review the diff of expected.json before committing it.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from io import StringIO
from pathlib import Path

from adapters.cli import main as cli

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


def load_expected() -> dict[str, str]:
    return dict(json.loads(EXPECTED.read_text(encoding="utf-8")))


def main() -> int:
    old = load_expected() if EXPECTED.exists() else {}
    new = compute()
    EXPECTED.write_text(json.dumps(new, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for name, digest in new.items():
        note = "unchanged" if old.get(name) == digest else f"was {old.get(name, 'absent')}"
        sys.stdout.write(f"{name}: {digest} ({note})\n")
    for name in sorted(set(old) - set(new)):
        sys.stdout.write(f"{name}: removed (no {name}.jsonl any more)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
