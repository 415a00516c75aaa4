"""User delegation SAS (Entra ID storage access) within Azure's 7-day limit.

Azure refuses Get User Delegation Key when the key's expiry is more than 7 days after the storage
service's clock (400 InvalidXmlNodeValue). Azurite cannot issue delegation keys without Entra ID,
so that one call is played by a stand-in that applies Azure's rule with a service clock a few
minutes behind the client's; everything else is the real SDK against Azurite.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, UserDelegationKey

from batchnb.core.storage import Storage
from batchnb.errors import ValidationError


class AzureDelegationKeys:
    """Get User Delegation Key as Azure answers it; the service clock runs ``behind`` the client's."""

    def __init__(self, behind: dt.timedelta) -> None:
        self.behind = behind
        self.calls = 0

    def __call__(self, key_start_time: dt.datetime, key_expiry_time: dt.datetime, **_: object) -> UserDelegationKey:
        self.calls += 1
        service_now = dt.datetime.now(dt.UTC) - self.behind
        if key_expiry_time - service_now > dt.timedelta(days=7):
            raise HttpResponseError(message="InvalidXmlNodeValue: The value for one of the XML nodes is not in "
                                            "the correct format.")
        key = UserDelegationKey()
        key.signed_oid = "00000000-0000-0000-0000-000000000001"
        key.signed_tid = "00000000-0000-0000-0000-000000000002"
        key.signed_start = key_start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = key_expiry_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-01-05"
        key.value = "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0wMDAwMDAwMDA="
        return key


@pytest.fixture
def entra_storage(local_service):
    """A Storage with no account key (as with Entra ID) whose delegation keys follow Azure's rule."""
    client = BlobServiceClient.from_connection_string(local_service.storage_connection_string)
    keys = AzureDelegationKeys(behind=dt.timedelta(minutes=3))
    client.get_user_delegation_key = keys  # type: ignore[method-assign]
    storage = Storage(client, use_delegation_key=True)
    try:
        yield storage, keys
    finally:
        client.close()


def _sas_expiry(url: str) -> dt.datetime:
    se = parse_qs(urlsplit(url).query)["se"][0]
    return dt.datetime.strptime(se, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)


def test_output_files_default_lifetime_fits_azures_limit_with_a_clock_ahead(entra_storage, unique):
    storage, keys = entra_storage
    spec = storage.output_files("out/*.csv", container=f"deleg-{unique}", path="run1")
    assert keys.calls == 1
    lifetime = _sas_expiry(spec.container_url) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < lifetime < dt.timedelta(days=7)


def test_an_expiry_past_seven_days_is_refused_before_any_request(entra_storage, unique):
    storage, keys = entra_storage
    with pytest.raises(ValidationError) as info:
        storage.container_sas(f"deleg-{unique}", read=True, expiry=dt.timedelta(days=8))
    assert keys.calls == 0
    message = str(info.value)
    assert "expiry" in message and "7 days" in message and "account key" in message
    assert "\n" not in message.strip()


def test_account_key_sas_may_outlive_seven_days(local_service, unique):
    client = BlobServiceClient.from_connection_string(local_service.storage_connection_string)
    try:
        storage = Storage(client, account_key=client.credential.account_key)
        url = storage.container_sas(f"deleg-{unique}", read=True, expiry=dt.timedelta(days=30))
        assert _sas_expiry(url) - dt.datetime.now(dt.UTC) > dt.timedelta(days=29)
    finally:
        client.close()


def test_task_inputs_last_days_and_long_defaults_are_capped_under_entra_id(entra_storage, local_service, unique):
    storage, _ = entra_storage
    container = f"deleg-{unique}"
    storage.upload_bytes(b"x", container=container, blob="in/a.txt")
    (spec,) = storage.input_files(container, "in/")
    lifetime = _sas_expiry(spec.http_url) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6, hours=23) < lifetime < dt.timedelta(days=7)
    # The app bundle's 30-day default (appfiles) becomes what a delegation key allows, not an error.
    url = storage.blob_sas(container, "in/a.txt", default_expiry=dt.timedelta(days=30))
    assert _sas_expiry(url) - dt.datetime.now(dt.UTC) < dt.timedelta(days=7)
