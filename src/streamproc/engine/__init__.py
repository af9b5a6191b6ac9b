"""The loyalty calculation: a readable reference engine and the compiled hot path."""
