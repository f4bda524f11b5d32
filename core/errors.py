"""The one exception root of the framework.

Every package raises a family of its own (``collectors.CollectError``, ``graph.GraphError``,
``core.DetectorError``, ``rca.RCAError``, ``chaos_scenarios.ScenarioError``,
``evaluation.EvaluationError``), and every family derives from :class:`FrameworkError`, so a
caller can catch one thing and the command line prints one clean line. Messages name the input
(file, line, field, parameter), the offending value and what was expected.
"""

from __future__ import annotations


class FrameworkError(Exception):
    """Root of every error this framework raises on purpose."""


class InputError(FrameworkError):
    """A value given to a shared helper of :mod:`core` (a time, a duration) is not usable."""


class FrameworkWarning(UserWarning):
    """Root of the warnings this framework issues: the input was usable, but something was done to
    it (a unit converted, a degenerate fit) that the caller should know about."""


class DataWarning(FrameworkWarning):
    """The data was usable but degenerate (a constant training series, say); the message says what
    the result means."""
