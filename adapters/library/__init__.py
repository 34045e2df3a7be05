"""The music library: scan the folder tree, watch it, and keep the log true to the disk."""
