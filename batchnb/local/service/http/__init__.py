"""The local service's HTTP layer: aiohttp routes that only translate REST to model calls (moto-style)."""
