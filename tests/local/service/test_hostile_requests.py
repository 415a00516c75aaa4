"""Requests an attacker would send (issue 11): ids with a trailing newline or control characters,
JSON nested 100,000 deep, dates without a zone, forged continuation tokens, filters nested past any
sane depth. Each gets Azure's clear answer, and the service keeps answering."""

from __future__ import annotations

import base64
import json

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from batchnb.local.faults_client import signed_request

from .helpers import error_code, make_job, uid

pytestmark = pytest.mark.timeout(60)
API = "api-version=2025-06-01"


@pytest.mark.parametrize("bad", ["x\n", "a\x00b", "tab\tid", "cr\r", "nul\x00", "line\u2028sep"])
def test_ids_must_match_entirely_and_control_characters_are_400(client, bad) -> None:
    with pytest.raises(HttpResponseError) as refused:
        client.create_job(m.BatchJobCreateOptions(id=uid("j") + bad, pool_info=m.BatchPoolInfo(pool_id="p")))
    assert refused.value.status_code == 400 and error_code(refused.value) == "InvalidPropertyValue"
    job_id = make_job(client, "nopool")
    with pytest.raises(HttpResponseError) as refused:
        client.create_task(job_id, m.BatchTaskCreateOptions(id="t" + bad, command_line="true"))
    assert refused.value.status_code == 400
    assert [j.id for j in client.list_jobs(filter=f"id eq '{job_id}'")] == [job_id]  # and it still answers
    client.begin_delete_job(job_id, polling_interval=0.1).result()


def test_json_nested_100000_deep_is_400_not_500(local_service) -> None:
    for raw in (b'{"id":' + b"[" * 100_000 + b"]" * 100_000 + b"}", b"[" * 100_000 + b"]" * 100_000,
                json.dumps({"id": "deep", "metadata": [{"a": [[[[[[[[[[[]]]]]]]]]]]}] * 1}).replace(
                    "[]", "[" * 80 + "]" * 80).encode()):
        response = signed_request(local_service, "POST", "/jobs", query=API, raw_body=raw)
        assert response.status_code == 400, response.text[:200]
        assert response.json()["code"] == "InvalidRequestBody"


def test_an_ocp_date_without_zone_is_an_authentication_failure(local_service) -> None:
    for date in ("Mon, 07 Dec 2026 01:00:00", "not a date", "Mon, 99 Zzz 2026 99:99:99 GMT"):
        response = signed_request(local_service, "GET", "/pools", query=API, headers={"ocp-date": date})
        assert response.status_code == 403, (date, response.text[:200])
        assert response.json()["code"] == "AuthenticationFailed"


def test_continuation_tokens_cannot_be_forged(client, local_service) -> None:
    job_id = make_job(client, "nopool")
    client.create_task_collection(job_id, m.BatchTaskGroup(task_values=[
        m.BatchTaskCreateOptions(id=f"t{i}", command_line="true") for i in range(3)]))
    first = signed_request(local_service, "GET", f"/jobs/{job_id}/tasks", query=f"{API}&maxresults=1").json()
    link = first["odata.nextLink"]
    token = link.split("$skiptoken=", 1)[1]
    ok = signed_request(local_service, "GET", f"/jobs/{job_id}/tasks", query=f"{API}&$skiptoken={token}")
    assert ok.status_code == 200 and len(ok.json()["value"]) == 1

    body, _, mac = token.partition(".")
    state = json.loads(base64.b32decode(body + "=" * (-len(body) % 8)))
    lifted = base64.b32encode(json.dumps({**state, "m": 10**9}).encode()).decode().rstrip("=")
    for forged in (f"{lifted}.{mac}", lifted, body, f"{body}.{'A' * len(mac)}", "NOT-A-TOKEN"):
        response = signed_request(local_service, "GET", f"/jobs/{job_id}/tasks", query=f"{API}&$skiptoken={forged}")
        assert response.status_code == 400, forged
        assert response.json()["code"] == "InvalidQueryParameterValue"
    client.begin_delete_job(job_id, polling_interval=0.1).result()


def test_a_filter_nested_past_any_sane_depth_is_400(local_service) -> None:
    deep = "(" * 5000 + "id eq 'x'" + ")" * 5000
    response = signed_request(local_service, "GET", "/pools", query=f"{API}&$filter={deep}")
    assert response.status_code == 400, response.text[:200]
    assert signed_request(local_service, "GET", "/pools", query=API).status_code == 200
