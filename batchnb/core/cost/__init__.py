"""What it costs: VM prices, per-task and per-pool accounting, estimates before the bill.

``prices`` (where a price comes from), ``snapshot`` (the shipped, dated list prices),
``retail_api`` (the Azure Retail Prices API), ``job_cost`` (``job.cost()``), ``pool_cost``
(``pool.cost()``), ``estimate`` (``job.estimate()``, ``session.estimate()``), ``vcpus``.
Core only: pandas, no UI.
"""

from batchnb.core.cost.prices import Price, clear_price_overrides, set_price_overrides, vm_price

__all__ = ["Price", "clear_price_overrides", "set_price_overrides", "vm_price"]
