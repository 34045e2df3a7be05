"""The HTTP API a player uses: interactions in, chunks out, status, the log and its live stream."""
