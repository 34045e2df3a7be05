"""Argument types shared by the command modules."""

from __future__ import annotations

import argparse
from pathlib import Path

from domain.events import EVENT_TYPES


def event_type(value: str) -> str:
    if value not in EVENT_TYPES:
        known = ", ".join(sorted(EVENT_TYPES))
        raise argparse.ArgumentTypeError(f"unknown event type {value!r} (known: {known})")
    return value


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return number


def folder(value: str) -> Path:
    return Path(value).expanduser()
