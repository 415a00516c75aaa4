"""Specs become azure-batch models with the REST field names the service expects."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from azure.batch import models as m

from batchnb.core.specs.autoscale_presets import preset_formula
from batchnb.core.specs.images import ImageReference
from batchnb.core.specs.models import JobSpec, PoolSpec, StartTaskSpec, TaskSpec
from batchnb.core.specs.task_files import OutputFileSpec, ResourceFileSpec

pytestmark = pytest.mark.timeout(30)

SAS = "https://acct.blob.core.windows.net/out?sv=2024&sig=SIGNATUREVALUE"


def test_fixed_pool_rest_keys():
    spec = PoolSpec("p1", vm_size="standard_d2s_v3", dedicated_nodes=2, spot_nodes=1, task_slots_per_node=4,
                    node_fill="Pack", metadata={"project": "x"}, app_packages=["blender:4.1", "tools"],
                    resize_timeout="PT20M")
    body = spec.to_sdk().as_dict()
    assert body["id"] == "p1"
    assert body["vmSize"] == "Standard_D2s_v3"  # Azure's spelling, whatever the user typed
    vm = body["virtualMachineConfiguration"]
    assert vm["nodeAgentSKUId"] == "batch.node.ubuntu 24.04"  # the default image: Gen2, supported past 2027
    assert vm["imageReference"] == {"publisher": "canonical", "offer": "ubuntu-24_04-lts",
                                    "sku": "server", "version": "latest"}
    assert body["targetDedicatedNodes"] == 2 and body["targetLowPriorityNodes"] == 1
    assert body["enableAutoScale"] is False and "autoScaleFormula" not in body
    assert body["taskSlotsPerNode"] == 4
    assert body["taskSchedulingPolicy"] == {"nodeFillType": "pack"}
    assert body["resizeTimeout"] in ("PT20M", "PT20M00S")
    assert body["metadata"] == [{"name": "project", "value": "x"}]
    assert body["applicationPackageReferences"] == [{"applicationId": "blender", "version": "4.1"},
                                                    {"applicationId": "tools"}]


def test_autoscale_pool_sends_formula_not_counts():
    spec = PoolSpec("p2", vm_size="Standard_F4s_v2", autoscale="queue", autoscale_max_nodes=8,
                    task_slots_per_node=2, autoscale_interval=dt.timedelta(minutes=5))
    body = spec.to_sdk().as_dict()
    assert body["enableAutoScale"] is True
    assert "targetDedicatedNodes" not in body and "targetLowPriorityNodes" not in body
    formula = body["autoScaleFormula"]
    assert formula == preset_formula("queue", max_nodes=8, task_slots_per_node=2)
    assert "$TargetDedicatedNodes = max(0, min(8, $demand))" in formula
    assert "ceil($pending / 2)" in formula
    assert "$NodeDeallocationOption = taskcompletion" in formula
    assert body["autoScaleEvaluationInterval"] in ("PT5M", "PT05M00S")


@pytest.mark.parametrize("preset,dedicated,spot", [
    ("queue-spot", "$TargetDedicatedNodes = 0", "$TargetLowPriorityNodes = max(1, min(6, $demand))"),
    ("queue-mixed", "$TargetDedicatedNodes = 1", "$TargetLowPriorityNodes = max(0, min(5, $demand - 1))"),
])
def test_spot_presets(preset, dedicated, spot):
    formula = preset_formula(preset, max_nodes=6, min_nodes=1)
    assert dedicated in formula and spot in formula
    assert "$demand = $pending" in formula


def test_custom_formula_passes_through():
    formula = "$TargetDedicatedNodes = min(3, $PendingTasks.GetSample(1));"
    assert PoolSpec("p", vm_size="Standard_D2s_v3", autoscale=formula).to_sdk().auto_scale_formula == formula


def test_image_presets_and_explicit_reference():
    win = PoolSpec("w", vm_size="Standard_D2s_v3", image="Windows-2022").to_sdk().as_dict()
    assert win["virtualMachineConfiguration"]["nodeAgentSKUId"] == "batch.node.windows amd64"
    assert win["virtualMachineConfiguration"]["imageReference"]["sku"] == "2022-datacenter"
    ref = ImageReference(publisher="almalinux", offer="almalinux-x86_64", sku="9-gen2",
                         node_agent_sku_id="batch.node.el 9")
    body = PoolSpec("a", vm_size="Standard_D2s_v3", image=ref).to_sdk().as_dict()
    assert body["virtualMachineConfiguration"]["imageReference"]["offer"] == "almalinux-x86_64"
    assert body["virtualMachineConfiguration"]["nodeAgentSKUId"] == "batch.node.el 9"
    custom = ImageReference(virtual_machine_image_id="/subscriptions/s/images/i",
                            node_agent_sku_id="batch.node.ubuntu 22.04")
    body = PoolSpec("c", vm_size="Standard_D2s_v3", image=custom).to_sdk().as_dict()
    assert body["virtualMachineConfiguration"]["imageReference"] == {"virtualMachineImageId": "/subscriptions/s/images/i"}


def test_container_pool():
    body = PoolSpec("c", vm_size="Standard_D2s_v3", image="ubuntu-22.04-hpc",
                    container_images=["python:3.11-slim"]).to_sdk().as_dict()
    assert body["virtualMachineConfiguration"]["containerConfiguration"] == {
        "type": "dockerCompatible", "containerImageNames": ["python:3.11-slim"]}


def test_unknown_vm_size_escape_hatch():
    spec = PoolSpec("p", vm_size="Standard_Z9_v42", allow_unknown_vm_size=True)
    assert spec.to_sdk().vm_size == "Standard_Z9_v42"


def test_start_task_with_environment_and_metrics_prefix():
    spec = PoolSpec("p", vm_size="Standard_D2s_v3", metrics=True,
                    start_task=StartTaskSpec("pip install numpy", elevated=True, max_retries=2,
                                             environment={"B": "2"}),
                    environment={"A": 1, "B": "pool"})
    start = spec.to_sdk(start_task_prefix=["nohup python3 sampler.py &"]).as_dict()["startTask"]
    assert start["commandLine"] == "/bin/sh -c 'nohup python3 sampler.py &\npip install numpy'"
    assert start["environmentSettings"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert start["userIdentity"] == {"autoUser": {"scope": "pool", "elevationLevel": "admin"}}
    assert start["maxTaskRetryCount"] == 2 and start["waitForSuccess"] is True
    # Without a prefix the user's command is sent untouched.
    assert spec.to_sdk().start_task.command_line == "pip install numpy"
    # metrics with no start task of the user's: the prefix alone is the start task.
    bare = PoolSpec("q", vm_size="Standard_D2s_v3", metrics=True)
    assert bare.to_sdk().start_task is None
    assert bare.to_sdk(start_task_prefix=["python3 s.py"]).start_task.command_line == "python3 s.py"


def test_job_rest_keys():
    pool = PoolSpec("p1", vm_size="Standard_D2s_v3")
    body = JobSpec("j1", pool=pool, priority=10, max_parallel_tasks=4, max_wall_clock=3600,
                   max_task_retries=-1, on_all_tasks_complete="TerminateJob",
                   on_task_failure="performexitoptionsjobaction", environment={"X": "1"},
                   preparation_task="echo prep", release_task="echo release").to_sdk().as_dict()
    assert body["poolInfo"] == {"poolId": "p1"}
    assert body["onAllTasksComplete"] == "terminatejob"
    assert body["onTaskFailure"] == "performexitoptionsjobaction"
    assert body["usesTaskDependencies"] is True  # auto: cannot be switched on later
    assert body["constraints"]["maxTaskRetryCount"] == -1
    assert body["constraints"]["maxWallClockTime"] in ("PT1H", "PT01H00M00S")
    assert body["commonEnvironmentSettings"] == [{"name": "X", "value": "1"}]
    assert body["jobPreparationTask"] == {"commandLine": "echo prep"}
    assert body["jobReleaseTask"] == {"commandLine": "echo release"}
    assert body["maxParallelTasks"] == 4 and body["priority"] == 10
    assert JobSpec("j2", pool="p1", uses_task_dependencies=False).to_sdk().uses_task_dependencies is False


def test_task_rest_keys():
    task = TaskSpec(
        "t-1", "python run.py", display_name="first",
        resource_files=["https://acct.blob.core.windows.net/in/data/x.csv?sig=abc",
                        ResourceFileSpec(storage_container_url=SAS, blob_prefix="lib/", file_path="lib"),
                        m.ResourceFile(http_url="https://example.com/tool", file_path="bin/tool", file_mode="0755")],
        output_files=[OutputFileSpec("out/*.csv", container_url=SAS, path="t-1", upload_condition="TaskSuccess")],
        environment={"N": 3}, max_retries=2, max_wall_clock="PT10M", retention=dt.timedelta(days=1),
        depends_on=["t-0", range(10, 20)],
        exit_conditions={"satisfy_on": [0, 3], "terminate_job_on": [2], "default": "block",
                         "pre_processing_error": {"job_action": "none", "dependency_action": "block"}},
        required_slots=2, container_image="python:3.11-slim", app_packages=[("tool", "1.0")],
    )
    body = task.to_sdk().as_dict()
    assert body["commandLine"] == "python run.py" and body["displayName"] == "first"
    assert body["resourceFiles"][0] == {"httpUrl": "https://acct.blob.core.windows.net/in/data/x.csv?sig=abc",
                                        "filePath": "x.csv"}
    assert body["resourceFiles"][1] == {"storageContainerUrl": SAS, "blobPrefix": "lib/", "filePath": "lib"}
    assert body["resourceFiles"][2]["fileMode"] == "0755"
    assert body["outputFiles"] == [{"filePattern": "out/*.csv",
                                    "destination": {"container": {"containerUrl": SAS, "path": "t-1"}},
                                    "uploadOptions": {"uploadCondition": "tasksuccess"}}]
    assert body["environmentSettings"] == [{"name": "N", "value": "3"}]
    assert body["constraints"]["maxTaskRetryCount"] == 2
    assert body["constraints"]["retentionTime"] in ("P1D", "P1DT00H00M00S")
    assert body["dependsOn"] == {"taskIds": ["t-0"], "taskIdRanges": [{"start": 10, "end": 19}]}
    assert body["exitConditions"]["exitCodes"] == [
        {"code": 0, "exitOptions": {"dependencyAction": "satisfy"}},
        {"code": 2, "exitOptions": {"jobAction": "terminate"}},
        {"code": 3, "exitOptions": {"dependencyAction": "satisfy"}},
    ]
    assert body["exitConditions"]["default"] == {"dependencyAction": "block"}
    assert body["exitConditions"]["preProcessingError"] == {"jobAction": "none", "dependencyAction": "block"}
    assert body["requiredSlots"] == 2
    assert body["containerSettings"] == {"imageName": "python:3.11-slim"}
    assert body["applicationPackageReferences"] == [{"applicationId": "tool", "version": "1.0"}]


def test_minimal_task_sends_only_what_was_set():
    assert TaskSpec("t", "echo hi").to_sdk().as_dict() == {"id": "t", "commandLine": "echo hi", "requiredSlots": 1}


def test_specs_are_immutable_and_copy_their_inputs():
    env = {"A": "1"}
    deps = ["a"]
    task = TaskSpec("t", "echo", environment=env, depends_on=deps)
    env["A"] = "changed"
    deps.append("b")
    assert task.environment == {"A": "1"} and task.depends_on == ("a",)
    with pytest.raises(AttributeError):
        task.id = "other"  # type: ignore[misc]
    assert task.replace(command_line="echo 2").command_line == "echo 2"


def test_reprs_hide_sas_signatures():
    task = TaskSpec("t", "curl 'https://a.blob.core.windows.net/c/x?sv=1&sig=TOPSECRETSIG'",
                    output_files=[OutputFileSpec("*.txt", container_url=SAS)])
    text = repr(task)
    assert "TOPSECRETSIG" not in text and "SIGNATUREVALUE" not in text
    assert "sig=***" in text


def test_size_bytes_matches_what_the_sdk_sends(stub_batch):
    tasks = [TaskSpec(f"t{i}", f"python run.py --i {i}", environment={"I": i},
                      output_files=[OutputFileSpec("out/*", container_url=SAS)]) for i in range(5)]
    stub_batch.reply(200, {"value": [{"status": "success", "taskId": t.id} for t in tasks]})
    client = stub_batch.client()
    client.create_task_collection("j1", m.BatchTaskGroup(task_values=[t.to_sdk() for t in tasks]))
    sent = stub_batch.requests[-1]
    assert sent["path"].startswith("/jobs/j1/addtaskcollection")
    body = json.loads(sent["body"])
    assert [t["id"] for t in body["value"]] == [t.id for t in tasks]
    # Body is {"value": [t0, t1, ...]}: the tasks plus the envelope and ", " separators.
    envelope = len('{"value": []}') + 2 * (len(tasks) - 1)
    assert len(sent["body"]) == sum(t.size_bytes() for t in tasks) + envelope
