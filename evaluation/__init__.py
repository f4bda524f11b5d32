"""Cases and labels, accuracy metrics (AC@k, Avg@k), detector scoring, reports."""

from evaluation.errors import EvaluationError

__all__ = ["EvaluationError"]
