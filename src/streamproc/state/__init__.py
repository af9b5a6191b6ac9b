"""Where loyalty state lives between batches: Redis, applied atomically per batch."""
