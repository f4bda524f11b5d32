class RCAError(ValueError):
    """Detection or ranking could not run on the given graph / evidence."""
