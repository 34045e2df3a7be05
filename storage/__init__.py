"""The event log, snapshots and chunk files: everything tierbuffer keeps on disk."""
