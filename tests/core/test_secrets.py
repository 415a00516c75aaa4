"""No key, SAS signature or connection string in reprs, HTML reprs or exception text."""

from __future__ import annotations

import pytest

import batchnb
from batchnb.errors import AuthError

pytestmark = [pytest.mark.timeout(60), pytest.mark.security]


def _secrets(local_service):
    return [local_service.account_key, local_service.storage_connection_string, "AccountKey="]


def _assert_clean(text, local_service):
    for secret in _secrets(local_service):
        assert secret not in text
    assert "sig=" not in text or "sig=***" in text


def test_reprs_show_account_endpoint_auth_and_storage_only(session, local_service, unique):
    for text in (repr(session), session._repr_html_(), repr(session.storage)):
        _assert_clean(text, local_service)
    assert "batchnblocal" in repr(session) and local_service.batch_url in repr(session)
    assert "shared key" in repr(session) and "devstoreaccount1" in repr(session)
    # Specs holding SAS URLs print without their signatures.
    out = session.storage.output_files("*.txt", container="outputs", path=unique)
    files = [batchnb.ResourceFileSpec(http_url=session.storage.blob_sas("outputs", f"{unique}/x"))]
    task = batchnb.TaskSpec("t", "echo hi", resource_files=files, output_files=[out])
    for text in (repr(out), repr(files[0]), repr(task)):
        _assert_clean(text, local_service)
        assert "sig=***" in text


def test_a_wrong_key_error_names_the_problem_not_the_key(local_service):
    wrong = "A" * 43 + "="  # well-formed base64, not the account's key
    s = batchnb.connect(account=local_service.account_name, endpoint=local_service.batch_url, access_key=wrong)
    with pytest.raises(AuthError) as info:
        s.list_pools()
    text = str(info.value) + repr(info.value)
    assert wrong not in text and local_service.account_key not in text
    assert "key" in text.lower()
    assert wrong not in repr(s)
    s.close()


def test_storage_errors_do_not_leak_connection_strings(session, local_service):
    from batchnb.errors import BatchnbError

    with pytest.raises(BatchnbError) as info:
        session.storage.read_bytes("inputs", "no/such/blob.txt")
    _assert_clean(str(info.value) + repr(info.value), local_service)
