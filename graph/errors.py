from core.errors import FrameworkError


class GraphError(FrameworkError):
    """A graph or series could not be built from the given spans."""
