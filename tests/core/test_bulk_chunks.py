"""Bulk add sizes its chunks right the first time: the planned count of requests, no 413, nothing split.

Watched on the wire: a client with request/response hooks records every addtaskcollection body and
status, so the test sees what the service saw (a count of requests alone passed with 413s and
split chunks when task sizes were undercounted by 40 %).
"""

from __future__ import annotations

import json
import math

import pytest
from azure.batch import BatchClient
from azure.core.credentials import AzureNamedKeyCredential

import batchnb
from batchnb.core.tasks.bulk import MAX_CHUNK_BYTES, add_tasks

pytestmark = pytest.mark.timeout(180)

BATCH_LIMIT = 1024 * 1024  # Batch's cap on one addtaskcollection body


def test_tasks_near_the_size_limit_go_in_the_fewest_requests_with_no_413(session, local_service, unique):
    job = session.create_job(f"chunks-{unique}", pool=f"parked-{unique}", allow_missing_pool=True)
    # ~30 KB of environment per task: 100 of them would be 3 MB in one request.
    tasks = [batchnb.TaskSpec(f"t{i:03d}", "python3 -c 'pass'", environment={"PAYLOAD": "x" * 30_000})
             for i in range(120)]
    sent: list[tuple[int, int]] = []  # (body bytes, tasks in the body)
    statuses: list[int] = []

    def on_request(request) -> None:
        http = request.http_request
        if http.method == "POST" and "addtaskcollection" in http.url:
            body = http.body if isinstance(http.body, bytes) else str(http.body).encode()
            sent.append((len(body), len(json.loads(body)["value"])))

    def on_response(response) -> None:
        http = response.http_request
        if http.method == "POST" and "addtaskcollection" in http.url:
            statuses.append(response.http_response.status_code)

    client = BatchClient(local_service.batch_url,
                         AzureNamedKeyCredential(local_service.account_name, local_service.account_key),
                         raw_request_hook=on_request, raw_response_hook=on_response)
    try:
        result = add_tasks(client, job.id, tasks, timeout=120)
    finally:
        client.close()

    assert len(result.added) == 120 and not result.already_existed
    one = len(json.dumps(tasks[0].to_sdk().as_dict())) + 2  # one task as sent, with its ", "
    per_chunk = MAX_CHUNK_BYTES // one
    assert per_chunk == 33  # 30 KB each: 33 fit under the limit, 34 would not
    expected = math.ceil(120 / per_chunk)  # 4
    assert result.requests == expected == len(sent), sent
    assert statuses == [200] * expected  # no 413, no retry
    assert sorted(n for _, n in sent) == [21, 33, 33, 33]  # chunks go concurrently: any order
    assert all(size <= BATCH_LIMIT for size, _ in sent), sent
    # Full chunks really are near the limit: the planner neither under- nor overcounts the bytes.
    assert all(size > 0.95 * MAX_CHUNK_BYTES for size, n in sent if n == per_chunk), sent
