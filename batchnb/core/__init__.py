"""Core: sessions, handles, the one transport, specs, task building, storage and map(). Azure SDKs only, no UI."""
