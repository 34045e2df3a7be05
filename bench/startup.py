"""Start-up time of the quick commands: fresh processes, interleaved rounds, min/median/max.

Every round runs each command once, in a shuffled order, so a burst of load on the machine falls
on all of them alike; `python -c pass` (the interpreter alone) runs in the same rounds as the
anchor. The log is small: examples/session.jsonl ingested (197 events). With `--base DIR` (a
checkout of another commit, e.g. `git worktree add /tmp/base <commit>`), the same commands from
that tree run in the same rounds too (A/B). Every run must exit 0: a failed run is not a time
(a command the base does not have is shown as n/a).

    python bench/startup.py [--rounds 15] [--base DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (("--help",), ("--version",), ("state",), ("log",), ("verify",))
TARGET_S = 0.3


def run_once(tree: Path, argv: tuple[str, ...], env: dict[str, str]) -> float | None:
    """Wall time of one `python -m adapters.cli ARGV` in `tree` (its packages first on the
    path), or None if it failed."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "adapters.cli", *argv],
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    elapsed = time.perf_counter() - started
    return elapsed if result.returncode == 0 else None


def anchor() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def which_tree(tree: Path, env: dict[str, str]) -> Path:
    """Where `adapters` is imported from when run in `tree` (the bench checks it is that tree)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import adapters; print(adapters.__file__)"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(probe.stdout.strip()).parent.parent


def small_log(folder: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "ingest", str(ROOT / "examples" / "session.jsonl")],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    assert Path(env["TIERBUFFER_DB"]).exists(), folder


def fmt(times: list[float]) -> str:
    if not times:
        return "n/a"
    ms = [t * 1000 for t in times]
    return f"{min(ms):6.0f} {statistics.median(ms):6.0f} {max(ms):6.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default: 15)")
    parser.add_argument("--base", type=Path, help="another checkout to compare with (A/B)")
    args = parser.parse_args()
    trees = {"this": ROOT, **({"base": args.base.resolve()} if args.base else {})}
    with tempfile.TemporaryDirectory(prefix="tierbuffer-startup-") as folder:
        env = {
            **os.environ,
            "TIERBUFFER_DB": str(Path(folder) / "small.db"),
            "XDG_CONFIG_HOME": str(Path(folder) / "config"),
        }
        for name, tree in trees.items():
            found = which_tree(tree, env)
            assert found == tree, f"{name}: adapters comes from {found}, not {tree}"
        small_log(Path(folder), env)
        load_before = os.getloadavg()
        times: dict[tuple[str, tuple[str, ...]], list[float]] = {}
        failed: set[tuple[str, tuple[str, ...]]] = set()
        anchors: list[float] = []
        jobs = [(name, argv) for name in trees for argv in COMMANDS]
        for _ in range(args.rounds):
            random.shuffle(jobs)
            anchors.append(anchor())
            for name, argv in jobs:
                if (name, argv) in failed:
                    continue
                elapsed = run_once(trees[name], argv, env)
                if elapsed is None:
                    failed.add((name, argv))
                    times.pop((name, argv), None)
                else:
                    times.setdefault((name, argv), []).append(elapsed)
        load_after = os.getloadavg()
    print(f"{args.rounds} interleaved rounds on {os.cpu_count()} CPUs; ms as min median max")
    print(
        f"load average before {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}, "
        f"after {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}"
    )
    print(f"{'command':12} " + " ".join(f"{name:>20}" for name in trees))
    print(f"{'python -c pass':12} {fmt(anchors):>20}")
    over = []
    for argv in COMMANDS:
        cells = " ".join(f"{fmt(times.get((name, argv), [])):>20}" for name in trees)
        print(f"{' '.join(argv):12} {cells}")
        mine = times.get(("this", argv), [])
        if not mine:
            over.append(f"{' '.join(argv)} failed")
        elif statistics.median(mine) > TARGET_S:
            over.append(f"{' '.join(argv)} median over {TARGET_S} s")
    print("target: median under 0.3 s for each: " + ("met" if not over else "; ".join(over)))
    return 0 if not over else 1


if __name__ == "__main__":
    sys.exit(main())
