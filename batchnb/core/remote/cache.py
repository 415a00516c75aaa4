"""``session.map(..., cache=True)``: results that are not computed twice.

A result is stored in Blob (container ``batchnb-cache``, so it outlives kernels and machines) under
a content address: the function (its cloudpickle bytes: code, closure and the globals it uses),
the item (its pickle bytes) and the environment (Python version, cloudpickle version, and the
``environment`` key the caller gives, e.g. a pool environment's key). An unchanged rerun submits
no task; a changed item, function or environment misses and runs.

Only this kernel writes the cache (tasks never get a SAS for it), and it writes only results that
passed the map's integrity checks, so a cached value is as trustworthy as the map that made it.
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from batchnb.core.validation import check_container_name

if TYPE_CHECKING:
    from batchnb.core.storage import Storage

__all__ = ["MapCache"]

DEFAULT_CONTAINER = "batchnb-cache"
_PREFIX = "map/"
_WORKERS = 8


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MapCache:
    """The map result cache of one storage account: ``len()``, ``size_bytes()``, ``clear()``."""

    def __init__(self, storage: Storage, *, container: str = DEFAULT_CONTAINER) -> None:
        check_container_name(container)
        self.storage = storage
        self.container = container

    # ------------------------------------------------------------------------------- keys
    @staticmethod
    def function_key(fn_bytes: bytes, *, environment: str = "") -> str:
        import cloudpickle

        env = f"python{sys.version_info[0]}.{sys.version_info[1]}|cloudpickle{cloudpickle.__version__}|{environment}"
        return _sha(env.encode() + b"\0" + fn_bytes)

    @staticmethod
    def item_key(item: Any) -> str:
        import cloudpickle

        return _sha(cloudpickle.dumps(item, protocol=pickle.DEFAULT_PROTOCOL))

    # Values are stored in packs, one blob per map() call and function (``<count>-<hash>.pkl``
    # holding {item key: pickled value}): a cached rerun of 10,000 items reads a few blobs, not
    # 10,000 (Azurite and Blob storage both pay per request).

    # ------------------------------------------------------------------------------- use
    def lookup(self, fn_key: str, item_keys: Sequence[str]) -> dict[str, Any]:
        """The cached values among ``item_keys`` (one listing, then one read per pack)."""
        self.storage.create_container(self.container)
        packs = self.storage.list_blobs(self.container, f"{_PREFIX}{fn_key}/")
        wanted = set(item_keys)

        def read(name: str) -> dict[str, bytes]:
            return pickle.loads(self.storage.read_bytes(self.container, name))

        found: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="batchnb-cache-get") as pool:
            for pack in pool.map(read, packs):
                for key, data in pack.items():
                    if key in wanted and key not in found:
                        found[key] = pickle.loads(data)
        return found

    def store(self, fn_key: str, values: dict[str, Any]) -> int:
        """Write values by item key as one pack; returns how many were stored (unpicklable
        values are skipped)."""
        import cloudpickle

        pack = {}
        for key, value in values.items():
            try:
                pack[key] = cloudpickle.dumps(value, protocol=pickle.DEFAULT_PROTOCOL)
            except Exception:  # noqa: BLE001 - a value that cannot be pickled is simply not cached
                continue
        if pack:
            name = f"{_PREFIX}{fn_key}/{len(pack)}-{_sha(''.join(sorted(pack)).encode())[:16]}.pkl"
            self.storage.upload_bytes(pickle.dumps(pack, protocol=pickle.DEFAULT_PROTOCOL), container=self.container,
                                      blob=name)
        return len(pack)

    # ------------------------------------------------------------------------------- housekeeping
    def _entries(self) -> list[tuple[str, int]]:
        self.storage.create_container(self.container)
        client = self.storage.client.get_container_client(self.container)
        return [(b.name, b.size or 0) for b in client.list_blobs(name_starts_with=_PREFIX)]

    def __len__(self) -> int:
        """How many values are cached (packs name their count; one value may sit in two packs)."""
        return sum(int(name.rsplit("/", 1)[-1].split("-", 1)[0]) for name, _ in self._entries())

    def size_bytes(self) -> int:
        return sum(size for _, size in self._entries())

    def clear(self) -> int:
        """Delete every cached result; returns how many there were."""
        self.storage.create_container(self.container)
        return self.storage.delete_prefix(self.container, _PREFIX)

    def __repr__(self) -> str:
        size = sum(s for _, s in self._entries())
        return f"MapCache(container={self.container!r}, entries={len(self)}, size={size / 1e6:.1f} MB)"

    def _repr_html_(self) -> str:
        import html

        return f"<code>{html.escape(repr(self))}</code>"


def cached_map(session: Any, fn: Any, items: Sequence[Any], *, submit: Any, container: str,
               environment: str = "") -> Any:
    """Look every item up in ``session.cache``; ``submit(missing_items)`` runs the rest as one map
    (and waits); successful new values are stored. Returns a complete MapResult in input order."""
    from batchnb.core.remote.mapper import _dumps
    from batchnb.core.remote.result import ItemError, MapResult

    cache: MapCache = session.cache
    values = list(items)
    fn_key = cache.function_key(_dumps(fn, "fn"), environment=environment)
    try:
        keys = [cache.item_key(v) for v in values]
    except Exception as exc:  # noqa: BLE001 - say which input cannot be keyed, as map() would
        from batchnb.errors import ValidationError

        raise ValidationError("items", f"cannot be pickled for the cache: {type(exc).__name__}: {exc}",
                              fix="map over plain data, or call map() without cache=True") from None
    hits = cache.lookup(fn_key, keys)
    out: list[Any] = [hits.get(k) for k in keys]
    misses = [i for i, k in enumerate(keys) if k not in hits]
    errors: list[ItemError] = []
    job_id = None
    if misses:
        result = submit([values[i] for i in misses])
        job_id = result.job_id
        failed = {e.index: e for e in result.errors}
        fresh = {}
        for position, index in enumerate(misses):
            if position in failed:
                e = failed[position]
                errors.append(ItemError(index, e.task_id, e.exception_type, e.message, e.traceback, e.exception))
            else:
                out[index] = result.results[position]
                fresh[keys[index]] = out[index]
        cache.store(fn_key, fresh)
    merged = MapResult.from_values(session, out, errors, job_id=job_id, container=container)
    merged.cache_hits = len(values) - len(misses)
    return merged
