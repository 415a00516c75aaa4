"""Tests added where mutation testing (docs/mutation.md) found behaviour no test pinned down."""
