"""The streaming worker: the only package that imports faust."""
