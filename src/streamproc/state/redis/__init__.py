"""Redis as the state store: keys, Lua scripts, the batch load and atomic apply."""
