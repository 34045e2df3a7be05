"""`tierbuffer demo`: a generated library of music-like audio and a scripted listener."""

from typing import Final

MIN_TRACK_MS: Final = 60_000  # the demo plays no shorter track (samples, jingles)
