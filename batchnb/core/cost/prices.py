"""Hourly prices of VM sizes: ``batchnb.vm_price("standard_d2s_v3", region="eastus", spot=False)``.

Where a price comes from, first match wins (``Price.source`` says which):

1. **override**: what the user set with :func:`set_price_overrides` (a dict or a JSON file; also
   read from ``$BATCHNB_PRICES``), for negotiated prices and other currencies;
2. **cache**: an answer of the Retail Prices API stored on disk (``$BATCHNB_CACHE_DIR`` or
   ``~/.cache/batchnb``) less than ``CACHE_MAX_AGE`` old, with the date it was fetched;
3. **retail-api**: the live Azure Retail Prices API (public, no sign-in), unless offline
   (``$BATCHNB_PRICES_OFFLINE=1``); one failed attempt makes the rest of the process offline, so
   a machine without internet pays one short timeout, not one per lookup;
4. **snapshot**: the dated snapshot shipped with batchnb (eastus, USD, approximate; see snapshot.py).

Spot and dedicated are priced apart (``spot=True``). Override file format (JSON)::

    {"currency": "EUR",
     "Standard_D2s_v3": 0.081,                                   # dedicated, any region
     "westeurope/Standard_D4s_v3": {"dedicated": 0.17, "spot": 0.04}}
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from batchnb.core.cost import snapshot
from batchnb.core.cost.retail_api import fetch_vm_prices
from batchnb.core.specs.vm_sizes import check_vm_size
from batchnb.errors import ValidationError

__all__ = ["CACHE_MAX_AGE", "Price", "clear_price_overrides", "set_price_overrides", "vm_price"]

CACHE_MAX_AGE = timedelta(days=7)
OFFLINE_ENV = "BATCHNB_PRICES_OFFLINE"
OVERRIDES_ENV = "BATCHNB_PRICES"
CACHE_ENV = "BATCHNB_CACHE_DIR"
DEFAULT_REGION = snapshot.SNAPSHOT_REGION


@dataclass(frozen=True)
class Price:
    """What one node of ``vm_size`` costs per hour, and how much to trust the figure."""

    vm_size: str
    region: str
    spot: bool
    per_hour: float
    currency: str
    source: str  # "override" | "cache" | "retail-api" | "snapshot"
    as_of: date
    approximate: bool = False
    note: str = ""

    @property
    def priority(self) -> str:
        return "spot" if self.spot else "dedicated"

    def __str__(self) -> str:
        flag = " (approximate)" if self.approximate else ""
        return (f"{self.vm_size} {self.priority} in {self.region}: {self.per_hour:.4f} {self.currency}/h "
                f"[{self.source}, {self.as_of.isoformat()}]{flag}")


# ------------------------------------------------------------------------------------- overrides
_lock = threading.Lock()
_overrides: dict[str, Any] | None = None
_overrides_origin = ""
_offline_after_failure = False


def _load_override_source(source: dict[str, Any] | str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    if isinstance(source, dict):
        return source, "dict"
    path = Path(source).expanduser()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError("overrides", f"file {str(path)!r} does not exist",
                              fix="give a JSON file of prices, or a dict") from None
    except json.JSONDecodeError as exc:
        raise ValidationError("overrides", f"{str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno})",
                              fix='write e.g. {"Standard_D2s_v3": 0.08}') from None
    if not isinstance(data, dict):
        raise ValidationError("overrides", f"{str(path)!r} holds a {type(data).__name__}, not an object",
                              fix='write e.g. {"Standard_D2s_v3": 0.08}')
    return data, str(path)


def _normalize_overrides(raw: dict[str, Any]) -> dict[str, Any]:
    """Check every entry now, so a typo fails where it was written rather than at the first bill."""
    currency = raw.get("currency", "USD")
    if not isinstance(currency, str) or len(currency) != 3:
        raise ValidationError("overrides.currency", f"is {currency!r}", fix="use a 3-letter code such as 'EUR'")
    table: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        if key == "currency":
            continue
        region, _, size = key.rpartition("/")
        name = check_vm_size(size, allow_unknown=True, field=f"overrides[{key!r}]").lower()
        entry = {"dedicated": value} if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        if not isinstance(entry, dict) or not set(entry) <= {"dedicated", "spot", "currency"} or not (
                {"dedicated", "spot"} & set(entry)):
            raise ValidationError(f"overrides[{key!r}]", f"is {value!r}",
                                  fix='give an hourly price, or {"dedicated": 0.08, "spot": 0.02}')
        for kind in ("dedicated", "spot"):
            price = entry.get(kind)
            if price is not None and (isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0):
                raise ValidationError(f"overrides[{key!r}].{kind}", f"is {price!r}",
                                      fix="give a price per node-hour >= 0")
        table[f"{region.strip().lower()}/{name}"] = {"currency": entry.get("currency", currency), **entry}
    return table


def set_price_overrides(source: dict[str, Any] | str | os.PathLike[str] | None) -> None:
    """Use these prices before any other (negotiated rates, other currencies). ``None`` clears them.

    ``source``: a dict or the path of a JSON file, keyed by VM size (any region) or
    ``"region/size"``, each an hourly price (dedicated) or ``{"dedicated": x, "spot": y}``; an
    optional top-level ``"currency"`` (default USD)."""
    global _overrides, _overrides_origin
    if source is None:
        clear_price_overrides()
        return
    raw, origin = _load_override_source(source)
    table = _normalize_overrides(raw)
    with _lock:
        _overrides, _overrides_origin = table, origin


def clear_price_overrides() -> None:
    global _overrides, _overrides_origin
    with _lock:
        _overrides, _overrides_origin = {}, ""


def _current_overrides() -> tuple[dict[str, Any], str]:
    global _overrides, _overrides_origin
    with _lock:
        if _overrides is None:  # first use: $BATCHNB_PRICES, if set
            path = os.environ.get(OVERRIDES_ENV)
            _overrides, _overrides_origin = {}, ""
            if path:
                raw, _overrides_origin = _load_override_source(path)
                _overrides = _normalize_overrides(raw)
        return _overrides, _overrides_origin


def _override(size: str, region: str, spot: bool) -> Price | None:
    table, origin = _current_overrides()
    for key in (f"{region}/{size.lower()}", f"/{size.lower()}"):
        entry = table.get(key)
        if entry is not None and entry.get("spot" if spot else "dedicated") is not None:
            return Price(size, region, spot, float(entry["spot" if spot else "dedicated"]), entry["currency"],
                         "override", datetime.now(timezone.utc).date(), note=f"from {origin}")
    return None


# ------------------------------------------------------------------------------------- disk cache
def cache_dir() -> Path:
    base = os.environ.get(CACHE_ENV)
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "batchnb"
    return root / "prices"


def _cache_file(region: str, currency: str) -> Path:
    return cache_dir() / f"{region}-{currency.upper()}.json"


def _read_cache(region: str, currency: str) -> dict[str, Any]:
    try:
        data = json.loads(_cache_file(region, currency).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_cache(region: str, currency: str, size: str, entry: dict[str, Any]) -> None:
    path = _cache_file(region, currency)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = _read_cache(region, currency)
        data[size.lower()] = entry
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
        tmp.replace(path)  # atomic: two kernels writing at once never leave half a file
    except OSError:
        pass  # a read-only home costs a refetch next time, nothing more


def _from_cache_entry(entry: dict[str, Any], size: str, region: str, spot: bool, currency: str,
                      source: str) -> Price | None:
    value = entry.get("spot" if spot else "dedicated")
    if value is None:
        return None
    fetched = date.fromisoformat(entry["fetched"])
    return Price(size, region, spot, float(value), entry.get("currency", currency), source, fetched,
                 note=f"Azure Retail Prices API, fetched {fetched.isoformat()}")


# ------------------------------------------------------------------------------------- lookup
def _offline() -> bool:
    return _offline_after_failure or os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def vm_price(vm_size: str, *, region: str | None = None, spot: bool = False, currency: str = "USD",
             refresh: bool = False, timeout: float = 5.0) -> Price:
    """The hourly price of one node of ``vm_size`` (Linux) in ``region`` (default eastus).

    ``spot=True`` prices a spot (low-priority) node. ``refresh=True`` skips the disk cache.
    Raises ValidationError when no source has the size (give it with set_price_overrides)."""
    global _offline_after_failure
    size = check_vm_size(vm_size, allow_unknown=True)
    if not isinstance(spot, bool):
        raise ValidationError("spot", f"is {spot!r}", fix="use spot=True for spot nodes, False for dedicated")
    region_name = (region or DEFAULT_REGION).strip().lower().replace(" ", "")
    if not region_name.isalnum():
        raise ValidationError("region", f"{region!r} is not an Azure region name", fix="use e.g. 'eastus'")
    if not isinstance(currency, str) or len(currency.strip()) != 3:
        raise ValidationError("currency", f"is {currency!r}", fix="use a 3-letter code such as 'USD'")
    currency = currency.strip().upper()

    found = _override(size, region_name, spot)
    if found is not None:
        return found
    entry = _read_cache(region_name, currency).get(size.lower())
    if entry and not refresh:
        try:
            fetched = date.fromisoformat(entry["fetched"])
            if datetime.now(timezone.utc).date() - fetched <= CACHE_MAX_AGE:
                cached = _from_cache_entry(entry, size, region_name, spot, currency, "cache")
                if cached is not None:
                    return cached
        except (KeyError, ValueError):
            pass  # a damaged entry is refetched
    if not _offline():
        try:
            live = fetch_vm_prices(size, region_name, currency=currency, timeout=timeout)
        except (OSError, ValueError, TypeError):
            _offline_after_failure = True
        else:
            if live.dedicated is not None or live.spot is not None:
                new_entry = {"dedicated": live.dedicated, "spot": live.spot, "currency": live.currency,
                             "fetched": datetime.now(timezone.utc).date().isoformat(), "effective": live.effective}
                _write_cache(region_name, currency, size, new_entry)
                priced = _from_cache_entry(new_entry, size, region_name, spot, currency, "retail-api")
                if priced is not None:
                    return priced
    if entry:  # a stale cached answer still beats the snapshot
        try:
            stale = _from_cache_entry(entry, size, region_name, spot, currency, "cache")
        except (KeyError, ValueError):
            stale = None
        if stale is not None:
            return Price(**{**stale.__dict__, "approximate": True,
                            "note": stale.note + " (stale: the API could not be reached)"})
    snap = snapshot.snapshot_price(size, spot=spot)
    if snap is not None and currency == snapshot.SNAPSHOT_CURRENCY:
        notes = [snapshot.SNAPSHOT_SOURCE]
        if region_name != snapshot.SNAPSHOT_REGION:
            notes.append(f"no {region_name} prices offline: eastus figure used")
        if spot:
            notes.append(f"spot assumed {snapshot.SPOT_FRACTION:.0%} of pay-as-you-go")
        return Price(size, region_name, spot, snap, snapshot.SNAPSHOT_CURRENCY, "snapshot", snapshot.SNAPSHOT_DATE,
                     approximate=True, note="; ".join(notes))
    what = f"{size} ({'spot' if spot else 'dedicated'}) in {region_name}, {currency}"
    raise ValidationError("vm_size", f"no price known for {what}",
                          fix=f"give one with batchnb.set_price_overrides({{'{size}': <price per hour>}})")


def _reset_for_tests() -> None:
    """Forget overrides and the offline flag (tests change the environment between cases)."""
    global _overrides, _overrides_origin, _offline_after_failure
    with _lock:
        _overrides, _overrides_origin, _offline_after_failure = None, "", False
