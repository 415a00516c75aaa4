"""Sweep parameters stored in a task's display name: written readable, read back typed, and a
display name of the user's own never mistaken for parameters."""

from __future__ import annotations

import batchnb
from batchnb.core.tasks.task_params import MAX_DISPLAY_NAME, decode_params, encode_params


def test_parameters_round_trip_with_their_types() -> None:
    params = {"x": 7, "name": "a, b=c", "rate": 0.5, "grid": [1, 2], "none": None, "flag": True}
    text = encode_params(params)
    assert text is not None and text.startswith('x=7, name="a, b=c", rate=0.5')
    assert decode_params(text) == params


def test_other_display_names_have_no_parameters() -> None:
    assert decode_params("my nightly task") == {}
    assert decode_params("x=abc") == {}  # not JSON: not ours
    assert decode_params("x=1 y=2") == {}  # not our separator
    assert decode_params(None) == {}


def test_long_parameters_are_left_out_whole_under_batchs_limit() -> None:
    text = encode_params({f"p{i}": "v" * 100 for i in range(20)})
    assert text is not None and len(text) <= MAX_DISPLAY_NAME
    decoded = decode_params(text)
    assert decoded and all(v == "v" * 100 for v in decoded.values())  # whole pairs only


def test_sweep_tasks_carry_their_parameters_unless_named_or_chunked() -> None:
    tasks = batchnb.sweep("echo {x} {y}", x=[1, 2], y="s")
    assert [t.display_name for t in tasks] == ['x=1, y="s"', 'x=2, y="s"']
    named = batchnb.sweep("echo {x}", x=[1, 2], task_options={"display_name": "mine"})
    assert {t.display_name for t in named} == {"mine"}
    chunked = batchnb.sweep("echo {x}", x=[1, 2, 3, 4], chunk_size=2)
    assert {t.display_name for t in chunked} == {None}


def test_a_swept_sas_url_is_stored_without_its_signature() -> None:
    url = "https://acct.blob.core.windows.net/c/a.csv?sv=2024-01-01&sp=r&sig=SECRETsig123%3D"
    text = encode_params({"url": url})
    assert text is not None and "SECRETsig123" not in text and "sig=***" in text
    assert decode_params(text)["url"].startswith("https://acct.blob.core.windows.net/c/a.csv?")
