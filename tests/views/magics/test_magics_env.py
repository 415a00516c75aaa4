"""``%batch pool create ... --env``: the pool's nodes get a batchnb.Environment from the start task."""

from __future__ import annotations

import json

import cloudpickle
import pandas as pd
import pytest
from IPython.core.error import UsageError

from batchnb.core.specs.environment import ENV_METADATA, kernel_python
from tests.views.magics.conftest import Shell

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def _recorded(shell: Shell, pool_id: str) -> dict:
    info = shell.ns["s"].get_pool(pool_id)
    return json.loads({m.name: m.value for m in info.metadata}[ENV_METADATA])


def test_env_packages_are_installed_on_the_nodes_and_tasks_use_them(shell: Shell, local_service, tmp_path) -> None:
    shell.ok(f"%batch connect local --state-dir {local_service.state_dir} -o s")
    shell.ok(f"%batch pool create magics-env --nodes 1 --env pandas=={pd.__version__} --timeout 120 -o p")
    recorded = _recorded(shell, "magics-env")
    assert recorded["python"] == kernel_python()
    assert recorded["packages"] == [f"pandas=={pd.__version__}", f"cloudpickle=={cloudpickle.__version__}"]
    assert [i["node"] for i in shell.ns["p"].list_environment_installs()] == list(shell.ns["p"].nodes().index)

    shell.ok("%batch job create magics-env-job --pool magics-env -o job")
    shell.ok("%%batch tasks magics-env-job\npython3 -c 'import pandas; print(pandas.__version__)'")
    shell.ns["job"].wait(timeout=60)
    assert shell.ns["job"].stdout(shell.ns["job"].tasks().index[0]).strip() == pd.__version__

    req = tmp_path / "requirements.txt"
    req.write_text("--no-index\n")
    failed = shell.run(f"%batch pool create magics-env-bad --nodes 1 --env {req}")
    assert isinstance(failed.error, UsageError)
    assert "requirements" in str(failed.error) and "line 1" in str(failed.error)
    shell.ok("%batch pool delete magics-env --wait --timeout 120")
