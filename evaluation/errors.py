class EvaluationError(ValueError):
    """A case, label file or data set could not be evaluated; the message names it and why."""
