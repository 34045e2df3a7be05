"""Start-up and first scan, end to end: `tierbuffer serve --http` in a subprocess, timed from the
spawn, beside anchors run in the same rounds.

Each round runs these, in this order; A and B are interleaved over the rounds (A, A', B, ...):
  A  first start on a library of --files files (per album of 100: 94 hard links to five 20-40 s
     encodes, one per codec: FLAC, Vorbis, Opus, MP3, WAV; an empty .mp3, random bytes named
     .flac and an Ogg Vorbis file cut at 60 %; cover.jpg, notes.txt and album.cue), on a fresh
     database and chunk folder: the first 200 of GET /v1/status (HTTP ready); the status saying
     every worker is alive; the first track GET /v1/tracks lists, and the first 200 of its
     chunk 0, asked as soon as it is listed; the status saying the first scan is done (watcher
     "watching" and every audio file a track);
  A' a restart on A's database and chunk folder (every track known): HTTP ready; chunk 0 of the
     track A played (rendered, so a hit) and of a known track never played (a render: it waits
     for a worker), both asked as soon as HTTP answers; the rescan done;
  B  the same command on an empty library folder and a fresh database: the floor of HTTP ready
     (interpreter, imports, migration, service start) and of the workers coming up;
  C  the service on --compressed FLAC, Ogg Vorbis, Opus and MP3 files of one to six minutes
     (hard links to 40 distinct encodes): files/s of its own first scan, from the log's
     "scanning" line to its "scanned" line (the service's clock), and from the spawn to the
     status saying it is done;
  D  anchors on C's files, in this process, one after another: their headers read with
     soundfile.info in a plain loop (the floor); `adapters.library.scan.scan` alone (no log, no
     service around it); and the first --decode of them decoded whole to count their frames,
     as the scan did before it trusted headers.
Times from the spawn are taken here (perf_counter before the spawn; the status polled every
10 ms until it answers, then every 50 ms). The files are made once under
~/.cache/tierbuffer-bench/ (50 encodes, a few minutes) and kept; the page cache is warm, so
these are not cold-disk figures.

Checks before any figure: every run done within --timeout; of A's files, each that
soundfile.info opens is one TrackAdded with its duration (within one 30 s chunk), each it
refuses one TrackUnreadable, the rest (not audio) nothing; A' adds, deletes and changes
nothing; C's files all tracks with soundfile.info's durations; every chunk asked served with
200. A failed check exits 1 with the reason and prints no figures. The service's process group
is stopped after each run (SIGTERM, then SIGKILL to what is left), on a failure and on Ctrl-C.

Prints min / median / max over the rounds, the load average before and after each round, and
the issue's targets (2 cores): HTTP ready <= 2 s with 10 000 files, first scan >= 50 files/s;
they are reported, not enforced (exit 0).

With --base DIR (a checkout of other code, e.g. `git worktree add /tmp/base <commit>`), A and
A' run again with that code in each round, after B, on their own database: a before/after in
the same rounds.

    .venv/bin/python bench/ready.py [--files 10000] [--compressed 500] [--rounds 3]
        [--workers 2] [--decode 8] [--timeout 600] [--base DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import anyio
import httpx
import soundfile as sf  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from adapters.audio.decode import BLOCK_FRAMES, open_audio  # noqa: E402
from adapters.bootstrap import sources  # noqa: E402
from adapters.library.index import LibraryIndex  # noqa: E402
from adapters.library.scan import scan  # noqa: E402
from bench._library import NOT_AUDIO, make_linked, make_mixed  # noqa: E402
from bench._served import (  # noqa: E402
    POLL_S,
    ROOT,
    BenchFailedError,
    Service,
    chunk_served,
    events,
    status,
)
from domain.events import PRESETS  # noqa: E402
from domain.tiers import CHUNK_MS  # noqa: E402

READY_TARGET_S: Final = 2.0
SCAN_TARGET_FILES_S: Final = 50.0
LONG_POOL: Final = 40


@dataclass
class Expected:
    """What a scan of a folder should find, by soundfile: path -> duration_ms of each file it
    opens, the audio files it refuses, and how many files are not audio."""

    tracks: dict[str, int]
    unreadable: set[str]
    other: int


def expected(root: Path) -> Expected:
    """soundfile.info once per distinct file (inode) under `root`; hidden names skipped."""
    found = Expected({}, set(), 0)
    by_inode: dict[int, int | None] = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            path = Path(folder, name)
            rel = path.relative_to(root).as_posix()
            if name in NOT_AUDIO:
                found.other += 1
                continue
            inode = path.stat().st_ino
            if inode not in by_inode:
                by_inode[inode] = _duration_ms(path)
            duration = by_inode[inode]
            if duration is None:
                found.unreadable.add(rel)
            else:
                found.tracks[rel] = duration
    return found


def _duration_ms(path: Path) -> int | None:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return None
    return int(info.frames * 1000 // info.samplerate)


@dataclass
class Run:
    """What one service run showed, in seconds from the spawn."""

    ready_s: float | None = None  # the first 200 of GET /v1/status
    workers_s: float | None = None  # the status saying every worker is alive
    scanned_s: float | None = None  # the status saying the first scan is done
    known_s: float | None = None  # GET /v1/tracks listing a track (a first start)
    chunk_s: float | None = None  # the first 200 of that track's chunk 0
    hit_s: float | None = None  # a restart: chunk 0 of the track played before, served
    cold_s: float | None = None  # a restart: chunk 0 of a known track never played, served
    scan_s: float = 0.0  # not from the spawn: the log's "scanning" line to its "scanned" line
    cpu_s: tuple[float, float] = (0.0, 0.0)  # when scanned: the service's process, its workers
    played: dict[str, Any] | None = None  # the track whose chunk 0 was served (as listed)
    unplayed: dict[str, Any] | None = None  # a known track never asked for (as listed)


@dataclass(frozen=True)
class Plan:
    """What to ask a run for: a first start asks a chunk of the first track listed; a restart
    asks chunk 0 of `played` (rendered before) and of `unplayed` at once."""

    expect: Expected
    first_chunk: bool = False
    played: dict[str, Any] | None = None
    unplayed: dict[str, Any] | None = None


async def _follow_status(
    client: httpx.AsyncClient,
    service: Service,
    plan: Plan,
    workers: int,
    run: Run,
    answered: anyio.Event,
) -> None:
    while True:
        found = await status(client, service)
        now = service.since()
        if run.ready_s is None:
            run.ready_s = now
            answered.set()
        if run.workers_s is None and found["workers"]["alive"] == workers:
            run.workers_s = now
        library = found["library"]
        if library["watcher"] == "waiting":
            raise BenchFailedError(f"the watcher is waiting: {library['watcher_detail']}")
        done = library["watcher"] in ("watching", "polling")
        if done and library["tracks"] >= len(plan.expect.tracks) and run.scanned_s is None:
            run.scanned_s = now
            run.cpu_s = service.cpu_s()
        if run.scanned_s is not None and run.workers_s is not None:
            return
        await anyio.sleep(5 * POLL_S)


async def _first_chunk(
    client: httpx.AsyncClient, service: Service, run: Run, answered: anyio.Event
) -> None:
    await answered.wait()
    while True:  # polling an HTTP API: nothing here to wait on instead
        listed = (await client.get("/v1/tracks")).json()["tracks"]
        if listed:
            break
        await anyio.sleep(5 * POLL_S)
    run.known_s = service.since()
    run.played = listed[0]
    await chunk_served(client, listed[0], PRESETS[0])
    run.chunk_s = service.since()


async def _known_chunks(
    client: httpx.AsyncClient, service: Service, plan: Plan, run: Run, answered: anyio.Event
) -> None:
    assert plan.played is not None and plan.unplayed is not None
    await answered.wait()

    async def ask(track: dict[str, Any], which: str) -> None:
        await chunk_served(client, track, PRESETS[0])
        setattr(run, which, service.since())

    async with anyio.create_task_group() as tg:
        tg.start_soon(ask, plan.played, "hit_s")
        tg.start_soon(ask, plan.unplayed, "cold_s")


async def _watch(
    client: httpx.AsyncClient, service: Service, plan: Plan, workers: int, run: Run
) -> None:
    answered = anyio.Event()
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_follow_status, client, service, plan, workers, run, answered)
            if plan.first_chunk:
                tg.start_soon(_first_chunk, client, service, run, answered)
            if plan.played is not None:
                tg.start_soon(_known_chunks, client, service, plan, run, answered)
    except ExceptionGroup as group:
        raise _reason(group, service) from group


def _reason(group: ExceptionGroup[Exception], service: Service) -> BenchFailedError:
    """The first failure of a group, as a `BenchFailedError`."""
    first = group.exceptions[0]
    while isinstance(first, ExceptionGroup):
        first = first.exceptions[0]
    if isinstance(first, BenchFailedError):
        return first
    if isinstance(first, httpx.HTTPError):
        return BenchFailedError(service.exited() or f"HTTP: {type(first).__name__}: {first}")
    raise group


async def _observe(service: Service, plan: Plan, workers: int, limit_s: float) -> Run:
    run = Run()
    async with httpx.AsyncClient(base_url=service.base, timeout=60) as client:
        try:
            with anyio.fail_after(limit_s):
                await _watch(client, service, plan, workers, run)
        except TimeoutError as e:
            raise BenchFailedError(
                f"not done within {limit_s:g} s of the spawn: HTTP ready {_at(run.ready_s)}, "
                f"workers up {_at(run.workers_s)}, scanned {_at(run.scanned_s)}"
            ) from e
        logged = {k: await events(client, k) for k in ("TrackAdded", "TrackUnreadable")}
        for kind in ("TrackDeleted", "TrackModified", "TrackMoved"):
            if found := await events(client, kind):
                raise BenchFailedError(f"{len(found)} {kind}: {found[0]['payload']}")
        if plan.first_chunk and run.played is not None:
            listed = (await client.get("/v1/tracks")).json()["tracks"]
            run.unplayed = next(t for t in reversed(listed) if t["track"] != run.played["track"])
    _check(logged, plan.expect)
    return run


def _check(logged: dict[str, list[dict[str, Any]]], expect: Expected) -> None:
    """The log's tracks and unreadable files are the folder's, with soundfile's durations."""
    added = {e["payload"]["path"]: e["payload"]["duration_ms"] for e in logged["TrackAdded"]}
    unreadable = {e["payload"]["path"] for e in logged["TrackUnreadable"]}
    if len(added) != len(logged["TrackAdded"]) or set(added) != set(expect.tracks):
        raise BenchFailedError(
            f"{len(logged['TrackAdded'])} TrackAdded ({len(added)} paths) for "
            f"{len(expect.tracks)} audio files soundfile opens"
        )
    if unreadable != expect.unreadable:
        raise BenchFailedError(
            f"unreadable: {sorted(unreadable)[:3]}…, soundfile refuses "
            f"{sorted(expect.unreadable)[:3]}…"
        )
    worst = max((abs(added[p] - d) for p, d in expect.tracks.items()), default=0)
    if worst > CHUNK_MS:
        raise BenchFailedError(f"a duration differs from soundfile.info by {worst} ms")


def _at(value: float | None) -> str:
    return "not yet" if value is None else f"at {value:.2f} s"


def _scan_span(service: Service, root: Path, files: int) -> float:
    """Seconds from the watcher's "scanning" line to the "scanned" line, checked to say
    `files` files."""
    began = ended = None
    for line in service.lines():
        message, moment = line.get("message", ""), line.get("time", "")
        if message == f"library watcher {root}: scanning (listing the library)":
            began = datetime.fromisoformat(moment).timestamp()
        elif message.startswith(f"library {root} scanned: "):
            if f"scanned: {files} files in" not in message:
                raise BenchFailedError(f"the log says {message!r}, not {files} files")
            ended = datetime.fromisoformat(moment).timestamp()
    if began is None or ended is None:
        raise BenchFailedError(f"no 'scanning' and 'scanned' lines in {service.log}")
    return ended - began


def serve_once(
    library: Path,
    folder: Path,
    plan: Plan,
    args: argparse.Namespace,
    *,
    scan_span: bool = False,
    tree: Path = ROOT,
) -> Run:
    """One service of `tree` on `library` with its database and chunks in `folder`, until
    `plan` is seen; then stopped."""
    service = Service(library, folder, args.workers, tree)
    try:
        run = anyio.run(_observe, service, plan, args.workers, args.timeout)
        if scan_span:
            run.scan_s = _scan_span(service, library, len(plan.expect.tracks))
    finally:
        service.stop()
    return run


def header_floor(root: Path, paths: list[str]) -> float:
    """Seconds of soundfile.info over `paths` in one thread."""
    began = time.perf_counter()
    for rel in paths:
        sf.info(str(root / rel))
    return time.perf_counter() - began


def scan_alone(root: Path, files: int) -> float:
    """Seconds of `scan` over `root` in this process, on an empty index, with no log."""
    wired = sources()

    async def once() -> float:
        began = time.perf_counter()
        result = await scan(root, LibraryIndex(), now_ms=wired.clock, new_id=wired.new_id)
        if result.stats.added != files:
            raise BenchFailedError(f"scan alone: {result.stats.added} added of {files}")
        return time.perf_counter() - began

    return anyio.run(once)


def decode_whole(root: Path, paths: list[str]) -> float:
    """Seconds to decode `paths` whole, counting frames, as the probe once did."""
    began = time.perf_counter()
    for rel in paths:
        frames = 0
        with open_audio(root / rel) as reader:
            while True:
                block = reader.read(BLOCK_FRAMES)
                frames += block.frames
                if block.ended or block.frames == 0:
                    break
        if frames <= 0:
            raise BenchFailedError(f"{rel}: no frames decoded")
    return time.perf_counter() - began


ROWS: Final = (
    # (key, label, unit, format); {files}, {compressed}, {decoded} filled from the arguments
    ("ready_full", "HTTP ready, first start, {files} files", "s from spawn", ".2f"),
    ("ready_again", "HTTP ready, restart, {files} files known", "s from spawn", ".2f"),
    ("ready_empty", "HTTP ready, empty library (anchor)", "s from spawn", ".2f"),
    ("ready_diff", "  first start - empty, within a round", "s", ".2f"),
    ("workers_full", "workers up, first start, {files} files", "s from spawn", ".2f"),
    ("workers_empty", "workers up, empty library (anchor)", "s from spawn", ".2f"),
    ("known", "first start: first track listed", "s from spawn", ".2f"),
    ("chunk", "  its chunk 0 served (a render)", "s from spawn", ".2f"),
    ("scanned_full", "first start: scan done, {files} files", "s from spawn", ".2f"),
    ("hit", "restart: known rendered chunk 0 served", "s from spawn", ".2f"),
    ("cold", "restart: known unplayed chunk 0 served", "s from spawn", ".2f"),
    ("scanned_again", "restart: rescan done", "s from spawn", ".2f"),
    ("scan_rate", "first scan, {compressed} compressed", "files/s (log)", ".0f"),
    ("scan_rate_spawn", "  from the spawn to the status saying done", "files/s", ".0f"),
    ("info_rate", "soundfile.info loop (anchor)", "files/s", ".0f"),
    ("ratio", "  service's scan / soundfile.info", "x", ".2f"),
    ("alone_rate", "scan() alone, in this process (anchor)", "files/s", ".0f"),
    ("decode_rate", "decode whole, {decoded} files", "files/s", ".1f"),
)
#: With --base: A and A' again, run by the other tree's code in the same rounds.
BASE_ROWS: Final = (
    ("base_ready_full", "base: HTTP ready, first start", "s from spawn", ".2f"),
    ("base_ready_again", "base: HTTP ready, restart", "s from spawn", ".2f"),
    ("base_workers_full", "base: workers up, first start", "s from spawn", ".2f"),
    ("base_chunk", "base: first start, chunk 0 served", "s from spawn", ".2f"),
    ("base_hit", "base: restart, known rendered chunk 0", "s from spawn", ".2f"),
    ("base_cold", "base: restart, known unplayed chunk 0", "s from spawn", ".2f"),
)


@dataclass
class Figures:
    values: dict[str, list[float]] = field(
        default_factory=lambda: {k: [] for k, *_ in (*ROWS, *BASE_ROWS)}
    )
    scan_cpu: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)

    def add(self, **figures: float | None) -> None:
        for key, value in figures.items():
            if value is None:  # a run that returned has seen everything it waits for
                raise BenchFailedError(f"a run ended without its {key}")
            self.values[key].append(value)


@dataclass(frozen=True)
class Libraries:
    mixed: Path
    mixed_expect: Expected
    compressed: Path
    compressed_expect: Expected


def one_round(args: argparse.Namespace, libs: Libraries, out: Figures) -> None:
    before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tierbuffer-ready-") as temp:
        kept, empty, other = (Path(temp, name) for name in ("kept", "empty", "other"))
        for folder in (kept, empty / "library", other):
            folder.mkdir(parents=True)
        full = serve_once(libs.mixed, kept, Plan(libs.mixed_expect, first_chunk=True), args)
        again = serve_once(
            libs.mixed, kept, Plan(libs.mixed_expect, played=full.played, unplayed=full.unplayed),
            args,
        )  # fmt: skip
        bare = serve_once(empty / "library", empty, Plan(Expected({}, set(), 0)), args)
        if args.base is not None:
            _base(args, libs, Path(temp, "base"), out)
        plan = Plan(libs.compressed_expect)
        scanned = serve_once(libs.compressed, other, plan, args, scan_span=True)
    paths = sorted(libs.compressed_expect.tracks)
    info_s = header_floor(libs.compressed, paths)
    alone_s = scan_alone(libs.compressed, len(paths))
    decoded = min(args.decode, len(paths))
    decode_s = decode_whole(libs.compressed, paths[:decoded]) if decoded else float("nan")
    after = os.getloadavg()
    n, got = len(paths), _got
    out.add(
        ready_full=full.ready_s, ready_again=again.ready_s, ready_empty=bare.ready_s,
        ready_diff=got(full.ready_s) - got(bare.ready_s),
        workers_full=full.workers_s, workers_empty=bare.workers_s,
        known=full.known_s, chunk=full.chunk_s, scanned_full=full.scanned_s,
        hit=again.hit_s, cold=again.cold_s, scanned_again=again.scanned_s,
        scan_rate=n / scanned.scan_s, scan_rate_spawn=n / got(scanned.scanned_s),
        info_rate=n / info_s, ratio=info_s / scanned.scan_s, alone_rate=n / alone_s,
        decode_rate=decoded / decode_s if decoded else float("nan"),
    )  # fmt: skip
    out.scan_cpu.append("{:.1f}/{:.1f}".format(*scanned.cpu_s))
    out.loads.append(f"{_load(before)} -> {_load(after)}")


def _base(args: argparse.Namespace, libs: Libraries, folder: Path, out: Figures) -> None:
    """A and A' with the code of `args.base`."""
    folder.mkdir()
    plan = Plan(libs.mixed_expect, first_chunk=True)
    full = serve_once(libs.mixed, folder, plan, args, tree=args.base)
    plan = Plan(libs.mixed_expect, played=full.played, unplayed=full.unplayed)
    again = serve_once(libs.mixed, folder, plan, args, tree=args.base)
    out.add(
        base_ready_full=full.ready_s, base_ready_again=again.ready_s,
        base_workers_full=full.workers_s, base_chunk=full.chunk_s,
        base_hit=again.hit_s, base_cold=again.cold_s,
    )  # fmt: skip


def _got(value: float | None) -> float:
    if value is None:
        raise BenchFailedError("a run ended without one of its times")
    return value


def _load(load: tuple[float, float, float]) -> str:
    return " ".join(f"{x:.2f}" for x in load)


def _row(name: str, values: list[float], unit: str, fmt: str) -> str:
    if not values or all(v != v for v in values):
        return f"{name:46} {'n/a':>8}"
    cells = " ".join(f"{v:8{fmt}}" for v in (min(values), statistics.median(values), max(values)))
    return f"{name:46} {cells}  {unit}"


def report(args: argparse.Namespace, libs: Libraries, f: Figures) -> None:
    mixed, compressed = libs.mixed_expect, libs.compressed_expect
    print(
        f"{args.rounds} rounds on {os.cpu_count()} CPUs, --workers {args.workers}; library of "
        f"{args.files} files ({len(mixed.tracks)} audio files soundfile opens, "
        f"{len(mixed.unreadable)} it refuses, {mixed.other} not audio) beside an empty one; "
        f"first scan of {len(compressed.tracks)} compressed files ({LONG_POOL} distinct "
        "one-to-six-minute encodes); warm page cache"
    )
    for i, load in enumerate(f.loads, 1):
        print(f"round {i}: load average {load}")
    print(f"{'':46} {'min':>8} {'median':>8} {'max':>8}")
    names = {
        "files": args.files,
        "compressed": len(compressed.tracks),
        "decoded": min(args.decode, len(compressed.tracks)),
    }
    for key, label, unit, fmt in (*ROWS, *(BASE_ROWS if args.base is not None else ())):
        print(_row(label.format(**names), f.values[key], unit, fmt))
    cpu = ", ".join(f.scan_cpu)
    print(f"service CPU s when the compressed scan was done (main/workers): {cpu}")
    ready = statistics.median(f.values["ready_full"])
    again = statistics.median(f.values["ready_again"])
    rate = statistics.median(f.values["scan_rate"])
    print(
        f"targets: HTTP ready <= {READY_TARGET_S:g} s with {args.files} files: "
        f"{'met' if max(ready, again) <= READY_TARGET_S else 'missed'} (median {ready:.2f} s "
        f"first start, {again:.2f} s restart); first scan >= {SCAN_TARGET_FILES_S:g} files/s: "
        f"{'met' if rate >= SCAN_TARGET_FILES_S else 'missed'} (median {rate:.0f})"
    )


def _imported_from(tree: Path) -> Path:
    """The tree `adapters` is imported from when run in `tree` (its packages first on the
    path, as the service runs there)."""
    probe = subprocess.run(
        [sys.executable, "-c", "import adapters; print(adapters.__file__)"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    return Path(probe.stdout.strip() or "/").resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    add = parser.add_argument
    add("--files", type=int, default=10_000, help="files in the library of A (default 10000)")
    add("--compressed", type=int, default=500, help="compressed files C scans (default 500)")
    add("--rounds", type=int, default=3, help="rounds of A, A', B, C, D (default 3)")
    add("--workers", type=int, default=2, help="the service's --workers (default 2)")
    add("--decode", type=int, default=8, help="files D decodes whole, 0: none (default 8)")
    add("--timeout", type=float, default=600.0, help="seconds per service run (default 600)")
    add(
        "--base", type=Path, metavar="DIR",
        help="a checkout of other code (git worktree add /tmp/base <commit>): A and A' run with "
        "it too, in the same rounds, after B (default: none)",
    )  # fmt: skip
    args = parser.parse_args()
    if args.base is not None and _imported_from(args.base) != args.base.resolve():
        parser.error(f"--base {args.base}: its `adapters` is not what runs there")
    if args.files < 2 or args.compressed < 1 or args.rounds < 1:
        parser.error("--files must be at least 2, --compressed and --rounds at least 1")
    mixed = make_mixed(args.files)
    compressed = make_linked(args.compressed, pool=LONG_POOL)
    libs = Libraries(mixed, expected(mixed), compressed, expected(compressed))
    figures = Figures()
    try:
        for i in range(args.rounds):
            one_round(args, libs, figures)
            print(f"round {i + 1} of {args.rounds} done", file=sys.stderr)
    except BenchFailedError as e:
        print(f"bench/ready.py: check failed, no figures: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench/ready.py: interrupted, no figures", file=sys.stderr)
        return 130
    report(args, libs, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
