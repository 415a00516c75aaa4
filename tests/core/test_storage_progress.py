"""README: storage.upload shows a progress bar (the other storage tests turn it off)."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.timeout(60)


def test_upload_shows_a_progress_bar_that_reaches_the_total(session, unique, tmp_path, capsys):
    for i in range(3):
        (tmp_path / f"f{i}.txt").write_bytes(b"x" * 2048)
    result = session.storage.upload(tmp_path, container=f"progress-{unique}")  # progress is on by default
    assert len(result.uploaded) == 3
    err = capsys.readouterr().err  # tqdm writes to stderr outside a notebook
    assert f"upload to progress-{unique}" in err
    # The bar ends full: 6 KiB of 6 KiB, 100 %.
    final = [line for line in re.split(r"[\r\n]", err) if f"upload to progress-{unique}" in line][-1]
    assert "100%" in final and "6.00k/6.00k" in final.replace("KiB", "k").replace("kB", "k"), final
    # Nothing to send the second time: no bar at all for zero bytes.
    again = session.storage.upload(tmp_path, container=f"progress-{unique}")
    assert len(again.skipped) == 3
