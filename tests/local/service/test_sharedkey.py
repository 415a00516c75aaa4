"""Shared Key verification checked against what the real azure-batch 15.x SDK signs."""

from __future__ import annotations

import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from azure.batch import BatchClient
from azure.batch._patch import BatchSharedKeyAuthPolicy
from azure.core.credentials import AzureNamedKeyCredential
from azure.core.pipeline import PipelineContext, PipelineRequest
from azure.core.rest import HttpRequest

from batchnb.local.service.http.sharedkey import parse_query, sign, string_to_sign, verify

pytestmark = pytest.mark.timeout(60)

ACCOUNT = "devbatch"
KEY = base64.b64encode(bytes(range(64))).decode()
OTHER_KEY = base64.b64encode(bytes(range(1, 65))).decode()
ENDPOINT = "http://127.0.0.1:8765"


def sdk_signed(request: HttpRequest, key: str = KEY) -> HttpRequest:
    """Run the SDK's own signing policy on a request, as the pipeline would."""
    policy = BatchSharedKeyAuthPolicy(AzureNamedKeyCredential(ACCOUNT, key))
    policy.on_request(PipelineRequest(request, PipelineContext(None)))
    return request


def server_view(request: HttpRequest) -> tuple[str, str, str, dict[str, str]]:
    """What the server gets to see: method, raw path, raw query, headers."""
    url = urlsplit(request.url)
    headers = dict(request.headers)
    if request.content and "Content-Length" not in headers:
        headers["Content-Length"] = str(len(request.content))
    return request.method, url.path, url.query, headers


LIST_PARAMS = {
    "api-version": "2025-06-01",
    "maxresults": "2",
    "timeOut": "30",
    "$filter": "(state eq 'running') and startswith(id, 'a b:c''d') and "
    "stateTransitionTime gt DateTime'2026-11-25T19:00:00.1234567Z'",
    "$select": "id,state,executionInfo",
    "$expand": "stats",
}

CASES = {
    "get-list-with-filter": HttpRequest("GET", f"{ENDPOINT}/jobs/j1/tasks", params=LIST_PARAMS),
    "post-json": HttpRequest(
        "POST",
        f"{ENDPOINT}/jobs/j1/tasks",
        params={"api-version": "2025-06-01"},
        headers={"Content-Type": "application/json; odata=minimalmetadata"},
        content=json.dumps({"id": "t1", "commandLine": "python -c \"print('héllo')\""}).encode(),
    ),
    "delete-no-body": HttpRequest("DELETE", f"{ENDPOINT}/pools/p1", params={"api-version": "2025-06-01"}),
    "post-no-body": HttpRequest("POST", f"{ENDPOINT}/jobs/j1/enable", params={"api-version": "2025-06-01"}),
    "head-file": HttpRequest(
        "HEAD", f"{ENDPOINT}/jobs/j1/tasks/t1/files/wd%2Fstd%20out.txt", params={"api-version": "2025-06-01"}
    ),
    "get-range-and-conditions": HttpRequest(
        "GET",
        f"{ENDPOINT}/pools/p1/nodes/n1/files/shared%2Futil.jsonl",
        params={"api-version": "2025-06-01"},
        headers={"ocp-range": "bytes=100-199", "If-Modified-Since": "Tue, 17 Oct 2023 08:48:42 GMT"},
    ),
    "patch-if-match": HttpRequest(
        "PATCH",
        f"{ENDPOINT}/jobs/j1",
        params={"api-version": "2025-06-01"},
        headers={"Content-Type": "application/json; odata=minimalmetadata", "If-Match": "0x8DBCEEDDE12323A"},
        content=b'{"priority": 5}',
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_verify_accepts_what_the_sdk_policy_signs(name: str) -> None:
    request = sdk_signed(CASES[name])
    method, path, query, headers = server_view(request)
    ok, sts = verify(method, path, query, headers, ACCOUNT, KEY)
    assert ok, sts
    assert sign(method, path, query, headers, ACCOUNT, KEY) == headers["Authorization"]


def test_verify_rejects_wrong_key() -> None:
    request = sdk_signed(CASES["get-list-with-filter"], key=OTHER_KEY)
    ok, sts = verify(*server_view(request), ACCOUNT, KEY)
    assert not ok
    assert sts.startswith("GET\n") and f"/{ACCOUNT}/jobs/j1/tasks" in sts


def test_verify_rejects_tampered_query_path_method_and_body_type() -> None:
    method, path, query, headers = server_view(sdk_signed(CASES["get-list-with-filter"]))
    assert verify(method, path, query, headers, ACCOUNT, KEY)[0]
    assert not verify(method, path, query.replace("maxresults=2", "maxresults=3"), headers, ACCOUNT, KEY)[0]
    assert not verify(method, path, query.replace("running", "Running"), headers, ACCOUNT, KEY)[0]
    assert not verify(method, path, query + "&$skiptoken=abc", headers, ACCOUNT, KEY)[0]
    assert not verify(method, path.replace("j1", "j2"), query, headers, ACCOUNT, KEY)[0]
    assert not verify("DELETE", path, query, headers, ACCOUNT, KEY)[0]
    assert not verify(method, path, query, {**headers, "ocp-date": "Thu, 01 Jan 2026 00:00:00 GMT"}, ACCOUNT, KEY)[0]
    m, p, q, h = server_view(sdk_signed(CASES["post-json"]))
    assert not verify(m, p, q, {**h, "Content-Type": "text/plain"}, ACCOUNT, KEY)[0]


def test_verify_rejects_other_account_and_malformed_headers() -> None:
    method, path, query, headers = server_view(sdk_signed(CASES["delete-no-body"]))
    assert not verify(method, path, query, headers, "otheracct", KEY)[0]
    signature = headers["Authorization"].split(":", 1)[1]
    for bad in ["", "SharedKey", f"Bearer {ACCOUNT}:{signature}", f"SharedKey {ACCOUNT}", f"SharedKey :{signature}x"]:
        assert not verify(method, path, query, {**headers, "Authorization": bad}, ACCOUNT, KEY)[0]
    del headers["Authorization"]
    assert not verify(method, path, query, headers, ACCOUNT, KEY)[0]


def test_python_sdk_form_keeps_query_name_case_and_sorts_case_sensitively() -> None:
    query = parse_query("timeOut=30&api-version=2025-06-01&maxresults=5&$filter=a%20eq%20%27x+y%27&empty=")
    sts = string_to_sign("GET", "/jobs", query, {"ocp-date": "D"}, "acct", lower_names=False)
    assert sts == "GET\n" + "\n" * 11 + "ocp-date:D\n/acct/jobs\n$filter:a eq 'x y'\napi-version:2025-06-01" \
        "\nmaxresults:5\ntimeOut:30"
    lower = string_to_sign("GET", "/jobs", query, {"ocp-date": "D"}, "acct", lower_names=True)
    assert lower.endswith("\nmaxresults:5\ntimeout:30")


def test_lower_cased_variant_used_by_other_clients_is_accepted() -> None:
    headers = {"ocp-date": "Wed, 25 Nov 2026 19:00:00 GMT", "Content-Type": "application/json"}
    raw_query = "api-version=2025-06-01&timeOut=30"
    sts = string_to_sign("POST", "/pools/p1/resize", parse_query(raw_query), headers, ACCOUNT, lower_names=True)
    from batchnb.local.service.http.sharedkey import signature

    headers["Authorization"] = f"SharedKey {ACCOUNT}:{signature(KEY, sts)}"
    assert verify("POST", "/pools/p1/resize", raw_query, headers, ACCOUNT, KEY)[0]


def test_raw_path_with_query_attached_is_split() -> None:
    method, path, query, headers = server_view(sdk_signed(CASES["get-list-with-filter"]))
    assert verify(method, f"{path}?{query}", "", headers, ACCOUNT, KEY)[0]


def test_invalid_key_error_does_not_echo_the_key() -> None:
    with pytest.raises(ValueError) as info:
        sign("GET", "/pools", "", {}, ACCOUNT, "not*base64!secretish")
    assert "secretish" not in str(info.value)


class _Recorder(BaseHTTPRequestHandler):
    """Answers every call with an empty list and remembers the raw request, as a server would get it."""

    seen: list[tuple[str, str, dict[str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.seen.append((self.command, self.path, dict(self.headers.items())))
        no_content = self.command == "HEAD" or "/terminate" in self.path
        body = b"" if no_content else b'{"value": []}'
        self.send_response(204 if "/terminate" in self.path else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = do_HEAD = do_PUT = do_PATCH = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def recorder():
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_requests_from_the_real_client_over_http_verify(recorder) -> None:
    """The signature survives the real transport (requests re-quotes URLs on the way out)."""
    key = base64.b64encode(os.urandom(64)).decode()
    client = BatchClient(
        f"http://127.0.0.1:{recorder.server_port}", AzureNamedKeyCredential(ACCOUNT, key), retry_total=0
    )
    list(client.list_tasks("j1", filter=LIST_PARAMS["$filter"], select=["id", "state"], max_results=5, timeout=20))
    list(client.list_pools(filter="startswith(id,'pool 1:2') and vmSize eq 'standard_d2s_v3'"))
    try:
        b"".join(client.download_task_file("j1", "t1", "wd/std out.txt"))
    except Exception:  # noqa: BLE001 - the recorder's JSON is not a file; only the request matters here
        pass
    client.get_task_file_properties("j1", "t1", "wd/ü ñ+%.txt")
    client.terminate_task("j1", "t1")
    client.close()

    assert len(_Recorder.seen) == 5
    methods = set()
    for method, raw_target, headers in _Recorder.seen:
        path, _, query = raw_target.partition("?")
        ok, sts = verify(method, path, query, headers, ACCOUNT, key)
        assert ok, (raw_target, sts)
        assert not verify(method, path, query, headers, ACCOUNT, OTHER_KEY)[0]
        methods.add(method)
    assert methods == {"GET", "HEAD", "POST"}
    assert any("wd%2Fstd%20out.txt" in target for _, target, _ in _Recorder.seen)
