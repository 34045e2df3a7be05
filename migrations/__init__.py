"""Alembic environment and versions; shipped inside the wheel so `tierbuffer` can migrate."""
