"""Start-up: the modules each quick command loads, listed in a fresh interpreter.

A command that only reads the log must not pay for the audio stack (numpy, soundfile), the
HTTP stack (starlette, uvicorn), SQLAlchemy/aiosqlite or Alembic: each costs 0.1-1 s to import,
more than the whole command. The timing itself is measured by bench/startup.py; this test lists
what is imported, which does not depend on how loaded the machine is.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli import main
from tests.support.events import session_lines, write_session

HEAVY = (
    "numpy",
    "soundfile",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "aiosqlite",
    "alembic",
    "watchdog",
    "psutil",
    "httpx",
)

#: Runs one command in-process, then prints the top-level packages it loaded, as JSON.
PROBE = """
import json, sys
{preload}
from adapters.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as e:
    code = e.code
found = {{"code": code, "modules": sorted({{m.split(".")[0] for m in sys.modules}})}}
print(json.dumps(found), file=sys.stderr)
"""


def loaded(*argv: str, preload: str = "") -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(preload=preload), *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return int(report["code"] or 0), set(report["modules"])


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("startup")
    db = folder / "log.db"
    session = write_session(folder / "session.jsonl", session_lines(40))
    assert main(["--db", str(db), "ingest", str(session)]) == 0
    return db


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["state"], ["log"], ["verify"], ["replay"], ["budgets"]],
    ids=lambda argv: argv[0],
)
def test_quick_commands_load_none_of_the_heavy_stacks(small_log: Path, argv: list[str]) -> None:
    code, modules = loaded("--db", str(small_log), *argv)
    assert code == 0
    assert not modules & set(HEAVY), f"{argv[0]} loads {sorted(modules & set(HEAVY))}"


def test_help_and_version_do_not_even_load_the_storage_layer() -> None:
    for argv in (["--help"], ["--version"], ["state", "--help"]):
        code, modules = loaded(*argv)
        assert code == 0
        assert not modules & {"storage", "sqlite3"}, (argv, modules)


def test_the_probe_sees_a_heavy_import_when_there_is_one(small_log: Path) -> None:
    code, modules = loaded("--db", str(small_log), "state", preload="import numpy")
    assert code == 0 and "numpy" in modules
