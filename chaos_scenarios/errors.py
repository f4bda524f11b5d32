from core.errors import FrameworkError


class ScenarioError(FrameworkError):
    """A suite, manifest, cluster or simulator problem; the message says what and where."""
