"""The local service's model: state and rules of pools, nodes, jobs and tasks. Imports neither http nor runtime."""
