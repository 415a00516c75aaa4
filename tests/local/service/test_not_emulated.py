"""Everything the local service does not emulate answers one way: 400 FeatureNotEmulated, naming the
feature and what to do instead (not a 404 or 405 that reads like a typo)."""

from __future__ import annotations

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from batchnb.local.faults_client import signed_request

from .helpers import IMAGE, error_code, make_job, task, uid

pytestmark = pytest.mark.timeout(60)
Q = "api-version=2024-07-01.20.0"


def _assert_not_emulated(response, feature: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    values = {v["key"]: v["value"] for v in body["values"]}
    assert body["code"] == "FeatureNotEmulated" and values["Feature"] == feature
    assert values["Instead"] and "not emulated by the local Batch service" in body["message"]["value"]


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/certificates"), ("POST", "/certificates"),
    ("GET", "/certificates(thumbprintAlgorithm=sha1,thumbprint=abc)"),
    ("DELETE", "/certificates(thumbprintAlgorithm=sha1,thumbprint=abc)"),
])
def test_certificate_operations_answer_feature_not_emulated(local_service, method, path) -> None:
    body = {"thumbprint": "abc", "thumbprintAlgorithm": "sha1", "data": "x"} if method == "POST" else None
    _assert_not_emulated(signed_request(local_service, method, path, body=body, query=Q), "Certificates")


def test_pool_with_certificate_references_is_refused_not_accepted_silently(local_service) -> None:
    body = {"id": uid("cert"), "vmSize": "standard_d2s_v3",
            "virtualMachineConfiguration": IMAGE.as_dict(),
            "certificateReferences": [{"thumbprint": "abc", "thumbprintAlgorithm": "sha1"}]}
    _assert_not_emulated(signed_request(local_service, "POST", "/pools", body=body, query=Q), "Certificates")


def test_application_packages_are_refused_as_azure_refuses_unknown_ones(client, shared_pool) -> None:
    """The local account has no packages, so any reference is unknown: 409, before anything is made."""
    refs = [m.BatchApplicationPackageReference(application_id="tool", version="1.0")]
    pool = m.BatchPoolCreateOptions(id=uid("pkg"), vm_size="standard_d2s_v3", virtual_machine_configuration=IMAGE,
                                    application_package_references=refs)
    with pytest.raises(HttpResponseError) as info:
        client.create_pool(pool)
    assert (info.value.status_code, error_code(info.value)) == (409, "InvalidApplicationPackageReferences")
    job_id = make_job(client, shared_pool)
    with pytest.raises(HttpResponseError) as info:
        client.create_task(job_id, task("pkg", "true", application_package_references=refs))
    assert (info.value.status_code, error_code(info.value)) == (409, "InvalidApplicationPackageReferences")


def test_mount_configuration_answers_feature_not_emulated(local_service) -> None:
    body = {"id": uid("mnt"), "vmSize": "standard_d2s_v3", "virtualMachineConfiguration": IMAGE.as_dict(),
            "mountConfiguration": [{"azureBlobFileSystemConfiguration": {"accountName": "a", "containerName": "c",
                                                                         "relativeMountPath": "data"}}]}
    _assert_not_emulated(signed_request(local_service, "POST", "/pools", body=body, query=Q), "Mount configurations")
