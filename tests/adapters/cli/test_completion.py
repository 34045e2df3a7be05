"""`tierbuffer completion bash|zsh`: the generated function, run by a real bash."""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from adapters.cli import main


def script(shell: str) -> str:
    out = io.StringIO()
    assert main(["completion", shell], out=out) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def bash_script() -> str:
    return script("bash")


def complete(bash_script: str, line: str, cwd: Path) -> list[str]:
    """What bash offers for the last word of `line` (a trailing space: a new, empty word)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    array = " ".join(shlex.quote(w) for w in words)
    program = (
        f"{bash_script}\nCOMP_WORDS=({array}); COMP_CWORD={len(words) - 1}; "
        'COMP_LINE=""; _tierbuffer; printf "%s\\n" "${COMPREPLY[@]}"'
    )
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run(
        [bash, "--norc", "-c", program], capture_output=True, text=True, cwd=cwd, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [w for w in result.stdout.splitlines() if w]


def test_commands_are_completed(bash_script: str, tmp_path: Path) -> None:
    assert complete(bash_script, "tierbuffer re", tmp_path) == ["render", "replay", "report"]
    assert "serve" in complete(bash_script, "tierbuffer ", tmp_path)
    assert "state" in complete(bash_script, "tierbuffer --db x.db ", tmp_path)


def test_options_of_the_command_and_global_ones_after_it(bash_script: str, tmp_path: Path) -> None:
    offered = complete(bash_script, "tierbuffer serve --", tmp_path)
    assert {"--library", "--http", "--workers", "--cache-dir", "--db", "--log-level"} <= set(
        offered
    )
    assert "--follow" not in offered  # that is log's
    assert sorted(complete(bash_script, "tierbuffer log --fo", tmp_path)) == [
        "--follow",
        "--format",
    ]


def test_values_choices_and_files(bash_script: str, tmp_path: Path) -> None:
    (tmp_path / "session.jsonl").write_text("")
    (tmp_path / "music").mkdir()
    assert complete(bash_script, "tierbuffer --log-level w", tmp_path) == ["warning"]
    offered = complete(bash_script, "tierbuffer simulate --profile s", tmp_path)
    assert sorted(offered) == ["seeker", "skipper", "steady"]
    assert complete(bash_script, "tierbuffer ingest se", tmp_path) == ["session.jsonl"]
    assert complete(bash_script, "tierbuffer serve --library mu", tmp_path) == ["music"]
    assert complete(bash_script, "tierbuffer completion ", tmp_path) == ["bash", "zsh"]
    assert complete(bash_script, "tierbuffer serve --workers ", tmp_path) == []


def test_the_zsh_script_runs_the_same_function_through_bashcompinit() -> None:
    text = script("zsh")
    assert "bashcompinit" in text and script("bash").split("\n", 1)[1] in text
    zsh = shutil.which("zsh")
    if zsh is None:
        return  # the function itself is checked by bash above
    result = subprocess.run([zsh, "-n", "-c", text], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
