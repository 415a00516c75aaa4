"""The service writes one line per request to <state_dir>/requests.log, with no secret in it."""

from __future__ import annotations

import pytest

from batchnb.local.faults_client import signed_request
from batchnb.local.service.http.access_log import LOG_NAME, mask_query

pytestmark = pytest.mark.timeout(60)

API = "api-version=2025-06-01.20.0"


@pytest.mark.parametrize(("query", "masked"), [
    ("api-version=1&sig=abc%2Bdef", "api-version=1&sig=***"),
    ("accountKey=abc&timeout=30", "accountKey=***&timeout=30"),
    ("$filter=url%20eq%20'http://h/c?sv=1%26sig%3Dsecret'", "$filter=url%20eq%20'http://h/c?sv=1%26sig%3D***"),
    ("access_token=eyJ0&x=1", "access_token=***&x=1"),
    ("api-version=1&$select=id,state", "api-version=1&$select=id,state"),
])
def test_query_values_that_carry_secrets_are_masked(query: str, masked: str) -> None:
    assert mask_query(query) == masked


def test_every_request_is_logged_with_its_status_and_id_and_no_secret(local_service) -> None:
    log = local_service.state_dir / LOG_NAME
    before = log.read_text().splitlines() if log.exists() else []
    secret_sig = "c2VjcmV0LXNpZ25hdHVyZS12YWx1ZQ"
    ok = signed_request(local_service, "GET", "/pools", query=API)
    missing = signed_request(local_service, "GET", "/jobs/no-such-job-for-the-log", query=f"{API}&sig={secret_sig}")
    assert ok.status_code == 200 and missing.status_code == 404
    lines = log.read_text().splitlines()[len(before):]
    ok_line = next(line for line in lines if ok.headers["request-id"] in line)
    missing_line = next(line for line in lines if missing.headers["request-id"] in line)
    assert " GET /pools?api-version=" in ok_line and " 200 " in ok_line
    assert " GET /jobs/no-such-job-for-the-log?" in missing_line and " 404 " in missing_line
    assert "sig=***" in missing_line
    text = "\n".join(lines)
    assert secret_sig not in text and local_service.account_key not in text and "SharedKey" not in text
