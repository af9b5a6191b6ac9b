"""streamproc: a real-time retail loyalty engine.

Layers (imports only point downward):
  domain/      the contract: receipts, program model and validation, money maths. Pure, no I/O.
  engine/      the calculation: reference (readable spec) and the compiled hot path.
  state/       where customer state lives: in memory or in Redis (atomic Lua apply).
  processing/  batches in, records out (no faust).
  stream/      the only package that imports faust: the worker.
  replay/, commands/, tools/  on top.
"""

__version__ = "0.1.0"
