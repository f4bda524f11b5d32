class GraphError(ValueError):
    """A graph or series could not be built from the given spans."""
