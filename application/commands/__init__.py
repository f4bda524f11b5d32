"""One module per ``rca`` sub-command group; each has ``register(subparsers)``."""
