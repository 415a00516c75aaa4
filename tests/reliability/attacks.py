"""The attacks of issue 11, each tried for real against a throwaway local service and reported as one
row of the security table: what was tried, the answer, and whether it was refused with nothing run,
hung or leaked. ``test_security_attacks.py`` asserts every row; ``benchmarks/reliability_summary.py``
prints the table. The dedicated tests (tests/core/test_map_integrity.py, tests/service/test_*)
check each answer in detail; this is the one-page account of what was tried.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import pickle
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

import requests

import batchnb
from batchnb._constants import AZURITE_ACCOUNT_KEY, LOCAL_ADMIN_PREFIX
from batchnb.core.remote.integrity import RESULT_MAGIC, command_digests
from batchnb.errors import MapResultTamperedError
from batchnb.local import LocalService
from batchnb.local.faults_client import signed_request

__all__ = ["AttackRow", "print_attack_table", "run_attacks"]

API = "api-version=2025-06-01"


@dataclass
class AttackRow:
    attack: str
    answer: str
    refused: bool
    note: str = ""


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _evil_result(marker: Path, job_id: str, task_id: str, command: str) -> bytes:
    evil = pickle.dumps(_Payload(str(marker)))
    fn_sha, items_sha = command_digests(command)
    header = {"job": job_id, "task": task_id, "start": 0, "python": "3", "host": "x", "fn_sha256": fn_sha,
              "items_sha256": items_sha, "entries": [{"ok": True, "size": len(evil)}]}
    return RESULT_MAGIC + json.dumps(header).encode() + b"\n" + evil


def _http_status(fn) -> int:
    from azure.core.exceptions import HttpResponseError

    try:
        fn()
        return 200
    except HttpResponseError as exc:
        return exc.status_code


def _signed_verbatim(service: LocalService, method: str, path: str, query: str) -> requests.Response:
    """A signed request whose path goes out as written ('.' segments included; requests would drop them)."""
    from batchnb.local.service.http.sharedkey import sign

    headers = {"ocp-date": formatdate(usegmt=True), "Content-Length": "0"}
    headers["Authorization"] = sign(method, path, query, headers, service.account_name, service.account_key)
    prepared = requests.Request(method, f"{service.batch_url}{path}?{query}", headers=headers).prepare()
    prepared.url = f"{service.batch_url}{path}?{query}"
    with requests.Session() as session:
        return session.send(prepared, timeout=30)


def _code(response: requests.Response) -> str:
    try:
        return f"{response.status_code} {response.json().get('code')}"
    except ValueError:
        return str(response.status_code)


# ------------------------------------------------------------------------------ map() results


def map_attacks(service: LocalService, session, pool: str, work: Path) -> list[AttackRow]:
    from azure.storage.blob import BlobClient, ContainerClient

    rows = []
    marker, go = work / "payload-ran", work / "go"

    def held(v):  # the task waits until the attacker has planted its blob
        import os as _os
        import time as _time

        while not _os.path.exists(str(go)):
            _time.sleep(0.05)
        return v

    pending = session.map(held, [1, 2], pool=pool, chunk_size=1, wait=False, job_id=f"atk-map-{os.getpid()}")
    task = session.batch_client.get_task(pending.job_id, "chunk-00000")
    inputs = {rf.file_path: rf.http_url for rf in task.resource_files}
    out = task.output_files[0].destination.container
    evil = _evil_result(marker, pending.job_id, "chunk-00001", task.command_line)
    status = _http_status(lambda: BlobClient.from_blob_url(inputs["fn.pkl"]).upload_blob(evil, overwrite=True))
    rows.append(AttackRow("map: overwrite fn.pkl with the SAS read from a task", f"{status} from storage",
                          status == 403))
    status = _http_status(lambda: BlobClient.from_blob_url(inputs["runner.py"]).upload_blob(b"x", overwrite=True))
    rows.append(AttackRow("map: overwrite runner.py with the SAS read from a task", f"{status} from storage",
                          status == 403))
    other = out.path.replace("00000.pkl", "00001.pkl")
    status = _http_status(lambda: ContainerClient.from_container_url(out.container_url).upload_blob(other, evil))
    rows.append(AttackRow("map: write another task's result with a task's output SAS", f"{status} from storage",
                          status == 403))
    own = _evil_result(marker, pending.job_id, "chunk-00000", task.command_line)
    planted = _http_status(lambda: ContainerClient.from_container_url(out.container_url).upload_blob(out.path, own))
    go.touch()
    try:
        pending.wait(timeout=120)
        answer, refused = "results loaded", False
    except MapResultTamperedError as exc:
        answer, refused = f"{exc.code}: {exc.chunks.get('chunk-00000', '')[:60]}", True
    rows.append(AttackRow("map: plant a task's own result before it uploads (pickle running a shell command)",
                          answer, refused and planted == 200 and not marker.exists(),
                          f"payload ran: {marker.exists()}"))

    done = session.map(lambda v: v, [1], pool=pool, job_id=f"atk-map2-{os.getpid()}", errors="collect", timeout=120)
    time.sleep(2.5)
    command = session.batch_client.get_task(done.job_id, "chunk-00000").command_line
    from azure.storage.blob import BlobServiceClient

    with BlobServiceClient.from_connection_string(service.storage_connection_string) as blobs:
        blobs.get_blob_client(done.container, f"{done.job_id}/out/00000.pkl").upload_blob(
            _evil_result(marker, done.job_id, "chunk-00000", command), overwrite=True)
    again = session.map_result(done.job_id)
    again.clock_skew = datetime.timedelta(seconds=1)
    try:
        again.collect()
        answer, refused = "results loaded", False
    except MapResultTamperedError as exc:
        answer, refused = exc.code, True
    rows.append(AttackRow("map: rewrite a finished result with the storage account key", answer,
                          refused and not marker.exists(), f"payload ran: {marker.exists()}"))
    return rows


# ------------------------------------------------------------------------------ the service


def service_attacks(service: LocalService) -> list[AttackRow]:
    rows = []
    max_latency = [0.0]
    stop = threading.Event()

    def ping():
        while not stop.is_set():
            started = time.monotonic()
            signed_request(service, "GET", f"{LOCAL_ADMIN_PREFIX}/health")
            max_latency[0] = max(max_latency[0], time.monotonic() - started)
            time.sleep(0.05)

    watcher = threading.Thread(target=ping, daemon=True)
    watcher.start()
    pool = f"atk-runaway-{os.getpid()}"
    body = {"id": pool, "vmSize": "standard_d2s_v3", "enableAutoScale": True,
            "autoScaleFormula": "$TargetDedicatedNodes=1000000000;",
            "virtualMachineConfiguration": {"imageReference": {"publisher": "canonical",
                                                               "offer": "0001-com-ubuntu-server-jammy",
                                                               "sku": "22_04-lts"},
                                            "nodeAgentSKUId": "batch.node.ubuntu 22.04"}}
    created = signed_request(service, "POST", "/pools", query=API, body=body)
    deadline = time.monotonic() + 60
    doc: dict = {}
    while time.monotonic() < deadline:
        doc = signed_request(service, "GET", f"/pools/{pool}", query=API).json()
        if doc.get("allocationState") == "steady":
            break
        time.sleep(0.2)
    time.sleep(1.0)
    stop.set()
    watcher.join()
    errors = [e.get("code") for e in doc.get("resizeErrors") or []]
    rows.append(AttackRow("autoscale formula $TargetDedicatedNodes=1000000000",
                          f"{created.status_code}; {doc.get('currentDedicatedNodes')} nodes; {','.join(errors)}",
                          "AccountCoreQuotaReached" in errors and max_latency[0] < 1.0,
                          f"slowest health answer meanwhile {max_latency[0]:.2f} s"))
    signed_request(service, "DELETE", f"/pools/{pool}", query=API)

    response = signed_request(service, "POST", "/jobs", query=API,
                              body={"id": "atk-newline\n", "poolInfo": {"poolId": "p"}})
    rows.append(AttackRow("job id with a trailing newline", _code(response), response.status_code == 400))
    deep = b'{"id":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = signed_request(service, "POST", "/jobs", query=API, raw_body=deep)
    rows.append(AttackRow("JSON body nested 100,000 deep", _code(response), response.status_code == 400))
    response = signed_request(service, "GET", "/pools", query=API, headers={"ocp-date": "Mon, 07 Dec 2026 01:00:00"})
    rows.append(AttackRow("ocp-date without a zone", _code(response), response.status_code == 403))
    token = base64.b32encode(json.dumps({"f": None, "s": None, "e": [], "m": 10**9, "a": 0, "r": False})
                             .encode()).decode().rstrip("=")
    response = signed_request(service, "GET", "/pools", query=f"{API}&$skiptoken={token}")
    rows.append(AttackRow("forged continuation token (maxresults 10^9)", _code(response),
                          response.status_code == 400))

    from azure.storage.blob import BlobServiceClient

    dev = re.sub(r"AccountKey=[^;]+", f"AccountKey={AZURITE_ACCOUNT_KEY}", service.storage_connection_string)
    with BlobServiceClient.from_connection_string(dev) as blobs:
        status = _http_status(lambda: list(blobs.list_containers()))
    rows.append(AttackRow("Azurite with its published development key", f"{status} from storage", status == 403))

    response = requests.get(f"{service.batch_url}/pools?{API}", timeout=10,
                            headers={"Authorization": "Bearer a.e30.b", "ocp-date": formatdate(usegmt=True)})
    rows.append(AttackRow("Bearer a.e30.b (service without --allow-bearer)", _code(response),
                          response.status_code == 401))
    # The same service restarted with --allow-bearer (its state survives), then back as it was.
    from batchnb.local import start

    bearer = start(state_dir=service.state_dir, allow_bearer=True, quiet=True)
    try:
        for what, token in (("Bearer a.e30.b with --allow-bearer", "a.e30.b"),
                            ("Bearer alg=none token with the Batch audience, with --allow-bearer",
                             _unsigned_token())):
            for path in ("/pools", f"{LOCAL_ADMIN_PREFIX}/faults"):
                response = requests.get(f"{bearer.batch_url}{path}?{API}", timeout=10,
                                        headers={"Authorization": f"Bearer {token}"})
                rows.append(AttackRow(f"{what} on {path}", _code(response), response.status_code == 401))
    finally:
        start(state_dir=service.state_dir, quiet=True)
    return rows


def _unsigned_token() -> str:
    def part(obj) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")
    now = int(time.time())
    return f"{part({'alg': 'none'})}.{part({'aud': 'https://batch.core.windows.net/', 'exp': now + 3600})}.sig"


def file_attacks(service: LocalService, session, pool: str, work: Path) -> list[AttackRow]:
    rows = []
    secret = work / "secret.txt"
    secret.write_text("another user's secret\n")
    job = session.create_job(f"atk-files-{os.getpid()}", pool=pool)
    big_mb = 120
    script = (f"import os; os.symlink({str(secret)!r}, 'link.txt'); os.mkfifo('fifo'); "
              f"f=open('big.bin','wb'); [f.write(b'x' * 1048576) for _ in range({big_mb})]; f.close()")
    job.add_tasks(batchnb.TaskSpec("t", f"python3 -c \"{script}\""))
    job.wait(timeout=120, poll=0.2)
    base = f"/jobs/{job.id}/tasks/t/files"
    for what, path in (("GET of a symlink to a file outside the node", "wd%2Flink.txt"),
                       ("GET of a FIFO (would block a reader)", "wd%2Ffifo")):
        started = time.monotonic()
        response = signed_request(service, "GET", f"{base}/{path}", query=API, timeout=30)
        rows.append(AttackRow(what, f"{_code(response)} in {time.monotonic() - started:.2f} s",
                              response.status_code == 400 and "another user" not in response.text))
    response = _signed_verbatim(service, "DELETE", f"{base}/.", f"{API}&recursive=true")
    still = signed_request(service, "GET", f"{base}/stdout.txt", query=API).status_code
    rows.append(AttackRow("DELETE files/.?recursive=true (the task's root)", _code(response),
                          response.status_code == 400 and still == 200))
    before = signed_request(service, "GET", f"{LOCAL_ADMIN_PREFIX}/stats").json()["maxRssBytes"]
    response = signed_request(service, "GET", f"{base}/wd%2Fbig.bin", query=API, timeout=120)
    after = signed_request(service, "GET", f"{LOCAL_ADMIN_PREFIX}/stats").json()["maxRssBytes"]
    grew = (after - before) / 2**20
    rows.append(AttackRow(f"GET of a {big_mb} MB task file", f"{response.status_code}, {len(response.content) >> 20} MB "
                          f"streamed; service grew {grew:.0f} MB", response.status_code == 200 and grew < 40))
    session.delete_job(job.id)
    return rows


def run_attacks(service: LocalService) -> list[AttackRow]:
    """Every attack, against ``service`` (which keeps running, unchanged, afterwards)."""
    session = batchnb.connect("local", state_dir=str(service.state_dir))
    pool = "atk-pool"
    session.create_pool(batchnb.PoolSpec(pool, vm_size="standard_d2s_v3", dedicated_nodes=1, task_slots_per_node=4),
                        wait=True, timeout=120, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(prefix="batchnb-attacks-") as tmp:
            work = Path(tmp)
            return (map_attacks(service, session, pool, work) + service_attacks(service)
                    + file_attacks(service, session, pool, work))
    finally:
        session.delete_pool(pool)
        session.close()


def print_attack_table(rows: list[AttackRow]) -> None:
    header = ["attack (issue 11)", "answer", "refused, nothing ran or leaked"]
    table = [[r.attack, r.answer + (f" ({r.note})" if r.note else ""), "yes" if r.refused else "NO"] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in table:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")


