"""Dependency direction and purity, checked on the source: adapters -> storage -> domain.

`domain/` is pure (STYLE.md, Layers): no I/O, clock, randomness, environment, logging or async;
it may use the standard library's pure parts, numpy (but not numpy.random) and msgspec.
`storage/` never reaches up into `adapters/` nor into the file watcher or audio decoding.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

import domain
import storage

DOMAIN_BANNED_MODULES = frozenset(
    {
        "storage",
        "adapters",
        "migrations",
        "time",
        "datetime",
        "random",
        "secrets",
        "uuid",
        "os",
        "sys",
        "io",
        "logging",
        "pathlib",
        "shutil",
        "tempfile",
        "glob",
        "socket",
        "subprocess",
        "multiprocessing",
        "sqlite3",
        "sqlalchemy",
        "aiosqlite",
        "alembic",
        "anyio",
        "asyncio",
        "threading",
        "concurrent",
        "watchdog",
        "soundfile",
        "psutil",
        "numpy.random",
    }
)
STORAGE_BANNED_MODULES = frozenset({"adapters", "watchdog", "soundfile"})

#: Calls of these bare names are I/O or side effects.
BANNED_CALLS = frozenset({"open", "print", "input", "breakpoint", "exec", "eval", "uuid4", "uuid1"})
#: `<module>.<attribute>` uses that read the clock, the environment or draw randomness.
BANNED_ATTRIBUTES = frozenset(
    {
        ("time", "time"),
        ("time", "time_ns"),
        ("time", "monotonic"),
        ("time", "perf_counter"),
        ("datetime", "now"),
        ("datetime", "utcnow"),
        ("datetime", "today"),
        ("date", "today"),
        ("uuid", "uuid4"),
        ("uuid", "uuid1"),
        ("os", "environ"),
        ("os", "getenv"),
        ("np", "random"),
        ("numpy", "random"),
    }
)
#: Any attribute of these names is banned (`random.random()`, `random.choice`, ...).
BANNED_ATTRIBUTE_OWNERS = frozenset({"random", "secrets"})


def _banned_module(name: str, banned: frozenset[str]) -> str | None:
    parts = name.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if prefix in banned:
            return prefix
    return None


def _imports(node: ast.AST) -> Iterable[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        yield node.module
        # `from numpy import random` imports the submodule numpy.random
        yield from (f"{node.module}.{alias.name}" for alias in node.names)


def import_violations(source: str, filename: str, banned: frozenset[str]) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source, filename)):
        for name in _imports(node):
            hit = _banned_module(name, banned)
            if hit is not None:
                problems.append(f"{filename}:{node.lineno}: imports {name} ({hit} is banned here)")
                break
    return problems


def purity_violations(source: str, filename: str) -> list[str]:
    """Imports, calls and attribute uses that would make `domain/` impure."""
    problems = import_violations(source, filename, DOMAIN_BANNED_MODULES)
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in BANNED_CALLS:
                problems.append(f"{where}: calls {node.func.id}()")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, attribute = node.value.id, node.attr
            if (owner, attribute) in BANNED_ATTRIBUTES or owner in BANNED_ATTRIBUTE_OWNERS:
                problems.append(f"{where}: uses {owner}.{attribute}")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute):
            if (node.value.attr, node.attr) in BANNED_ATTRIBUTES:
                problems.append(f"{where}: uses ….{node.value.attr}.{node.attr}")
        elif isinstance(node, ast.AsyncFunctionDef | ast.Await | ast.AsyncWith | ast.AsyncFor):
            problems.append(f"{where}: async code")
        elif isinstance(node, ast.Global):
            problems.append(f"{where}: global statement (module state)")
    return sorted(set(problems))


def _modules(package_dir: Path) -> list[Path]:
    modules = sorted(package_dir.rglob("*.py"))
    assert modules, f"no modules found under {package_dir}"
    return modules


def _relative(path: Path) -> str:
    return str(path.relative_to(Path(domain.__file__).parent.parent))


def test_domain_is_pure() -> None:
    problems = []
    for path in _modules(Path(domain.__file__).parent):
        problems += purity_violations(path.read_text(encoding="utf-8"), _relative(path))
    assert not problems, "domain/ must stay pure (STYLE.md, Layers):\n" + "\n".join(problems)


ADAPTERS = Path(domain.__file__).parent.parent / "adapters"
TESTS = Path(__file__).resolve().parent
#: The entrypoints: the only modules of the house that may import the composition root.
ENTRYPOINTS = ("adapters/cli/", "adapters/bootstrap.py")


def _violations(paths: Iterable[Path], banned: frozenset[str], root: Path) -> list[str]:
    problems = []
    for path in paths:
        name = str(path.relative_to(root))
        problems += import_violations(path.read_text(encoding="utf-8"), name, banned)
    return problems


def test_only_entrypoints_import_the_composition_root() -> None:
    house = Path(domain.__file__).parent.parent
    below = [
        path
        for package in ("domain", "storage", "adapters")
        for path in _modules(house / package)
        if not str(path.relative_to(house)).startswith(ENTRYPOINTS)
    ]
    problems = _violations(below, frozenset({"adapters.bootstrap"}), house)
    assert not problems, "only the CLI and benchmarks import bootstrap:\n" + "\n".join(problems)


def test_the_runtime_imports_neither_http_nor_the_cli() -> None:
    runtime = _modules(ADAPTERS / "runtime")
    problems = _violations(runtime, frozenset({"adapters.http", "adapters.cli"}), ADAPTERS.parent)
    assert not problems, "the HTTP API is started by the composition root:\n" + "\n".join(problems)


def test_storage_tests_do_not_import_adapters() -> None:
    problems = _violations(_modules(TESTS / "storage"), frozenset({"adapters"}), TESTS.parent)
    assert not problems, "storage is tested on its own:\n" + "\n".join(problems)


def test_storage_does_not_depend_on_adapters() -> None:
    problems = []
    for path in _modules(Path(storage.__file__).parent):
        source = path.read_text(encoding="utf-8")
        problems += import_violations(source, _relative(path), STORAGE_BANNED_MODULES)
    assert not problems, "storage/ must not import these:\n" + "\n".join(problems)


# --- the checker itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import time", "x.py:1: imports time"),
        ("import os.path", "x.py:1: imports os.path (os is banned here)"),
        ("from datetime import datetime", "x.py:1: imports datetime"),
        ("from storage.chain import GENESIS", "x.py:1: imports storage.chain"),
        ("\n\nimport adapters.cli", "x.py:3: imports adapters.cli"),
        ("from numpy import random", "x.py:1: imports numpy.random"),
        ("import numpy.random as npr", "x.py:1: imports numpy.random"),
        ("from numpy.random import default_rng", "x.py:1: imports numpy.random"),
        ("import logging", "x.py:1: imports logging"),
        ("import uuid", "x.py:1: imports uuid"),
        ("import sqlalchemy.sql", "x.py:1: imports sqlalchemy.sql"),
        ("def f():\n    open('x')", "x.py:2: calls open()"),
        ("print(1)", "x.py:1: calls print()"),
        ("uuid4()", "x.py:1: calls uuid4()"),
        ("t = time.time()", "x.py:1: uses time.time"),
        ("t = datetime.now()", "x.py:1: uses datetime.now"),
        ("t = dt.datetime.now()", "x.py:1: uses ….datetime.now"),
        ("e = os.environ['X']", "x.py:1: uses os.environ"),
        ("x = random.random()", "x.py:1: uses random.random"),
        ("x = np.random.default_rng(0)", "x.py:1: uses np.random"),
        ("x = numpy.random.rand()", "x.py:1: uses numpy.random"),
        ("async def f():\n    pass", "x.py:1: async code"),
    ],
)
def test_the_checker_catches(source: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in purity_violations(source, "x.py")), (
        purity_violations(source, "x.py")
    )


@pytest.mark.parametrize(
    "source",
    [
        "from __future__ import annotations",
        "import numpy as np\nx = np.zeros(3)",
        "import msgspec\nfrom msgspec.structs import replace",
        "import hashlib, math\nfrom collections.abc import Iterable",
        "def f(rng):\n    return rng.random()",  # a generator passed in is fine
        "time = 3\nx = time + 1",
    ],
)
def test_the_checker_allows(source: str) -> None:
    assert purity_violations(source, "x.py") == []
