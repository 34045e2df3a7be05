"""`tierbuffer demo`: a generated library of music-like audio and a scripted listener."""
