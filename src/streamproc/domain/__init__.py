"""The contract in code: receipts, profiles, the program file, money maths. Pure, no I/O."""
