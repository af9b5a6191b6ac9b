# cython: language_level=3
"""The compiled hot path (placeholder until the engine lands)."""

COMPILED = True
