"""The shell around the pure core: everything that touches the world.

Entrypoints on top, one composition root, named rooms inside:

- `cli/`        the `tierbuffer` command line, one module per group of commands (entrypoint);
- `bootstrap`   the composition root: chooses SQLite, the clock, the id source and the worker
                functions, wires the service and starts its HTTP API (imported by entrypoints only);
- `runtime/`    the running service: application (append + fold), scheduler and workers, player,
                recovery, memory monitor, service lock;
- `http/`       the player's HTTP API over `runtime.player.Player`;
- `audio/`      decoding, analysis, presets and chunk rendering;
- `library/`    scanning and watching the music folder;
- `audit/`      export, policy marks, the HTML report;
- `sim/`        the listening simulator and its baselines (pure, virtual time);
- `demo/`       the demo's generated library and scripted listener;
- `ingest`      the event-JSON line format shared by `ingest` and `POST /v1/interactions`;
- `clock`, `ids` the system clock and UUIDv7 event ids; `errors` the adapters' base error.
"""

__version__ = "0.1.0"  # the one place the version is written (pyproject reads it)
