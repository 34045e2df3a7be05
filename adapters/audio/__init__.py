"""Audio adapter: decode files with soundfile, analyse them, render presets, encode chunks."""
