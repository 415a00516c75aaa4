"""Code that runs ON compute nodes (the metrics sampler, the map() runner): stdlib and cloudpickle only."""
