"""A program over a receipts file: in memory or over the worker's Redis store, and its report."""
