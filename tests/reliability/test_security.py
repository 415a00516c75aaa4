"""Nothing leaks, and the local service holds its ground: secrets in outputs/logs/reprs, SAS least
privilege (tried, not read off the token), loopback only, authentication, path escapes, malformed
and oversized requests, a bounded property-based fuzzer (magics and shells: test_magics_no_shell.py)."""

from __future__ import annotations

import base64
import json
import logging
import re
import shutil
import socket
import time
from email.utils import formatdate
from pathlib import Path

import nbformat
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbclient import NotebookClient

import batchnb
from batchnb.errors import AuthError, BatchnbError

from .service_tools import signed_request

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
_UNMASKED_SIG = re.compile(r"(?i)\bsig(=|%3D)(?!\*\*\*|REDACTED\b)[^&\s'\"]+")
API = "api-version=2025-06-01.20.0"


def _secrets(service) -> dict[str, str]:
    storage_key = re.search(r"AccountKey=([^;]+)", service.storage_connection_string).group(1)
    return {"account key": service.account_key, "storage key": storage_key}


def find_secrets(text: str, service) -> list[str]:
    found = [name for name, value in _secrets(service).items() if value in text]
    if _UNMASKED_SIG.search(text):
        found.append("sig=")
    return found


# ------------------------------------------------------------------------------ notebooks and logs


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb")))
def test_example_notebook_outputs_widget_state_and_logs_hold_no_secret(rel_service, tmp_path, name) -> None:
    from tests._nbrun import notebook_outputs_text

    env = {"BATCHNB_LOCAL_STATE_DIR": str(rel_service.state_dir),
           "BATCHNB_PROFILES_FILE": "/nonexistent/batchnb-profiles.toml"}
    if name == "azure":
        env.update(rel_service.env())  # what a user on Azure sets; here it points at the local service
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    if (NOTEBOOKS / name).is_dir():  # the files a notebook uses beside it (notebook-sweep's swept notebook)
        shutil.copytree(NOTEBOOKS / name, tmp_path / name)
    client = NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=True, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    import os

    client.execute(env={**os.environ, **env})
    text = notebook_outputs_text(nb) + json.dumps(nb.metadata.get("widgets", {}))
    assert find_secrets(text, rel_service) == []
    errors = [(o.get("ename"), o.get("evalue")) for c in nb.cells for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert errors == [], errors  # a notebook that stopped early would prove little
    # azure waits instead of monitoring; notebook-sweep shows plain plotly figures: no widget in either.
    assert nb.metadata.get("widgets") or name in ("azure", "notebook-sweep"), "no widget state was saved to scan"


def test_service_logs_hold_no_secret(rel_service, rel_session) -> None:
    # Requests that carry secrets in every place a request can: a SAS in a resource file URL (body),
    # a signature in the query, the Shared Key header; and one refused for a wrong key.
    rel_session.storage.upload_bytes(b"x", container="rel-sec-log", blob="a.txt")
    sas_url = rel_session.storage.blob_sas("rel-sec-log", "a.txt")
    rel_session.create_pool(batchnb.PoolSpec("rel-sec-log-pool", vm_size="standard_d2s_v3", dedicated_nodes=0))
    job = rel_session.create_job("rel-sec-log-job", pool="rel-sec-log-pool")
    job.add_tasks(batchnb.TaskSpec("t", "true", resource_files=[
        batchnb.ResourceFileSpec(http_url=sas_url, file_path="a.txt")]))
    sig = sas_url.split("sig=", 1)[1].split("&", 1)[0]
    assert signed_request(rel_service, "GET", "/jobs/rel-sec-log-job", query=f"{API}&sig={sig}").status_code < 500
    wrong = rel_service.__class__(**{**rel_service.__dict__,
                                     "account_key": base64.b64encode(b"w" * 32).decode()})
    assert signed_request(wrong, "GET", "/pools", query=API).status_code == 403
    scanned = {}
    # requests.log and server.log must exist: a scan of missing files proves nothing.
    for log, required in (("requests.log", True), ("server.log", True), ("azurite.log", False)):
        path = Path(rel_service.state_dir) / log
        assert path.exists() or not required, f"{log} is missing: nothing to scan"
        if path.exists():
            text = path.read_text(errors="replace")
            leaks = [line[:400] for line in text.splitlines() if find_secrets(line, rel_service)]
            assert leaks == [], f"{log}: {leaks[:3]}"
            assert sig not in text
            scanned[log] = text
    requests_log = scanned["requests.log"]
    assert "/jobs/rel-sec-log-job/addtaskcollection" in requests_log or "/jobs/rel-sec-log-job/tasks" in requests_log
    assert "sig=***" in requests_log and " 403 " in requests_log  # the lines with secrets were written, masked


def test_batchnb_logging_and_reprs_hold_no_secret(rel_service, rel_session, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    # Failures are where secrets like to hide: a wrong key, a SAS in a failing URL.
    wrong_key = base64.b64encode(b"not the key, not at all, no no!!").decode()
    wrong = batchnb.connect(account=rel_service.account_name, endpoint=rel_service.batch_url, access_key=wrong_key)
    with pytest.raises(AuthError) as auth:
        wrong.list_pools()
    wrong.close()
    sas = rel_session.storage.container_sas("rel-sec", read=True)
    with pytest.raises(BatchnbError) as missing:
        rel_session.storage.read_bytes("rel-sec-missing", "nope.txt")
    spec = batchnb.TaskSpec("t", "true", resource_files=[batchnb.ResourceFileSpec(http_url=sas + "&x=1",
                                                                                    file_path="in.txt")])
    texts = [repr(rel_session), rel_session._repr_html_(), repr(rel_service), rel_service._repr_html_(),
             repr(rel_session.storage), repr(spec), repr(auth.value), str(auth.value), repr(missing.value),
             str(missing.value), caplog.text]
    for text in texts:
        assert find_secrets(text, rel_service) == [], text[:300]
        assert wrong_key not in text


# ------------------------------------------------------------------------------ SAS least privilege


def _status(fn) -> int:
    from azure.core.exceptions import HttpResponseError

    try:
        fn()
        return 200
    except HttpResponseError as exc:
        return exc.status_code


def test_input_sas_reads_only_and_output_sas_writes_only(rel_session) -> None:
    from azure.storage.blob import BlobClient, ContainerClient

    st_ = rel_session.storage
    st_.upload_bytes(b"input data", container="rel-sas-in", blob="data/a.txt")
    (res,) = st_.input_files("rel-sas-in", prefix="data/")
    url = res.http_url
    assert "se=" in url and "sp=r&" in url or url.endswith("sp=r")
    blob = BlobClient.from_blob_url(url)
    assert blob.download_blob().readall() == b"input data"
    assert _status(lambda: blob.upload_blob(b"overwrite", overwrite=True)) == 403
    assert _status(lambda: blob.delete_blob()) == 403
    container_url = url.split("/data/")[0] + "?" + url.split("?", 1)[1]
    assert _status(lambda: list(ContainerClient.from_container_url(container_url).list_blobs())) == 403

    out = st_.output_files("*.txt", container="rel-sas-out", path="run")
    assert "se=" in out.container_url
    cc = ContainerClient.from_container_url(out.container_url)
    cc.upload_blob("run/result.txt", b"result")
    assert _status(lambda: cc.download_blob("run/result.txt").readall()) == 403
    assert _status(lambda: list(cc.list_blobs())) == 403
    assert _status(lambda: cc.delete_blob("run/result.txt")) == 403


# ------------------------------------------------------------------------------ local service


def test_service_listens_on_loopback_only(rel_service) -> None:
    port = int(rel_service.batch_url.rsplit(":", 1)[1])
    others = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    others -= {"127.0.0.1"}
    try:
        s = socket.socket()
        s.connect(("8.8.8.8", 80))  # no packet is sent; picks the outbound interface's address
        others.add(s.getsockname()[0])
        s.close()
    except OSError:
        pass
    others = {a for a in others if not a.startswith("127.")}
    if not others:
        pytest.skip("this machine has no non-loopback address")
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()


def _plain(service, headers: dict[str, str]) -> requests.Response:
    return requests.get(f"{service.batch_url}/pools?{API}", headers=headers, timeout=10)


def test_missing_wrong_and_stale_credentials_are_rejected(rel_service) -> None:
    assert _plain(rel_service, {"ocp-date": formatdate(usegmt=True)}).status_code == 401
    wrong_key = base64.b64encode(b"not the key, not at all, no no!!").decode()
    wrong = rel_service.__class__(**{**rel_service.__dict__, "account_key": wrong_key})
    assert signed_request(wrong, "GET", "/pools", query=API).status_code == 403
    stale = formatdate(time.time() - 3600, usegmt=True)
    response = signed_request(rel_service, "GET", "/pools", query=API, headers={"ocp-date": stale})
    assert response.status_code == 403 and response.json()["code"] == "AuthenticationFailed"
    assert signed_request(rel_service, "GET", "/pools", query=API).status_code == 200


@pytest.fixture(scope="module")
def finished_task(rel_session):
    rel_session.create_pool(batchnb.PoolSpec("rel-sec-pool", vm_size="standard_d2s_v3", dedicated_nodes=1),
                            wait=True, timeout=60)
    job = rel_session.create_job("rel-sec-job", pool="rel-sec-pool")
    job.add_tasks(batchnb.TaskSpec("t1", "/bin/sh -c 'echo hi'"))
    job.wait(timeout=60, poll=0.2)
    node = next(iter(rel_session.batch_client.list_nodes("rel-sec-pool"))).id
    yield job, node
    rel_session.delete_job("rel-sec-job")


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "..%2F..%2F..%2Fetc%2Fpasswd", "wd/../../../x",
                                  "%2Fetc%2Fpasswd", "/etc/passwd"])
def test_file_apis_refuse_escapes(rel_service, finished_task, path) -> None:
    _, node = finished_task
    for base in ("/jobs/rel-sec-job/tasks/t1/files/", f"/pools/rel-sec-pool/nodes/{node}/files/"):
        response = signed_request(rel_service, "GET", base + path, query=API)
        # 403: the HTTP layer normalised the dots away, so the signed path no longer matches.
        assert response.status_code in (400, 403, 404), (base + path, response.status_code)
        assert "root:" not in response.text


def test_resource_file_path_cannot_escape_the_task_dir(rel_session, rel_service, finished_task) -> None:
    url = rel_session.storage.blob_sas("rel-sas-in", "data/a.txt") if "rel-sas-in" in \
        rel_session.storage.client.list_containers() else None
    rel_session.storage.upload_bytes(b"x", container="rel-sec-in", blob="a.txt")
    url = rel_session.storage.blob_sas("rel-sec-in", "a.txt")
    body = {"id": "escape", "commandLine": "true", "resourceFiles": [{"httpUrl": url, "filePath": "../../escaped.txt"}]}
    response = signed_request(rel_service, "POST", "/jobs/rel-sec-job/tasks", body=body, query=API)
    if response.status_code == 201:  # accepted: then it must fail on the node, not write outside
        job, _ = finished_task
        job.wait(timeout=30, poll=0.2)
        task = rel_session.batch_client.get_task("rel-sec-job", "escape")
        assert task.execution_info.failure_info is not None
    else:
        assert response.status_code == 400
    assert not list(Path(rel_service.state_dir).rglob("escaped.txt"))


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe", b'{"id": '])
def test_malformed_json_is_a_400_batch_error(rel_service, body) -> None:
    response = signed_request(rel_service, "POST", "/pools", raw_body=body, query=API)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] and error["message"]["value"]


@pytest.mark.parametrize("flt", ["state eq", "state eq 'active' and", "((", "id eq 'x' or or", "foo bar baz"])
def test_malformed_odata_filter_is_a_400(rel_service, flt) -> None:
    from urllib.parse import quote

    response = signed_request(rel_service, "GET", "/jobs", query=f"{API}&$filter={quote(flt)}")
    assert response.status_code == 400, flt
    assert response.json()["code"]


def test_oversized_body_is_refused(rel_service) -> None:
    big = json.dumps({"value": [{"id": "t", "commandLine": "x" * (2 * 1024 * 1024)}]}).encode()
    response = signed_request(rel_service, "POST", "/jobs/rel-sec-job/addtaskcollection", raw_body=big, query=API)
    assert response.status_code == 413 and response.json()["code"] == "RequestBodyTooLarge"


# ------------------------------------------------------------------------------ fuzzing

_json = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                     | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=4), max_leaves=12)
_keys = st.sampled_from(["id", "vmSize", "targetDedicatedNodes", "taskSlotsPerNode", "poolInfo", "commandLine",
                         "resourceFiles", "constraints", "dependsOn", "enableAutoScale", "autoScaleFormula",
                         "startTask", "metadata", "priority", "exitConditions", "value", "displayName"])
_bodies = st.dictionaries(_keys | st.text(max_size=10), _json, max_size=6)
_targets = st.sampled_from(["/pools", "/jobs", "/jobs/rel-sec-job/tasks", "/jobs/rel-sec-job/addtaskcollection"])
_filters = st.text(alphabet=st.sampled_from(list("abcdefgijklnoqrstuvxyz '()=<>.0123456789-:TZ$/")),
                   max_size=40) | st.sampled_from(["state eq 'active'", "id gt 'a' and id lt 'z'",
                                                   "stateTransitionTime gt DateTime'2025-01-01T00:00:00Z'",
                                                   "startswith(id, 'a')", "executionInfo/exitCode eq 0"])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(target=_targets, body=_bodies)
def _fuzz_bodies(service, target, body) -> None:
    response = signed_request(service, "POST", target, body=body, query=API)
    assert response.status_code < 500, (target, body, response.text[:300])


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(path=st.sampled_from(["/pools", "/jobs", "/jobs/rel-sec-job/tasks", "/nodecounts"]), flt=_filters,
       select=st.text(max_size=15), top=st.text(max_size=6))
def _fuzz_queries(service, path, flt, select, top) -> None:
    from urllib.parse import urlencode

    query = API + "&" + urlencode({"$filter": flt, "$select": select, "maxresults": top})
    response = signed_request(service, "GET", path, query=query)
    assert response.status_code < 500, (path, flt, select, top, response.text[:300])


def test_fuzzed_bodies_and_queries_never_500_and_the_server_survives(rel_service, finished_task) -> None:
    _fuzz_bodies(rel_service)
    _fuzz_queries(rel_service)
    assert requests.get(f"{rel_service.batch_url}/_local/health", timeout=5).status_code == 200
    assert signed_request(rel_service, "GET", "/pools", query=API).status_code == 200
