"""Building and submitting tasks: sweeps, per-file tasks, bulk submission, application bundles."""
