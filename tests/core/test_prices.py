"""Prices: the shipped snapshot, user overrides, the disk cache, and the live Retail Prices API path.

The live path runs against a local HTTP server that answers in the Retail Prices API's JSON shape
(``Items``/``NextPageLink``, real field names): a stand-in for prices.azure.com, which this machine
cannot reach. Nothing else is faked.
"""

from __future__ import annotations

import json
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

import batchnb
from batchnb.core.cost import prices, snapshot
from batchnb.core.specs.vm_sizes import KNOWN_VM_SIZES
from batchnb.errors import ValidationError


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Each test: its own cache dir, no overrides, offline unless it serves a stand-in API."""
    monkeypatch.setenv(prices.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(prices.OFFLINE_ENV, "1")
    monkeypatch.delenv(prices.OVERRIDES_ENV, raising=False)
    prices._reset_for_tests()
    yield
    prices._reset_for_tests()


def _item(meter: str, price: float, *, product: str = "Virtual Machines DSv3 Series", sku="Standard_D2s_v3",
          region="westeurope", kind="Consumption", effective="2024-06-01T00:00:00Z") -> dict:
    return {"currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price, "unitPrice": price,
            "armRegionName": region, "location": "EU West", "effectiveStartDate": effective,
            "meterId": "00000000-0000-0000-0000-000000000000", "meterName": meter, "productId": "DZH318Z0BPWD",
            "skuId": "DZH318Z0BPWD/00G4", "productName": product, "skuName": meter, "serviceName": "Virtual Machines",
            "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": kind,
            "isPrimaryMeterRegion": True, "armSkuName": sku}


class _StandIn:
    """A local HTTP server answering like the Retail Prices API, two pages per query."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                stand_in.requests.append(self.path)
                query = parse_qs(urlparse(self.path).query)
                if query.get("page") == ["2"]:
                    items = [_item("D2s v3 Spot", 0.0228), _item("D2s v3 Low Priority", 0.0456),
                             _item("D2s v3", 0.999, effective="2019-01-01T00:00:00Z")]  # superseded meter
                    body = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                            "Items": items, "NextPageLink": None, "Count": len(items)}
                else:
                    assert "armSkuName eq 'Standard_D2s_v3'" in query["$filter"][0]
                    assert "armRegionName eq 'westeurope'" in query["$filter"][0]
                    items = [_item("D2s v3", 0.212, product="Virtual Machines DSv3 Series Windows"),
                             _item("D2s v3", 0.114), _item("D2s v3", 0.05, kind="DevTestConsumption")]
                    base = f"http://127.0.0.1:{stand_in.port}/api/retail/prices"
                    body = {"BillingCurrency": "USD", "CustomerEntityId": "Default", "CustomerEntityType": "Retail",
                            "Items": items, "NextPageLink": f"{base}?page=2", "Count": len(items)}
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/retail/prices"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def retail_api(monkeypatch):
    stand_in = _StandIn()
    monkeypatch.setenv("BATCHNB_RETAIL_PRICES_URL", stand_in.url)
    monkeypatch.delenv(prices.OFFLINE_ENV)
    try:
        yield stand_in
    finally:
        stand_in.close()


# ------------------------------------------------------------------------------------- snapshot
def test_offline_price_comes_from_the_dated_snapshot():
    price = batchnb.vm_price("standard_d2s_v3")
    assert (price.vm_size, price.region, price.per_hour, price.currency) == ("Standard_D2s_v3", "eastus", 0.096, "USD")
    assert price.source == "snapshot" and price.as_of == snapshot.SNAPSHOT_DATE and price.approximate
    spot = batchnb.vm_price("Standard_D2s_v3", spot=True)
    assert spot.priority == "spot" and 0 < spot.per_hour < price.per_hour
    assert "spot assumed" in spot.note


def test_the_snapshot_prices_every_vm_size_batchnb_knows():
    missing = [s for s in KNOWN_VM_SIZES if snapshot.snapshot_price(s) is None]
    assert missing == []
    # Prices grow with the size inside a family.
    assert snapshot.snapshot_price("Standard_D8s_v5") == pytest.approx(4 * snapshot.snapshot_price("Standard_D2s_v5"))


def test_another_region_offline_says_it_used_eastus_figures():
    price = batchnb.vm_price("Standard_E4s_v5", region="westeurope")
    assert price.region == "westeurope" and price.approximate and "eastus figure used" in price.note


def test_an_unknown_size_offline_is_a_clear_error():
    with pytest.raises(ValidationError) as err:
        batchnb.vm_price("Standard_Z99_v9")
    assert err.value.field == "vm_size" and "set_price_overrides" in str(err.value)


def test_bad_arguments_name_the_field():
    with pytest.raises(ValidationError, match="spot"):
        batchnb.vm_price("Standard_D2s_v3", spot="yes")
    with pytest.raises(ValidationError, match="region"):
        batchnb.vm_price("Standard_D2s_v3", region="east-us;drop")
    with pytest.raises(ValidationError, match="currency"):
        batchnb.vm_price("Standard_D2s_v3", currency="euro")


# ------------------------------------------------------------------------------------- overrides
def test_overrides_win_region_specific_first(tmp_path):
    batchnb.set_price_overrides({"currency": "EUR", "Standard_D2s_v3": 0.081,
                                 "westeurope/Standard_D2s_v3": {"dedicated": 0.09, "spot": 0.02}})
    anywhere = batchnb.vm_price("standard_d2s_v3", region="eastus")
    assert (anywhere.per_hour, anywhere.currency, anywhere.source) == (0.081, "EUR", "override")
    assert not anywhere.approximate
    assert batchnb.vm_price("Standard_D2s_v3", region="westeurope").per_hour == 0.09
    assert batchnb.vm_price("Standard_D2s_v3", region="westeurope", spot=True).per_hour == 0.02
    # No spot override for eastus: the next source answers.
    assert batchnb.vm_price("Standard_D2s_v3", region="eastus", spot=True).source == "snapshot"


def test_overrides_from_a_file_and_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"Standard_F2s_v2": {"dedicated": 0.07, "spot": 0.015}}))
    monkeypatch.setenv(prices.OVERRIDES_ENV, str(path))
    prices._reset_for_tests()
    price = batchnb.vm_price("Standard_F2s_v2", spot=True)
    assert price.per_hour == 0.015 and str(path) in price.note


def test_bad_overrides_fail_where_they_are_written(tmp_path):
    with pytest.raises(ValidationError, match=r"overrides\['Standard_D2s_v3'\]\.spot"):
        batchnb.set_price_overrides({"Standard_D2s_v3": {"spot": -1}})
    with pytest.raises(ValidationError, match="overrides"):
        batchnb.set_price_overrides({"Standard_D2s_v3": "cheap"})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValidationError, match="not valid JSON"):
        batchnb.set_price_overrides(bad)
    with pytest.raises(ValidationError, match="does not exist"):
        batchnb.set_price_overrides(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------- live API + cache
def test_live_api_linux_meters_spot_apart_and_cached_with_its_date(retail_api, tmp_path):
    price = batchnb.vm_price("Standard_D2s_v3", region="westeurope")
    assert (price.per_hour, price.source, price.approximate) == (0.114, "retail-api", False)
    assert len(retail_api.requests) == 2  # followed NextPageLink
    spot = batchnb.vm_price("Standard_D2s_v3", region="westeurope", spot=True)
    assert (spot.per_hour, spot.source) == (0.0228, "cache")  # the same answer held both meters
    assert len(retail_api.requests) == 2
    cached = json.loads((tmp_path / "cache" / "prices" / "westeurope-USD.json").read_text())
    assert cached["standard_d2s_v3"]["dedicated"] == 0.114
    assert cached["standard_d2s_v3"]["fetched"] == price.as_of.isoformat()  # the date it was fetched
    batchnb.vm_price("Standard_D2s_v3", region="westeurope", refresh=True)
    assert len(retail_api.requests) == 4


def test_a_stale_cache_is_refreshed_and_kept_when_the_api_is_gone(retail_api, tmp_path, monkeypatch):
    old = (date.today() - timedelta(days=30)).isoformat()
    cache = tmp_path / "cache" / "prices"
    cache.mkdir(parents=True)
    (cache / "westeurope-USD.json").write_text(json.dumps(
        {"standard_d2s_v3": {"dedicated": 0.1, "spot": 0.03, "currency": "USD", "fetched": old}}))
    assert batchnb.vm_price("Standard_D2s_v3", region="westeurope").source == "retail-api"
    # Now the API is unreachable: a stale answer is still used, flagged as such.
    (cache / "westeurope-USD.json").write_text(json.dumps(
        {"standard_d2s_v3": {"dedicated": 0.1, "spot": 0.03, "currency": "USD", "fetched": old}}))
    monkeypatch.setenv("BATCHNB_RETAIL_PRICES_URL", "http://127.0.0.1:9/unreachable")
    stale = batchnb.vm_price("Standard_D2s_v3", region="westeurope")
    assert (stale.per_hour, stale.source, stale.approximate) == (0.1, "cache", True) and "stale" in stale.note


def test_an_unreachable_api_costs_one_attempt_then_the_snapshot(monkeypatch):
    monkeypatch.delenv(prices.OFFLINE_ENV)
    monkeypatch.setenv("BATCHNB_RETAIL_PRICES_URL", "http://127.0.0.1:9/unreachable")
    calls = []
    real = prices.fetch_vm_prices
    monkeypatch.setattr(prices, "fetch_vm_prices", lambda *a, **k: calls.append(a) or real(*a, **k))
    assert batchnb.vm_price("Standard_D4s_v3").source == "snapshot"
    assert batchnb.vm_price("Standard_D8s_v3").source == "snapshot"
    assert len(calls) == 1


def test_client_and_local_service_agree_on_every_known_sizes_vcpus():
    """Core-hours from job.cost() and from the service's /poolusagemetrics use the same vCPU counts
    (two copies by design: the service shares no code with the client)."""
    from batchnb.core.cost.vcpus import vm_vcpus
    from batchnb.local.service.model.usage import vm_cores

    assert {s: vm_vcpus(s) for s in KNOWN_VM_SIZES} == {s: vm_cores(s) for s in KNOWN_VM_SIZES}
    assert vm_vcpus("Standard_D13_v2") == 8 and vm_vcpus("Standard_NC24ads_A100_v4") == 24
