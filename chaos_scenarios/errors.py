class ScenarioError(RuntimeError):
    """A suite, manifest, cluster or simulator problem; the message says what and where."""
