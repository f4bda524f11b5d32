from core.errors import FrameworkError


class CollectError(FrameworkError):
    """Spans could not be read; the message names the source (URL, file, line, field) and the problem."""
