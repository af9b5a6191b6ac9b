"""Batches in, records out: the faust-free pipeline the worker and `replay --redis` drive."""
