"""The state dir and the files in it become private whatever their modes were, and a link in it is
never followed (its target keeps its mode)."""

from __future__ import annotations

import os
from pathlib import Path

from batchnb.local.daemon import make_private


def test_make_private_fixes_modes_and_follows_no_link(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(state, 0o755)
    (state / "server.log").write_text("x")
    os.chmod(state / "server.log", 0o644)
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours to change")
    os.chmod(outside, 0o644)
    os.symlink(outside, state / "link")
    make_private(state)
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "server.log").stat().st_mode & 0o777 == 0o600
    assert outside.stat().st_mode & 0o777 == 0o644
