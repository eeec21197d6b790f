"""Any command line of the read-only commands, in-process: an exit code from the documented
set, at most one error line, never an 'unexpected' error, nothing outside the root touched."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from peaktrade_daemon.cli.app import main
from tests.fuzz.conftest import OutsideWatch

COMMANDS = [
    ["config", "show"], ["config", "show", "--provenance"], ["config", "check"],
    ["jobs", "list"], ["history"], ["alerts"], ["proposals", "list"], ["proposals", "show"],
    ["overrides", "show"], ["overrides", "diff"], ["overrides", "verify-audit"], ["health"],
]  # fmt: skip
OPTIONS = ["--env", "--limit", "--type", "--include-tags", "--exclude-tags", "--status", "--json"]
VALUES = st.one_of(
    st.sampled_from(
        ["live", "paper", "../../x", "/etc/passwd", "-1", "0", "99999999999999999999", "",
         "x" * 5000, "a\x00b", "nan", "pending", "20240101T120000Z-1a2b3c4d", "é", "--", "-v"]
    ),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=10),
)  # fmt: skip


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    command=st.sampled_from(COMMANDS),
    extra=st.lists(st.one_of(st.sampled_from(OPTIONS), VALUES), max_size=4),
)
def test_any_read_only_command_line_exits_cleanly(
    project_root: Path, outside_root: OutsideWatch, command: list[str], extra: list[str]
) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(["--root", str(project_root), *command, *extra])
        except SystemExit as exit_:  # argparse refusing the command line
            code = exit_.code if isinstance(exit_.code, int) else 2
    assert code in (0, 1, 2, 3), (command, extra, code, err.getvalue())
    assert "unexpected" not in err.getvalue() and "Traceback" not in err.getvalue()
    outside_root.assert_untouched()


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_each_read_only_command_runs_on_a_fresh_root(
    project_root: Path, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["--root", str(project_root), *command])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    assert code in (0, 1, 2)
    assert "unexpected" not in capsys.readouterr().err
