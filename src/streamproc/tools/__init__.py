"""Developer tooling, never imported by the worker: local stack, load generator, demo."""
