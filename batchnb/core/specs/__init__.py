"""What to create: pool, job and task specs, images, VM sizes, autoscale presets, exit conditions, task files."""
