"""Bad input across the Python API, the magics and the PoolForm widget (>= 40 cases).

Each case gives one clear line that names the field and the fix, and creates nothing: the pools
and jobs listed before and after are the same.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import pytest

import batchnb
from batchnb.errors import BatchnbError

pytestmark = [pytest.mark.security, pytest.mark.timeout(180)]

POOL = "rel-input-pool"
JOB = "rel-input-job"


def _pool(**kw: Any) -> Callable[[Any], Any]:
    base = dict(vm_size="standard_d2s_v3", dedicated_nodes=1)
    return lambda s: s.create_pool(batchnb.PoolSpec(kw.pop("id", "rel-new-pool"), **{**base, **kw}))


def _task(**kw: Any) -> Callable[[Any], Any]:
    base = dict(id="t1", command_line="true")
    return lambda s: s.job(JOB).add_tasks(batchnb.TaskSpec(**{**base, **kw}))


# (case id) -> (call on the session, text the one line must contain: the field, then a fix hint)
API_CASES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "pool id with a slash": (_pool(id="bad/id"), "pool.id"),
    "pool id too long": (_pool(id="p" * 65), "pool.id"),
    "pool id empty": (_pool(id=""), "pool.id"),
    "negative node count": (_pool(dedicated_nodes=-1), "dedicated_nodes"),
    "node count as text": (_pool(dedicated_nodes="two"), "dedicated_nodes"),
    "zero slots": (_pool(task_slots_per_node=0), "task_slots_per_node"),
    "too many slots": (_pool(task_slots_per_node=10_000), "task_slots_per_node"),
    "unknown vm size": (_pool(vm_size="standard_nope"), "vm_size"),
    "unknown image": (_pool(image="windows-3.1"), "image"),
    "autoscale and counts": (_pool(autoscale="queue", autoscale_max_nodes=3), "dedicated_nodes"),
    "preset without max": (lambda s: s.create_pool(batchnb.PoolSpec("rel-as", vm_size="standard_d2s_v3",
                                                                    autoscale="queue")), "autoscale_max_nodes"),
    "unknown autoscale preset": (lambda s: s.create_pool(batchnb.PoolSpec("rel-as", vm_size="standard_d2s_v3",
                                                                          autoscale="qeueu")), "autoscale"),
    "autoscale formula syntax error (service side)": (
        lambda s: s.create_pool(batchnb.PoolSpec("rel-as-bad", vm_size="standard_d2s_v3",
                                                 autoscale="$TargetDedicatedNodes = = 3;")), "autoscale"),
    "environment without start task": (_pool(environment={"A": "1"}), "environment"),
    "spec of the wrong type": (lambda s: s.create_pool("rel-new-pool"), "spec"),
    "resize with nothing": (lambda s: s.resize_pool(POOL), "dedicated_nodes"),
    "resize negative": (lambda s: s.resize_pool(POOL, spot_nodes=-2), "spot_nodes"),
    "job id with a space": (lambda s: s.create_job("bad id", pool=POOL), "job.id"),
    "job without a pool": (lambda s: s.create_job("rel-j-nopool"), "pool"),
    "job on a pool that does not exist": (lambda s: s.create_job("rel-j-missing", pool="no-such-pool"),
                                          "no-such-pool"),
    "job priority out of range": (lambda s: s.create_job("rel-j-prio", pool=POOL, priority=5000), "priority"),
    "job on a pool of another id (JobSpec and pool)": (
        lambda s: s.create_job(batchnb.JobSpec("rel-j-spec", pool=POOL), pool=POOL), "pool"),
    "re-attach to a missing job": (lambda s: s.job("no-such-job"), "no-such-job"),
    "task id empty": (_task(id=""), "task.id"),
    "task id with a dot-dot": (_task(id="../x"), "task.id"),
    "task command line empty": (_task(command_line=""), "command_line"),
    "task required slots zero": (_task(required_slots=0), "required_slots"),
    "task over 1 MB": (_task(id="huge", command_line="echo " + "x" * 1_100_000), "1 MB"),
    "duplicate task ids": (lambda s: s.job(JOB).add_tasks([batchnb.TaskSpec("d", "true"),
                                                           batchnb.TaskSpec("d", "true")]), "'d'"),
    "sweep zip of unequal lengths": (lambda s: batchnb.sweep("echo {x} {y}", mode="zip", x=[1, 2, 3], y=[1, 2]),
                                     "zip"),
    "sweep template names an unknown parameter": (lambda s: batchnb.sweep("echo {z}", x=[1, 2]), "z"),
    "sweep unknown mode": (lambda s: batchnb.sweep("echo {x}", mode="cartesian", x=[1]), "mode"),
    "upload of a missing file": (lambda s: s.storage.upload("/no/such/file.csv", container="inputs"), "path"),
    "container name with capitals": (lambda s: s.storage.upload(__file__, container="Bad_Container"),
                                     "container"),
    "container name too short": (lambda s: s.storage.container_sas("ab", read=True), "container"),
    "sas with no permission": (lambda s: s.storage.container_sas("inputs"), "permissions"),
    "map over nothing": (lambda s: s.map(abs, [], pool=POOL), "items"),
    "map of a non-function": (lambda s: s.map(42, [1], pool=POOL), "fn"),
    "map chunk size zero": (lambda s: s.map(abs, [1], pool=POOL, chunk_size=0), "chunk_size"),
    "request timeout zero": (lambda s: batchnb.connect("local", request_timeout=0), "request_timeout"),
}


@pytest.fixture(scope="module")
def api(rel_session):
    rel_session.create_pool(batchnb.PoolSpec(POOL, vm_size="standard_d2s_v3", dedicated_nodes=0))
    rel_session.create_job(JOB, pool=POOL)
    return rel_session


def _inventory(session) -> tuple[set[str], set[str], int]:
    tasks = len(list(session.batch_client.list_tasks(JOB, select=["id"])))
    return set(session.list_pools().index), set(session.list_jobs().index), tasks


def assert_nothing_created(session, before: tuple[set[str], set[str], int]) -> None:
    """No new pool, job or task since ``before``. Only additions count: a pool or job another test
    deleted just before (the service finishes deletes in the background) may vanish meanwhile."""
    pools, jobs, tasks = _inventory(session)
    assert (pools - before[0], jobs - before[1], tasks) == (set(), set(), before[2]), "something was created"


def assert_one_clear_line(text: str, expected: str) -> None:
    assert "\n" not in text.strip(), text
    assert "Traceback" not in text, text
    assert expected.lower() in text.lower(), f"{expected!r} not in {text!r}"
    # A fix, or at least the allowed values, is part of the line.
    assert re.search(r"Fix:|expected|allowed|use |give |check ", text), text


@pytest.mark.parametrize("case", list(API_CASES), ids=list(API_CASES))
def test_python_api_bad_input(api, case: str) -> None:
    call, expected = API_CASES[case]
    before = _inventory(api)
    with pytest.raises(BatchnbError) as caught:
        call(api)
    assert_one_clear_line(str(caught.value), expected)
    assert_nothing_created(api, before)


def test_job_on_a_missing_pool_is_allowed_when_asked(api) -> None:
    job = api.create_job("rel-j-later", pool="pool-made-later", allow_missing_pool=True)
    try:
        assert job.pool_id == "pool-made-later"
    finally:
        api.delete_job("rel-j-later")


# ------------------------------------------------------------------------------ credentials


@pytest.fixture
def no_ambient_settings(monkeypatch, tmp_path):
    for name in ("AZURE_BATCH_ACCOUNT", "AZURE_BATCH_ENDPOINT", "AZURE_BATCH_ACCESS_KEY", "BATCHNB_PROFILE",
                 "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_missing_endpoint_names_what_is_missing(no_ambient_settings) -> None:
    with pytest.raises(BatchnbError) as caught:
        batchnb.connect(account="someacct", access_key=base64.b64encode(b"k" * 32).decode())
    assert_one_clear_line(str(caught.value), "endpoint")


def test_wrong_key_is_an_auth_error_without_the_key(rel_service) -> None:
    wrong = base64.b64encode(b"w" * 32).decode()
    session = batchnb.connect(account=rel_service.account_name, endpoint=rel_service.batch_url, access_key=wrong)
    try:
        with pytest.raises(BatchnbError) as caught:
            session.list_pools()
    finally:
        session.close()
    text = str(caught.value)
    assert_one_clear_line(text, "AuthenticationFailed")
    assert wrong not in text and rel_service.account_key not in text


def test_refused_endpoint_is_a_clear_error(no_ambient_settings) -> None:
    session = batchnb.connect(account="a", endpoint="http://127.0.0.1:9", access_key=base64.b64encode(b"k" * 32).decode(),
                              request_timeout=2)
    try:
        with pytest.raises(BatchnbError) as caught:
            session.list_jobs()
    finally:
        session.close()
    assert_one_clear_line(str(caught.value), "127.0.0.1:9")


# ------------------------------------------------------------------------------------ magics

MAGIC_CASES: dict[str, tuple[str, str]] = {
    "invalid pool id": ("%batch pool create bad/id --nodes 1", "pool.id"),
    "negative nodes": ("%batch pool create rel-m-neg --nodes -3", "--nodes"),
    "unknown vm size": ("%batch pool create rel-m-vm --nodes 1 --vm-size standard_nope", "vm_size"),
    "unknown option": ("%batch pools --frobnicate", "--frobnicate"),
    "unknown option on create": (f"%batch job create rel-m-j --pool {POOL} --bogus 3", "--bogus"),
    "job on a missing pool": ("%batch job create rel-m-j2 --pool no-such-pool", "no-such-pool"),
    "missing upload file": ("%batch upload /no/such/path rel-m-in", "/no/such/path"),
    "bad container": ("%batch upload /etc/hostname Bad_Container", "container"),
    "sweep zip mismatch": (f"%%batch tasks {JOB} --sweep x=1:3 y=a,b --zip\necho {{x}}{{y}}", "zip"),
    "unknown template parameter": (f"%%batch tasks {JOB} --sweep x=1:2\necho {{y}}", "y"),
    "shell metacharacters as an id": ("%batch job show 'j; rm -rf /'", "j; rm -rf /"),
}


class _Shell:
    def __init__(self, shell) -> None:
        self.shell = shell

    def run(self, source: str) -> tuple[BaseException | None, str]:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            result = self.shell.run_cell(source, store_history=False)
        return result.error_in_exec or result.error_before_exec, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def magics(api, rel_service):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "batchnb")
    s = _Shell(shell)
    error, text = s.run(f"%batch connect local --state-dir {rel_service.state_dir} -o _rel_magics_session")
    assert error is None, text
    return s


@pytest.mark.parametrize("case", list(MAGIC_CASES), ids=list(MAGIC_CASES))
def test_magics_bad_input(magics, api, case: str) -> None:
    from IPython.core.error import UsageError

    from batchnb.core.current import set_current

    # Another test's batchnb.connect() in this worker may have become the current session since.
    set_current(magics.shell.user_ns["_rel_magics_session"])
    source, expected = MAGIC_CASES[case]
    before = _inventory(api)
    error, text = magics.run(source)
    assert isinstance(error, UsageError), f"{source!r}: {error!r} {text}"
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("UsageError: "), text
    assert expected in lines[0] and "Traceback" not in text, text
    assert_nothing_created(api, before)


# ------------------------------------------------------------------------------------ widgets

FORM_CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    "empty pool id": ({"id": ""}, "id", "pool.id"),
    "pool id with spaces": ({"id": "my pool"}, "id", "pool.id"),
    "negative nodes": ({"dedicated_nodes": -1}, "dedicated_nodes", "dedicated_nodes"),
    "zero slots": ({"task_slots_per_node": 0}, "task_slots_per_node", "task_slots_per_node"),
    "preset without max nodes": ({"autoscale": "queue", "autoscale_max_nodes": 0}, "autoscale_max_nodes",
                                 "autoscale_max_nodes"),
}


@pytest.mark.parametrize("case", list(FORM_CASES), ids=list(FORM_CASES))
def test_pool_form_shows_the_problem_under_its_field(api, case: str) -> None:
    from batchnb.views.widgets.pool_form import PoolForm

    changes, field, expected = FORM_CASES[case]
    form = PoolForm(api, pool_id="rel-form-pool", monitor=False)
    for name, value in changes.items():
        form.fields[name].value = value
    assert form.spec is None and form.create_button.disabled
    shown = form.errors[field].value
    assert expected in shown and "Fix:" in shown and "Traceback" not in shown, (field, shown)
    form.create()  # clicking anyway creates nothing
    assert "rel-form-pool" not in api.list_pools().index
