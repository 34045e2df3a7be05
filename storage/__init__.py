"""Everything tierbuffer keeps on disk, behind ports.

- `eventstore` (the `EventStore` port and the batch logic every store shares), `sqlite_store`,
  `memory_store` (the fake that passes the same contract), `chain` (the hash chain);
- `snapshots` (the `SnapshotStore` port, SQLite and in-memory), `projector` (snapshot + tail,
  verification), `log` (a `Log`: the two ports together), `sqlite_log` (opening one in SQLite);
- `sqlite_file`, `checkpoint`, `migrate`, `schema`: the SQLite file, its WAL, Alembic, the tables;
- `chunks`: rendered chunk files; `errors`: `StoreError` and its kinds.
"""
