"""Audit tools over the log: exports that verify elsewhere, policy marks, the HTML report."""
