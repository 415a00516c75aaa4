"""README's magic options that no test ran through a magic: pool --spot/--image/--autoscale/--metrics,
tasks --zip and --chunk. Checked on the service through the SDK, not on what the magic printed."""

from __future__ import annotations

import pytest

from tests.views.magics.conftest import POOL, Shell

pytestmark = pytest.mark.timeout(180)


def test_pool_create_options_reach_the_pool(shell: Shell, batch_client) -> None:
    shell.ok("%batch pool create magics-opts --nodes 1 --spot 1 --slots 2 --image ubuntu-24.04 --metrics "
             "--timeout 120")
    try:
        pool = batch_client.get_pool("magics-opts")
        assert pool.target_dedicated_nodes == 1 and pool.target_low_priority_nodes == 1
        assert pool.task_slots_per_node == 2
        image = pool.virtual_machine_configuration.image_reference
        assert (image.offer, image.sku) == ("ubuntu-24_04-lts", "server")
        assert pool.start_task is not None and "sampler" in pool.start_task.command_line  # --metrics
        assert {n.is_dedicated for n in batch_client.list_nodes("magics-opts")} == {True, False}  # one spot node
    finally:
        shell.ok("%batch pool delete magics-opts")


def test_pool_create_autoscale_preset(shell: Shell, batch_client) -> None:
    shell.ok("%batch pool create magics-auto --autoscale queue --max-nodes 3 --no-wait")
    try:
        pool = batch_client.get_pool("magics-auto")
        assert pool.enable_auto_scale is True
        assert "3" in pool.auto_scale_formula and "$TargetDedicatedNodes" in pool.auto_scale_formula
    finally:
        shell.ok("%batch pool delete magics-auto")


def test_tasks_zip_pairs_the_sweep_lists(shell: Shell, batch_client) -> None:
    shell.ok(f"%batch job create magics-zip --pool {POOL}")
    try:
        shell.ok("%%batch tasks magics-zip --sweep x=1:3 y=a,b,c --zip --wait --timeout 120\necho {x}{y}")
        tasks = list(batch_client.list_tasks("magics-zip"))
        assert sorted(t.command_line for t in tasks) == ["echo 1a", "echo 2b", "echo 3c"]  # not 9 combinations
        assert {t.execution_info.exit_code for t in tasks} == {0}
    finally:
        shell.ok("%batch job delete magics-zip")


def test_tasks_chunk_packs_items_into_fewer_tasks(shell: Shell, batch_client) -> None:
    shell.ok(f"%batch job create magics-chunk --pool {POOL}")
    try:
        shell.ok("%%batch tasks magics-chunk --sweep x=1:5 --chunk 2 --wait --timeout 120\necho item-{x}")
        tasks = list(batch_client.list_tasks("magics-chunk"))
        assert len(tasks) == 3  # 5 items, 2 per task
        assert {t.execution_info.exit_code for t in tasks} == {0}
        out = "".join(b"".join(batch_client.download_task_file(  # every item ran once, in some task
            "magics-chunk", t.id, "stdout.txt")).decode() for t in tasks)
        assert sorted(line for line in out.split() if line.startswith("item-")) == [f"item-{i}" for i in range(1, 6)]
    finally:
        shell.ok("%batch job delete magics-chunk")
