class DetectorError(ValueError):
    """Invalid input or parameters for a detector; the message names the input and the problem."""
