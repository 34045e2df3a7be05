"""Everything tierbuffer keeps on disk, behind ports.

- `eventstore` (the `EventStore` port and the read side every store shares), `batch` (the write
  side they share), `row` (the one definition of a log row), `chain` (the hash chain and its
  one walk), `memory_store` (the fake that passes the same contract);
- `sqlite_store` over `sqlite_writer` (group commit) and `sqlite_reader` (paged reads, verified
  replay), `sqlite_rows` (how a row is kept in SQLite);
- `snapshots` (the `SnapshotStore` port, SQLite and in-memory), `projector` (snapshot + tail,
  verification), `log` (a `Log`: the two ports together), `sqlite_log` (opening one in SQLite),
  `anchor` (the chain's head kept outside the database);
- `sqlite_file`, `checkpoint`, `migrate`, `schema`: the SQLite file, its WAL, Alembic, the tables;
- `chunks`: rendered chunk files; `errors`: `StoreError` and its kinds.
"""
