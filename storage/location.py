"""Where a log lives: an SQLite file (a `Path`) or a PostgreSQL database (a `PgUrl`).

`location(text)` reads what a user gives `--db` or `$TIERBUFFER_DB`: a `postgresql://` (or
`postgres://`) URL names a database on a server, anything else a file. A URL is checked here,
before anything connects: a malformed one is an `InvalidLocationError`. A `PgUrl` prints with its
password hidden, so it can go into messages and logs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from storage.errors import InvalidLocationError
from storage.pgurl import PgUrl as PgUrl  # re-exported: a Location is a Path or a PgUrl

SCHEMES: Final = ("postgresql", "postgres", "postgresql+psycopg")


Location = Path | PgUrl


def is_url(text: str) -> bool:
    return text.split("://", 1)[0].lower() in SCHEMES and "://" in text


def location(text: str) -> Location:
    """A `PgUrl` for a PostgreSQL URL (checked), else the path of an SQLite file."""
    if not is_url(text):
        return Path(text).expanduser()
    scheme, rest = text.split("://", 1)
    url = f"postgresql://{rest}"
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number in 0..65535
    except ValueError as e:
        raise InvalidLocationError(_redacted(text), f"not a valid URL ({e})") from e
    if parts.fragment:
        raise InvalidLocationError(_redacted(text), "a database URL has no #fragment")
    if port == 0:
        raise InvalidLocationError(_redacted(text), "port 0 is not a port")
    found = PgUrl(url)
    import psycopg  # only for a URL: a path needs no driver

    try:
        psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InvalidLocationError(found, f"not a valid URL ({detail})") from e
    if not found.database:
        raise InvalidLocationError(found, "names no database (postgresql://HOST/DATABASE)")
    return found


def _redacted(text: str) -> str:
    """`text` with whatever stands between `user:` and `@` hidden (it may be a password)."""
    scheme, _, rest = text.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return text
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
