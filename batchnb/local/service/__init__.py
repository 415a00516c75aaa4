"""The local Batch service process: http/ (aiohttp routes) -> model/ (state, rules) <- runtime/ (node processes)."""
