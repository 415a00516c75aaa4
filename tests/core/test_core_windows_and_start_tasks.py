"""Windows pools get a clear refusal for options that need Linux, before any request; map's start
task survives a first boot where unattended-upgrades holds the dpkg lock."""

from __future__ import annotations

import pytest

import batchnb
from batchnb import PoolSpec
from batchnb.errors import ValidationError


def test_metrics_on_a_windows_pool_is_refused_with_the_fix():
    with pytest.raises(ValidationError) as info:
        PoolSpec("w", vm_size="Standard_D2s_v5", image="windows-2022", metrics=True)
    assert info.value.field == "metrics" and "metrics=False" in str(info.value)
    assert PoolSpec("w", vm_size="Standard_D2s_v5", image="windows-2022").metrics is False


def test_a_posix_start_task_on_a_windows_pool_is_refused():
    with pytest.raises(ValidationError) as info:
        PoolSpec("w", vm_size="Standard_D2s_v5", image="windows-2022", start_task=batchnb.map_start_task())
    assert info.value.field == "start_task" and "Linux" in str(info.value)
    spec = PoolSpec("w", vm_size="Standard_D2s_v5", image="windows-2022", start_task="cmd /c echo ready")
    assert spec.start_task.command_line == "cmd /c echo ready"


def test_map_start_task_waits_for_the_dpkg_lock_and_skips_recommends():
    command = batchnb.map_start_task().command_line
    assert command.count("DPkg::Lock::Timeout=600") == 2
    assert "--no-install-recommends" in command
