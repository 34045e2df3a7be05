"""The shell around the pure core: clock, ids, CLI, ingest, bootstrap, audio, library, runtime."""
