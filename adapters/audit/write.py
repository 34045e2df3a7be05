"""Writing the report: its target checked before any work, then written whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from adapters.errors import AdapterError

if TYPE_CHECKING:
    from storage.location import PgUrl


class ReportError(AdapterError):
    """The report cannot be written where asked, or there is nothing to report."""

    def __init__(self, path: Path | PgUrl, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def check_target(path: Path) -> Path:
    """Refuse a target that is a folder, or in a folder that does not exist or is not writable."""
    path = path.expanduser()
    folder = path.parent
    if path.is_dir():
        raise ReportError(path, "is a folder; name the HTML file to write (--out FILE)")
    if not folder.is_dir():
        raise ReportError(path, f"no folder {folder} to write the report into")
    if not os.access(folder, os.W_OK):
        raise ReportError(path, f"the folder {folder} is not writable")
    return path


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename it over `path`."""
    temp = path.with_name(f".{path.name}.part")
    try:
        temp.write_text(text, encoding="utf-8")
        temp.replace(path)
    except OSError as e:
        temp.unlink(missing_ok=True)
        raise ReportError(path, f"cannot write: {e.strerror or e}") from e
