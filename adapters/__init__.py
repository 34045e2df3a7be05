"""The shell around the pure core: clock, CLI, ingest, bootstrap (and later workers, audio, HTTP)."""
