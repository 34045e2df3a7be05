"""The listening simulator (virtual time, seeded) and the baselines it is compared with."""
