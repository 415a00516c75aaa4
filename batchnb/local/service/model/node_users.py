"""Node user accounts: add, replace (PUT), patch-free delete, with Batch's checks and errors.

Locally no OS account is created: the account is recorded on the node (so NodeUserExists /
NodeUserNotFound and the expiry rules behave as on Azure) but nobody can log in to an emulated node;
remote login settings answer with the loopback address. docs/local-service.md says so.
"""

from __future__ import annotations

from datetime import timedelta

from batchnb.local.service.model import clock
from batchnb.local.service.model.entities import Node
from batchnb.local.service.model.errors import ServiceError, bad_value, conflict, missing
from batchnb.local.service.model.validate import check_object

USER_ADD = {"name": str, "isAdmin": bool, "expiryTime": str, "password": str, "sshPublicKey": str}
USER_UPDATE = {"password": str, "expiryTime": str, "sshPublicKey": str}
DEFAULT_EXPIRY = timedelta(days=1)
MAX_NAME = 20  # as for pool user accounts


def _expiry(body: dict) -> str:
    text = body.get("expiryTime")
    if text is None:
        return clock.iso(clock.now() + DEFAULT_EXPIRY)
    try:
        when = clock.parse_iso(text)
    except (ValueError, AttributeError):
        raise bad_value("expiryTime", text, "Expected an ISO-8601 date and time.") from None
    if when <= clock.now():
        raise bad_value("expiryTime", text, "The expiry time must be in the future.")
    return clock.iso(when)


class NodeUserOps:
    def _user_node(self, pool_id: str, node_id: str) -> Node:
        node = self.get_node(pool_id, node_id)
        if node.doc["state"] not in ("idle", "running"):
            raise conflict("NodeNotReady" if node.doc["state"] != "unusable" else "NodeStateUnusable",
                           f"A user account can be changed only on an idle or running node (this one is "
                           f"{node.doc['state']}).")
        return node

    def add_node_user(self, pool_id: str, node_id: str, body: dict) -> dict:
        body = check_object(body, shape=USER_ADD)
        node = self._user_node(pool_id, node_id)
        name = body.get("name")
        if not name:
            raise missing("name")
        if len(name) > MAX_NAME or any(c in name for c in ' /\\[]:;|=,+*?<>"@'):
            raise bad_value("name", name, f"A user name has at most {MAX_NAME} characters and none of "
                                          "/\\[]:;|=,+*?<>\"@ or spaces.")
        users = node.x.setdefault("users", {})
        if name.lower() in users:
            raise conflict("NodeUserExists", "The specified node user already exists.")
        if body.get("password") is None and body.get("sshPublicKey") is None:
            # Linux nodes take either; with neither nobody could log in, which Batch refuses.
            raise ServiceError(400, "MissingRequiredProperty", "A password or an SSH public key is required.",
                               {"PropertyName": "password"})
        users[name.lower()] = {"name": name, "isAdmin": bool(body.get("isAdmin", False)),
                               "expiryTime": _expiry(body), "hasPassword": body.get("password") is not None,
                               "sshPublicKey": body.get("sshPublicKey")}
        self.save(node)
        return users[name.lower()]

    def replace_node_user(self, pool_id: str, node_id: str, name: str, body: dict) -> dict:
        """PUT: a full replace of password, SSH key and expiry; what the body omits is reset."""
        body = check_object(body, shape=USER_UPDATE)
        node = self._user_node(pool_id, node_id)
        user = self._node_user(node, name)
        user.update({"expiryTime": _expiry(body), "hasPassword": body.get("password") is not None,
                     "sshPublicKey": body.get("sshPublicKey")})
        self.save(node)
        return user

    def delete_node_user(self, pool_id: str, node_id: str, name: str) -> None:
        node = self._user_node(pool_id, node_id)
        self._node_user(node, name)
        del node.x["users"][name.lower()]
        self.save(node)

    def node_users(self, pool_id: str, node_id: str) -> list[dict]:
        """The accounts recorded on a node, expired ones dropped (Batch removes them at expiry)."""
        node = self.get_node(pool_id, node_id)
        users = node.x.get("users", {})
        now = clock.now()
        for key in [k for k, u in users.items() if clock.parse_iso(u["expiryTime"]) <= now]:
            del users[key]
        return list(users.values())

    @staticmethod
    def _node_user(node: Node, name: str) -> dict:
        user = node.x.get("users", {}).get(name.lower())
        if user is None:
            raise ServiceError(404, "NodeUserNotFound", "The specified node user does not exist.")
        return user
