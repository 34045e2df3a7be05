"""Settings: a flag beats the environment, which beats the config file, which beats the default."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from adapters.bootstrap import DEFAULT_SNAPSHOT_EVERY
from adapters.cli import build_parser, main, settings


def resolved(argv: list[str], environ: dict[str, str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    settings.resolve(args, environ)
    return args


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config" / "tierbuffer" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text(
        'db = "from-file.db"\nworkers = 3\nlibrary = "~/Music"\nlog-level = "warning"\n'
    )
    return path


def test_precedence_flag_environment_file_default(config: Path, tmp_path: Path) -> None:
    base = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    args = resolved(["serve"], base)
    assert args.workers == 3 and args.sources["workers"] == f"config {config}"
    assert args.db == config.parent / "from-file.db"  # relative to the file's folder
    assert args.library == Path("~/Music").expanduser()
    assert (
        args.snapshot_every == DEFAULT_SNAPSHOT_EVERY
        and args.sources["snapshot-every"] == "default"
    )
    args = resolved(["serve"], {**base, "TIERBUFFER_WORKERS": "5"})
    assert args.workers == 5 and args.sources["workers"] == "env"
    args = resolved(["serve", "--workers", "7"], {**base, "TIERBUFFER_WORKERS": "5"})
    assert args.workers == 7 and args.sources["workers"] == "flag"


def test_config_flag_and_variable_name_the_file(config: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("workers = 4\n")
    assert resolved(["--config", str(other), "serve"], {}).workers == 4
    assert resolved(["serve"], {"TIERBUFFER_CONFIG": str(other)}).workers == 4
    assert resolved(["serve", "--config", str(other)], {}).workers == 4  # after the command too


def test_without_a_file_the_defaults_hold(tmp_path: Path) -> None:
    args = resolved(["state"], {"XDG_DATA_HOME": str(tmp_path / "data")})
    assert args.db == tmp_path / "data" / "tierbuffer" / "tierbuffer.db"
    assert args.log_level == "info" and args.log_format == "text"
    assert args.config_file is None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("workers = 0\n", "workers: must be 1 or more"),
        ('workers = "many"\n', "workers: not a whole number"),
        ("colour = 1\n", "unknown setting 'colour'"),
        ("workers = [1]\n", "expected a string or a number"),
        ("workers = true\n", "expected a string or a number"),
        ("workers = \n", "not valid TOML"),
        ('log-level = "loud"\n', "log-level: one of debug, info, warning, error"),
    ],
)
def test_a_bad_config_file_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    code = main(["--config", str(path), "state"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("tierbuffer: error: "), err
    assert str(path) in err and needle in err


def test_a_named_config_file_must_exist(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--config", str(tmp_path / "absent.toml"), "state"])
    err = capsys.readouterr().err
    assert code == 2 and "absent.toml: no configuration file here" in err


def test_a_bad_environment_value_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIERBUFFER_WORKERS", "-2")
    code = main(["serve"])
    err = capsys.readouterr().err
    assert code == 2 and "$TIERBUFFER_WORKERS: workers: must be 1 or more" in err


def test_every_setting_has_a_flag_somewhere_and_a_documented_variable() -> None:
    parser = build_parser()
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    flags = {
        option
        for command in [parser, *parser.commands.values()]  # type: ignore[attr-defined]
        for action in command._actions
        for option in action.option_strings
    }
    for setting in settings.SETTINGS.values():
        assert f"--{setting.name}" in flags, setting.name
        assert setting.env in readme, f"{setting.env} is not in the README"


def test_the_cli_default_snapshot_interval_is_the_composition_roots() -> None:
    assert settings.DEFAULT_SNAPSHOT_EVERY == DEFAULT_SNAPSHOT_EVERY
