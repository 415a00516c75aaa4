"""Every bad input fails before any request, with a message that names the field and the fix."""

from __future__ import annotations

import datetime as dt

import pytest

from batchnb.core.specs.models import JobSpec, PoolSpec, StartTaskSpec, TaskSpec
from batchnb.core.specs.task_files import OutputFileSpec, ResourceFileSpec
from batchnb.core.tasks.sweeps import per_file, sweep
from batchnb.core.validation import check_blob_name, check_container_name, check_unique_ids
from batchnb.errors import BatchnbError, ValidationError

pytestmark = pytest.mark.timeout(30)

SAS = "https://acct.blob.core.windows.net/c?sv=2024&sig=s3cr3tSIGNATURE"
POOL = dict(vm_size="standard_d2s_v3")

# (description, callable, field named in the error, substrings the one-line message must contain)
CASES = [
    ("id with a slash", lambda: TaskSpec("a/b", "echo"), "task.id",
     ["'/'", "position 1", "letters, digits, '-' and '_'"]),
    ("id with a space", lambda: PoolSpec("my pool", **POOL), "pool.id", ["' '", "position 2", "'my-pool'"]),
    ("id too long", lambda: JobSpec("j" * 65, pool="p"), "job.id", ["65 characters", "at most 64"]),
    ("empty id", lambda: TaskSpec("", "echo"), "task.id", ["is empty", "1-64 characters"]),
    ("id not a string", lambda: TaskSpec(7, "echo"), "task.id", ["must be a string", "int"]),
    ("unknown vm size", lambda: PoolSpec("p", vm_size="standard_d2s_v9"), "vm_size",
     ["'standard_d2s_v9'", "Standard_D2s_v", "allow_unknown_vm_size=True"]),
    ("unknown image", lambda: PoolSpec("p", image="ubuntu-22.4", **POOL), "image",
     ["not an image preset", "did you mean 'ubuntu-22.04'", "ImageReference"]),
    ("negative node count", lambda: PoolSpec("p", dedicated_nodes=-1, **POOL), "dedicated_nodes",
     ["-1 is out of range", "integer >= 0"]),
    ("node count as text", lambda: PoolSpec("p", spot_nodes="2", **POOL), "spot_nodes",
     ["must be an integer", "str"]),
    ("too many slots", lambda: PoolSpec("p", task_slots_per_node=300, **POOL), "task_slots_per_node",
     ["300 is out of range", "from 1 to 256"]),
    ("bad node fill", lambda: PoolSpec("p", node_fill="packed", **POOL), "node_fill",
     ["'packed'", "did you mean 'pack'", "'spread'"]),
    ("autoscale and fixed counts", lambda: PoolSpec("p", dedicated_nodes=2, autoscale="queue",
                                                    autoscale_max_nodes=4, **POOL),
     "dedicated_nodes", ["cannot be combined with autoscale", "drop dedicated_nodes"]),
    ("preset without max", lambda: PoolSpec("p", autoscale="queue", **POOL), "autoscale_max_nodes",
     ["required", "autoscale_max_nodes=10"]),
    ("unknown preset", lambda: PoolSpec("p", autoscale="queu", autoscale_max_nodes=3, **POOL), "autoscale",
     ["'queu'", "did you mean 'queue'", "$TargetDedicatedNodes"]),
    ("autoscale interval too short", lambda: PoolSpec("p", autoscale="queue", autoscale_max_nodes=3,
                                                      autoscale_interval=60, **POOL),
     "autoscale_interval", ["PT1M", "at least PT5M"]),
    ("max nodes without autoscale", lambda: PoolSpec("p", autoscale_max_nodes=3, **POOL), "autoscale_max_nodes",
     ["only applies with autoscale", "autoscale='queue'"]),
    ("min above max", lambda: PoolSpec("p", autoscale="queue", autoscale_max_nodes=2, autoscale_min_nodes=5,
                                       **POOL), "autoscale_min_nodes", ["above autoscale_max_nodes=2"]),
    ("formula that sets nothing", lambda: PoolSpec("p", autoscale="$x = 1;", **POOL), "autoscale",
     ["assigns neither", "assign at least one"]),
    ("resize timeout too short", lambda: PoolSpec("p", resize_timeout=dt.timedelta(minutes=1), **POOL),
     "resize_timeout", ["PT1M", "at least PT5M"]),
    ("pool environment without start task", lambda: PoolSpec("p", environment={"A": "1"}, **POOL),
     "environment", ["no start task", "JobSpec"]),
    ("containers on an image without runtime", lambda: PoolSpec("p", container_images=["python:3.11"], **POOL),
     "container_images", ["container runtime", "ubuntu-22.04-hpc"]),
    ("too many app packages", lambda: PoolSpec("p", app_packages=[f"a{i}" for i in range(11)], **POOL),
     "app_packages", ["11 packages", "at most 10"]),
    ("start task max retries", lambda: StartTaskSpec("x", max_retries=-2), "start_task.max_retries",
     ["-2 is out of range", "-1 (retry until it succeeds)"]),
    ("priority out of range", lambda: JobSpec("j", pool="p", priority=5000), "priority",
     ["5000 is out of range", "-1000 to 1000"]),
    ("max parallel tasks zero", lambda: JobSpec("j", pool="p", max_parallel_tasks=0), "max_parallel_tasks",
     ["0 is out of range", "-1 (no cap)"]),
    ("bad on_all_tasks_complete", lambda: JobSpec("j", pool="p", on_all_tasks_complete="terminate"),
     "on_all_tasks_complete", ["'terminate'", "'terminatejob'"]),
    ("release without preparation", lambda: JobSpec("j", pool="p", release_task="rm -rf x"), "release_task",
     ["needs a preparation_task", "preparation_task="]),
    ("bad duration text", lambda: TaskSpec("t", "echo", max_wall_clock="10 minutes"), "max_wall_clock",
     ["'10 minutes'", "ISO-8601", "PT15M"]),
    ("negative retention", lambda: TaskSpec("t", "echo", retention=-5), "retention", ["must be positive"]),
    ("empty command", lambda: TaskSpec("t", "   "), "task.command_line", ["is empty", "python run.py"]),
    ("self dependency", lambda: TaskSpec("t1", "echo", depends_on=["T1"]), "depends_on",
     ["depends on itself", "remove its own id"]),
    ("int dependency", lambda: TaskSpec("t1", "echo", depends_on=[3]), "depends_on",
     ["3 (int)", "range(start, stop)"]),
    ("dependency string not list", lambda: TaskSpec("t1", "echo", depends_on="t0"), "depends_on",
     ["must be a list", "wrap it in a list"]),
    ("required slots zero", lambda: TaskSpec("t", "echo", required_slots=0), "required_slots",
     ["0 is out of range", "from 1 to 256"]),
    ("reserved env var", lambda: TaskSpec("t", "echo", environment={"AZ_BATCH_NODE_ID": "x"}),
     "environment['AZ_BATCH_NODE_ID']", ["reserved", "AZ_BATCH_"]),
    ("bad env var name", lambda: TaskSpec("t", "echo", environment={"1X": "x"}), "environment['1X']",
     ["not a valid environment variable name", "not starting with a digit"]),
    ("exit conditions typo", lambda: TaskSpec("t", "echo", exit_conditions={"satisfy": [1]}),
     "exit_conditions['satisfy']", ["not a known key", "did you mean 'satisfy_on'"]),
    ("exit code in satisfy and block", lambda: TaskSpec("t", "echo", exit_conditions={
        "satisfy_on": [1], "block_on": [1]}), "exit_conditions['block_on']",
     ["exit code 1 is also listed", "only one of satisfy_on/block_on"]),
    ("overlapping exit ranges", lambda: TaskSpec("t", "echo", exit_conditions={
        "satisfy_on": [range(1, 10)], "block_on": [range(5, 20)]}), "exit_conditions",
     ["1..9 and 5..19 overlap", "disjoint"]),
    ("resource file with two sources", lambda: ResourceFileSpec(http_url=SAS, storage_container_url=SAS),
     "resource_file", ["2 sources", "exactly one of"]),
    ("resource file escaping wd", lambda: ResourceFileSpec(http_url=SAS, file_path="../x"),
     "resource_file.file_path", ["'..'", "inside the working directory"]),
    ("output file bad condition", lambda: OutputFileSpec("*.csv", container_url=SAS, upload_condition="success"),
     "output_file.upload_condition", ["'success'", "'tasksuccess'"]),
    ("output file URL not http", lambda: OutputFileSpec("*.csv", container_url="c:/out"),
     "output_file.container_url", ["not an http(s) URL", "SAS"]),
    ("container name uppercase", lambda: check_container_name("Inputs"), "container",
     ["uppercase", "'inputs'"]),
    ("container name double hyphen", lambda: check_container_name("my--data"), "container",
     ["'--'", "single hyphens"]),
    ("container name too short", lambda: check_container_name("ab"), "container",
     ["2 characters", "3-63"]),
    ("blob name trailing slash", lambda: check_blob_name("data/"), "blob", ["ends with '/'", "cannot end"]),
    ("duplicate ids differing by case", lambda: check_unique_ids(["Task1", "task1", "t2"]), "tasks",
     ["'Task1', 'task1'", "treats 'A' and 'a' as the same"]),
    ("sweep unknown template name", lambda: sweep("run {x} {z}", x=[1], y=[2]), "template",
     ["'{z}'", "known parameters: 'x', 'y'"]),
    ("sweep zip length mismatch", lambda: sweep("run {x} {y}", mode="zip", x=[1, 2, 3], y=[1, 2]), "mode",
     ["x=3, y=2", "same length"]),
    ("sweep empty list", lambda: sweep("run {x}", x=[]), "x", ["has no values", "x=[1, 2, 3]"]),
    ("sweep too many tasks", lambda: sweep("run {a} {b}", a=range(1000), b=range(1000)), "max_tasks",
     ["a=1000 x b=1000", "1000000 items", "chunk_size"]),
    ("sweep positional field", lambda: sweep("run {}", x=[1]), "template", ["positional", "'{x}'"]),
    ("sweep bad format spec", lambda: sweep("run {x:04d}", x=["a"]), "template",
     ["x='a'", "'{n:04d}' needs an int"]),
    ("sweep option-named template field", lambda: sweep("run {start}", x=[1]), "template",
     ["'{start}'", "params={'start': [...]}"]),
    ("sweep prefix too long", lambda: sweep("run {x}", x=[1], id_prefix="p" * 60), "id_prefix",
     ["over 64 characters", "shorten id_prefix"]),
    ("sweep unknown task option", lambda: sweep("run {x}", x=[1], task_options={"retries": 2}), "task_options",
     ["'retries'", "max_retries"]),
    ("per_file URL needed", lambda: per_file("get {url}", ["a.csv"]), "container_url",
     ["'a.csv' has no URL", "container_url="]),
    ("per_file empty", lambda: per_file("run {name}", []), "blobs", ["is empty", "prefix"]),
    ("per_file unknown field", lambda: per_file("run {file}", ["a.csv"]), "template",
     ["'{file}'", "'url', 'name', 'stem', 'blob', 'path'"]),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_names_field_and_fix(case):
    _, build, field, fragments = case
    with pytest.raises(ValidationError) as info:
        build()
    error = info.value
    message = str(error)
    assert error.field == field
    assert message.startswith(f"{field}: ")
    assert "Fix: " in message, message
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    # One family: callers can catch BatchnbError, or ValueError like any bad argument.
    assert isinstance(error, BatchnbError) and isinstance(error, ValueError)
    assert error.code == "batchnb.Validation" and not error.is_service_error


def test_errors_never_show_a_sas_signature():
    with pytest.raises(ValidationError) as info:
        ResourceFileSpec(http_url=SAS, file_path="/abs")
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        OutputFileSpec("", container_url=SAS)
    assert "s3cr3t" not in str(info.value) and "s3cr3t" not in repr(info.value)
