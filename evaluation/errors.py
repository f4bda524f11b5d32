from core.errors import FrameworkError


class EvaluationError(FrameworkError):
    """A case, label file or data set could not be evaluated; the message names it and why."""
