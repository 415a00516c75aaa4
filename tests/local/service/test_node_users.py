"""Node user accounts through the SDK: add, replace, delete with Azure's errors. Locally no OS account
is created (docs/local-service.md); the checks and codes are what a script relies on."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from azure.batch import models as m
from azure.core.exceptions import HttpResponseError

from .helpers import error_code, nodes_in

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def node(client, shared_pool) -> tuple[str, str]:
    return shared_pool, nodes_in(client, shared_pool)[0].id


def _code(call) -> tuple[int, str | None]:
    with pytest.raises(HttpResponseError) as info:
        call()
    return info.value.status_code, error_code(info.value)


def test_add_replace_delete_node_user(client, node) -> None:
    pool_id, node_id = node
    client.create_node_user(pool_id, node_id, m.BatchNodeUserCreateOptions(name="alice", is_admin=True,
                                                                           password="Pa55word!"))
    assert _code(lambda: client.create_node_user(pool_id, node_id, m.BatchNodeUserCreateOptions(
        name="ALICE", password="x"))) == (409, "NodeUserExists")  # names are case-insensitive
    expiry = datetime.now(timezone.utc) + timedelta(hours=2)
    client.replace_node_user(pool_id, node_id, "alice", m.BatchNodeUserReplaceOptions(password="N3w!", expiry_time=expiry))
    client.delete_node_user(pool_id, node_id, "alice")
    assert _code(lambda: client.delete_node_user(pool_id, node_id, "alice")) == (404, "NodeUserNotFound")
    assert _code(lambda: client.replace_node_user(pool_id, node_id, "bob", m.BatchNodeUserReplaceOptions(
        password="x"))) == (404, "NodeUserNotFound")


@pytest.mark.parametrize(("options", "prop"), [
    (m.BatchNodeUserCreateOptions(name="", password="x"), "name"),
    (m.BatchNodeUserCreateOptions(name="no/slash", password="x"), "name"),
    (m.BatchNodeUserCreateOptions(name="x" * 21, password="x"), "name"),
    (m.BatchNodeUserCreateOptions(name="carol"), "password"),
    (m.BatchNodeUserCreateOptions(name="dave", password="x",
                                  expiry_time=datetime.now(timezone.utc) - timedelta(hours=1)), "expiryTime"),
])
def test_bad_node_users_are_refused_naming_the_property(client, node, options, prop) -> None:
    pool_id, node_id = node
    with pytest.raises(HttpResponseError) as info:
        client.create_node_user(pool_id, node_id, options)
    assert info.value.status_code == 400
    values = {v["key"]: v["value"] for v in info.value.response.json().get("values", [])}
    assert values.get("PropertyName") == prop


def test_node_user_on_a_missing_node_is_node_not_found(client, shared_pool) -> None:
    assert _code(lambda: client.create_node_user(shared_pool, "tvmps_nope", m.BatchNodeUserCreateOptions(
        name="eve", password="x"))) == (404, "NodeNotFound")
