"""The workspace's base config: parsed once per content of the file, never stale."""

from __future__ import annotations

import pytest

from peaktrade_daemon.errors import ConfigError
from peaktrade_daemon.promotion.workspace import PromotionWorkspace


def test_the_base_follows_every_edit_and_no_caller_changes_it(
    workspace: PromotionWorkspace,
) -> None:
    first = workspace.base()
    first["portfolio"]["leverage"] = 99.0  # a caller's copy, not the workspace's
    assert workspace.base()["portfolio"]["leverage"] != 99.0
    text = workspace.config_file.read_text()
    leverage = workspace.base()["portfolio"]["leverage"]
    # An edit of the same length (what a stat-keyed cache could miss) shows at once.
    edited = text.replace(f"leverage = {leverage}", f"leverage = {leverage + 0.5}", 1)
    assert edited != text and len(edited) == len(text)
    workspace.config_file.write_text(edited)
    assert workspace.base()["portfolio"]["leverage"] == leverage + 0.5
    workspace.config_file.write_text(text + "\n[broken\n")
    with pytest.raises(ConfigError):
        workspace.base()
    workspace.config_file.write_text(text)
    assert workspace.base()["portfolio"]["leverage"] == leverage
