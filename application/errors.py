from core.errors import FrameworkError


class UsageError(FrameworkError):
    """A command-line argument or plugin could not be used; the message names it."""
