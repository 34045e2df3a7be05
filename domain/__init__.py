"""Pure core of tierbuffer: events, state, the projection fold and its policies.

Nothing here reads a clock, draws a random number, touches a file, the environment or a logger:
time and identifiers arrive as arguments, so the same events always fold to the same state.
"""
