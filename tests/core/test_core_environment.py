"""batchnb.Environment as data: validation, a stable key, a readable repr, what from_kernel finds,
and what it puts into a pool's start task. (Installing it on nodes: tests/core/test_map_environment.py.)"""

from __future__ import annotations

import json
from importlib import metadata

import cloudpickle
import pandas as pd
import pytest

import batchnb
from batchnb.core.remote.needs import modules_in_pickle, modules_used_by
from batchnb.core.specs.environment import ENV_METADATA, ENV_SETUP_VARIABLE, kernel_python
from batchnb.errors import ValidationError


def test_key_is_stable_and_repr_is_readable() -> None:
    a = batchnb.Environment(["pandas==2.2.3", "numpy"], python="3.11")
    b = batchnb.Environment(["numpy", "pandas==2.2.3"], python="3.11")
    assert a.key == b.key and len(a.key) == 16
    assert a.key != batchnb.Environment(["numpy", "pandas==2.2.3"], python="3.12").key
    assert a.key != batchnb.Environment(["numpy", "pandas==2.2.4"], python="3.11").key
    assert repr(a) == f"Environment(['pandas==2.2.3', 'numpy'], python='3.11', key='{a.key}')"
    big = batchnb.Environment([f"pkg{i}==1" for i in range(40)])
    assert "... 34 more" in repr(big) and len(repr(big)) < 200


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"packages": "pandas"}, "packages"),
    ({"packages": ["pandas", ""]}, "packages"),
    ({"packages": ["pandas ==="]}, "packages"),
    ({"packages": ["pandas"], "python": "3"}, "python"),
    ({"packages": ["pandas"], "python": 3.11}, "python"),
])
def test_bad_input_is_one_line_naming_the_field(kwargs, field) -> None:
    with pytest.raises(ValidationError) as info:
        batchnb.Environment(**kwargs)
    assert info.value.field == field
    assert "\n" not in str(info.value) and info.value.fix


def test_from_requirements_reads_packages_and_refuses_options(tmp_path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("# pinned\npandas==2.2.3  # data\n\nrequests>=2,<3\n")
    env = batchnb.Environment.from_requirements(req, python="3.11")
    assert env.packages == ("pandas==2.2.3", "requests>=2,<3") and env.python == "3.11"
    req.write_text("pandas\n--index-url https://example.invalid/simple\n")
    with pytest.raises(ValidationError, match="line 2"):
        batchnb.Environment.from_requirements(req)
    with pytest.raises(ValidationError, match="not a file"):
        batchnb.Environment.from_requirements(tmp_path / "missing.txt")


def test_from_kernel_of_a_function_pins_what_it_imports_and_what_that_requires() -> None:
    def summarize(path):
        import pandas as pd  # inside the body, as notebooks often do

        return len(pd.read_csv(path))

    env = batchnb.Environment.from_kernel(summarize)
    assert env.python == kernel_python()
    assert env.pin_of("pandas") == f"pandas=={pd.__version__}"
    assert env.pin_of("numpy") == f"numpy=={metadata.version('numpy')}"  # pandas requires it
    assert env.pin_of("cloudpickle") == f"cloudpickle=={cloudpickle.__version__}"
    assert env.pin_of("plotly") is None  # installed in the kernel, but not used


def test_needs_are_found_through_globals_helpers_and_pickled_items() -> None:
    import plotly.graph_objects as go

    def helper(x):
        return go.Figure()

    def fn(x):
        return helper(x)

    assert any(m.startswith("plotly") for m in modules_used_by(fn))
    frame = pd.DataFrame({"a": [1]})
    assert any(m.startswith("pandas") for m in modules_in_pickle(cloudpickle.dumps({"items": [frame]})))


def test_pool_spec_installs_the_environment_in_its_start_task() -> None:
    env = batchnb.Environment(["pandas==2.2.3"], python="3.11")
    sdk = batchnb.PoolSpec("p", vm_size="standard_d2s_v3", dedicated_nodes=1, python_env=env).to_sdk()
    assert f"batchnb/envs/{env.key}" in sdk.start_task.command_line
    assert sdk.start_task.wait_for_success is True
    variables = {s.name: s.value for s in sdk.start_task.environment_settings}
    assert ENV_SETUP_VARIABLE in variables
    recorded = {m.name: m.value for m in sdk.metadata}[ENV_METADATA]
    assert json.loads(recorded) == {"python": "3.11", "packages": ["pandas==2.2.3"]}
    # With the user's own start task, the install runs first and the user's command after it.
    with_own = batchnb.PoolSpec("p", vm_size="standard_d2s_v3", dedicated_nodes=1, python_env=env,
                                start_task="python3 setup.py").to_sdk().start_task.command_line
    assert with_own.index("batchnb/envs") < with_own.index("setup.py")


def test_pool_spec_python_env_is_checked() -> None:
    with pytest.raises(ValidationError) as info:
        batchnb.PoolSpec("p", vm_size="standard_d2s_v3", python_env=["pandas"])
    assert info.value.field == "python_env"
    with pytest.raises(ValidationError, match="python_env=") as info:
        batchnb.PoolSpec("p", vm_size="standard_d2s_v3", environment=batchnb.Environment(["pandas"]))
    assert info.value.field == "environment"
    with pytest.raises(ValidationError, match="Linux"):
        batchnb.PoolSpec("p", vm_size="standard_d2s_v3", image="windows-2022",
                         python_env=batchnb.Environment(["pandas"]))


def test_path_command_keeps_the_words_of_a_no_shell_command_line() -> None:
    import shlex
    import subprocess

    env = batchnb.Environment(["pandas"])
    wrapped = env.path_command("echo '$HOME *' plain")
    out = subprocess.run(shlex.split(wrapped), capture_output=True, text=True, check=True,
                         env={"PATH": "/usr/bin:/bin", "AZ_BATCH_NODE_SHARED_DIR": "/x"}).stdout
    assert out == "$HOME * plain\n"
