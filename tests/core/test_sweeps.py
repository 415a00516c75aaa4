"""Sweeps and per-file task lists: contents, stable ids, merge and chunking."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from batchnb.core.specs.models import TaskSpec
from batchnb.core.tasks.sweeps import TaskList, per_file, sweep
from batchnb.errors import ValidationError

pytestmark = pytest.mark.timeout(30)

CONTAINER = "http://127.0.0.1:10000/devstoreaccount1/inputs?sv=2024&sp=rl&sig=CONTAINERSIG"


def test_product_covers_every_combination_in_order():
    tasks = sweep("python -c 'print({x} * {y})'", x=range(3), y=[1, 2])
    assert len(tasks) == 6
    assert [t.command_line for t in tasks][:3] == ["python -c 'print(0 * 1)'", "python -c 'print(0 * 2)'",
                                                   "python -c 'print(1 * 1)'"]
    assert [(r["x"], r["y"]) for r in tasks.params] == [(x, y) for x in range(3) for y in (1, 2)]
    assert all(r["task_id"] == t.id for r, t in zip(tasks.params, tasks))
    assert not tasks.uses_dependencies


def test_zip_pairs_values_and_repeats_single_values():
    tasks = sweep("train --lr {lr} --seed {seed:03d} --model {model}", mode="zip",
                  lr=[0.1, 0.01], seed=[7, 42], model="resnet")
    assert [t.command_line for t in tasks] == ["train --lr 0.1 --seed 007 --model resnet",
                                               "train --lr 0.01 --seed 042 --model resnet"]


def test_format_specs_and_shell_quoting():
    tasks = sweep("cp {src!q} out/{n:04d}.txt", src=["my file.txt"], n=[5])
    assert tasks[0].command_line == "cp 'my file.txt' out/0005.txt"
    assert shlex.split(tasks[0].command_line)[1] == "my file.txt"


def test_ids_are_stable_and_follow_the_parameters():
    first = sweep("run {x}", x=range(4))
    again = sweep("run {x}", x=range(4))
    assert first.ids == again.ids  # re-running the cell adds nothing new
    assert first.ids[0].startswith("task-00000-") and len(first.ids[0]) == len("task-00000-") + 8
    extended = sweep("run {x}", x=range(6))
    assert extended.ids[:4] == first.ids  # same item at the same index keeps its id
    edited = sweep("run --fast {x}", x=range(4))
    assert not set(edited.ids) & set(first.ids)  # a changed command never reuses old ids
    reordered = sweep("run {x}", x=[1, 0, 2, 3])
    assert reordered.ids[0] != first.ids[0] and reordered.ids[2:] == first.ids[2:]


def test_index_ids_and_params_keyword_for_reserved_names():
    tasks = sweep("run {mode} {x}", id_style="index", id_prefix="", params={"mode": ["a", "b"]}, x=[1])
    assert tasks.ids == ["00000", "00001"]
    assert tasks[1].command_line == "run b 1"
    later = sweep("run {x}", id_style="index", id_prefix="batch2", start=100_000, x=[1])
    assert later.ids == ["batch2-100000"]


def test_task_options_reach_every_task():
    tasks = sweep("run {x}", x=[1, 2], task_options={"max_retries": 2, "environment": {"A": "1"}})
    assert all(t.max_retries == 2 and t.environment == {"A": "1"} for t in tasks)


def test_merge_depends_on_all_other_tasks_by_id():
    tasks = sweep("run {x}", x=range(3)).with_merge("python merge.py", max_retries=1)
    merge = tasks[-1]
    assert merge.id == "merge" and merge.max_retries == 1
    assert merge.depends_on == tuple(tasks.ids[:3])
    assert tasks.uses_dependencies
    assert len(tasks.params) == 3  # the merge task is not a sweep item


def test_merge_over_integer_ids_uses_compact_ranges():
    tasks = sweep("run {x}", x=range(5000), id_style="index", id_prefix="")
    merged = tasks.with_merge("merge")
    body = merged[-1].to_sdk().as_dict()
    assert body["dependsOn"] == {"taskIdRanges": [{"start": 0, "end": 4999}]}
    gaps = TaskList([TaskSpec("1", "a"), TaskSpec("2", "a"), TaskSpec("7", "a")]).with_merge("m")
    assert gaps[-1].to_sdk().as_dict()["dependsOn"]["taskIdRanges"] == [{"start": 1, "end": 2},
                                                                         {"start": 7, "end": 7}]


def test_merge_over_too_many_named_ids_explains_the_limit():
    tasks = sweep("run {x}", x=range(4000))
    with pytest.raises(ValidationError) as info:
        tasks.with_merge("merge")
    assert "64000" in str(info.value) and "id_style='index', id_prefix=''" in str(info.value)


def test_merge_id_must_not_collide():
    tasks = sweep("run {x}", x=[1], id_prefix="merge", id_style="index")
    with pytest.raises(ValidationError, match="'MERGE-00000' is already a task in the list") as info:
        tasks.with_merge("m", id="MERGE-00000")
    assert info.value.field == "with_merge.id"


def test_chunks_run_every_item_and_fail_if_any_fails(tmp_path):
    tasks = sweep("sh -c 'echo {x} >> {log}; exit {code}'", mode="zip", x=[1, 2, 3], code=[0, 1, 0],
                  log=str(tmp_path / "log.txt"), chunk_size=2)
    assert len(tasks) == 2
    assert [r["task_id"] for r in tasks.params] == [tasks.ids[0]] * 2 + [tasks.ids[1]]
    assert [r["item_index"] for r in tasks.params] == [0, 1, 2]
    # Run the first chunk's command line the way a Linux node would (argv split, no shell).
    first = subprocess.run(shlex.split(tasks[0].command_line), capture_output=True, timeout=10)
    assert first.returncode == 1  # item 2 failed ...
    assert (tmp_path / "log.txt").read_text().split() == ["1", "2"]  # ... but both items ran
    second = subprocess.run(shlex.split(tasks[1].command_line), capture_output=True, timeout=10)
    assert second.returncode == 0 and tasks[1].command_line.startswith("sh -c")


def test_chunked_ids_depend_on_the_items_they_hold():
    a = sweep("run {x}", x=range(10), chunk_size=5)
    b = sweep("run {x}", x=range(10), chunk_size=5)
    c = sweep("run {x}", x=range(10), chunk_size=2)
    assert a.ids == b.ids and len(a) == 2 and not set(a.ids) & set(c.ids)


def test_per_file_from_blob_names_and_container_sas():
    tasks = per_file("python convert.py {path!q} out/{stem}.parquet", ["raw/a.csv", "raw/b c.csv"],
                     container_url=CONTAINER)
    assert tasks[1].command_line == "python convert.py 'raw/b c.csv' out/b c.parquet"
    files = [t.to_sdk().as_dict()["resourceFiles"] for t in tasks]
    assert files[1] == [{"httpUrl": "http://127.0.0.1:10000/devstoreaccount1/inputs/raw/b%20c.csv"
                                    "?sv=2024&sp=rl&sig=CONTAINERSIG", "filePath": "raw/b c.csv"}]
    assert tasks.params[0] == {"task_id": tasks.ids[0], "item_index": 0, "blob": "raw/a.csv", "name": "a.csv",
                               "stem": "a", "path": "raw/a.csv"}
    assert "CONTAINERSIG" not in repr(tasks.params) and "CONTAINERSIG" not in repr(list(tasks))


def test_per_file_ids_ignore_the_sas_token():
    # A new SAS (new expiry) on each run must not change the ids, or re-running would add duplicates.
    one = per_file("wc -l {name}", ["https://a.blob.core.windows.net/c/x.csv?se=2030-01-01&sig=AAA"])
    two = per_file("wc -l {name}", ["https://a.blob.core.windows.net/c/x.csv?se=2031-01-01&sig=BBB"])
    assert one.ids == two.ids and one.ids[0].startswith("file-00000-")
    assert one[0].resource_files[0].file_path == "x.csv"


def test_per_file_pairs_without_download_and_chunks():
    pairs = [(f"d/{i}.txt", f"https://h/c/d/{i}.txt?sig=S") for i in range(5)]
    tasks = per_file("cat {url}", pairs, download=False, chunk_size=2, id_prefix="cat")
    assert len(tasks) == 3 and all(not t.resource_files for t in tasks)
    fetched = per_file("cat {path}", pairs, chunk_size=2)
    assert [f.file_path for f in fetched[0].resource_files] == ["d/0.txt", "d/1.txt"]


def test_per_file_rejects_two_files_landing_on_one_path():
    urls = ["https://h/c/a/x.csv?sig=1", "https://h/c/b/x.csv?sig=2"]
    with pytest.raises(ValidationError, match="both be downloaded to 'x.csv'"):
        per_file("cat {name}", urls, chunk_size=2)


def test_tasklist_slicing_and_concatenation():
    tasks = sweep("run {x}", x=range(4))
    head = tasks[:2]
    assert isinstance(head, TaskList) and len(head.params) == 2
    both = head + tasks[2:]
    assert both == tasks
    with pytest.raises(ValidationError, match="used more than once"):
        tasks + tasks
    assert "4 tasks" in repr(tasks)
    assert len(tasks.to_sdk()) == 4
