"""Fault injection: a seeded random choice per request between none, 429/503, 500, or a dropped
connection. Deterministic for a given seed and request order, so a failing run can be replayed."""

from __future__ import annotations

import random
from dataclasses import asdict

from batchnb.local.service.config import FaultConfig

KINDS = ("throttle", "error500", "drop")


class Faults:
    def __init__(self, config: FaultConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.requests = 0
        self.injected = {k: 0 for k in KINDS}

    def configure(self, body: dict) -> None:
        values = asdict(self.config)
        for key in ("throttle", "error500", "drop", "retry_after"):
            if key in body:
                value = float(body[key])
                if key != "retry_after" and not 0.0 <= value <= 1.0:
                    raise ValueError(f"{key} must be a fraction between 0 and 1")
                values[key] = value
        if "seed" in body:
            values["seed"] = int(body["seed"])
            self.rng = random.Random(values["seed"])
        self.config = FaultConfig(**values)

    def describe(self) -> dict:
        return {**asdict(self.config), "requests": self.requests, "injected": dict(self.injected)}

    def pick(self) -> str | None:
        self.requests += 1
        c = self.config
        if not (c.throttle or c.error500 or c.drop):
            return None
        x = self.rng.random()
        for kind, share in (("throttle", c.throttle), ("error500", c.error500), ("drop", c.drop)):
            if x < share:
                self.injected[kind] += 1
                return kind
            x -= share
        return None
