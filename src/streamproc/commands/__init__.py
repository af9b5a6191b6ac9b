"""Sub-commands of the `streamproc` CLI; each module has `register(subparsers)`."""
