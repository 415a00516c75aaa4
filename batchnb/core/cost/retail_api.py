"""The Azure Retail Prices API (public, no sign-in): one VM size's hourly prices in one region.

    GET https://prices.azure.com/api/retail/prices?currencyCode='USD'&$filter=serviceName eq
        'Virtual Machines' and armRegionName eq 'eastus' and armSkuName eq 'Standard_D2s_v3'
        and priceType eq 'Consumption'

answers ``{"BillingCurrency", "Items": [{"retailPrice", "unitOfMeasure": "1 Hour", "meterName":
"D2s v3" | "D2s v3 Spot" | "D2s v3 Low Priority", "productName": "Virtual Machines DSv3 Series"
[+ " Windows"], "type": "Consumption", "effectiveStartDate", ...}], "NextPageLink", "Count"}``.
Batch nodes here are Linux, so Windows meters are skipped, and so are the retired low-priority
meters (Batch bills spot nodes at the spot meter).
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_URL", "RetailPrices", "fetch_vm_prices", "retail_prices_url"]

DEFAULT_URL = "https://prices.azure.com/api/retail/prices"
URL_ENV = "BATCHNB_RETAIL_PRICES_URL"  # another endpoint (a proxy, a mirror, or a test's stand-in)
_MAX_PAGES = 10


def retail_prices_url() -> str:
    return os.environ.get(URL_ENV) or DEFAULT_URL


@dataclass(frozen=True)
class RetailPrices:
    """Hourly Linux prices of one size in one region (None: the API has no such meter)."""

    dedicated: float | None
    spot: float | None
    currency: str
    effective: str | None  # effectiveStartDate of the dedicated meter


def _query(vm_size: str, region: str, currency: str) -> str:
    flt = (f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}' and armSkuName eq '{vm_size}' "
           f"and priceType eq 'Consumption'")
    return urllib.parse.urlencode({"currencyCode": f"'{currency}'", "$filter": flt}, quote_via=urllib.parse.quote)


def _get(url: str, timeout: float) -> dict[str, Any]:
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "batchnb"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https or a configured URL)
        return json.loads(response.read().decode("utf-8"))


def _is_linux_hourly(item: dict[str, Any]) -> bool:
    names = f"{item.get('meterName', '')} {item.get('skuName', '')}"
    return (item.get("type", "Consumption") == "Consumption"
            and str(item.get("unitOfMeasure", "")).strip().lower() == "1 hour"
            and "windows" not in str(item.get("productName", "")).lower()
            and "low priority" not in names.lower())


def fetch_vm_prices(vm_size: str, region: str, *, currency: str = "USD", timeout: float = 5.0) -> RetailPrices:
    """Ask the Retail Prices API (following ``NextPageLink``). Raises OSError/ValueError on failure."""
    url: str | None = f"{retail_prices_url()}?{_query(vm_size, region, currency)}"
    items: list[dict[str, Any]] = []
    for _ in range(_MAX_PAGES):
        if not url:
            break
        page = _get(url, timeout)
        if not isinstance(page, dict) or not isinstance(page.get("Items"), list):
            raise ValueError("the Retail Prices API answered without an 'Items' list")
        items.extend(i for i in page["Items"] if isinstance(i, dict))
        url = page.get("NextPageLink") or None
    best: dict[bool, dict[str, Any]] = {}
    for item in items:
        if str(item.get("armSkuName", vm_size)).lower() != vm_size.lower() or not _is_linux_hourly(item):
            continue
        spot = "spot" in f"{item.get('meterName', '')} {item.get('skuName', '')}".lower()
        # Several meters can match over time: the one in effect most recently wins.
        if spot not in best or str(item.get("effectiveStartDate", "")) > str(best[spot].get("effectiveStartDate", "")):
            best[spot] = item

    def price(item: dict[str, Any] | None) -> float | None:
        value = None if item is None else item.get("retailPrice", item.get("unitPrice"))
        return None if value is None else float(value)

    return RetailPrices(dedicated=price(best.get(False)), spot=price(best.get(True)),
                        currency=str((best.get(False) or best.get(True) or {}).get("currencyCode") or currency),
                        effective=(best.get(False) or {}).get("effectiveStartDate"))
