"""End-to-end experiments that reproduce the seeds (used by the CLI, the tutorials and benchmarks)."""
