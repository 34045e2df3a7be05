"""A PostgreSQL database named by its URL: a value of its own, below the errors that name it
(`storage.errors`) and the parsing that makes it (`storage.location`)."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit, urlunsplit

import msgspec


class PgUrl(msgspec.Struct, frozen=True):
    """A PostgreSQL database, as a libpq URL (`postgresql://user:password@host:port/database`)."""

    url: str

    @property
    def database(self) -> str:
        parts = urlsplit(self.url)
        named = parse_qs(parts.query).get("dbname")
        return unquote(parts.path.lstrip("/")) or (named[0] if named else "")

    def __str__(self) -> str:
        """The URL with its password replaced by `***`."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        user = parts.username or ""
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
