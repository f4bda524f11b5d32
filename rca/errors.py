from core.errors import FrameworkError


class RCAError(FrameworkError):
    """Detection or ranking could not run on the given graph, evidence or parameters."""
