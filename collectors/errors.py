class CollectError(RuntimeError):
    """Spans could not be read; the message names the source (URL, file, line, field) and the problem."""
