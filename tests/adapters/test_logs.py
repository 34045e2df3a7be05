"""Logging for operators: timestamps and levels, text or JSON, our loggers at INFO, others quiet."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adapters import logs
from adapters.cli import main

TEXT = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO |ERROR|DEBUG|WARNING) \S+: "
)


def emit(level: str = "info", fmt: logs.LogFormat = "text", everything: bool = False) -> str:
    stream = io.StringIO()
    with logs.configured(level, fmt, everything=everything, stream=stream):
        logging.getLogger("adapters.runtime.service").info("service ready: %s", "here")
        logging.getLogger("storage.checkpoint").debug("checkpoint %d", 7)
        logging.getLogger("aiosqlite").debug("executing %s", "SELECT 1")
        logging.getLogger("uvicorn.error").info("Started server process")
        logging.getLogger("watchdog").warning("too many watches")
    return stream.getvalue()


def test_text_lines_have_time_level_and_logger() -> None:
    lines = emit().splitlines()
    assert len(lines) == 2, lines
    assert TEXT.match(lines[0]) and lines[0].endswith(
        "adapters.runtime.service: service ready: here"
    )
    assert "WARNING watchdog: too many watches" in lines[1]


def test_debug_is_ours_only_unless_everything_is_asked_for() -> None:
    ours = emit("debug")
    assert "checkpoint 7" in ours and "SELECT 1" not in ours and "Started server" not in ours
    everything = emit("debug", everything=True)
    assert "SELECT 1" in everything and "Started server" in everything


def test_json_lines() -> None:
    entries = [json.loads(line) for line in emit(fmt="json").splitlines()]
    assert entries[0]["level"] == "INFO" and entries[0]["logger"] == "adapters.runtime.service"
    assert entries[0]["message"] == "service ready: here" and "T" in entries[0]["time"]
    stream = io.StringIO()
    with logs.configured("info", "json", stream=stream):
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("adapters.x").exception("failed")
    (entry,) = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert "ValueError: boom" in entry["exception"]


def test_the_set_up_is_restored_afterwards() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    emit("debug")
    assert root.handlers == handlers and root.level == level


def test_journal_lines_carry_the_syslog_priority_instead_of_a_time(tmp_path: Path) -> None:
    with (tmp_path / "journal").open("w") as stream:
        st = os.fstat(stream.fileno())
        environ = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert logs.writes_to_journal(stream, environ)
        assert not logs.writes_to_journal(stream, {"JOURNAL_STREAM": "1:2"})
    formatter = logs.TextFormatter(journal=True)
    record = logging.LogRecord("adapters.library.watch", logging.ERROR, "", 0, "gone", (), None)
    assert formatter.format(record) == "<3>adapters.library.watch: gone"


def test_the_cli_logs_at_info_by_default_and_honours_the_options(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    base = [sys.executable, "-m", "adapters.cli", "--db", str(db)]

    def stderr(*argv: str) -> str:
        result = subprocess.run([*base, *argv], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stderr

    assert stderr("migrate") == ""  # nothing worth saying at INFO
    assert "asyncio" not in stderr("-v", "migrate")  # -v: our debug lines only
    assert "DEBUG asyncio" in stderr("-vv", "migrate")  # -vv: everyone's
    assert stderr("--log-level", "error", "state") == ""


def test_main_configures_logging_from_the_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIERBUFFER_LOG_FORMAT", "json")
    seen: list[tuple[str, str, bool]] = []
    real = logs.configured

    def spy(level: str, fmt: logs.LogFormat, *, everything: bool = False, stream: object = None):  # type: ignore[no-untyped-def]
        seen.append((level, fmt, everything))
        return real(level, fmt, everything=everything)

    monkeypatch.setattr(logs, "configured", spy)
    main(["--db", str(tmp_path / "x.db"), "migrate"])
    main(["--db", str(tmp_path / "x.db"), "-vv", "state", "--log-level", "warning"])
    main(["--db", str(tmp_path / "x.db"), "state", "--log-level", "warning"])
    assert seen == [("info", "json", False), ("debug", "json", True), ("warning", "json", False)]
