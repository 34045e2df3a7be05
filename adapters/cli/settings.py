"""Settings that may come from a flag, the environment, a TOML file or a default, in that order.

Each setting has one name: the flag is `--NAME`, the environment variable `TIERBUFFER_NAME`
(upper case, `-` as `_`), the configuration file key `NAME`. The file is `--config PATH`, else
`$TIERBUFFER_CONFIG`, else `$XDG_CONFIG_HOME/tierbuffer/config.toml` (`~/.config/...`) when it
exists. A command takes a setting only if it has the option; the file may hold every setting.
Relative paths in the file are relative to the file's folder.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from adapters.cli.options import (
    LOG_FORMATS,
    LOG_LEVELS,
    checked_database,
    database,
    folder,
    log_format,
    log_level,
    positive,
)
from adapters.errors import AdapterError

Parse = Callable[[str], Any]
DEFAULT_SNAPSHOT_EVERY: Final = (
    10_000  # = bootstrap.DEFAULT_SNAPSHOT_EVERY (a test holds them equal)
)


class ConfigError(AdapterError):
    """A configuration file or an environment variable that cannot be used."""

    def __init__(self, where: Path | str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


def data_home(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share").expanduser()


def cache_home(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser()


def config_home(environ: Mapping[str, str] = os.environ) -> Path:
    return Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config").expanduser()


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    parse: Parse
    default: Callable[[Mapping[str, str]], Any]
    shown: str  # the default, as the help shows it
    is_path: bool = False
    #: Applied to the resolved value, whichever source gave it (raises a TierbufferError).
    check: Callable[[Any], Any] | None = None

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env(self) -> str:
        return "TIERBUFFER_" + self.name.upper().replace("-", "_")

    def help(self, text: str) -> str:
        return f"{text} (default: {self.shown}; or ${self.env}, or `{self.name}` in the config)"


def _none(environ: Mapping[str, str]) -> None:
    return None


SETTINGS: Final = {
    s.name: s
    for s in (
        Setting(
            "db",
            database,
            lambda env: data_home(env) / "tierbuffer" / "tierbuffer.db",
            "$XDG_DATA_HOME/tierbuffer/tierbuffer.db",
            is_path=True,
            check=checked_database,
        ),
        Setting("library", folder, _none, "none", is_path=True),
        Setting(
            "cache-dir",
            folder,
            lambda env: cache_home(env) / "tierbuffer" / "chunks",
            "$XDG_CACHE_HOME/tierbuffer/chunks",
            is_path=True,
        ),
        Setting("workers", positive, lambda env: os.cpu_count() or 2, "one per CPU"),
        Setting(
            "snapshot-every",
            positive,
            lambda env: DEFAULT_SNAPSHOT_EVERY,
            str(DEFAULT_SNAPSHOT_EVERY),
        ),
        Setting("http", str, _none, "off"),
        Setting("token", str, _none, "none"),
        Setting("log-level", log_level, lambda env: "info", "info"),
        Setting("log-format", log_format, lambda env: "text", "text"),
    )
}


def add(parser: argparse.ArgumentParser, name: str, text: str, **extra: Any) -> None:
    """Add `--NAME` for a setting; its value stays None unless given on the command line."""
    setting = SETTINGS[name]
    parser.add_argument(
        f"--{name}", type=setting.parse, default=None, help=setting.help(text), **extra
    )


def config_path(explicit: Path | None, environ: Mapping[str, str]) -> Path | None:
    """The configuration file to read, or None when there is none (only the default may be
    missing: a file named by `--config` or `$TIERBUFFER_CONFIG` must exist)."""
    named = explicit
    if named is None and environ.get("TIERBUFFER_CONFIG"):
        named = Path(environ["TIERBUFFER_CONFIG"])
    if named is not None:
        named = named.expanduser()
        if not named.is_file():
            raise ConfigError(named, "no configuration file here")
        return named
    default = config_home(environ) / "tierbuffer" / "config.toml"
    return default if default.is_file() else None


def read_config(path: Path) -> dict[str, Any]:
    """The file's settings, each checked as its flag would be."""
    import tomllib

    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(path, f"cannot read: {e.strerror or e}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(path, f"not valid TOML: {e}") from e
    values: dict[str, Any] = {}
    for key, raw in table.items():
        setting = SETTINGS.get(key)
        if setting is None:
            known = ", ".join(SETTINGS)
            raise ConfigError(path, f"unknown setting {key!r} (known: {known})")
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise ConfigError(path, f"{key}: expected a string or a number, got {raw!r}")
        values[key] = _checked(setting, str(raw), path)
        if setting.is_path and isinstance(values[key], Path) and not values[key].is_absolute():
            values[key] = path.parent / values[key]
    return values


def _checked(setting: Setting, raw: str, where: Path | str) -> Any:
    try:
        return setting.parse(raw)
    except (argparse.ArgumentTypeError, ValueError) as e:
        raise ConfigError(where, f"{setting.name}: {e or 'invalid value'} ({raw!r})") from e


def resolve(args: argparse.Namespace, environ: Mapping[str, str] = os.environ) -> None:
    """Fill in every setting `args` has that was not given as a flag: environment, then the
    configuration file, then the default. Records where each came from in `args.sources`."""
    path = config_path(getattr(args, "config", None), environ)
    from_file = read_config(path) if path is not None else {}
    sources: dict[str, str] = {}
    for setting in SETTINGS.values():
        if not hasattr(args, setting.dest):
            continue
        value, source = getattr(args, setting.dest), "flag"
        if value is None and environ.get(setting.env):
            value, source = _checked(setting, environ[setting.env], "$" + setting.env), "env"
        if value is None and setting.name in from_file:
            value, source = from_file[setting.name], f"config {path}"
        if value is None:
            value, source = setting.default(environ), "default"
        if setting.check is not None:
            value = setting.check(value)
        setattr(args, setting.dest, value)
        sources[setting.name] = source
    args.sources = sources
    args.config_file = path


def add_global_options(parser: argparse.ArgumentParser, *, after_command: bool) -> None:
    """`--db`, `--config`, `-v`, `--log-level`, `--log-format`: before the command, and again
    after it (`after_command`: only what is given there overrides what came before)."""
    unset: dict[str, Any] = {"default": argparse.SUPPRESS} if after_command else {}
    group = parser.add_argument_group("global options (before or after the command)")
    db = SETTINGS["db"]
    group.add_argument(
        "--db",
        type=database,
        metavar="PATH|URL",
        help=db.help(
            "the event log: an SQLite file, or a PostgreSQL database as postgresql://USER@HOST/DB"
        ),
        **({"default": None} | unset),
    )
    group.add_argument(
        "--config",
        type=folder,
        metavar="FILE",
        help="settings file, TOML (default: $TIERBUFFER_CONFIG, else "
        "$XDG_CONFIG_HOME/tierbuffer/config.toml if it exists)",
        **({"default": None} | unset),
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        help="-v: log at debug level; -vv: also other libraries' debug logs (default: off)",
        **({"default": 0} | unset),
    )
    for name, text, choices in (
        ("log-level", f"our log level: {', '.join(LOG_LEVELS)}", LOG_LEVELS),
        ("log-format", "log lines as text or json, one per line", LOG_FORMATS),
    ):
        group.add_argument(
            f"--{name}",
            type=SETTINGS[name].parse,
            choices=choices,
            metavar=name.split("-")[1].upper(),
            help=SETTINGS[name].help(text),
            **({"default": None} | unset),
        )
