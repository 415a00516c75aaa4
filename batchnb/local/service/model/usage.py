"""Pool usage metrics (``GET /poolusagemetrics``): core-hours per pool and aggregation interval.

Azure meters a node from its allocation until it leaves the pool, and reports the sum per pool over
fixed aggregation intervals, only once an interval is over. The local service does the same from
its own nodes: a live node counts from ``allocationTime`` until now, a departed one until it left
(a ledger row written when it goes, kept in the store, so deleted pools and restarts keep their
history). Intervals are aligned to multiples of ``usage_interval_seconds`` on the service's clock;
Azure's are 30 minutes and published hours late, the local default is one minute so that a notebook
sees figures during the session (the recent, unpublished window is the client's to fill from the
nodes, exactly as on Azure).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from batchnb.local.service.model import clock
from batchnb.local.service.model.entities import Node
from batchnb.local.service.model.errors import ServiceError

USAGE_TABLE = "usage"
# Beyond this many intervals in one request the answer would be huge; Azure bounds it by retention.
MAX_INTERVALS = 100_000

# Sizes whose number is not their vCPU count (the older D-series numbering).
_CORES_EXCEPTIONS = {
    "standard_d1_v2": 1, "standard_d2_v2": 2, "standard_d3_v2": 4, "standard_d4_v2": 8, "standard_d5_v2": 16,
    "standard_d11_v2": 2, "standard_d12_v2": 4, "standard_d13_v2": 8, "standard_d14_v2": 16, "standard_d15_v2": 20,
    "standard_ds1_v2": 1, "standard_ds2_v2": 2, "standard_ds3_v2": 4, "standard_ds4_v2": 8, "standard_ds5_v2": 16,
    "standard_ds11_v2": 2, "standard_ds12_v2": 4, "standard_ds13_v2": 8, "standard_ds14_v2": 16,
    "standard_ds15_v2": 20,
}
_CORES_IN_NAME = re.compile(r"^(?:standard|basic)_[a-z]+?(\d+)", re.I)


def vm_cores(vm_size: str) -> int:
    """vCPUs of an Azure VM size, read from its name (``standard_d4s_v3`` -> 4); 1 if unreadable."""
    name = (vm_size or "").lower()
    if name in _CORES_EXCEPTIONS:
        return _CORES_EXCEPTIONS[name]
    match = _CORES_IN_NAME.match(name)
    return max(1, int(match.group(1))) if match else 1


def _bad_time(name: str, value: str) -> ServiceError:
    return ServiceError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the "
                        "request URI is invalid.", {"QueryParameterName": name, "QueryParameterValue": value[:100],
                                                     "Reason": "Expected an ISO-8601 date and time."})


def parse_query_time(name: str, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return clock.parse_iso(value.replace("+00:00", "Z"))
    except ValueError:
        raise _bad_time(name, value) from None


class UsageOps:
    """Mixed into BatchService: the departed-node ledger and the metrics built from it."""

    def record_departed_node(self, node: Node) -> None:
        """Called when a node leaves its pool: its metered span survives it."""
        start = node.doc.get("allocationTime")
        if not start:
            return
        doc = {"poolId": node.pool.doc["id"], "vmSize": node.pool.doc["vmSize"], "nodeId": node.id,
               "isDedicated": bool(node.doc.get("isDedicated")), "start": start, "end": clock.iso(clock.now())}
        self.usage_ledger.append(doc)
        self.store.put(USAGE_TABLE, f"{node.key}@{start}", self.next_seq(), doc, {})

    def load_usage(self) -> None:
        self.usage_ledger = [doc for _, _, doc, _ in self.store.load(USAGE_TABLE)]

    def _node_spans(self, now: datetime) -> list[tuple[str, str, datetime, datetime]]:
        """(pool id, vm size, start, end) for every metered node: departed ones, then live ones."""
        spans = [(d["poolId"], d["vmSize"], clock.parse_iso(d["start"]), clock.parse_iso(d["end"]))
                 for d in self.usage_ledger]
        for pool in self.pools.values():
            for node in pool.nodes.values():
                start = node.doc.get("allocationTime")
                if start:
                    spans.append((pool.doc["id"], pool.doc["vmSize"], clock.parse_iso(start), now))
        return spans

    def pool_usage_metrics(self, *, start: datetime | None, end: datetime | None) -> list[dict]:
        """One entry per pool and completed aggregation interval with metered time, oldest first.

        Without ``start``/``end`` only the last completed interval is reported, as Azure does."""
        step = float(self.config.usage_interval_seconds)
        now = clock.now()
        last_end = _floor(now, step)
        if start is None and end is None:
            first, stop = last_end - timedelta(seconds=step), last_end
        else:
            first = _floor(start, step) if start is not None else last_end - timedelta(seconds=step)
            stop = min(last_end, _ceil(end, step)) if end is not None else last_end
        count = int(round((stop - first).total_seconds() / step)) if stop > first else 0
        if count > MAX_INTERVALS:
            raise ServiceError(400, "InvalidQueryParameterValue", "The requested time range spans too many "
                               "aggregation intervals.", {"QueryParameterName": "startTime",
                                                          "Reason": f"At most {MAX_INTERVALS} intervals."})
        totals: dict[tuple[int, str], list] = {}
        for pool_id, vm_size, s, e in self._node_spans(now):
            s, e = max(s, first), min(e, stop)
            if e <= s:
                continue
            cores = vm_cores(vm_size)
            i = int((s - first).total_seconds() // step)
            while i < count:
                lo = first + timedelta(seconds=i * step)
                hi = lo + timedelta(seconds=step)
                overlap = (min(e, hi) - max(s, lo)).total_seconds()
                if overlap <= 0:
                    break
                entry = totals.setdefault((i, pool_id.lower()), [pool_id, vm_size, 0.0])
                entry[2] += overlap / 3600.0 * cores
                i += 1
        out = []
        for (i, _), (pool_id, vm_size, core_hours) in sorted(totals.items()):
            lo = first + timedelta(seconds=i * step)
            out.append({"poolId": pool_id, "startTime": clock.iso(lo), "endTime": clock.iso(lo + timedelta(
                seconds=step)), "vmSize": vm_size, "totalCoreHours": round(core_hours, 9)})
        return out


def _floor(when: datetime, step: float) -> datetime:
    ts = when.timestamp()
    return datetime.fromtimestamp(ts - ts % step, timezone.utc)


def _ceil(when: datetime, step: float) -> datetime:
    ts = when.timestamp()
    rem = ts % step
    return datetime.fromtimestamp(ts if rem == 0 else ts - rem + step, timezone.utc)
