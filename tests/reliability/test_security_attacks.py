"""Every attack of issue 11, tried for real against the suite's throwaway service (tests/reliability/
attacks.py): each is refused with a clear answer, and nothing runs, hangs or leaks."""

from __future__ import annotations

import pytest

from .attacks import print_attack_table, run_attacks

pytestmark = [pytest.mark.security, pytest.mark.timeout(600)]


def test_every_attack_of_issue_11_is_refused(rel_service, capsys) -> None:
    rows = run_attacks(rel_service)
    print_attack_table(rows)
    table = capsys.readouterr().out
    assert len(rows) >= 15
    assert [r.attack for r in rows if not r.refused] == [], table
